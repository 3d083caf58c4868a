"""The service's dashboard in headless Chromium (as tests/test_report_browser.py opens the report):
the page holds no data until a token is given; the operator's token shows today's intervals (chosen
priority, P2P kWh, CES SoC) and the live interval, a peer's token adds its own statement, a wrong
token shows the service's refusal and nothing else.

On a developer machine without the browser the test skips; where skips are failures
(``LEC_OPT_NO_SKIPS=1`` or ``CI=true``: tests/conftest.py) that skip fails.
"""

from __future__ import annotations

import warnings

import httpx
import pytest
from browser_support import headless_chrome
from service_support import OPERATOR, thread_server

from lec_opt.scenario import load_scenario
from lec_opt.service.aggregator import Aggregator
from lec_opt.service.app import create_app
from lec_opt.service.client import bulk_body
from lec_opt.service.community import Community

warnings.filterwarnings("ignore", message=".*httpx2.*")
ROWS = "return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr')).map(r => Array.from(r.cells).map(c => c.textContent));"


@pytest.fixture(scope="module")
def browser():
    driver = headless_chrome()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    agg = Aggregator(Community(load_scenario(), "greedy"), f"sqlite:///{tmp_path_factory.mktemp('db')}/s.db", OPERATOR)
    with thread_server(create_app(agg)) as url:
        op = {"Authorization": f"Bearer {OPERATOR}"}
        for t in range(4):
            httpx.post(f"{url}/operator/readings", headers=op, json=bulk_body(agg.community.day, t)).raise_for_status()
        token = httpx.post(f"{url}/operator/peers/3/token", headers=op).json()["token"]
        yield url, token


def _login(browser, url: str, token: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url + "/")
    browser.execute_script("sessionStorage.clear()")
    browser.get(url + "/")
    assert browser.find_element(By.ID, "day-section").get_attribute("hidden") is not None  # no data before
    field = browser.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "#login button").click()
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.ID, "error").text or d.find_element(By.ID, "day-section").is_displayed()
    )


def test_the_dashboard_in_a_headless_browser(browser, service):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, peer_token = service
    _login(browser, url, OPERATOR)
    day = browser.execute_script(ROWS, "#day")
    assert [row[0] for row in day] == ["00:00", "00:05", "00:10", "00:15"]
    assert all(row[1] in "ABC" and float(row[2]) >= 0 and 0 <= float(row[3]) <= 1 for row in day)
    assert browser.find_element(By.ID, "live").text == "00:20: 0 of 100 readings in"
    assert not browser.find_element(By.ID, "statement-section").is_displayed()  # the operator is no peer
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "403" not in e["message"]]

    _login(browser, url, peer_token)
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "statement-section").is_displayed())
    statement = browser.execute_script(ROWS, "#statement")
    assert [row[0] for row in statement] == ["00:00", "00:05", "00:10", "00:15"]
    assert browser.find_element(By.ID, "statement-totals").text.startswith("peer 3 (prosumer)")

    _login(browser, url, "not-a-token-of-this-service")
    assert browser.find_element(By.ID, "error").text == "unknown token"
    assert not browser.find_element(By.ID, "day-section").is_displayed()
