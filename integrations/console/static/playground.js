// SCRM playground: send a command as a staff member, show the reply as WeCom and Slack would.
// Every piece of text is escaped before it becomes HTML; only our own markup is added.
"use strict";

const $ = (sel) => document.querySelector(sel);
const wecomLog = $("#wecom-log");
const slackLog = $("#slack-log");
const form = $("#send-form");
const input = $("#command");
const staffSelect = $("#staff");
const statusLine = $("#status");
const sendButton = $("#send");

const ROLE = { guide: "导购", manager: "店长", admin: "管理员" };
const staffByCode = new Map();
const history = [];
let historyAt = 0;
let busy = false;

function esc(text) {
  return String(text)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function el(tag, className, html) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (html !== undefined) node.innerHTML = html;
  return node;
}

function initial(name) {
  return esc(Array.from(name || "?")[0]);
}

function now() {
  return new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function scrollDown() {
  for (const log of [wecomLog, slackLog]) log.scrollTop = log.scrollHeight;
}

// --- WeCom --------------------------------------------------------------------------------

// The WeCom markdown dialect: headings, **bold**, `code`, [link](url), > quote, <font color>.
function wecomMarkdown(src) {
  return src
    .split("\n")
    .map((line) => {
      let h = esc(line);
      let cls = "line";
      const quote = h.match(/^&gt;\s?(.*)$/);
      if (quote) {
        h = quote[1];
        cls += " wc-quote";
      }
      const heading = h.match(/^(#{1,6})\s+(.*)$/);
      if (heading) h = `<h${Math.min(heading[1].length, 3)}>${heading[2]}</h${Math.min(heading[1].length, 3)}>`;
      h = h
        .replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>")
        .replace(/&lt;font color=&quot;(info|comment|warning)&quot;&gt;(.*?)&lt;\/font&gt;/g, '<span class="wc-$1">$2</span>')
        .replace(/`([^`]+)`/g, "<code>$1</code>")
        .replace(/\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)/g, '<a href="$2" target="_blank" rel="noopener">$1</a>');
      return `<div class="${cls}">${h}</div>`;
    })
    .join("");
}

// The inverse of integrations/wecom/render.py encode_button_key: "scrm1.<i>.<base64url>".
function decodeKey(key) {
  const parts = String(key).split(".");
  if (parts.length !== 3 || parts[0] !== "scrm1") return null;
  let b64 = parts[2].replace(/-/g, "+").replace(/_/g, "/");
  while (b64.length % 4) b64 += "=";
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

function wecomCard(card) {
  const box = el("div", "card");
  const title = card.main_title || {};
  box.appendChild(
    el("div", "card-head",
      `<div class="card-title">${esc(title.title || "")}</div>` +
      (title.desc ? `<div class="card-desc">${esc(title.desc)}</div>` : ""))
  );
  const rows = card.horizontal_content_list || [];
  if (rows.length) {
    box.appendChild(el("div", "card-rows",
      rows.map((r) => `<div class="card-row"><span class="k">${esc(r.keyname)}</span><span>${esc(r.value || "")}</span></div>`).join("")));
  }
  const buttons = el("div", "card-btns");
  for (const b of card.button_list || []) {
    const button = el("button", `wc-btn s${b.style || 1}`, esc(b.text));
    button.type = "button";
    button.dataset.key = b.key;
    button.addEventListener("click", () => {
      const command = decodeKey(b.key);
      if (command) send(command, b.text);
    });
    buttons.appendChild(button);
  }
  box.appendChild(buttons);
  box.appendChild(el("div", "card-foot", "模板卡片 · button_interaction"));
  return box;
}

function wecomPayload(p) {
  if (p.msgtype === "markdown") return el("div", "bubble md", wecomMarkdown(p.markdown.content));
  if (p.msgtype === "text") return el("div", "bubble plain", esc(p.text.content));
  if (p.msgtype === "template_card") return wecomCard(p.template_card);
  if (p.msgtype === "image") {
    const up = p.upload || {};
    return el("div", "bubble", `<img src="${esc(up.png || "")}" alt="${esc(up.alt || "")}">`);
  }
  return el("div", "bubble plain", esc(JSON.stringify(p)));
}

function wecomRow(who, name, nodes) {
  const row = el("div", `wc-row ${who === "me" ? "me" : "bot"}`);
  row.appendChild(el("div", `avatar ${who === "me" ? "me" : "bot"}`, who === "me" ? initial(name) : "助"));
  const stack = el("div", "wc-stack");
  nodes.forEach((n) => stack.appendChild(n));
  row.appendChild(stack);
  wecomLog.appendChild(row);
  return row;
}

// --- Slack --------------------------------------------------------------------------------

function slackInline(html) {
  return html
    .replace(/`([^`\n]+)`/g, "<code>$1</code>")
    .replace(/(^|[\s(>])\*([^*\n]+)\*(?=$|[\s.,;:!?)<])/g, "$1<strong>$2</strong>")
    .replace(/(^|[\s(>])_([^_\n]+)_(?=$|[\s.,;:!?)<])/g, "$1<em>$2</em>")
    .replace(/(^|[\s(>])~([^~\n]+)~(?=$|[\s.,;:!?)<])/g, "$1<del>$2</del>")
    .replace(/\n/g, "<br>");
}

// Slack mrkdwn arrives with &, <, > escaped; undo that, escape for HTML, then format.
function slackMrkdwn(text) {
  const raw = String(text).replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  return raw
    .split("```")
    .map((part, i) => (i % 2 ? `<pre>${esc(part.replace(/^\n/, "").replace(/\n$/, ""))}</pre>` : slackInline(esc(part))))
    .join("");
}

function slackBlock(block) {
  switch (block.type) {
    case "header":
      return el("div", "sk-header", esc(block.text.text));
    case "section": {
      if (block.fields) {
        return el("div", "sk-fields", block.fields.map((f) => `<div>${slackMrkdwn(f.text)}</div>`).join(""));
      }
      return el("div", "sk-section", slackMrkdwn(block.text.text));
    }
    case "actions": {
      const row = el("div", "sk-actions");
      for (const b of block.elements) {
        const button = el("button", `sk-btn ${b.style || ""}`, esc(b.text.text));
        button.type = "button";
        button.dataset.value = b.value;
        button.addEventListener("click", () => send(b.value, b.text.text));
        row.appendChild(button);
      }
      return row;
    }
    case "context":
      return el("div", "sk-context", block.elements.map((e) => slackMrkdwn(e.text)).join(" "));
    default:
      return el("pre", "", esc(JSON.stringify(block, null, 2)));
  }
}

function slackMessage(kind, name, nodes) {
  const msg = el("div", `sk-msg ${kind}`);
  msg.appendChild(el("div", `avatar ${kind === "bot" ? "sk-bot" : "me"}`, kind === "bot" ? "S" : initial(name)));
  const body = el("div", "sk-body");
  body.appendChild(
    el("div", "",
      `<span class="sk-name">${esc(name)}</span>` +
      (kind === "bot" ? '<span class="sk-app">APP</span>' : "") +
      `<span class="sk-time">${now()}</span>`)
  );
  const text = el("div", "sk-text");
  nodes.forEach((n) => text.appendChild(n));
  body.appendChild(text);
  msg.appendChild(body);
  slackLog.appendChild(msg);
  return body;
}

function raw(label, data) {
  const details = el("details", "raw", `<summary>{ } ${esc(label)}</summary>`);
  details.appendChild(el("pre", "", esc(JSON.stringify(data, null, 2))));
  return details;
}

// --- conversation -------------------------------------------------------------------------

// A typed command is a message; a clicked button is not (on both platforms the click goes
// to the app as a callback), so it shows as a note naming the button and its command.
function showTurn(who, text, clicked, data) {
  const me = staffByCode.get(who) || { name: who };
  if (clicked) {
    const note = `${esc(me.name)} 点击了「${esc(clicked)}」 <code>${esc(text)}</code>`;
    wecomLog.appendChild(el("div", "clicked", note));
    slackLog.appendChild(el("div", "clicked", note));
  } else {
    wecomRow("me", me.name, [el("div", "bubble plain", esc(text))]);
    slackMessage("me", me.name, [el("div", "", slackInline(esc(text)))]);
  }

  const wecomNodes = data.wecom.map(wecomPayload);
  const row = wecomRow("bot", "SCRM 助手", wecomNodes);
  row.querySelector(".wc-stack").appendChild(raw("WeCom payloads", data.wecom));
  row.classList.add("msg", "bot", `kind-${data.reply.kind}`);

  const slackNodes = data.slack.blocks.map(slackBlock);
  if (!slackNodes.length) slackNodes.push(el("div", "", slackMrkdwn(data.slack.text)));
  if (data.reply.chart) {
    const fig = el("figure", "sk-file",
      `<img src="${esc(data.reply.chart.png)}" alt="${esc(data.reply.chart.alt)}"><figcaption>${esc(data.slack.chart_alt || "")}</figcaption>`);
    slackNodes.push(fig);
  }
  const body = slackMessage("bot", "SCRM Assistant", slackNodes);
  body.appendChild(raw("Slack blocks", data.slack));
  body.parentElement.classList.add("msg", "bot", `kind-${data.reply.kind}`);
  scrollDown();
}

function divider(text) {
  for (const log of [wecomLog, slackLog]) {
    log.appendChild(el("div", "divider", `<span>${esc(text)}</span>`));
  }
  scrollDown();
}

function setStatus(text, isError) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", Boolean(isError));
}

async function send(text, clicked) {
  const staff = staffSelect.value;
  if (busy || !text.trim()) return;
  if (!staff) {
    setStatus("先选择员工 · Choose a staff member first", true);
    return;
  }
  busy = true;
  sendButton.disabled = true;
  setStatus("发送中… · Sending…");
  try {
    const response = await fetch("/playground/api/send", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ staff, text }),
    });
    const data = await response.json();
    if (!response.ok) {
      const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
      setStatus(`${response.status}: ${detail}`, true);
      return;
    }
    showTurn(staff, text, clicked, data);
    if (!clicked) {
      history.push(text);
      historyAt = history.length;
    }
    setStatus("");
  } catch (err) {
    setStatus(`请求失败 · Request failed: ${err}`, true);
  } finally {
    busy = false;
    sendButton.disabled = false;
    input.focus();
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value;
  input.value = "";
  send(text);
});

input.addEventListener("keydown", (event) => {
  if (event.key === "ArrowUp" && historyAt > 0) {
    historyAt -= 1;
    input.value = history[historyAt];
    event.preventDefault();
  } else if (event.key === "ArrowDown" && historyAt < history.length) {
    historyAt += 1;
    input.value = history[historyAt] || "";
    event.preventDefault();
  }
});

staffSelect.addEventListener("change", () => {
  const s = staffByCode.get(staffSelect.value);
  if (s) divider(`现在以 ${s.name}（${s.code}）的身份 · now chatting as ${s.name}`);
  renderChips();
  input.focus();
});

function renderChips() {
  const s = staffByCode.get(staffSelect.value);
  const en = s && s.locale === "en";
  const chips = en ? ["help", "help find", "find zs", "profile "] : ["帮助", "帮助 打标签", "搜 zs", "查 "];
  const box = $("#chips");
  box.innerHTML = "";
  for (const c of chips) {
    const chip = el("button", "chip", esc(c.trim() + (c.endsWith(" ") ? " …" : "")));
    chip.type = "button";
    chip.addEventListener("click", () => {
      if (c.endsWith(" ")) {
        input.value = c;
        input.focus();
      } else {
        send(c);
      }
    });
    box.appendChild(chip);
  }
}

async function loadStaff() {
  const response = await fetch("/playground/api/staff");
  const staff = await response.json();
  staffSelect.innerHTML = "";
  if (!staff.length) {
    staffSelect.appendChild(el("option", "", "没有员工 · no staff — run scrm demo or scrm staff add"));
    staffSelect.value = "";
    return;
  }
  for (const s of staff) {
    staffByCode.set(s.code, s);
    const option = el("option", "",
      esc(`${s.name} · ${s.code} · ${ROLE[s.role] || s.role}${s.store ? " · " + s.store : ""}`));
    option.value = s.code;
    staffSelect.appendChild(option);
  }
  const hint = '选择员工，输入命令，看两边各自的显示。试试 “帮助” 或 “搜 zs”。<br>Pick a staff member, type a command, compare the two renderings.';
  wecomLog.appendChild(el("div", "hint", hint));
  slackLog.appendChild(el("div", "hint", hint));
  renderChips();
}

loadStaff().catch((err) => setStatus(`无法加载员工 · Could not load staff: ${err}`, true));
input.focus();
