"""The README's examples work as written, against a small demo store.

Every ``bash`` block of README.md is split into commands and run in a scratch folder holding
a small demo (``scrm demo --customers 300``) served on an ephemeral port, with ``.venv``
linked to this environment. The only rewriting is the port (``localhost:8000`` becomes the
test server's). ``bin/demo`` and ``bash .ci/run`` are not run here (one serves until stopped,
the other is this suite); they must exist. The CSV block marked ``<!-- orders.csv -->`` is
saved under that name first. No assertion depends on the clock: the demo is dated to the day
it is built, and every check holds on any day.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
NOT_RUN = ("bin/demo", "bash .ci/run")  # checked to exist instead
BLOCK = re.compile(r"(?:<!-- (?P<file>[\w.]+) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)

pytestmark = pytest.mark.skipif(
    os.environ.get("SCRM_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="the README's examples use the SQLite demo; the SQLite pass runs them",
)


def blocks(lang: str) -> list[tuple[str | None, str]]:
    return [(m["file"], m["body"]) for m in BLOCK.finditer(README) if m["lang"] == lang]


def commands(body: str) -> list[str]:
    """Shell commands of a block: continuation lines joined, comments and blanks dropped."""
    out: list[str] = []
    pending = ""
    for line in body.splitlines():
        if pending:
            pending += "\n" + line
        elif line.strip() and not line.lstrip().startswith("#"):
            pending = line
        if pending and not pending.endswith("\\") and _balanced(pending):
            out.append(pending)
            pending = ""
    assert not pending, f"unterminated command in README: {pending[:80]}"
    return out


def _balanced(command: str) -> bool:
    try:
        shlex.split(command, comments=True)
    except ValueError:  # an open quote: the command goes on below
        return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrm(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int, dict[str, str]]]:
    here = tmp_path_factory.mktemp("readme")
    (here / ".venv").symlink_to(Path(sys.prefix))  # the README runs .venv/bin/scrm
    assert (here / ".venv" / "bin" / "scrm").exists(), "run the suite from the project's .venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRM_")}
    env |= {"SCRM_SCHEDULER": "false", "SCRM_OUTBOX_WORKER": "false", "SCRM_LOG_LEVEL": "WARNING"}
    built = _scrm("demo", "--customers", "300", "--no-serve", cwd=here, env=env)
    assert built.returncode == 0, built.stderr
    assert "REST API token of this demo:" in built.stdout
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo", "--customers", "300", "--port", str(port)],
        cwd=here,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "the demo server did not come up in 60 s"
            time.sleep(0.3)
        yield here, port, env
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


def _check_output(command: str, out: str) -> None:
    """A REST answer must be a success: no rejected row, no error detail."""
    if not command.startswith("curl"):
        return
    body = json.loads(out)
    assert "detail" not in body, f"{command[:60]}… answered {body['detail']}"
    if "rejected" in body:
        assert body["rejected"] == 0, body
    else:
        assert body.get("id"), body


def test_the_readme_examples_run_as_written(demo: tuple[Path, int, dict[str, str]]) -> None:
    here, port, base_env = demo
    for name, body in blocks("csv"):
        if name:
            (here / name).write_text(body, encoding="utf-8")
    env = dict(base_env)
    ran = 0
    for body in (b for _, b in blocks("bash")):
        for command in commands(body):
            if command.startswith(NOT_RUN):
                words = shlex.split(command, comments=True)
                assert (ROOT / words[1 if words[0] == "bash" else 0]).exists(), command
                continue
            if "pytest" in command:
                continue  # the Development block: this suite itself
            command = command.replace("localhost:8000", f"localhost:{port}")
            if command.startswith("export "):
                name = command.split()[1].split("=")[0]
                got = subprocess.run(
                    ["bash", "-c", f'{command} && printf %s "${name}"'],
                    cwd=here,
                    env=env,
                    capture_output=True,
                    text=True,
                )
                assert got.returncode == 0 and got.stdout, f"{command}: {got.stderr}"
                env[name] = got.stdout
                continue
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=here,
                env=env,
                input="help\n",  # an interactive `scrm chat` reads one line, then end of input
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
            assert "Traceback" not in done.stdout + done.stderr, command
            assert "not registered as staff" not in done.stdout, command
            _check_output(command, done.stdout)
            ran += 1
    assert ran >= 10  # the chat, CLI, REST and import examples all ran
