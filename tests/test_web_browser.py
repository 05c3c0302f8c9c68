"""End to end in a real browser: Debian's headless Chromium driven by selenium.

A student reports a threat with a photo through the web page, saves the receipt, and later
checks back and answers a staff member who wrote with `stopit reply`. The same report is then
a triaged emergency case in `stopit cases show`, with the chain paged. Every page visited is
checked for accessibility in the browser (tests/a11y_check.js) at a phone's width, and
screenshots are kept in the test's temporary folder.

Skips cleanly when chromium or chromedriver is absent, except under CI (where .ci/run
installs them and a missing browser is a failure). selenium-manager is never asked to find or
download anything: both paths are given.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from stopit_mail.app import App
from stopit_mail.cli import main
from stopit_mail.models import Case, Page, RawMessage, RawStatus
from stopit_mail.server import MailServer

from web_helpers import ACCESS_CODE, jpeg_with_gps, running, web_installation

CHROMIUM = os.environ.get("STOPIT_CHROMIUM") or shutil.which("chromium") or ""
CHROMEDRIVER = os.environ.get("STOPIT_CHROMEDRIVER") or shutil.which("chromedriver") or ""
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=375,812")
CHAIN = """
[[organisations.escalation.business_chain]]
contact = "counsellor"
addresses = ["counsellor@example.edu"]
wait_minutes = 10
[[organisations.escalation.after_hours_chain]]
contact = "dean-on-call"
addresses = ["dean-oncall@example.edu"]
wait_minutes = 10
"""
CHECKER = (Path(__file__).parent / "a11y_check.js").read_text()
SERIOUS = ("serious", "critical")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    if not (CHROMIUM and CHROMEDRIVER and Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium/chromium-driver missing under CI (.ci/run installs them)")
        pytest.skip("chromium and chromedriver are not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # selenium-manager, should anything call it, must not download
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver.implicitly_wait(15)  # a submit returns before the next page has loaded
    try:
        yield driver
    finally:
        driver.quit()


class Visit:
    """Steps in the browser, each checked for accessibility and kept as a screenshot."""

    def __init__(self, driver, shots: Path) -> None:  # type: ignore[no-untyped-def]
        self.driver = driver
        self.shots = shots
        self.count = 0
        self.violations: list[dict[str, str]] = []
        shots.mkdir()

    def check(self, name: str) -> None:
        self.count += 1
        self.driver.save_screenshot(str(self.shots / f"{self.count:02d}-{name}.png"))
        found = self.driver.execute_script(CHECKER)
        self.violations += [dict(v, page=name) for v in found]

    def submit(self, css: str) -> None:
        """Click a submit button and wait until the next page has replaced this one."""
        from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
        from selenium.webdriver.support.wait import WebDriverWait

        page = self.find("html")
        self.find(css).click()

        def replaced(_driver: object) -> bool:
            try:
                page.is_enabled()
            except StaleElementReferenceException:
                return True
            except WebDriverException as exc:
                # Chromium sometimes reports the old page's node this way while it swaps pages
                # (seen with chromium 156): the same fact as a stale element.
                if "does not belong to the document" in str(exc):
                    return True
                raise
            return False

        WebDriverWait(self.driver, 30).until(replaced)

    def find(self, css: str):  # type: ignore[no-untyped-def]
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)


def _wait_for(app: App, condition, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.factory() as session:
            result = condition(session)
            if result:
                return result
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the worker")


def test_report_receipt_check_back_and_answer_in_a_browser(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.keys import Keys

    app = web_installation(tmp_path / "home", org_extra=CHAIN)
    photo = tmp_path / "screenshot.jpg"
    photo.write_bytes(jpeg_with_gps((400, 300)))
    mail = MailServer(app, run_worker=True, port=0, worker_idle_seconds=0.2)
    mail.start()
    visit = Visit(browser, tmp_path / "screenshots")
    try:
        assert mail.worker is not None
        with running(app, on_stored=mail.worker.wake) as web:
            browser.get(f"{web.url}/")
            visit.check("front-page")
            # The first Tab reaches the skip link, which leads to the main content.
            visit.find("body").send_keys(Keys.TAB)
            assert browser.switch_to.active_element.get_attribute("class") == "skip"

            browser.get(f"{web.url}/r/{ACCESS_CODE}")
            visit.check("report-form")
            visit.find("#text").send_keys("He said he will bring a gun to school tomorrow and shoot us all.")
            visit.find("#category option[value='threats-of-violence']").click()
            visit.find("#where").send_keys("Cafeteria")
            visit.find("#files").send_keys(str(photo))
            assert visit.find("#identity-anonymous").is_selected()
            visit.submit("form button[type=submit]")

            code = visit.find("#receipt-code").text.strip()
            assert len(code) == 29
            visit.check("receipt")
            visit.find("#saved").click()
            visit.submit("form button[type=submit]")
            assert "Thank you" in visit.find("h1").text
            visit.check("thanks")

            number = _wait_for(app, lambda s: s.scalar(select(Case.number)))
            result = CliRunner().invoke(main, ["-c", str(app.settings.base_dir), "--as", "Pat Morgan", "reply", number,
                                               "-m", "We have called the police liaison. Are you safe right now?"])
            assert result.exit_code == 0, result.output
            assert "check-back page" in result.output

            browser.get(f"{web.url}/check?lang=es")
            assert visit.find("h1").text == "Consultar un informe"
            browser.get(f"{web.url}/check?lang=en")
            visit.check("check-back")
            visit.find("#code").send_keys(code.lower())
            visit.submit("form button[type=submit]")
            assert "Are you safe right now?" in visit.find("ol.thread").text
            assert "screenshot.jpg" in visit.find("ol.thread").text
            visit.check("thread")
            visit.find("#text").send_keys("Yes, I am home. It was Jordan from 10C.")
            visit.submit("form[action='/check/answer'] button")
            assert "Your message was sent." in visit.find("p.notice").text
            visit.check("answer-sent")

            _wait_for(app, lambda s: s.scalar(select(RawMessage.id).where(
                RawMessage.kind == "reply", RawMessage.status == RawStatus.PROCESSED)))
    finally:
        mail.stop()

    shown = CliRunner().invoke(main, ["-c", str(app.settings.base_dir), "cases", "show", number, "--json"])
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.output)
    actions = [event["action"] for event in detail["timeline"]]
    assert detail["urgency"] == "emergency" and detail["status"] == "triaged" and detail["anonymous"]
    assert "escalation-started" in actions and "escalation-paged" in actions
    assert "staff-reply-posted" in actions and "reply-received" in actions
    assert "Jordan from 10C" in next(e for e in detail["timeline"] if e["action"] == "reply-received")["detail"]["text"]
    assert any(e["kind"] == "attachment" and e["content_type"] == "image/jpeg" for e in detail["evidence"])
    with app.factory() as session:
        assert session.scalars(select(Page)).first() is not None
    app.close()

    assert sorted(p.name for p in (tmp_path / "screenshots").iterdir())[0] == "01-front-page.png"
    serious = [v for v in visit.violations if v["impact"] in SERIOUS]
    assert serious == [], json.dumps(serious, indent=1)


def test_the_accessibility_checker_finds_real_problems(browser) -> None:  # type: ignore[no-untyped-def]
    """The checker above is not vacuous: a page with the usual mistakes fails it."""
    import urllib.parse

    bad = ("<html><head><title>x</title></head><body><div>outside any landmark</div><main>"
           "<h1>Title</h1><h3>skipped a level</h3><input type='text' name='q'>"
           "<p style='color:#aaa;background:#fff'>faint text</p><img src='data:,'><button></button>"
           "</main></body></html>")
    browser.get("data:text/html," + urllib.parse.quote(bad))
    rules = {v["rule"] for v in browser.execute_script(CHECKER)}
    assert {"html-has-lang", "label", "color-contrast", "image-alt", "button-name", "region",
            "heading-order", "landmark-banner"} <= rules
