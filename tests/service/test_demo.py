"""``orderwatch demo``: orders made by the sandbox reach delivered on their own, within a minute."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.service.test_cli import ORDERWATCH, free_port


def test_the_demo_moves_orders_to_delivered_on_its_own_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "ORDERWATCH_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db"}
    process = subprocess.Popen(
        [*ORDERWATCH, "demo", "--port", str(port), "--pace", "0.3"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    delivered: list[dict[str, object]] = []
    try:
        deadline = time.monotonic() + 60
        while not delivered:
            assert time.monotonic() < deadline and process.poll() is None, (
                "no order was delivered in a minute"
            )
            time.sleep(0.5)
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/v1/orders", params={"state": "delivered"}, timeout=5
                )
            except httpx.TransportError:
                continue
            delivered = answer.json()["orders"]
    finally:
        process.send_signal(signal.SIGINT)
        _, log = process.communicate(timeout=30)
    assert process.returncode == 0, log[-2000:]
    order = delivered[0]
    assert order["packages"] and order["packages"][0]["tracking_number"]  # type: ignore[index]
    assert "demo warehouse: order" in log and "Traceback" not in log
