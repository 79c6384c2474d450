"""The review page as a person sees it at 1280 x 720, on a scan whose journal holds 620 automatic decisions (as many
as real BUSI's): the question written out, the evidence in words (figures on hover), the registered / as-acquired
toggle, a toolbar that does not move from question to question, ``+`` zooming about the pointer, and the gallery's
header at full height above 620 tiles."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from test_review_browser import api, browser, press, press_answer, reachable, shot, shown, stop, wait_for  # noqa: F401
from test_review_cli import start_server

from busi_curate.review.journal import Decision, Journal, read_journal

N_AUTO = 620  # real BUSI's journal: 710 automatic decisions


@pytest.fixture(scope="module")
def many_scan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic scan (56 images) whose journal decides its 620 least similar pairs automatically ("different",
    no fit), leaving the similar pairs, the planted copies among them, as questions."""
    import pandas as pd

    from busi_curate.data.synthetic import make_synthetic_busi
    from busi_curate.scan.run import ScanSettings, run_scan

    root = tmp_path_factory.mktemp("many")
    make_synthetic_busi(root / "data", n_per_class=(24, 14, 8), seed=3)
    scan = root / "scan"
    run_scan(root / "data", scan, ScanSettings(size=64))
    index = pd.read_csv(scan / "index.csv")
    ssim = np.load(scan / "ssim.npy")
    a, b = np.triu_indices(len(index), 1)
    order = np.argsort(ssim[a, b], kind="stable")[:N_AUTO]
    with Journal(scan / "decisions.csv") as j:
        for k in order:
            r, c = index.iloc[a[k]], index.iloc[b[k]]
            s = ssim[a[k], b[k]]
            j.append(
                Decision(
                    r["class"],
                    str(r["id"]),
                    c["class"],
                    str(c["id"]),
                    "different",
                    "",
                    "auto",
                    f"ssim={s:.2f} matches=3 no fit",
                )
            )
    return scan


@pytest.fixture()
def many_copy(many_scan: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "scan"
    shutil.copytree(many_scan, dst)
    return dst


def rect(drv, sel: str) -> dict:
    return drv.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {top: r.top, left: r.left, height: r.height, width: r.width};",
        sel,
    )


#: the reference pixel under the pointer (or under canvas point X, Y), in the viewer's own terms
UNDER_POINTER = """
const v = window.reviewViewer, p = v.pointer;
if (!p) return null;
const W = p.canvas.clientWidth, H = p.canvas.clientHeight;
return [v.cx + (p.X - W / 2) / v.z, v.cy + (p.Y - H / 2) / v.z, v.z, p.X - W / 2, p.Y - H / 2];
"""
#: a digest of a canvas's pixels
CANVAS_SUM = """
const c = document.querySelector(arguments[0]), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let s = 0;
for (let i = 0; i < d.length; i += 4) s += d[i] * ((i / 4) % 7 + 1);
return s;
"""


def test_question_words_stable_toolbar_geometry_toggle_and_pointer_zoom(browser, many_copy):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    assert sum(d.decided_by == "auto" for d in read_journal(many_copy / "decisions.csv")) == N_AUTO
    proc, url = start_server(many_copy)
    try:
        browser.get(url)
        shown(browser)
        reachable(browser)
        header = rect(browser, "header")
        assert header["height"] >= 28
        # the question is written on the page, naming both images
        q = api(url, "/api/question")["question"]
        ask = browser.find_element(By.ID, "ask-text").text
        assert ask == (
            f"Is candidate {q['candidate']['class']} {q['candidate']['id']} the same ultrasound frame as "
            f"reference {q['reference']['class']} {q['reference']['id']}?"
        )
        # the toolbar and the images stay where they are while the evidence changes from question to question
        bars, stages, texts, registered = set(), set(), set(), None
        for _ in range(8):
            shown(browser)
            box = browser.find_element(By.ID, "assistant")
            texts.add(box.text)
            assert box.text.startswith("Assistant: ") and "=" not in box.text and "score" not in box.text
            assert box.get_attribute("title").startswith("raw evidence: ssim=")
            bars.add(round(rect(browser, "#viewbar")["top"], 1))
            stages.add((round(rect(browser, "#stage")["top"], 1), round(rect(browser, "#stage")["height"], 1)))
            q = api(url, "/api/question")["question"]
            reg = q["registration"]
            if registered is None and reg and reg["source"] == "assistant's fit":
                if abs(reg["scale"] - 1) > 0.05 or abs(reg["rotation_deg"]) > 1 or max(map(abs, reg["shift"])) > 5:
                    registered = q
                    break
            press_answer(browser, "d")
        assert len(texts) > 1 and len(bars) == 1 and len(stages) == 1, (texts, bars, stages)
        assert registered is not None, "no question with a non-trivial fit reached"
        wait_for(
            browser, "return [...document.querySelectorAll('.frame img')].every(i => i.complete && i.naturalWidth)"
        )
        # registered <-> as acquired: the key r and the buttons
        assert browser.execute_script("return document.body.dataset.geometry") == "registered"
        fitted = browser.execute_script(CANVAS_SUM, "#cand canvas.view")
        press(browser, "r")
        assert browser.execute_script("return document.body.dataset.geometry") == "acquired"
        assert browser.find_element(By.ID, "registration").text.startswith("as acquired")
        assert browser.execute_script("const v = window.reviewViewer; return v.inv.join() === v.plainInv.join()")
        assert browser.execute_script(CANVAS_SUM, "#cand canvas.view") != fitted
        assert "on" in browser.find_element(By.CSS_SELECTOR, 'button[data-geometry="acquired"]').get_attribute("class")
        shot(browser, "review-acquired.png")
        browser.find_element(By.CSS_SELECTOR, 'button[data-geometry="registered"]').click()
        assert browser.execute_script("return document.body.dataset.geometry") == "registered"
        assert browser.find_element(By.ID, "registration").text.startswith("assistant's fit: scale ")
        assert browser.execute_script(CANVAS_SUM, "#cand canvas.view") == fitted
        # + and - zoom about the pointer: the image point under it stays under it
        canvas = browser.find_element(By.CSS_SELECTOR, "#ref canvas.view")
        ActionChains(browser).move_to_element_with_offset(canvas, -120, -70).perform()
        before = browser.execute_script(UNDER_POINTER)
        assert before is not None and abs(before[3]) > 50  # well off the centre
        press(browser, "+")
        after = browser.execute_script(UNDER_POINTER)
        assert after[2] == pytest.approx(before[2] * 1.25)
        assert after[:2] == pytest.approx(before[:2], abs=1e-6)
        press(browser, "-")
        assert browser.execute_script(UNDER_POINTER)[:3] == pytest.approx(before[:3], abs=1e-6)
        # the zoom button (the pointer is on the button, not an image) zooms about the centre
        cx, cy = browser.execute_script("return [window.reviewViewer.cx, window.reviewViewer.cy]")
        browser.find_element(By.CSS_SELECTOR, '#viewbar [data-zoom="in"]').click()
        assert browser.execute_script("return [window.reviewViewer.cx, window.reviewViewer.cy]") == pytest.approx(
            [cx, cy]
        )
        reachable(browser)
        shot(browser, "review-page-620.png")
    finally:
        stop(proc)


def test_gallery_header_with_620_tiles(browser, many_copy):  # noqa: F811
    from selenium.webdriver.common.by import By

    proc, url = start_server(many_copy)
    try:
        browser.get(url + "gallery")
        wait_for(browser, "return document.body.dataset.busy === '0' && document.body.dataset.tiles")
        assert int(browser.execute_script("return document.body.dataset.tiles")) == N_AUTO
        # the header keeps its height (it used to be crushed to 13 px), with its title, counts and the link back
        assert rect(browser, "header")["height"] >= 28
        assert rect(browser, "header h1")["height"] >= 14
        assert browser.find_element(By.ID, "summary").text.startswith(f"{N_AUTO} pairs decided by the assistant")
        back = browser.find_element(By.CSS_SELECTOR, 'header a[href="/"]')
        assert back.is_displayed() and rect(browser, 'header a[href="/"]')["height"] >= 14
        reachable(browser)
        assert "confidence" not in browser.find_element(By.TAG_NAME, "body").text.lower()
        tile = browser.find_element(By.CSS_SELECTOR, ".tile .conf")
        assert tile.text.startswith("match score ") and "not a probability" in tile.get_attribute("title").lower()
        shot(browser, "review-gallery-620.png")
    finally:
        stop(proc)
