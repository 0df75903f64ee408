"""The dashboard in headless Chromium (Debian's chromium and chromium-driver): find an order,
watch it change state after a signed Shopee push, and save a screenshot under
``test-output/`` at the repository root."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from service.auth import parse_tokens
from service.db import Database
from tests.shopee_pushes import SENT, Receiver, start_receiver, status_push

CHROMIUM = os.environ.get("ORDERWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ORDERWATCH_CHROMEDRIVER", "/usr/bin/chromedriver")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
VIEWER = "viewer-token-for-the-browser"
WAIT = 15  # seconds; the change shows within a second when all is well


def _browser_missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) or shutil.which(path)):
            return f"{path} is missing (make test installs Debian's chromium and chromium-driver as root)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is missing (make install)"
    return None


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium driven through chromedriver; fails instead of skipping under CI."""
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,1000")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def receiver(db: Database, database_url: str) -> Iterator[Receiver]:
    with ExitStack() as stack:
        yield start_receiver(stack, db, database_url, api_tokens=parse_tokens(f"desk:{VIEWER}:viewer"))


def test_the_dashboard_finds_an_order_and_shows_its_new_state_after_a_push(
    browser: Any, receiver: Receiver
) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    for number in range(5):
        assert receiver.post(status_push(f"2411OTHER{number}", "UNPAID", SENT - 10)).status_code == 200
    assert receiver.post(status_push("2411BROWSER", "UNPAID", SENT - 5)).status_code == 200

    browser.get(f"{receiver.base}/")
    wait = WebDriverWait(
        browser, WAIT, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
    )
    browser.find_element(By.NAME, "token").send_keys(VIEWER)  # the sign-in form
    browser.find_element(By.CSS_SELECTOR, "#sign-in button").click()
    wait.until(lambda b: b.find_element(By.ID, "live-status").text == "live")  # the stream takes the token
    assert VIEWER not in browser.current_url  # posted, never in an address
    search = browser.find_element(By.NAME, "q")
    search.send_keys("2411BROW")
    browser.find_element(By.CSS_SELECTOR, "form.search button").click()
    wait.until(lambda b: "q=2411BROW" in b.current_url)
    rows = "table.orders tr[data-order]"
    wait.until(lambda b: [r.get_attribute("data-order") for r in b.find_elements(By.CSS_SELECTOR, rows)])
    assert [r.get_attribute("data-order") for r in browser.find_elements(By.CSS_SELECTOR, rows)] == [
        "shopee/2411BROWSER"
    ]
    row = 'tr[data-order="shopee/2411BROWSER"] [data-state]'
    assert browser.find_element(By.CSS_SELECTOR, row).get_attribute("data-state") == "pending"
    wait.until(lambda b: b.find_element(By.ID, "live-status").text == "live")

    assert receiver.post(status_push("2411BROWSER", "READY_TO_SHIP", SENT)).status_code == 200

    wait.until(lambda b: b.find_element(By.CSS_SELECTOR, row).get_attribute("data-state") == "approved")
    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "dashboard.png"
    assert browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 1000

    browser.find_element(By.LINK_TEXT, "2411BROWSER").click()
    wait.until(lambda b: "approved" in b.find_element(By.ID, "order-state").text)
    assert "processing → approved" in browser.find_element(By.CSS_SELECTOR, "table.timeline").text
    assert browser.save_screenshot(str(OUTPUT / "dashboard-order.png"))
