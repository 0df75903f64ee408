"""The log sink: every alert opened or resolved, as a warning of ``orderwatch.alerts``."""

from __future__ import annotations

import logging

from handlers.alerts import Notice

log = logging.getLogger("orderwatch.alerts")


def send(notice: Notice) -> None:
    """Write the notice to the log."""
    where = f"{notice.platform} order {notice.order_id}"
    if notice.package_id:
        where += f" package {notice.package_id}"
    log.warning("%s (alert %d, %s)", notice.title, notice.alert_id, where)
