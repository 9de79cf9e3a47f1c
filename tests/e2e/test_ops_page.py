"""The operations page in a real headless Chromium against the running stack."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis
import requests

from dispatcher.adapters.redis.capacity import TrunkCapacity
from dispatcher.devstack.embedded import EmbeddedPostgres
from pbxsim import SimConfig
from tests.support.stackproc import Stack, running_stack

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def stack(postgres: EmbeddedPostgres, migrated_template: str, redis_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = SimConfig(users={"dispatcher": "worker-secret", "events": "events-secret"},
                       ring_delay=0.01, answer_delay=0.1, cel_events=False)
    with running_stack(postgres, migrated_template, redis_url,
                       tmp_path_factory.mktemp("ops-logs"), config) as stack:
        yield stack


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,2200",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def wait_for_text(driver: WebDriver, selector: str, text: str, deadline: float = 20) -> None:
    from selenium.webdriver.common.by import By

    end = time.monotonic() + deadline
    while text not in (shown := driver.find_element(By.CSS_SELECTOR, selector).text):
        assert time.monotonic() < end, f"{text!r} never shown in {selector}: {shown!r}"
        time.sleep(0.3)


def wait_for_element(driver: WebDriver, selector: str, deadline: float = 30) -> None:
    from selenium.webdriver.common.by import By

    end = time.monotonic() + deadline
    while not driver.find_elements(By.CSS_SELECTOR, selector):
        assert time.monotonic() < end, f"{selector} never appeared"
        time.sleep(0.3)


def test_the_page_shows_lines_and_live_calls_after_signing_in(
    stack: Stack, browser: WebDriver, tmp_path: Path, redis_url: str
) -> None:
    from selenium.webdriver.common.by import By

    held = stack.post({"to": "+989121235001"}).json()  # answers and stays up
    driver = browser
    driver.get(f"{stack.base}/ops")
    field = driver.find_element(By.ID, "api_key")
    field.send_keys("wrong")
    field.submit()  # returns before the answer is loaded: wait for it
    deadline = time.monotonic() + 20
    while "invalid API key" not in driver.page_source:
        assert time.monotonic() < deadline, "a wrong key was never refused on the page"
        time.sleep(0.2)
    field = driver.find_element(By.ID, "api_key")
    field.send_keys(stack.key)
    field.submit()
    deadline = time.monotonic() + 20
    while True:
        rows = driver.find_elements(By.CSS_SELECTOR, "#calls tbody tr")
        text = " ".join(r.text for r in rows)
        if held["to"] in text and "in-progress" in text:
            break
        assert time.monotonic() < deadline, f"live call never shown: {text!r}"
        time.sleep(0.5)
    trunk_row = driver.find_element(By.CSS_SELECTOR, "#trunks tbody tr").text
    assert "1 / 30" in trunk_row and "connected" in trunk_row

    # A campaign appears, and its status follows a pause without reloading the page.
    auth = {"Authorization": f"Bearer {stack.key}"}
    cid = requests.post(f"{stack.base}/v1/campaigns", json={"name": "Reminders"},
                        headers=auth, timeout=10).json()["id"]
    requests.post(f"{stack.base}/v1/campaigns/{cid}/contacts", data=b"to\n09121235002\n",
                  headers={**auth, "Content-Type": "text/csv"}, timeout=10)
    requests.post(f"{stack.base}/v1/campaigns/{cid}/start", headers=auth, timeout=10)
    wait_for_text(driver, "#campaigns tbody", "Reminders")
    requests.post(f"{stack.base}/v1/campaigns/{cid}/pause", headers=auth, timeout=10)
    wait_for_text(driver, "#campaigns tbody", "paused by")  # and by whom

    # The last hour in pictures: lines in use per trunk under its line count, calls ended
    # by outcome, and the answer-seizure ratio; then an alert in plain words.
    trunk = requests.get(f"{stack.base}/v1/trunks", headers=auth, timeout=10).json()["data"][0]
    stack.post({"to": "+989121231002"})  # answers and hangs up after a few seconds
    wait_for_element(driver, "#outcomes-chart rect[data-outcome='answered']")
    line = driver.find_element(By.CSS_SELECTOR,
                               f"#lines-chart polyline[data-trunk='{trunk['name']}']")
    assert len(line.get_attribute("points").split()) >= 2
    assert driver.find_elements(By.CSS_SELECTOR,
                                f"#lines-chart line.capacity[data-trunk='{trunk['name']}']")
    wait_for_text(driver, "#quality tbody", f"trunk {trunk['name']}")
    row = driver.find_element(By.CSS_SELECTOR, "#quality tr[data-kind='trunk']").text
    assert "100.0%" in row  # every call that ended was answered
    assert driver.find_element(By.CSS_SELECTOR, "#alerts").text == "Nothing needs attention."
    capacity = TrunkCapacity(redis.Redis.from_url(redis_url), trunk["name"], 30)
    capacity.pause()
    try:
        wait_for_text(driver, "#alerts", f"Trunk {trunk['name']} is paused by an operator")
        assert driver.find_elements(By.CSS_SELECTOR, "#alerts li.alert-warning")
        shot = Path(__file__).resolve().parents[2] / ".run" / "ops-page.png"
        shot.parent.mkdir(exist_ok=True)
        assert driver.save_screenshot(str(shot))  # for people: charts, alert, tables
    finally:
        capacity.resume()
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    width = int.from_bytes(png[16:20], "big")
    assert width >= 1000
    stack.cancel(held["id"])


def test_the_api_document_renders_for_people_with_no_internet(
    stack: Stack, browser: WebDriver
) -> None:
    """/docs is Swagger UI from the installed wheel, on /openapi.json: every operation shows."""
    from selenium.webdriver.common.by import By

    browser.get(f"{stack.base}/docs")
    wait_for_element(browser, "#swagger-ui .opblock")
    spec = requests.get(f"{stack.base}/openapi.json", timeout=10).json()
    operations = sum(1 for item in spec["paths"].values() for method in item
                     if method in ("get", "post", "patch", "delete"))
    shown = browser.find_elements(By.CSS_SELECTOR, "#swagger-ui .opblock")
    assert len(shown) == operations
    paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/v1/calls", "/v1/campaigns/{campaign_id}", "/v1/dnc-lists"} <= {
        p.replace("\u200b", "") for p in paths}
