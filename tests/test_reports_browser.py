"""The HTML scorecard as a person sees it: headless Chromium at phone width.

Needs the Debian packages chromium and chromium-driver (`make browsers`); skipped,
with the reason shown, where they are absent. Set READINESS_SCREENSHOTS=DIR to
keep the screenshots for a look.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import pytest
from report_cards import typical_card, with_hostile_strings

from readiness import evaluate
from readiness.reports import html

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path("/usr/bin/chromedriver")
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.skipif(
        not (CHROMIUM.exists() and DRIVER.exists()),
        reason="headless Chromium not installed: run `make browsers` (Debian packages chromium, chromium-driver)",
    ),
    pytest.mark.xdist_group("chromium"),
]


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (the test extra) is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={PHONE['width']},{PHONE['height']}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {**PHONE, "deviceScaleFactor": 2, "mobile": True, "screenWidth": 390}
    )
    try:
        yield driver
    finally:
        driver.quit()


def _open(driver, path: Path) -> tuple[list[str], list[dict]]:
    """Load a file; return the URLs it requested and the console's severe entries."""
    driver.get_log("performance")  # drain
    driver.get_log("browser")
    driver.get(path.as_uri())
    driver.execute_script("return document.readyState")
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return requests, errors


def _keep(driver, name: str, tmp_path: Path) -> Path:
    shot = tmp_path / name
    driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 5_000
    keep = os.environ.get("READINESS_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / name)
    return shot


def _first_screen_shows_verdict(driver, word: str) -> None:
    from selenium.webdriver.common.by import By

    verdict = driver.find_element(By.CSS_SELECTOR, "#verdict .word")
    assert verdict.is_displayed()
    assert word in verdict.text
    box = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return [r.left, r.top, r.right, r.bottom, window.innerWidth, window.innerHeight,"
        " document.documentElement.scrollWidth];",
        verdict,
    )
    left, top, right, bottom, width, height, scroll_width = box
    assert width == PHONE["width"]
    assert 0 <= left and right <= width and 0 <= top and bottom <= height, box
    assert scroll_width <= width, "the page scrolls sideways on a phone"


def test_example_scorecard_in_chromium_at_phone_width(browser, example_bundle, tmp_path):
    card, _ = evaluate(example_bundle, seed=0)
    page = tmp_path / "example.html"
    page.write_text(html.render(card), encoding="utf-8")
    requests, errors = _open(browser, page)
    assert requests == [page.as_uri()], "the page requested something besides itself"
    assert errors == []
    _first_screen_shows_verdict(browser, "RELEASED" if card.released else "BLOCKED")
    _keep(browser, "example-phone.png", tmp_path)
    # every check opened: its `measured` table wraps long values (a 64-digit sha256) to the phone's
    # width instead of hiding them past the right edge of a box that scrolls sideways
    widest = browser.execute_script(
        "document.querySelectorAll('details').forEach(d => d.open = true);"
        "return Math.max(...[...document.querySelectorAll('.tablewrap table')]"
        ".map(t => t.getBoundingClientRect().right));"
    )
    assert widest <= PHONE["width"], f"a table reaches {widest} px on a {PHONE['width']} px screen"


def test_blocked_scorecard_with_charts_and_hostile_strings(browser, tmp_path):
    from selenium.webdriver.common.by import By

    page = tmp_path / "blocked.html"
    page.write_text(html.render(with_hostile_strings(typical_card())), encoding="utf-8")
    requests, errors = _open(browser, page)
    assert requests == [page.as_uri()]
    assert errors == []
    _first_screen_shows_verdict(browser, "BLOCKED")
    assert browser.execute_script("return window.__xss === undefined && document.images.length === 0")
    _keep(browser, "blocked-phone.png", tmp_path)
    # drill-down without JavaScript: a <details> opens on a click and shows its chart
    latency = browser.find_element(By.ID, "LAT001")
    chart = latency.find_element(By.CSS_SELECTOR, "svg.chart")
    assert not chart.is_displayed()
    latency.find_element(By.TAG_NAME, "summary").click()
    assert chart.is_displayed()
    browser.execute_script("arguments[0].scrollIntoView()", latency)
    _keep(browser, "blocked-latency-open.png", tmp_path)
    # printable: on paper every check's details are shown, closed or not
    closed = browser.find_element(By.ID, "ROB005")
    slice_chart = closed.find_element(By.CSS_SELECTOR, "svg.chart")
    height = "return arguments[0].getBoundingClientRect().height"
    assert closed.get_attribute("open") is None and not slice_chart.is_displayed()
    on_screen = browser.execute_script(height, closed)
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert browser.execute_script(height, closed) > on_screen + browser.execute_script(height, slice_chart)
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    pdf = browser.execute_cdp_cmd("Page.printToPDF", {"printBackground": False})
    assert base64.b64decode(pdf["data"]).startswith(b"%PDF")


def test_the_request_check_would_catch_a_page_that_loads_something(browser, tmp_path):
    page = tmp_path / "leaky.html"
    page.write_text('<!DOCTYPE html><p>x</p><img src="http://127.0.0.1:9/pixel.png">', encoding="utf-8")
    requests, _ = _open(browser, page)
    assert "http://127.0.0.1:9/pixel.png" in requests


def test_fleet_index_in_chromium_sorts_by_any_column(browser, tmp_path):
    from selenium.webdriver.common.by import By

    from readiness.reports import fleet as fleet_report

    def bundle(name, verdict, overall, reasons=()):
        return {
            "path": f"models/{name}", "name": name, "verdict": verdict, "exit_code": {"released": 0}.get(verdict, 1),
            "model": {"name": name, "version": "1.0"}, "scores": {"overall": overall}, "blocking": [],
            "reasons": list(reasons), "reports": {"html": f"{name}.html"},
        }  # fmt: skip

    summary = {
        "bundles": [
            bundle("alpha", "released", 1.0),
            bundle("beta", "blocked", 0.4, ["LAT001 (major) failed: p99 12 ms > 10 ms"]),
            bundle("gamma", "released", 0.9),
            bundle("<img src=x onerror=window.__xss=1>", "blocked", 0.7, ["<b>x</b>"]),
        ],
        "totals": {"bundles": 4, "released": 2, "blocked": 2, "error": 0},
        "exit_code": 1,
        "run": {"jobs": 2, "wall_s": 3.0, "sum_of_bundles_s": 5.0},
    }
    page = tmp_path / "index.html"
    page.write_text(fleet_report.render_html(summary), encoding="utf-8")
    requests, errors = _open(browser, page)
    assert requests == [page.as_uri()] and errors == []
    assert browser.execute_script("return window.__xss === undefined")
    headline = browser.find_element(By.ID, "headline")
    assert headline.is_displayed() and headline.text.startswith("BLOCKED: 4 bundles")

    def verdicts():
        return [
            row.find_element(By.CSS_SELECTOR, ".verdict").text
            for row in browser.find_elements(By.CSS_SELECTOR, "#fleet tbody tr")
        ]

    def scores():
        return [
            row.find_elements(By.TAG_NAME, "td")[2].text
            for row in browser.find_elements(By.CSS_SELECTOR, "#fleet tbody tr")
        ]

    assert verdicts() == ["BLOCKED", "BLOCKED", "RELEASED", "RELEASED"]  # worst first
    reason = browser.find_element(By.XPATH, "//li[contains(., 'p99 12 ms')]")
    assert reason.is_displayed() and reason.rect["x"] + reason.rect["width"] <= PHONE["width"]
    assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE["width"], "scrolls sideways"
    browser.find_element(By.CSS_SELECTOR, 'th[data-key="score"]').click()
    assert scores() == ["40%", "70%", "90%", "100%"]
    browser.find_element(By.CSS_SELECTOR, 'th[data-key="score"]').click()
    assert scores() == ["100%", "90%", "70%", "40%"]
    link = browser.find_element(By.LINK_TEXT, "alpha 1.0")
    assert link.get_attribute("href").endswith("/alpha.html")
    _keep(browser, "fleet-index-phone.png", tmp_path)
