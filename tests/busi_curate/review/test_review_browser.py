"""The review page in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``, driven by Selenium):
load the page, press the keys, check the journal, kill -9 the server, restart, check it resumes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from test_review_cli import start_server  # tests/ is on sys.path under pytest

from busi_curate.review.journal import read_journal

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs Debian chromium + chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver)",
    ),
]


@pytest.fixture()
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for a in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1400,900",
    ):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def wait_for(drv, cond, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = drv.execute_script(cond)
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {cond}")


def shown(drv) -> str:
    """The row pair on screen, once the page is idle."""
    return wait_for(
        drv,
        "return document.body.dataset.busy === '0' && document.body.dataset.state === 'question'"
        " && document.body.dataset.question",
    )


def press(drv, key: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(drv).send_keys(key).perform()


def posts(drv) -> int:
    return int(drv.execute_script("return Number(document.body.dataset.posts || 0)"))


def press_answer(drv, key: str) -> None:
    """Press an answer key and wait for the server's reply to be rendered."""
    n = posts(drv)
    press(drv, key)
    wait_for(drv, f"return Number(document.body.dataset.posts || 0) > {n} && document.body.dataset.busy === '0'")


def test_keys_journal_kill_and_resume(browser, scan_copy):
    from selenium.webdriver.common.by import By

    proc, url = start_server(scan_copy)
    try:
        browser.get(url)
        first = shown(browser)
        progress = browser.find_element(By.ID, "progress").text
        assert progress.startswith("references ") and " done · " in progress
        # both images and both outlines actually loaded
        wait_for(
            browser, "return [...document.querySelectorAll('.frame img')].every(i => i.complete && i.naturalWidth > 0)"
        )
        ref_text = browser.find_element(By.CSS_SELECTOR, "#ref figcaption").text
        assert "reference" in ref_text.lower() and "id " in ref_text and "px" in ref_text
        assert browser.find_element(By.ID, "ssim").text.startswith("SSIM ")
        # outline toggle: key m hides the reference outline
        press(browser, "m")
        assert "no-outline" in browser.find_element(By.ID, "ref").get_attribute("class")
        press(browser, "m")
        if os.environ.get("REVIEW_SCREENSHOT"):
            browser.save_screenshot(os.environ["REVIEW_SCREENSHOT"])
        # s: same (same-frame, or identical when the pixels are), then d, then k
        press_answer(browser, "s")
        second = shown(browser)
        assert second != first
        lines = read_journal(scan_copy / "decisions.csv")
        assert len(lines) == 1 and lines[0].answer == "same" and lines[0].decided_by == "kim"
        assert lines[0].grade in ("same-frame", "identical")
        assert "saved: same" in browser.find_element(By.ID, "status").text
        press_answer(browser, "d")
        third = shown(browser)
        press_answer(browser, "u")  # undo the "different": back to the second question
        assert shown(browser) == second
        press_answer(browser, "a")  # now call it an adjacent frame
        after_a = shown(browser)
        press_answer(browser, "k")  # skip
        after_k = shown(browser)
        assert after_k != after_a
        answers = [(d.answer, d.grade) for d in read_journal(scan_copy / "decisions.csv")]
        assert answers[1:] == [("different", ""), ("undo", ""), ("same", "adjacent-frame"), ("skip", "")]
        assert third
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    n_lines = len(read_journal(scan_copy / "decisions.csv"))
    proc, url = start_server(scan_copy)
    try:
        browser.get(url)
        resumed = shown(browser)
        # the skipped pair comes back first (a new run); nothing written before the kill is lost
        assert resumed == after_a
        assert len(read_journal(scan_copy / "decisions.csv")) == n_lines == 5
        press_answer(browser, "d")  # "different" ends that reference too: on to the question that followed the skip
        assert shown(browser) == after_k
        assert len(read_journal(scan_copy / "decisions.csv")) == 6
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def test_auto_mode_shows_only_uncertain_pairs_with_evidence(browser, scan_copy):
    from selenium.webdriver.common.by import By

    proc, url = start_server(scan_copy, "--auto", "--assistant", "test_review_auto:FakeAssistant")
    try:
        auto_lines = read_journal(scan_copy / "decisions.csv")
        assert auto_lines and {d.decided_by for d in auto_lines} == {"auto"}
        browser.get(url)
        shown(browser)
        box = browser.find_element(By.ID, "assistant")
        assert box.is_displayed() and box.text.startswith("assistant: uncertain") and "fake" in box.text
        assert " auto" in browser.find_element(By.ID, "progress").text
        press_answer(browser, "d")
        wait_for(browser, "return document.body.dataset.busy === '0'")
        lines = read_journal(scan_copy / "decisions.csv")
        assert lines[-1].decided_by == "kim" and "assistant: uncertain" in lines[-1].evidence
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
