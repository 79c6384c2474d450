"""The report stage end to end on the synthetic scan: files, determinism, escaping, bad input."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from busi_curate.errors import JournalError, ScanError
from busi_curate.fileio import file_sha256
from busi_curate.findings import ReportSettings, make_report
from busi_curate.findings.document import GALLERY, IMG, LINKS, H, P, T
from busi_curate.findings.render_html import render_html
from busi_curate.findings.render_md import md_escape, render_markdown
from busi_curate.review.journal import Decision, Journal

TEXT_FILES = (
    "groups.csv",
    "class_conflicts.csv",
    "mask_iou.csv",
    "iou_summary.csv",
    "ssim_stats.csv",
    "class_distribution.csv",
    "report.md",
    "report.html",
)
FAST = ReportSettings(gallery=False)


def planted_journal(scan_dir: Path, synthetic_dir: Path, name: str = "decisions.csv") -> Path:
    """A journal saying 'same' for every planted pair (identical copies graded identical)."""
    planted = pd.read_csv(synthetic_dir / "planted.csv", dtype=str)
    path = scan_dir / name
    with Journal(path) as j:
        for p in planted.itertuples():
            grade = "identical" if p.kind == "identical" else "same-frame"
            j.append(
                Decision(
                    p.source_class,
                    p.source_id,
                    p.copy_class,
                    p.copy_id,
                    "same",
                    grade,
                    "tester",
                    "",
                    "2026-01-01T00:00:00Z",
                )
            )
    return path


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from busi_curate.cli import main

    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_report_files_and_findings(scan_copy: Path, synthetic_dir: Path, tmp_path: Path) -> None:
    journal = planted_journal(scan_copy, synthetic_dir)
    out = tmp_path / "rep"
    rep = make_report(scan_copy, out)
    for name in (*TEXT_FILES, "report.json", "fig5_ssim_hist.png", "fig5_ssim_hist.svg"):
        assert (out / name).is_file(), name
    planted = pd.read_csv(synthetic_dir / "planted.csv", dtype=str)
    # one duplet per planted pair; the relabelled copy is the only class conflict
    assert rep["counts"]["duplet"] == len(planted) == rep["counts"]["groups"]
    assert rep["counts"]["images"] == 2 * len(planted)
    assert rep["counts"]["class_conflicts"] == int((planted["kind"] == "relabel").sum()) == 1
    groups = pd.read_csv(out / "groups.csv", dtype=str)
    assert len(groups) == 2 * len(planted) and groups["masks"].str.endswith(".png").all()
    iou = pd.read_csv(out / "mask_iou.csv", dtype={"id_a": str, "id_b": str})
    assert len(iou) == len(planted)
    by_kind = {}
    for p in planted.itertuples():
        row = iou[
            ((iou.id_a == p.source_id) & (iou.class_a == p.source_class))
            | ((iou.id_b == p.source_id) & (iou.class_b == p.source_class))
        ]
        by_kind[p.kind] = row.iloc[0]
    assert by_kind["identical"]["iou"] == 1.0 and by_kind["relabel"]["iou"] == 1.0
    assert by_kind["remask"]["iou"] < 0.9  # the copy's mask was dilated
    assert (iou["method"] == "registered").all()
    # a crop is misaligned by resizing alone; registered, its mask matches
    assert by_kind["crop"]["iou_resized"] < 0.8 < 0.9 < by_kind["crop"]["iou_registered"]
    assert by_kind["rescale"]["reg_scale"] == pytest.approx(1.25, rel=0.03)
    dist = pd.read_csv(out / "class_distribution.csv").set_index("policy")
    assert dist.at["remove-all", "removed"] == 2 * len(planted)
    assert dist.at["none", "total"] == rep["scan"]["n_images"]
    stats = pd.read_csv(out / "ssim_stats.csv").set_index(["part", "statistic"])["value"]
    n = rep["scan"]["n_images"]
    assert int(stats[("duplicate", "n")]) + int(stats[("non-duplicate", "n")]) == n * (n - 1) // 2
    assert float(stats[("duplicate", "mean")]) > float(stats[("non-duplicate", "mean")])
    assert float(stats[("mann-whitney", "p_greater")]) < 1e-4
    # the sidecar names its inputs by checksum
    assert rep["decisions"]["sha256"] == file_sha256(journal)
    assert rep["scan"]["scan_json_sha256"] == file_sha256(scan_copy / "scan.json")
    assert json.loads((out / "report.json").read_text())["files"]["report.md"] == file_sha256(out / "report.md")
    md = (out / "report.md").read_text()
    assert "| duplets | 8 | 122 |" in md and "(Table 2)" in md and "fig5_ssim_hist.png" in md
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and 'src="gallery/group001_duplet.png"' in html


def test_gallery_shows_every_group_and_figures_are_print_ready(
    scan_copy: Path, synthetic_dir: Path, tmp_path: Path
) -> None:
    from PIL import Image

    planted_journal(scan_copy, synthetic_dir)
    out = tmp_path / "rep"
    rep = make_report(scan_copy, out, settings=ReportSettings(thumb_height=40))
    groups = pd.read_csv(out / "groups.csv", dtype=str)
    strips = sorted(p.relative_to(out).as_posix() for p in (out / "gallery").iterdir())
    assert len(strips) == rep["counts"]["groups"] == groups["group"].nunique() == 8
    assert set(strips) == {n for n in rep["files"] if n.startswith("gallery/")}
    md, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    for name in strips:
        assert f"]({name})" in md and f'src="{name}"' in html
        assert file_sha256(out / name) == rep["files"][name]
    # one thumbnail per member, 40 px high over a 4 px class bar, side by side with 4 px gaps
    for g, members in groups.groupby("group"):
        with Image.open(out / "gallery" / f"group{int(g):03d}_duplet.png") as im:
            assert im.height == 40 + 4
            widths = [round(int(w) * 40 / int(h)) for w, h in _sizes(scan_copy, members)]
            assert im.width == sum(widths) + 4 * (len(widths) - 1)
    # Fig. 5 at 300 dpi and as SVG
    with Image.open(out / "fig5_ssim_hist.png") as im:
        assert im.info["dpi"] == pytest.approx((300, 300), abs=0.5)
        assert im.size == (7.5 * 300, 4.2 * 300)
    svg = (out / "fig5_ssim_hist.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "<dc:date>" not in svg


def _sizes(scan_dir: Path, members: pd.DataFrame) -> list[tuple[str, str]]:
    index = pd.read_csv(scan_dir / "index.csv", dtype=str).set_index(["class", "id"])
    return [(index.at[(c, i), "width"], index.at[(c, i), "height"]) for c, i in zip(members["class"], members["id"])]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_report_is_deterministic_and_removes_stale_files(scan_copy: Path, synthetic_dir: Path, tmp_path: Path) -> None:
    planted_journal(scan_copy, synthetic_dir)
    out = tmp_path / "rep"
    make_report(scan_copy, out, settings=ReportSettings(thumb_height=32))
    first = _files(out)
    shutil.rmtree(out)
    make_report(scan_copy, out, settings=ReportSettings(thumb_height=32))
    second = _files(out)
    # text, PNGs (no timestamp) and the SVG (fixed id salt, no date): byte-stable with the same library versions
    assert first.keys() == second.keys() and len([n for n in first if n.startswith("gallery/")]) == 8
    for name in first:
        if name != "report.json":
            assert first[name] == second[name], name
    # a second run into the same folder without the gallery leaves no stale strip (nor the empty folder)
    make_report(scan_copy, out, settings=FAST)
    assert not (out / "gallery").exists()
    assert set(json.loads((out / "report.json").read_text())["files"]) == set(_files(out)) - {"report.json"}
    # a file an earlier report.json lists outside the report folder is never removed
    outside = tmp_path / "keep.txt"
    outside.write_text("x")
    side = json.loads((out / "report.json").read_text())
    side["files"]["../keep.txt"] = "0"
    (out / "report.json").write_text(json.dumps(side))
    make_report(scan_copy, out, settings=FAST)
    assert outside.is_file()


def test_empty_journal_gives_a_report_with_a_note(scan_copy: Path, tmp_path: Path) -> None:
    Journal(scan_copy / "decisions.csv").close()  # header only
    rep = make_report(scan_copy, tmp_path / "rep", settings=FAST)
    assert rep["counts"]["groups"] == 0 and rep["ssim"]["threshold"] is None
    assert any("no decisions" in n for n in rep["notes"])
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "no duplicate groups" in md and "No groups to show." in md
    assert pd.read_csv(tmp_path / "rep" / "groups.csv").empty
    assert (tmp_path / "rep" / "fig5_ssim_hist.png").stat().st_size > 0


def test_include_adjacent_merges_adjacent_pairs(scan_copy: Path, tmp_path: Path) -> None:
    with Journal(scan_copy / "decisions.csv") as j:
        j.append(Decision("benign", "1", "benign", "2", "same", "adjacent-frame", "tester", "", "2026-01-01T00:00:00Z"))
    rep = make_report(scan_copy, tmp_path / "r1", settings=FAST)
    assert rep["counts"]["groups"] == 0 and any("adjacent-frame" in n for n in rep["notes"])
    rep = make_report(scan_copy, tmp_path / "r2", settings=ReportSettings(gallery=False, include_adjacent=True))
    assert rep["counts"]["groups"] == 1 and "adjacent-frame" in rep["grades_merged"]


def test_html_and_markdown_escape_text(scan_copy: Path, synthetic_dir: Path, tmp_path: Path) -> None:
    evil = "<script>alert('x')</script> & | *"
    blocks = [
        H(1, evil),
        P(evil),
        T(["a<b", "c"], [(evil, 1.5)]),
        IMG("x.png", evil),
        LINKS([("a.csv", evil)]),
        GALLERY(["group", "images"], [(evil,)], [("g.png", evil)]),
    ]
    html = render_html(blocks, title=evil)
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp; |" in html
    assert html.count("&lt;script&gt;") == 8  # the title, then every block (two in the gallery)
    md = render_markdown(blocks)
    assert re.search(r"(?<!\\)<script>", md) is None and "\\<script>" in md and "\\|" in md
    assert md.count("\\<script>") == 7 and "| ![" in md
    assert md_escape("IoU < 0.5") == "IoU < 0.5" and md_escape("<b>") == "\\<b>"
    # text coming from the scan (its dataset name) is escaped in the written report too
    meta = json.loads((scan_copy / "scan.json").read_text())
    meta["dataset"] = "<img src=x onerror=alert(1)>"
    (scan_copy / "scan.json").write_text(json.dumps(meta))
    planted_journal(scan_copy, synthetic_dir)
    make_report(scan_copy, tmp_path / "rep", settings=FAST)
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_report_cli_ok_and_bad_input(
    scan_copy: Path, synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rep"
    # no journal yet
    code, _, err = cli(["report", str(scan_copy), "--out", str(out), "--no-gallery"], capsys)
    assert code == 2 and err.startswith("error: ") and "decisions.csv" in err and "not found" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
    # a journal naming an image that is not in the scan
    bad = scan_copy / "bad.csv"
    with Journal(bad) as j:
        j.append(Decision("benign", "1", "benign", "9999", "same", "identical", "tester", "", "2026-01-01T00:00:00Z"))
    code, _, err = cli(["report", str(scan_copy), "--decisions", str(bad), "--out", str(out)], capsys)
    assert code == 2 and "bad.csv" in err and "benign 9999" in err
    # missing scan folder
    code, _, err = cli(["report", str(tmp_path / "nope"), "--out", str(out)], capsys)
    assert code == 2 and "nope" in err and "scan folder does not exist" in err
    # success
    planted_journal(scan_copy, synthetic_dir)
    code, stdout, _ = cli(["report", str(scan_copy), "--out", str(out), "--thumb-height", "24", "--dpi", "72"], capsys)
    assert code == 0 and "8 duplicate groups" in stdout and "report.html" in stdout
    assert (out / "report.html").is_file() and len(list((out / "gallery").iterdir())) == 8
    # the deprecated --max-panels still parses: 0 means no gallery
    code, _, err = cli(["report", str(scan_copy), "--out", str(out), "--max-panels", "0", "--dpi", "72"], capsys)
    assert code == 0 and "--max-panels is deprecated" in err and not (out / "gallery").exists()


def test_changed_image_is_refused(scan_copy: Path, synthetic_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(synthetic_dir, data)
    meta = json.loads((scan_copy / "scan.json").read_text())
    meta["data_dir"] = str(data)
    (scan_copy / "scan.json").write_text(json.dumps(meta))
    planted_journal(scan_copy, synthetic_dir)
    from PIL import Image

    img = data / "Dataset_BUSI_with_GT" / "benign" / "benign (15).png"  # the identical copy of benign 1
    arr = np.asarray(Image.open(img)).copy()
    arr[0:10, 0:10] = 255 - arr[0:10, 0:10]
    Image.fromarray(arr).save(img)
    with pytest.raises(ScanError, match="changed since the scan") as exc:
        make_report(scan_copy, tmp_path / "rep", settings=FAST)
    assert exc.value.path == img


def test_damaged_journal_line_is_skipped_and_noted(scan_copy: Path, synthetic_dir: Path, tmp_path: Path) -> None:
    journal = planted_journal(scan_copy, synthetic_dir)
    with open(journal, "a", encoding="utf-8") as fh:
        fh.write("benign,1,benign,2,sa")  # a line cut in half by a crash
    rep = make_report(scan_copy, tmp_path / "rep", settings=FAST)
    assert rep["counts"]["groups"] == 8  # earlier lines kept
    assert any("damaged journal line" in n for n in rep["notes"])
    assert "damaged journal line" in (tmp_path / "rep" / "report.md").read_text()


def test_missing_journal_raises_journal_error(scan_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="not found"):
        make_report(scan_copy, tmp_path / "rep", decisions_path=tmp_path / "none.csv", settings=FAST)


def test_journal_summary_counts_standing_decisions() -> None:
    from busi_curate.findings.compute import journal_summary

    t = "2026-01-01T00:00:00Z"
    ds = [
        Decision("benign", "1", "benign", "2", "same", "identical", "auto", "", t),
        Decision("benign", "2", "benign", "1", "undo", "", "ana", "", t),  # revokes the line above
        Decision("benign", "1", "benign", "2", "different", "", "ana", "", t),
        Decision("benign", "1", "benign", "3", "same", "adjacent-frame", "auto", "", t),
        Decision("benign", "4", "benign", "3", "skip", "", "ana", "", t),
    ]
    js = journal_summary(ds)
    assert (js["lines"], js["standing"], js["same"], js["different"], js["skip"]) == (5, 3, 1, 1, 1)
    assert js["grades"] == {"identical": 0, "same-frame": 0, "adjacent-frame": 1}
    assert js["decided_by"] == {"auto": 1, "person": 2}


@pytest.mark.slow
def test_reproduce_commands_work_when_pasted(
    scan_copy: Path, synthetic_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import subprocess
    import sys

    planted_journal(scan_copy, synthetic_dir)
    monkeypatch.chdir(tmp_path)  # the report is made with paths relative to the working folder
    rep = make_report("scan", "rep", "scan/decisions.csv", settings=ReportSettings(thumb_height=32, figure_dpi=72))
    lines = rep["reproduce"]
    md = (tmp_path / "rep" / "report.md").read_text()
    pasted = md.split("## Reproduce", 1)[1].split("```\n", 2)[1].rstrip("\n")
    assert pasted.splitlines() == lines  # the Markdown shows exactly these lines
    assert lines[0] == "SCAN=$(mktemp -d)" and lines[1].startswith("busi-curate scan ") and "--size 64" in lines[1]
    assert "--decisions scan/decisions.csv --out rep " in lines[2] and "--thumb-height 32 --dpi 72" in lines[2]
    before = _files(tmp_path / "rep")
    shutil.rmtree(tmp_path / "rep")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        ["bash", "-e", "-c", pasted], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    after = _files(tmp_path / "rep")
    assert after.keys() == before.keys()
    for name in before:
        if name != "report.json":  # the sidecar names the (temporary) scan folder
            assert after[name] == before[name], name
    again = json.loads(after["report.json"])
    assert again["reproduce"] == lines and again["scan"]["dir"] != rep["scan"]["dir"]
    assert not Path(again["scan"]["dir"]).exists()  # the temporary scan is removed


def test_cli_defaults_are_the_library_defaults() -> None:
    from busi_curate.commands.report import report

    d = report.make_context("report", ["SCAN", "--out", "OUT"]).params  # the values parsed without options
    s = ReportSettings()
    assert (d["threshold_percentile"], d["iou_size"], d["thumb_height"], d["dpi"]) == (
        s.threshold_percentile,
        s.iou_size,
        s.thumb_height,
        s.figure_dpi,
    )
    assert (not d["no_register"], not d["no_gallery"], d["include_adjacent"]) == (
        s.register,
        s.gallery,
        s.include_adjacent,
    )
