"""The review page in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``, driven by Selenium):
load the page, press the keys, check the journal, kill -9 the server, restart, check it resumes."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
import urllib.request
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
    # the smallest screen the page is made for: 1280 x 720 CSS pixels of page
    drv.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 720, "deviceScaleFactor": 1, "mobile": False}
    )
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
        assert box.is_displayed() and box.text.startswith("Assistant: not sure: your call.") and "fake" in box.text
        assert " auto" in browser.find_element(By.ID, "progress").text
        press_answer(browser, "d")
        wait_for(browser, "return document.body.dataset.busy === '0'")
        lines = read_journal(scan_copy / "decisions.csv")
        assert lines[-1].decided_by == "kim" and "assistant: uncertain" in lines[-1].evidence
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


# ----------------------------------------------------------------------------- issue 11: the review page

UNSURE = ("--auto", "--assistant", "unsure_assistant:UnsureAssistant")  # the real fit, every question to the page
SHOTS = os.environ.get("REVIEW_SCREENSHOTS")  # a folder: save the screenshots of docs/review.md there


def shot(drv, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        drv.save_screenshot(str(Path(SHOTS) / name))


def api(url: str, path: str) -> dict:
    with urllib.request.urlopen(url.rstrip("/") + path, timeout=30) as r:
        return json.loads(r.read())


def stop(proc) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


#: every visible control (buttons, links, inputs) lies inside the 1280 x 720 window and is not covered; the
#: gallery's tiles scroll inside their own box, which must itself lie inside the window
REACHABLE = """
const bad = [];
const tiles = document.querySelector('#tiles');
if (tiles && tiles.offsetParent) {
  const r = tiles.getBoundingClientRect();
  if (r.bottom > window.innerHeight || r.right > window.innerWidth) bad.push('#tiles box');
}
const root = document.querySelector('#detail:not([hidden])') || document;  // a dialog covers the page behind it
for (const el of root.querySelectorAll('.side, header, #stage')) {  // panels too: none wider than the window
  const r = el.getBoundingClientRect();
  if (el.offsetParent && (r.right > window.innerWidth + 0.5 || r.bottom > window.innerHeight + 0.5))
    bad.push('panel ' + (el.id || el.className) + ' @ ' + Math.round(r.right) + ',' + Math.round(r.bottom));
}
if (document.scrollingElement.scrollTop !== 0) bad.push('page scrolled by ' + document.scrollingElement.scrollTop);
for (const el of root.querySelectorAll('button, a[href], input, select, summary')) {
  if (!el.offsetParent || el.closest('details:not([open]) > :not(summary)') || el.closest('#tiles')) continue;
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) continue;
  const x = r.left + r.width / 2, y = r.top + r.height / 2;
  const hit = document.elementFromPoint(x, y);
  if (r.left < 0 || r.top < 0 || r.right > window.innerWidth || r.bottom > window.innerHeight ||
      !(hit === el || el.contains(hit) || (hit && hit.closest('label') && hit.closest('label').contains(el))))
    bad.push((el.textContent || el.id || el.type).trim().slice(0, 40) + ' @ ' + Math.round(r.left) + ',' + Math.round(r.top));
}
return [window.innerWidth, window.innerHeight, bad];
"""


def reachable(drv) -> None:
    w, h, bad = drv.execute_script(REACHABLE)
    assert (w, h) == (1280, 720)
    assert bad == []


#: mean over the central half of the blend canvas of |R - G| (overlay) or of the grey level (difference)
CENTRE_STAT = """
const c = document.querySelector('#blend canvas.view'), g = c.getContext('2d');
const d = g.getImageData(c.width / 4, c.height / 4, c.width / 2, c.height / 2).data;
let s = 0, n = 0;
for (let i = 0; i < d.length; i += 4) { s += arguments[0] === 'rg' ? Math.abs(d[i] - d[i + 1]) : d[i]; n++; }
return s / n;
"""
#: pixels of a canvas in the outline colours: yellow (reference) and cyan (candidate)
OUTLINE_PIXELS = """
const c = document.querySelector(arguments[0]), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let y = 0, b = 0;
for (let i = 0; i < d.length; i += 4) {
  if (d[i] > 200 && d[i + 1] > 150 && d[i + 2] < 80) y++;
  if (d[i] < 80 && d[i + 1] > 180 && d[i + 2] > 200) b++;
}
return [y, b];
"""


def to_registered_question(browser, url: str) -> dict:
    """Answer 'different' until the page shows a copy the assistant fitted (not identical pixels)."""
    from selenium.webdriver.common.by import By

    for n in range(1, 40):
        shown(browser)
        st = api(url, "/api/question")
        assert browser.find_element(By.ID, "counter").text == f"question {n} of {st['counter']['total']}"
        q = st["question"]
        reg = q["registration"]
        good = q["assistant"]["figures"].get("ncc", 0) > 0.95  # a copy, not a chance fit between strangers
        if reg and reg["source"] == "assistant's fit" and "landmarks line up" in q["assistant"]["plain"] and good:
            return q
        press_answer(browser, "d")
    raise AssertionError("no registered question reached")


def test_counter_evidence_registered_views_zoom_and_masks(browser, scan_copy):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    proc, url = start_server(scan_copy, *UNSURE)
    try:
        browser.get(url)
        shown(browser)
        total = api(url, "/api/question")["counter"]["total"]
        assert total > 1
        q = to_registered_question(browser, url)
        wait_for(
            browser, "return [...document.querySelectorAll('.frame img')].every(i => i.complete && i.naturalWidth > 0)"
        )
        reachable(browser)
        # evidence in plain words, the raw figures on hover
        box = browser.find_element(By.ID, "assistant")
        assert box.text.startswith("Assistant: ") and "landmarks line up" in box.text and "tissue" in box.text
        assert "=" not in box.text and "score" not in box.text  # words, not figures
        title = box.get_attribute("title")
        assert title.startswith("raw evidence: ssim=") and "inliers = " in title and "ncc = " in title
        assert browser.find_element(By.ID, "registration").text.startswith("assistant's fit: scale ")
        # native resolution: the page draws the full-size images
        wait_for(
            browser, "return [...document.querySelectorAll('.frame img')].every(i => i.complete && i.naturalWidth > 0)"
        )
        nat = browser.execute_script("return document.querySelector('#ref .img').naturalWidth")
        assert nat == q["reference"]["width"]
        shot(browser, "review-page.png")
        # mask outlines, on and off
        assert q["reference"]["masks"] and q["candidate"]["masks"]
        ref_c, cand_c = "#ref canvas.view", "#cand canvas.view"
        yellow, cyan = (
            browser.execute_script(OUTLINE_PIXELS, ref_c)[0],
            browser.execute_script(OUTLINE_PIXELS, cand_c)[1],
        )
        assert yellow > 50 and cyan > 50
        press(browser, "m")
        assert "no-outline" in browser.find_element(By.ID, "ref").get_attribute("class")
        assert not browser.find_element(By.CSS_SELECTOR, '.outline-toggle[data-which="ref"]').is_selected()
        assert browser.execute_script(OUTLINE_PIXELS, ref_c)[0] < yellow / 10
        assert browser.execute_script(OUTLINE_PIXELS, cand_c)[1] == cyan
        browser.find_element(By.CSS_SELECTOR, '.outline-toggle[data-which="cand"]').click()
        assert browser.execute_script(OUTLINE_PIXELS, cand_c)[1] < cyan / 10
        press(browser, "m")
        press(browser, "n")
        assert browser.execute_script(OUTLINE_PIXELS, ref_c)[0] == yellow
        # overlay: grey where the registered images agree; without the fit they do not
        press(browser, "v")
        assert browser.execute_script("return document.body.dataset.mode") == "overlay"
        assert browser.find_element(By.ID, "blend").is_displayed()
        assert not browser.find_element(By.CSS_SELECTOR, ".pair").is_displayed()
        wait_for(browser, "return document.querySelector('#blend canvas.view').width > 0")
        registered = browser.execute_script(CENTRE_STAT, "rg")
        shot(browser, "review-overlay.png")
        assert browser.execute_script(OUTLINE_PIXELS, "#blend canvas.view")[1] > 50  # outlines drawn here too
        # difference: dark where they agree
        press(browser, "v")
        press(browser, "v")
        assert browser.execute_script("return document.body.dataset.mode") == "difference"
        diff = browser.execute_script(CENTRE_STAT, "grey")
        browser.execute_script(
            "const v = window.reviewViewer; v.saved = v.inv; v.inv = [1, 0, 0, 1, 0, 0]; v.render();"
        )
        diff_unregistered = browser.execute_script(CENTRE_STAT, "grey")
        browser.execute_script("const v = window.reviewViewer; v.setMode('overlay'); v.render();")
        rg_unregistered = browser.execute_script(CENTRE_STAT, "rg")
        browser.execute_script("const v = window.reviewViewer; v.inv = v.saved; v.setMode('difference');")
        assert diff < 0.5 * diff_unregistered and registered < 0.5 * rg_unregistered, (
            diff,
            diff_unregistered,
            registered,
            rg_unregistered,
        )
        # flicker: reference and candidate in turn
        press(browser, "V")
        assert browser.execute_script("return document.body.dataset.mode") == "flicker"
        wait_for(
            browser, "return document.querySelector('#blend-caption').textContent.includes('showing candidate')", 5
        )
        wait_for(
            browser, "return document.querySelector('#blend-caption').textContent.includes('showing reference')", 5
        )
        # zoom and pan
        press(browser, "0")
        fit_zoom = float(browser.execute_script("return document.body.dataset.zoom"))
        assert fit_zoom * max(q["reference"]["width"], q["candidate"]["width"]) <= 1280
        press(browser, "z")
        assert browser.execute_script("return document.body.dataset.zoom") == "1.0000"
        assert browser.find_element(By.ID, "zoom-level").text == "100%"
        press(browser, "+")
        assert browser.execute_script("return document.body.dataset.zoom") == "1.2500"
        canvas = browser.find_element(By.CSS_SELECTOR, "#blend canvas.view")
        browser.execute_script(
            "const c = arguments[0], b = c.getBoundingClientRect();"
            "c.dispatchEvent(new WheelEvent('wheel', {deltaY: -100, clientX: b.left + 10, clientY: b.top + 10,"
            " bubbles: true, cancelable: true}));",
            canvas,
        )
        assert browser.execute_script("return document.body.dataset.zoom") == "1.5625"
        cx = browser.execute_script("return window.reviewViewer.cx")
        ActionChains(browser).click_and_hold(canvas).move_by_offset(60, 0).release().perform()
        assert browser.execute_script("return window.reviewViewer.cx") == pytest.approx(cx - 60 / 1.5625, abs=1.0)
        press(browser, "0")
        assert float(browser.execute_script("return document.body.dataset.zoom")) == pytest.approx(fit_zoom, rel=1e-3)
        browser.find_element(By.CSS_SELECTOR, '#viewbar [data-mode="side"]').click()
        assert browser.execute_script("return document.body.dataset.mode") == "side"
        # the counter moves on with each answer
        number = int(browser.find_element(By.ID, "counter").text.split()[1])
        press_answer(browser, "d")
        assert browser.find_element(By.ID, "counter").text.startswith(f"question {number + 1} of ")
    finally:
        stop(proc)


def test_same_lesion_answer_by_key_and_button(browser, scan_copy):
    from selenium.webdriver.common.by import By

    proc, url = start_server(scan_copy)
    try:
        browser.get(url)
        shown(browser)
        reachable(browser)
        press_answer(browser, "o")
        d = read_journal(scan_copy / "decisions.csv")[-1]
        assert (d.answer, d.grade, d.decided_by) == ("same", "same-lesion", "kim")
        assert "saved: same (same-lesion)" in browser.find_element(By.ID, "status").text
        shown(browser)
        n = posts(browser)
        browser.find_element(By.CSS_SELECTOR, '#keys button[data-grade="same-lesion"]').click()
        wait_for(
            browser, f"return Number(document.body.dataset.posts || 0) > {n} && document.body.dataset.busy === '0'"
        )
        lines = read_journal(scan_copy / "decisions.csv")
        assert [(x.answer, x.grade) for x in lines] == [("same", "same-lesion")] * 2
        assert "same-lesion 2" in browser.find_element(By.ID, "progress").text
    finally:
        stop(proc)


def gallery_idle(drv) -> int:
    return int(wait_for(drv, "return document.body.dataset.busy === '0' && document.body.dataset.tiles"))


def open_tile(drv, i: int) -> str:
    from selenium.webdriver.common.by import By

    tile = drv.find_elements(By.CSS_SELECTOR, ".tile")[i]
    pair = tile.get_attribute("data-pair")
    tile.click()
    wait_for(drv, f"return document.body.dataset.busy === '0' && document.body.dataset.detail === '{pair}'")
    return pair


def test_gallery_filters_overrule_undo_and_restart(browser, scan_copy):
    from selenium.webdriver.common.by import By

    proc, url = start_server(scan_copy, "--auto")
    try:
        auto = [d for d in read_journal(scan_copy / "decisions.csv") if d.decided_by == "auto"]
        assert auto
        browser.get(url + "gallery")
        assert gallery_idle(browser) == len(auto)
        items = api(url, "/api/auto")["items"]
        # filter by verdict
        browser.find_element(By.CSS_SELECTOR, '#grade-filter input[value="different"]').click()
        assert gallery_idle(browser) == sum(1 for i in items if i["auto"]["label"] != "different")
        browser.find_element(By.CSS_SELECTOR, '#grade-filter input[value="different"]').click()
        # filter by the match score (no "confidence" wording on the page)
        cut = sorted(i["score"] for i in items if i["score"] is not None)[len(items) // 2]
        browser.execute_script(
            f"const e = document.querySelector('#conf-max'); e.value = '{cut}'; e.dispatchEvent(new Event('change'));"
        )
        expect = sum(1 for i in items if i["score"] is None or i["score"] <= cut + 1e-9)
        assert 0 < gallery_idle(browser) == expect < len(items)
        assert all(t.text.startswith("match score ") for t in browser.find_elements(By.CSS_SELECTOR, ".tile .conf"))
        assert "confidence" not in browser.find_element(By.TAG_NAME, "body").text.lower()
        support = [float(t.get_attribute("data-support") or 2) for t in browser.find_elements(By.CSS_SELECTOR, ".tile")]
        assert support == sorted(support)  # weakest support first
        browser.execute_script(
            "const e = document.querySelector('#conf-max'); e.value = '1'; e.dispatchEvent(new Event('change'));"
        )
        assert gallery_idle(browser) == len(auto)
        reachable(browser)
        shot(browser, "review-gallery.png")
        # overrule the least confident decision
        first = open_tile(browser, 0)
        reachable(browser)
        assert browser.find_element(By.ID, "detail-standing").text.endswith("by the assistant")
        n = posts(browser)
        was = api(url, "/api/auto")["items"]
        was = next(i for i in was if f"{i['reference']['row']},{i['candidate']['row']}" == first)
        key = "d" if was["auto"]["answer"] == "same" else "s"
        press(browser, key)
        wait_for(
            browser, f"return Number(document.body.dataset.posts || 0) > {n} && document.body.dataset.busy === '0'"
        )
        d = read_journal(scan_copy / "decisions.csv")[-1]
        assert d.decided_by == "kim" and d.evidence.startswith("overrules auto ")
        assert d.answer == ("different" if key == "d" else "same")
        assert browser.find_element(By.ID, "detail-standing").text.startswith("overruled by kim: ")
        press(browser, "\ue00c")  # Escape
        wait_for(browser, "return document.body.dataset.state === 'gallery'")
        tile = browser.find_element(By.CSS_SELECTOR, f'.tile[data-pair="{first}"]')
        assert "is-overruled" in tile.get_attribute("class") and "overruled by kim" in tile.text
        # the next decision, by key, in the gallery's order; then overrule it as 'same lesion, other view' and undo it
        first_again = open_tile(browser, 0)
        second = browser.find_elements(By.CSS_SELECTOR, ".tile")[1].get_attribute("data-pair")
        press(browser, "\ue014")  # right arrow
        wait_for(browser, f"return document.body.dataset.busy === '0' && document.body.dataset.detail === '{second}'")
        assert first_again == first
        n = posts(browser)
        press(browser, "o")
        wait_for(
            browser, f"return Number(document.body.dataset.posts || 0) > {n} && document.body.dataset.busy === '0'"
        )
        assert read_journal(scan_copy / "decisions.csv")[-1].grade == "same-lesion"
        n = posts(browser)
        press(browser, "u")
        wait_for(
            browser, f"return Number(document.body.dataset.posts || 0) > {n} && document.body.dataset.busy === '0'"
        )
        # the undo is the person's last line; the walk may then decide pairs the undone link had implied (auto lines)
        after = read_journal(scan_copy / "decisions.csv")
        assert [d.answer for d in after if d.decided_by == "kim"][-1] == "undo"
        assert all(d.decided_by == "auto" for d in after[[d.answer for d in after].index("undo") + 1 :])
        assert browser.find_element(By.ID, "detail-standing").text.endswith("by the assistant")
    finally:
        stop(proc)
    # a restart (after kill -9) shows exactly what was decided
    proc, url = start_server(scan_copy)
    try:
        browser.get(url + "gallery")
        gallery_idle(browser)
        assert "overruled by kim" in browser.find_element(By.CSS_SELECTOR, f'.tile[data-pair="{first}"]').text
        assert "overruled" not in browser.find_element(By.CSS_SELECTOR, f'.tile[data-pair="{second}"]').text
        browser.find_element(By.ID, "only-overruled").click()
        assert gallery_idle(browser) == 1
        # and the overrule can still be undone from the gallery
        n = posts(browser)
        press(browser, "u")
        wait_for(
            browser, f"return Number(document.body.dataset.posts || 0) > {n} && document.body.dataset.busy === '0'"
        )
        assert gallery_idle(browser) == 0
        lines = [x for x in read_journal(scan_copy / "decisions.csv") if x.decided_by == "kim"]
        assert [x.answer for x in lines[-2:]] == ["undo", "undo"]
    finally:
        stop(proc)


def test_done_page_commands_run_as_printed(browser, synthetic_dir, tmp_path):
    import shutil

    from selenium.webdriver.common.by import By

    from busi_curate.scan.run import ScanSettings, run_scan

    # data and scan in the folder the server runs in, so the commands name them by relative paths
    shutil.copytree(synthetic_dir, tmp_path / "data")
    run_scan(tmp_path / "data", tmp_path / "scan", ScanSettings(size=64))
    proc, url = start_server(Path("scan"), "--auto", cwd=tmp_path)
    try:
        browser.get(url)
        wait_for(browser, "return document.body.dataset.state === 'done' && document.body.dataset.busy === '0'")
        assert browser.find_element(By.ID, "done-title").text == "Review complete"
        reachable(browser)
        shot(browser, "review-done.png")
        cmds = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#next-steps code")]
        assert len(cmds) == 4
    finally:
        stop(proc)
    verbs = {}
    for c in cmds:
        argv = shlex.split(c)
        verb = argv[1] if argv[0].endswith("busi-curate") else argv[3]
        verbs[verb] = argv
    assert list(verbs) == ["review", "report", "export", "verify"]
    assert verbs["review"][2:] == ["scan", "--no-browser"] and verbs["verify"][2:] == ["scan-manifest", "data"]
    for verb in ("review", "report", "export", "verify"):  # exactly as printed, from the folder the server ran in
        r = subprocess.run(verbs[verb], capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert r.returncode == 0, (verb, r.stdout, r.stderr)
    assert (tmp_path / "scan-manifest" / "manifest.csv").is_file()
    assert (tmp_path / "scan-report" / "report.html").is_file()
