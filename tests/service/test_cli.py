"""The ``orderwatch`` command line, run as a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from service.db import Database
from service.ingest import ingest
from tests.factories import order_event
from tests.snapshots import snapshot

ORDERWATCH = [sys.executable, "-c", "from service.cli import main; raise SystemExit(main())"]


def run(
    *args: str, url: str, environ: dict[str, str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(environ or {}), "ORDERWATCH_DATABASE_URL": url}
    done: subprocess.CompletedProcess[str] = subprocess.run(
        [*ORDERWATCH, *args], env=env, capture_output=True, text=True, timeout=120, **kwargs
    )  # type: ignore[call-overload]
    return done


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_bad_usage_and_bad_configuration_exit_2_with_one_line(tmp_path: Path) -> None:
    usage = run("frobnicate", url=f"sqlite:///{tmp_path}/x.db")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    config = run("migrate", url="mysql://root:hunter2@db/orders")
    assert config.returncode == 2
    assert config.stderr.strip().count("\n") == 0 and "ORDERWATCH_DATABASE_URL" in config.stderr
    assert "hunter2" not in config.stderr


def test_an_unreachable_database_exits_2_with_one_line_without_the_password(tmp_path: Path) -> None:
    result = run("migrate", url="postgresql+psycopg://app:s3cr3t-pw@127.0.0.1:1/nowhere")
    assert result.returncode == 2
    assert "cannot reach the database" in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("orderwatch")] == [
        result.stderr.strip().splitlines()[-1]
    ]
    assert "Traceback" not in result.stderr
    assert "s3cr3t-pw" not in result.stderr + result.stdout


def _one_line_exit_2(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("orderwatch: "), result.stderr
    for needle in needles:
        assert needle in last


def test_start_up_errors_exit_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for command in ("serve", "demo"):
            _one_line_exit_2(run(command, "--port", port, url=url), f"127.0.0.1:{port}", "in use")
    for command in ("serve", "demo"):
        _one_line_exit_2(run(command, "--port", "99999", url=url), "99999", "not a port")
        _one_line_exit_2(run(command, "--port", "eighty", url=url), "not a port")
        _one_line_exit_2(run(command, "--host", "no-such-host.invalid", url=url), "does not resolve")
    _one_line_exit_2(run("migrate", url=url, environ={"ORDERWATCH_LOG_LEVEL": "LOUD"}), "LOG_LEVEL", "LOUD")


def test_serve_migrates_and_answers_on_sqlite(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "ORDERWATCH_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    process = subprocess.Popen(
        [*ORDERWATCH, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/orders").json() == {"orders": [], "next_cursor": None}
        # a secret sent in an address anyway never reaches the access log
        httpx.get(f"http://127.0.0.1:{port}/?token=tok-in-the-address&q=24")
        httpx.get(f"http://127.0.0.1:{port}/v1/orders?access_token=at-in-the-address&sign=sig-in-it")
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)  # closes the pipe too
    assert (tmp_path / "serve.db").exists()
    assert "GET /?token=[redacted]&q=24" in output  # the access log is on, and redacts
    for secret in ("tok-in-the-address", "at-in-the-address", "sig-in-it"):
        assert secret not in output


def test_replay_command_rebuilds_and_reports_progress(db: Database, database_url: str) -> None:
    ingest(db, [order_event(f"O{n}", "SHIPPED", n) for n in range(30)])
    before = snapshot(db)
    result = run("replay", url=database_url)
    assert result.returncode == 0, result.stderr
    assert "replayed 30 events into 30 orders; 0 failed" in result.stdout
    assert "30/30" in result.stderr, "tqdm progress bar"
    assert snapshot(db)["history"] == before["history"]


def test_reapply_command_reports_what_it_did(db: Database, database_url: str) -> None:
    ingest(db, [order_event("O1", "NOT_A_STATUS", 1)])
    result = run("reapply", url=database_url)
    assert result.returncode == 0
    assert "reapplied 1 events: unknown_status 1" in result.stdout


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a background job of a shell script


def test_poll_stops_on_sigint_even_started_with_it_ignored_and_on_sigterm(database_url: str) -> None:
    env = {**os.environ, "ORDERWATCH_DATABASE_URL": database_url}
    for sent, setup in ((signal.SIGINT, _ignore_sigint), (signal.SIGTERM, None)):
        with subprocess.Popen(  # leaving the block closes the pipe
            [*ORDERWATCH, "poll"], env=env, stderr=subprocess.PIPE, text=True, preexec_fn=setup
        ) as process:
            try:
                assert process.stderr is not None
                started = time.monotonic()
                while "waiting for nothing" not in process.stderr.readline():  # no marketplace set
                    assert process.poll() is None and time.monotonic() - started < 60, "poll never started"
                process.send_signal(sent)
                assert process.wait(timeout=20) == 0, f"poll did not stop cleanly on {sent.name}"
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
