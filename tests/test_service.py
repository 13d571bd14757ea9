"""The service as it is deployed: ``scrm serve`` in a subprocess, health, readiness, metrics;
settings validation; migrations on an empty database."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from bot.app import create_app
from bot.settings import Settings
from storage.db import Database
from storage.migrate import at_head, current_revision, upgrade


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_scrm_serve_answers_health_ready_and_metrics(database_url: str, db: Database) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "SCRM_DATABASE_URL": database_url,
        "SCRM_API_TOKENS": "serve-token-0123456789abcdef:admin",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "scrm serve did not come up in 30 s"
            time.sleep(0.2)
        assert httpx.get(f"{base}/readyz").json() == {"status": "ready"}
        r = httpx.post(
            f"{base}/api/v1/stores",
            json=[{"code": "S1", "name": "店"}],
            headers={"Authorization": "Bearer serve-token-0123456789abcdef"},
        )
        assert r.status_code == 200 and r.json()["created"] == 1
        metrics = httpx.get(f"{base}/metrics").text
        assert 'scrm_intake_rows_total{kind="stores",status="created"} 1.0' in metrics
        assert (
            'scrm_http_requests_total{method="POST",route="/api/v1/stores",status="200"} 1.0'
            in metrics
        )
        assert httpx.get(f"{base}/docs").status_code == 200
        spec = httpx.get(f"{base}/openapi.json").json()
        assert "/api/v1/orders" in spec["paths"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_readyz_says_what_to_do_when_migrations_are_pending(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    db = Database(url)
    with TestClient(
        create_app(Settings(database_url=url, scheduler=False, _env_file=None), db)
    ) as c:  # type: ignore[call-arg]
        r = c.get("/readyz")
        assert r.status_code == 503 and "scrm db upgrade" in r.json()["reason"]
        upgrade(url)
        assert c.get("/readyz").json() == {"status": "ready"}
    assert at_head(db.engine, url) and current_revision(db.engine) is not None
    upgrade(url)  # running it again is harmless
    db.dispose()


def test_readyz_reports_an_unreachable_database() -> None:
    url = "postgresql://nobody@127.0.0.1:1/none"
    db = Database(url, pool_pre_ping=False)
    with TestClient(
        create_app(Settings(database_url=url, scheduler=False, _env_file=None), db)
    ) as c:  # type: ignore[call-arg]
        r = c.get("/readyz")
        assert r.status_code == 503 and "database unreachable" in r.json()["reason"]
    db.dispose()


def test_settings_refuse_placeholders_and_bad_zones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRM_SLACK_SIGNING_SECRET", "changeme")
    with pytest.raises(ValidationError, match="SCRM_SLACK_SIGNING_SECRET is a placeholder"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.delenv("SCRM_SLACK_SIGNING_SECRET")
    monkeypatch.setenv("SCRM_TIMEZONE", "Asia/Atlantis")
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("SCRM_TIMEZONE", "Europe/Berlin")
    a, b = "a" * 12 + "0123456789ab", "b" * 12 + "0123456789ab"
    monkeypatch.setenv("SCRM_API_TOKENS", f"{a}:read+intake, {b}")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert [t.secret.get_secret_value() for t in s.api_tokens] == [a, b]
    assert [sorted(t.scopes) for t in s.api_tokens] == [["intake", "read"], ["intake", "read"]]
    assert not s.slack_enabled and not s.wecom_enabled and not s.playground_enabled


def test_cli_reports_configuration_errors_as_sentences(
    cli, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SCRM_TIMEZONE", "Nowhere/Land")
    code, out = cli("staff", "list")
    assert code == 2 and "Configuration error" in out and "unknown time zone" in out


def test_api_docs_load_their_assets_from_the_service_not_a_cdn(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "cdn" not in html.lower() and "fonts.googleapis" not in html
        assets = re.findall(r'(?:src|href)="(/docs-assets/[^"]+)"', html)
        assert assets, html
        for asset in assets:
            response = client.get(asset)
            assert response.status_code == 200 and len(response.content) > 1000, asset
