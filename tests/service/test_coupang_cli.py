"""``orderwatch shops acknowledge`` and ``orderwatch poll`` against the Coupang sandbox, as
real processes: the poll, killed with SIGKILL while it works and started again, ends with
every box as Coupang has it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from subprocess import DEVNULL

import sqlalchemy as sa

from handlers.coupang.policy import acknowledges
from service.db import Database
from service.models import Package
from tests.coupang_world import ACCESS, SECRET, VENDOR, start_sandbox

ORDERWATCH = [sys.executable, "-c", "from service.cli import main; raise SystemExit(main())"]
DAY = 86400


def test_shops_acknowledge_sets_the_vendor_policy(db: Database, database_url: str) -> None:
    env = {**os.environ, "ORDERWATCH_DATABASE_URL": database_url}
    manual = subprocess.run(
        [*ORDERWATCH, "shops", "acknowledge", VENDOR, "manual"], env=env, capture_output=True, text=True
    )
    assert manual.returncode == 0 and "manual" in manual.stdout
    assert not acknowledges(db, VENDOR)
    subprocess.run(
        [*ORDERWATCH, "shops", "acknowledge", VENDOR, "auto"], env=env, check=True, capture_output=True
    )
    assert acknowledges(db, VENDOR)


def statuses(db: Database) -> dict[str, str | None]:
    table = Package.__table__
    with db.read() as conn:
        return dict(conn.execute(sa.select(table.c.package_id, table.c.platform_status)).all())


def wait(check: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_poll_killed_mid_round_and_started_again_ends_as_coupang_says(
    db: Database, database_url: str
) -> None:
    with ExitStack() as stack:
        sandbox, base = start_sandbox(stack, seed=9)
        now = sandbox.clock.now()
        flow = ("ACCEPT", "INSTRUCT", "DEPARTURE", "DELIVERING", "FINAL_DELIVERY")
        for n in range(60):
            sandbox.create_order(status=flow[n % 5], ordered_at=now - (n % 3) * DAY - 60)
        sandbox.faults.delay_seconds = 0.02  # a slow Coupang: the kill lands mid-round
        env = {
            **os.environ,
            "ORDERWATCH_DATABASE_URL": database_url,
            "ORDERWATCH_COUPANG_VENDOR_ID": VENDOR,
            "ORDERWATCH_COUPANG_ACCESS_KEY": ACCESS,
            "ORDERWATCH_COUPANG_SECRET_KEY": SECRET,
            "ORDERWATCH_COUPANG_API_BASE": base,
            "ORDERWATCH_COUPANG_POLL_SECONDS": "0.5",
            "ORDERWATCH_COUPANG_LOOKBACK_DAYS": "3",
        }
        # Its log is not read: DEVNULL, as a full pipe would block the poller.
        with subprocess.Popen([*ORDERWATCH, "poll"], env=env, stdout=DEVNULL, stderr=DEVNULL) as first:
            try:
                assert wait(lambda: len(statuses(db)) >= 5, 30), "the poll ingested nothing"
            finally:
                first.send_signal(signal.SIGKILL)
                first.wait(10)
        assert len(statuses(db)) < len(sandbox.boxes)  # killed part-way
        sandbox.faults.delay_seconds = 0
        with subprocess.Popen([*ORDERWATCH, "poll"], env=env, stdout=DEVNULL, stderr=DEVNULL) as second:
            try:
                expected = {str(b.shipment_box_id): b.status for b in sandbox.boxes.values()}
                assert wait(lambda: statuses(db) == expected, 60), "the poll did not catch up"
            finally:
                second.send_signal(signal.SIGINT)
                try:
                    second.wait(10)
                finally:
                    if second.poll() is None:  # deaf to SIGINT: fail, but leave no poller running
                        second.kill()
                        second.wait()
