"""The dashboard in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``).

Every page renders its charts with zero JavaScript errors (the page's own error hook and the
browser's console log), a consumer's token sees exactly one participant, a wrong role gets 403
from the browser's own fetch, and a screenshot of each page is saved under the test's temp dir.
``.ci/run`` installs Chromium; without it these tests are skipped, saying so.
"""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _dashboard_util import Server, make_sweep, make_views, running

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path("/usr/bin/chromedriver")
if not (CHROMIUM.is_file() and DRIVER.is_file()):
    pytest.skip(
        f"no Chromium: {CHROMIUM} and {DRIVER} are needed "
        "(apt-get install chromium chromium-driver; .ci/run does this)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (extra [test]) missing")

from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CONSUMER, SUPPLIER = 7, 1
#: Pages and the least number of Plotly charts each draws for the researcher of a run.
RUN_PAGES = {"overview": 1, "grid": 5, "market": 3, "settlement": 3, "households": 1, "roles": 0}


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,1000",
    ):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=str(DRIVER))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def run_server(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    run = tmp_path_factory.mktemp("browser") / "tiny"
    shutil.copytree(tiny_run, run)
    make_views(run, CONSUMER, SUPPLIER)
    with running(run) as srv:
        yield srv


def login(driver: Any, server: Server, role: str) -> None:
    driver.get("about:blank")
    driver.get(f"{server.url}/#token={server.token(role)}")
    wait_ready(driver, "overview")


def wait_ready(driver: Any, page: str, timeout: float = 30) -> float:
    """Wait until ``page`` has rendered; return the seconds it took."""
    t0 = time.monotonic()
    try:
        WebDriverWait(driver, timeout).until(
            lambda d: d.execute_script(
                "return document.body.dataset.page === arguments[0] && "
                "document.body.dataset.status !== 'loading'",
                page,
            )
        )
    except TimeoutException:
        pytest.fail(f"page {page} did not finish within {timeout} s")
    return time.monotonic() - t0


def show(driver: Any, page: str) -> float:
    driver.execute_script("location.hash = '#/' + arguments[0]", page)
    return wait_ready(driver, page)


def check_page(driver: Any, page: str, min_charts: int, shots: Path, tag: str) -> None:
    status = driver.execute_script("return document.body.dataset.status")
    errors = driver.execute_script("return window.__errors")
    console = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    error_text = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#main .error")]
    assert status == "ready", (page, status, error_text)
    assert errors == [] and console == [], (page, errors, console)
    charts = driver.find_elements(By.CSS_SELECTOR, "#main .js-plotly-plot")
    assert len(charts) >= min_charts, (page, len(charts))
    for chart in charts:  # each chart drew something: an SVG with at least one plotted trace
        assert chart.find_elements(By.CSS_SELECTOR, "svg.main-svg"), page
    shots.mkdir(exist_ok=True)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    (shots / f"{tag}_{page}.png").write_bytes(base64.b64decode(shot["data"]))


def test_every_page_renders_for_the_researcher(
    browser: Any, run_server: Server, tmp_path: Path
) -> None:
    login(browser, run_server, "researcher")
    for page, charts in RUN_PAGES.items():
        show(browser, page)
        check_page(browser, page, charts, tmp_path / "shots", "researcher")
    # leaving a page before it finishes: only the page shown last draws (the overview's data
    # is held back 0.8 s, so it arrives after the settlement page has been drawn)
    browser.execute_script(
        "const fetch0 = window.fetch;"
        "window.fetch = (url, opts) => String(url).includes('/api/summary')"
        "  ? new Promise(r => setTimeout(r, 800)).then(() => fetch0(url, opts))"
        "  : fetch0(url, opts);"
        "location.hash = '#/overview';"
    )
    time.sleep(0.2)
    show(browser, "settlement")
    time.sleep(1.5)
    check_page(browser, "settlement", RUN_PAGES["settlement"], tmp_path / "shots", "hurried")
    ids = browser.execute_script(
        "return Array.from(document.querySelectorAll('#main .chart')).map(c => c.id)"
    )
    assert "bills" in ids and "timings" not in ids, ids
    assert browser.execute_script("return document.body.dataset.page") == "settlement"
    show(browser, "roles")
    links = browser.find_elements(By.CSS_SELECTOR, "a[data-role]")
    assert {a.get_attribute("data-role") for a in links} == set(run_server.dashboard.roles())
    assert len(list((tmp_path / "shots").glob("researcher_*.png"))) == len(RUN_PAGES)


def test_consumer_sees_exactly_one_participant(
    browser: Any, run_server: Server, tmp_path: Path
) -> None:
    login(browser, run_server, f"consumer_{CONSUMER}")
    nav = {a.get_attribute("data-page") for a in browser.find_elements(By.CSS_SELECTOR, "#nav a")}
    assert "roles" not in nav
    show(browser, "households")
    check_page(browser, "households", 1, tmp_path / "shots", "consumer")
    options = browser.find_elements(By.CSS_SELECTOR, "#participant option")
    assert [o.get_attribute("value") for o in options] == [str(CONSUMER)]
    show(browser, "settlement")
    check_page(browser, "settlement", 1, tmp_path / "shots", "consumer")
    bills = browser.execute_script(
        "const d = document.getElementById('bills').data;"
        "return Array.from(new Set(d.flatMap(t => Array.from(t.text))));"
    )
    assert bills == [f"participant {CONSUMER}"]
    show(browser, "grid")
    check_page(browser, "grid", 0, tmp_path / "shots", "consumer")
    assert browser.find_elements(By.CSS_SELECTOR, "#main .na")  # says what it cannot see
    # a wrong role, asked from the page itself: the researcher's routes answer 403
    status = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/api/tokens', {headers: {Authorization: 'Bearer ' +"
        " sessionStorage.getItem('cosim-token')}}).then(r => done(r.status));"
    )
    assert status == 403
    logged = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert len(logged) == 1 and "/api/tokens" in logged[0] and "403" in logged[0]


def test_grid_operator_pages(browser: Any, run_server: Server, tmp_path: Path) -> None:
    login(browser, run_server, "grid_operator")
    show(browser, "grid")
    check_page(browser, "grid", 5, tmp_path / "shots", "grid_operator")
    assert browser.find_elements(By.ID, "aggregates")
    show(browser, "households")
    check_page(browser, "households", 0, tmp_path / "shots", "grid_operator")
    assert not browser.find_elements(By.CSS_SELECTOR, "#main .js-plotly-plot")
    assert browser.find_elements(By.CSS_SELECTOR, "#main .na")


def test_sweep_pages(browser: Any, tiny_run: Path, tmp_path: Path) -> None:
    root = make_sweep(tiny_run, tmp_path / "sweep")
    with running(root) as srv:
        login(browser, srv, "researcher")
        runs = browser.find_elements(By.CSS_SELECTOR, "#run option")
        assert len(runs) == 4
        for page, charts in (("sweep", 15), ("compare", 1), ("grid", 4)):
            show(browser, page)
            check_page(browser, page, charts, tmp_path / "shots", "sweep")
            if page == "sweep":  # another x axis: the same charts, redrawn against the seed
                browser.find_element(By.CSS_SELECTOR, "#sweep-x option[value=seed]").click()
                wait_ready(browser, "sweep")
                check_page(browser, page, charts, tmp_path / "shots", "sweep_by_seed")
                first = "document.querySelector('#main .js-plotly-plot')"
                title = browser.execute_script(f"return {first}.layout.xaxis.title.text")
                assert title == "seed"
            if page == "compare":
                header = browser.execute_script(
                    "return Array.from(document.querySelectorAll('#main table th'))"
                    ".map(th => th.textContent)"
                )
                assert header == ["metric", *srv.dashboard.runs]  # four runs side by side
