"""The `digestbot` command end to end: lines, exit codes, JSON contract, db upgrade, demo."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import EXAMPLES, cli_on
from tests.fake_llm import GOOD, completion, error, fake_llm
from tests.fake_telegram import TOKEN, fake_telegram
from tests.telegram_html import problems


def test_ingest_prints_a_line_per_item_and_exits_1_when_one_failed(
    cli: CliRunner, tmp_path: Path
) -> None:
    """Good posts are stored, the bad one is named, and the exit status says something failed."""
    bad = tmp_path / "bad.md"
    bad.write_text("---\ntitle: 无日期\n---\n正文", encoding="utf-8")
    result = cli.invoke(app, ["ingest", str(EXAMPLES), str(bad)])
    lines = result.output.splitlines()
    assert result.exit_code == 1, result.output
    assert lines[0].split()[:2] == ["new", "2-10-zhui-zong"]
    assert lines[-1].startswith("failed") and "no date" in lines[-1]
    again = cli.invoke(app, ["ingest", str(EXAMPLES)])
    assert again.exit_code == 0 and again.output.startswith("unchanged  2-10-zhui-zong  ")


def test_ingest_an_impossible_date_is_one_failed_line_and_the_rest_is_stored(
    cli: CliRunner, tmp_path: Path
) -> None:
    """`date: 2026-02-30` in one file: its failed line, exit 1, and the samples stored."""
    bad = tmp_path / "feb-30.md"
    bad.write_text("---\ntitle: 坏日期\ndate: 2026-02-30 10:00:00\n---\n正文", encoding="utf-8")
    result = cli.invoke(app, ["ingest", str(bad), str(EXAMPLES)])
    lines = result.output.splitlines()
    assert result.exit_code == 1, result.output
    assert lines[0] == f"failed     {bad}  date 2026-02-30 10:00:00 is not a real date"
    assert lines[1].split()[:2] == ["new", "2-10-zhui-zong"]
    assert sum(line.startswith("new") for line in lines) == len(lines) - 1


def test_posts_json_contract(cli: CliRunner) -> None:
    """`posts --json`: newest first, ISO 8601 with the +08:00 offset, gated flag, source."""
    cli.invoke(app, ["ingest", str(EXAMPLES)])
    result = cli.invoke(app, ["posts", "--json"])
    assert result.exit_code == 0, result.output
    posts = json.loads(result.output)
    published = [p["published_at"] for p in posts]
    assert published == sorted(published, reverse=True)
    seed = next(p for p in posts if p["slug"] == "2-10-zhui-zong")
    assert seed["published_at"] == "2026-02-12T13:27:29+08:00"
    assert seed["gated"] is True and seed["source"] == "hexo" and seed["categories"] == ["投研"]
    assert {"id", "slug", "title", "published_at", "categories", "tags", "gated", "source"} <= set(
        seed
    )


def test_db_upgrade_and_a_bad_setting(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`db upgrade` takes an empty database to head; a wrong setting is one sentence and exit
    status 2."""
    cli = cli_on(empty_database_url, monkeypatch, tmp_path)
    assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert cli.invoke(app, ["deliveries", "--json"]).output.strip() == "[]"  # the tables are there
    monkeypatch.setenv("TIMEZONE", "Mars/Olympus")
    result = cli.invoke(app, ["posts"])
    assert (
        result.exit_code == 2
        and "TIMEZONE" in result.output
        and "unknown time zone" in (result.output)
    )


def test_ingest_without_targets_or_sources_explains(cli: CliRunner) -> None:
    """No arguments and no POSTS_DIR/FEED_URLS: a hint, not a traceback."""
    result = cli.invoke(app, ["ingest"])
    assert result.exit_code == 2 and "POSTS_DIR" in result.output


def test_ingest_without_targets_reads_posts_dir(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With POSTS_DIR set, a bare `ingest` polls the configured folder."""
    monkeypatch.setenv("POSTS_DIR", str(EXAMPLES))
    result = cli.invoke(app, ["ingest"])
    assert result.exit_code == 0 and "2-10-zhui-zong" in result.output


def test_demo_runs_offline(cli: CliRunner) -> None:
    """`digestbot demo` ingests the sample posts and lists them."""
    result = cli.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "new        2-10-zhui-zong" in result.output and "[gated]" in result.output


def test_digest_json_contract_offline(cli: CliRunner) -> None:
    """Without an LLM: the extractive digest, every contract key present, meta says so."""
    cli.invoke(app, ["ingest", str(EXAMPLES)])
    result = cli.invoke(app, ["digest", "2-10-zhui-zong", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"headline", "summary", "sections", "risks", "events", "meta"} <= set(data)
    assert data["meta"]["mode"] == "extractive" and data["meta"]["llm_calls"] == 0
    assert data["meta"]["post"]["published_at"] == "2026-02-12T13:27:29+08:00"
    assert {"name", "points", "stocks"} == set(data["sections"][0])
    assert {"title", "when"} == set(data["events"][0])


def test_digest_formats_and_refs(cli: CliRunner) -> None:
    """`latest` and ids work; telegram output is HTML Telegram accepts; text is marked."""
    cli.invoke(app, ["ingest", str(EXAMPLES)])
    telegram = cli.invoke(app, ["digest", "latest", "-f", "telegram"])
    assert telegram.exit_code == 0 and problems(telegram.output.strip()) == []
    text = cli.invoke(app, ["digest", "1", "-f", "text"])
    assert "自动摘录" in text.output and "仅供参考" in text.output
    missing = cli.invoke(app, ["digest", "no-such-post"])
    assert missing.exit_code == 1 and "no post 'no-such-post'" in missing.output


def test_digest_with_a_failing_llm_is_pending_and_says_so(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An LLM that keeps failing: exit 1 and a sentence for the admin; nothing is lost."""
    cli.invoke(app, ["ingest", str(EXAMPLES)])
    with fake_llm() as server:
        server.handler = lambda request: error(503, "overloaded")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("LLM_MAX_RETRIES", "0")
        result = cli.invoke(app, ["digest", "2-10-zhui-zong"])
        assert result.exit_code == 1
        assert "summary pending for 2-10-zhui-zong" in result.output
        assert "Nothing is lost" in result.output
        server.handler = lambda request: completion(GOOD)
        again = cli.invoke(app, ["digest", "2-10-zhui-zong", "-f", "json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["meta"]["mode"] == "llm"


def test_a_failed_refresh_keeps_the_digest_and_says_so(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`digest SLUG --refresh` with the model server down: exit 1, a sentence saying the
    digest made before stays in force, that digest printed; a plain `digest SLUG` then works."""
    cli.invoke(app, ["ingest", str(EXAMPLES)])
    with fake_llm() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("LLM_MAX_RETRIES", "0")
        server.handler = lambda request: completion(GOOD)
        assert cli.invoke(app, ["digest", "2-10-zhui-zong"]).exit_code == 0
        server.handler = lambda request: error(503, "overloaded")
        refreshed = cli.invoke(app, ["digest", "2-10-zhui-zong", "--refresh"])
        plain = cli.invoke(app, ["digest", "2-10-zhui-zong"])
    assert refreshed.exit_code == 1 and "refresh failed" in refreshed.output
    assert "stays in force" in refreshed.output and GOOD["headline"] in refreshed.output
    assert plain.exit_code == 0 and GOOD["headline"] in plain.output


def test_deliveries_command(cli: CliRunner) -> None:
    """`digestbot deliveries --json` lists publications (none yet: an empty list)."""
    result = cli.invoke(app, ["deliveries", "--json"])
    assert result.exit_code == 0 and json.loads(result.output) == []


# -- `digestbot run` as a real process ------------------------------------------------------------

DIGESTBOT = Path(sys.executable).parent / "digestbot"
EXAMPLE = Path(__file__).parent.parent / ".env.example"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running(folder: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`digestbot [args] run` in `folder` (its `.env` is the settings), until it answers
    /healthz; yields its base URL; stops it with SIGTERM and checks it shuts down cleanly
    (uvicorn re-raises the signal once shut down, so the status is -SIGTERM)."""
    clean = {k: v for k, v in os.environ.items() if f"\n{k}=" not in "\n" + EXAMPLE.read_text()}
    port = re.search(r"^WEB_PORT=(\d+)$", (folder / ".env").read_text(), re.M)
    assert port is not None
    base = f"http://127.0.0.1:{port[1]}"
    with (folder / "out").open("w") as out, (folder / "err").open("w") as err:
        process = subprocess.Popen(
            [str(DIGESTBOT), *args, "run"],
            cwd=folder,
            env={**clean, **(env or {})},
            stdout=out,
            stderr=err,
        )
        try:
            deadline = time.monotonic() + 180  # a busy 2-core machine starts it in 5-90 s
            while True:
                assert process.poll() is None, (folder / "err").read_text()
                assert time.monotonic() < deadline, "no /healthz within 180 s"
                try:
                    if httpx.get(base + "/healthz", timeout=2).status_code < 500:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            status = process.wait(timeout=30)
    err = (folder / "err").read_text()
    assert status == -signal.SIGTERM and "Application shutdown complete." in err, err


def start_refused(folder: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """`digestbot run` in an empty folder with `settings` and nothing else; it must stop by
    itself (a `run` that starts instead fails the test after 180 s, not hangs it)."""
    env = {k: v for k, v in os.environ.items() if f"\n{k}=" not in "\n" + EXAMPLE.read_text()}
    env |= {"DATABASE_URL": f"sqlite:///{folder / 'x.db'}", "WEB_PORT": str(_free_port())}
    return subprocess.run(
        [str(DIGESTBOT), "run"],
        cwd=folder,
        env=env | settings,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_run_refuses_a_half_configured_channel(tmp_path: Path) -> None:
    """WeChat with a token but no AppID or AppSecret: one sentence naming them, exit 2, no
    traceback, and nothing started."""
    result = start_refused(tmp_path, WECHAT_TOKEN="callback-token")
    assert result.returncode == 2, result.stderr
    assert "WeChat is half-configured: WECHAT_APP_ID and WECHAT_APP_SECRET are not set" in (
        result.stderr
    )
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_bad_aes_key_is_one_sentence_at_start(tmp_path: Path) -> None:
    """A malformed WECHAT_ENCODING_AES_KEY stops the start with exit 2 and one line that
    names the setting but not its value (it answered every callback with a 500)."""
    result = start_refused(tmp_path, WECHAT_ENCODING_AES_KEY="not-a-key")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("configuration error: WECHAT_ENCODING_AES_KEY: not an")
    assert "not-a-key" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def example_env(folder: Path, database_url: str) -> None:
    """`cp .env.example .env` with only the database and the port changed."""
    text = EXAMPLE.read_text()
    text = re.sub(r"^DATABASE_URL=.*$", f"DATABASE_URL={database_url}", text, flags=re.M)
    text = re.sub(r"^WEB_PORT=.*$", f"WEB_PORT={_free_port()}", text, flags=re.M)
    (folder / ".env").write_text(text)


@pytest.mark.slow
def test_the_example_settings_run_and_serve_healthz(database_url: str, tmp_path: Path) -> None:
    """A fresh copy of `.env.example` (database and port changed) runs: /healthz is ok, the
    start names the channels on and off, and the access log keeps reader tokens out."""
    example_env(tmp_path, database_url)
    token = "Zq3" + "x" * 29  # the shape of a calendar token
    with running(tmp_path) as base:
        health = httpx.get(base + "/healthz").json()
        assert httpx.get(f"{base}/calendar/{token}.ics").status_code == 404
        assert httpx.get(f"{base}/d/{token}.sig").status_code in (403, 404)
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    assert health == {"status": "ok", "database": "ok", "database_kind": kind, "telegram": "off"}
    out, err = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
    assert "channels: telegram off (TELEGRAM_BOT_TOKEN unset); wechat off" in out
    assert '"GET /calendar/***.ics HTTP/1.1" 404' in err and '"GET /d/*** HTTP/1.1"' in err
    assert token not in err and "Traceback" not in err


@pytest.mark.slow
def test_verbose_logs_keep_the_bot_token_out(tmp_path: Path) -> None:
    """`digestbot -v run` polling Telegram logs each Bot API request, with the token hidden."""
    example_env(tmp_path, f"sqlite:///{tmp_path / 'bot.db'}")
    with fake_telegram() as fake:
        env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake.root}
        with running(tmp_path, "-v", env=env) as base:
            assert httpx.get(base + "/healthz").json()["telegram"] == "polling"
            deadline = time.monotonic() + 30
            while not any(method == "getUpdates" for method, _ in fake.calls):
                assert time.monotonic() < deadline
                time.sleep(0.1)
    err = (tmp_path / "err").read_text()
    assert (
        "/bot***/getUpdates" in err
        and "channels: telegram on (polling)" in (tmp_path / "out").read_text()
    )
    assert TOKEN not in err and TOKEN.split(":")[1] not in err
