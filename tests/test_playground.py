"""The web playground: its API through TestClient, then the real page in headless Chromium.

The browser test needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium``
package; without them it skips, unless ``SCRM_REQUIRE_BROWSER=1`` (CI) makes it fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.settings import Settings
from integrations.wecom.render import decode_button_key, unneutralise
from storage.db import Database
from tests.chat_fixtures import build_store

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def on(settings: Settings) -> Settings:
    return settings.model_copy(update={"playground": True})


@pytest.fixture
def play(api, on: Settings, db: Database) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    build_store(api)
    with TestClient(create_app(on, db), client=("127.0.0.1", 50000)) as c:
        yield c


def send(play: TestClient, staff: str, text: str) -> dict[str, Any]:
    response = play.post("/playground/api/send", json={"staff": staff, "text": text})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_page_and_assets(play: TestClient) -> None:
    page = play.get("/playground")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/playground/static/playground.js" in page.text and "https://" not in page.text
    css = play.get("/playground/static/playground.css")
    assert css.status_code == 200 and "Noto Sans CJK SC" in css.text
    assert (
        play.get("/playground/static/playground.js")
        .headers["content-type"]
        .startswith("text/javascript")
    )
    for name in ["playground.html", "nope.js", "..%2Fplayground.py", "%2E%2E%2F%2E%2E%2Fapp.py"]:
        assert play.get(f"/playground/static/{name}").status_code == 404, name


def test_staff_list(play: TestClient) -> None:
    staff = play.get("/playground/api/staff").json()
    assert {
        "code": "G01",
        "name": "王芳",
        "role": "guide",
        "store": "上海南京西路店",
        "locale": "zh",
    } in staff
    assert {s["code"] for s in staff} == {"A01", "M01", "M02", "G01", "G02", "G03"}


def test_send_renders_for_both_channels_and_buttons_run_commands(play: TestClient) -> None:
    out = send(play, "G01", "搜 zs")
    reply = out["reply"]
    assert reply["kind"] == "ok" and len(reply["items"]) == 2
    assert reply["items"][0]["title"].startswith("张三  ****5678")

    markdown = unneutralise(out["wecom"][0]["markdown"]["content"])
    assert markdown.count("****5678") >= 2
    card = out["wecom"][-1]["template_card"]
    assert card["card_type"] == "button_interaction" and len(card["button_list"]) == 2
    command = decode_button_key(card["button_list"][0]["key"])
    assert command is not None and command.startswith("查 #")

    slack = out["slack"]
    values = [e["value"] for b in slack["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert values[0] == command and "张三" in slack["text"]

    profile = send(play, "G01", command)
    labels = [f["label"] for f in profile["reply"]["fields"]]
    assert "手机" in labels and profile["reply"]["title"].startswith("张三")
    assert any("羊毛大衣×1" in f["value"] for f in profile["reply"]["fields"])
    assert profile["slack"]["blocks"][0]["type"] == "header"


def test_numbers_pick_on_the_playground_channel(play: TestClient) -> None:
    send(play, "G01", "查 zs")
    assert "羊毛大衣×1" in send(play, "G01", "1")["slack"]["text"]


def test_english_staff_and_unknown_staff(play: TestClient) -> None:
    assert "Here is what I can do" in send(play, "G03", "help")["slack"]["text"]
    refused = send(play, "ghost", "help")["reply"]
    assert refused["kind"] == "refusal" and "scrm staff add" in refused["text"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"text": "help"}, "staff code such as G01"),
        ({"staff": "  ", "text": "help"}, "staff code such as G01"),
        ({"staff": "G01"}, "type a command"),
        ({"staff": "G01", "text": "   "}, "type a command"),
        ({"staff": "G01", "text": "搜" * 2001}, "'text' is 2001 characters; send at most 2000"),
    ],
)
def test_bad_input_gets_a_clear_422(play: TestClient, body: dict[str, Any], message: str) -> None:
    response = play.post("/playground/api/send", json=body)
    assert response.status_code == 422 and message in response.json()["detail"]


def test_malformed_json_is_a_4xx(play: TestClient) -> None:
    response = play.post(
        "/playground/api/send", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert play.post("/playground/api/send", json={"staff": 1, "text": []}).status_code == 422


def test_playground_is_absent_when_disabled(client: TestClient) -> None:
    for path in ["/playground", "/playground/api/staff", "/playground/static/playground.js"]:
        assert client.get(path).status_code == 404, path
    assert (
        client.post("/playground/api/send", json={"staff": "G01", "text": "help"}).status_code
        == 404
    )


# --- the real page in a real browser -----------------------------------------------------


def _browser_missing() -> str | None:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return "chromium is not installed (apt-get install chromium)"
    if not (os.path.exists(CHROMEDRIVER) or shutil.which("chromedriver")):
        return "chromedriver is not installed (apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    return None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    missing = _browser_missing()
    if missing:
        if os.environ.get("SCRM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"SCRM_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")  # type: ignore[assignment]
    # Root in a container, no network: no sandbox, no GPU, nothing that phones home.
    for flag in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1440,1000",
        "--lang=zh-CN",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = CHROMEDRIVER if os.path.exists(CHROMEDRIVER) else shutil.which("chromedriver")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def live_url(api, on: Settings, db: Database) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The real app on a free loopback port, served by uvicorn in a thread."""
    build_store(api)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(on, db), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_page_in_a_browser(browser: Any, live_url: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 15)

    def bot_messages(pane: str) -> list[Any]:
        found: list[Any] = browser.find_elements(By.CSS_SELECTOR, f"#{pane}-log .msg.bot")
        return found

    def wait_for_replies(n: int) -> None:
        wait.until(lambda _: len(bot_messages("wecom")) >= n and len(bot_messages("slack")) >= n)

    browser.get(f"{live_url}/playground")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#staff option[value='G01']"))
    Select(browser.find_element(By.ID, "staff")).select_by_value("G01")
    box = browser.find_element(By.ID, "command")
    box.send_keys("搜 zs", Keys.ENTER)
    wait_for_replies(1)

    wecom, slack = bot_messages("wecom")[0].text, bot_messages("slack")[0].text
    for pane in (wecom, slack):
        assert "张三" in pane and "张珊" in pane
        assert pane.count("****5678") >= 2
        assert "13812345678" not in pane

    shots = tmp_path / "screenshots"
    shots.mkdir()
    assert browser.save_screenshot(str(shots / "search.png"))

    # A WeCom card button carries its command in the key; clicking it opens the profile.
    card_buttons = bot_messages("wecom")[0].find_elements(By.CSS_SELECTOR, ".wc-btn")
    assert [b.text for b in card_buttons] == ["1 查看", "2 查看"]
    card_buttons[0].click()
    wait_for_replies(2)
    assert "羊毛大衣×1" in bot_messages("wecom")[1].text
    assert "羊毛大衣×1" in bot_messages("slack")[1].text

    # A Slack button carries its command in the value: the second candidate.
    bot_messages("slack")[0].find_elements(By.CSS_SELECTOR, ".sk-btn")[1].click()
    wait_for_replies(3)
    third = bot_messages("slack")[2].text
    assert "张珊" in third and "¥99.00" in third

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []

    assert browser.save_screenshot(str(shots / "profile.png"))
    for name in ("search", "profile"):
        assert (shots / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # For people to look at: the search (list, card and buttons) and the final transcript.
    shutil.copy(shots / "search.png", "/tmp/playground.png")
    shutil.copy(shots / "profile.png", "/tmp/playground-profile.png")
