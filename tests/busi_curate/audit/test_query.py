"""``busi-curate query``: planted copies made outside the scan are found with their source and a grade,
distinct frames are not, the verdict equals the assistant's on the same pair inside a scan, bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli_captured
from PIL import Image, ImageOps

from busi_curate.audit.query import ScanIndex
from busi_curate.scan.run import read_scan


def _source(synthetic_dir: Path, cls: str, id_: str) -> Image.Image:
    return Image.open(synthetic_dir / "Dataset_BUSI_with_GT" / cls / f"{cls} ({id_}).png").convert("L")


@pytest.fixture(scope="module")
def queries(synthetic_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Copies of scanned images made here (mirror, crop + JPEG, brightness) and three frames of another generator."""
    from busi_curate.studies.scale_data import base_frame

    out = tmp_path_factory.mktemp("queries")
    im = _source(synthetic_dir, "benign", "2")
    w, h = im.size
    files = {
        "mirror": (ImageOps.mirror(im), "mirror.png"),
        "crop-jpeg": (im.crop((8, 6, w - 10, h - 8)), "crop.jpg"),
        "brighter": (Image.fromarray(np.clip(np.asarray(im, np.int16) + 12, 0, 255).astype(np.uint8)), "bright.png"),
    }
    for k in range(3):
        files[f"other-{k}"] = (Image.fromarray(base_frame(11, k, "benign")[0]), f"other{k}.png")
    paths = {}
    for name, (img, file) in files.items():
        img.save(out / file)
        paths[name] = out / file
    return paths


def test_copies_found_and_other_frames_not(
    synthetic_scan_dir: Path, queries: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    names = list(queries)
    code, out, err = run_cli_captured(
        ["query", *map(str, queries.values()), "--scan", str(synthetic_scan_dir), "--json", "--quiet"], capsys
    )
    assert code == 0, err
    answers = dict(zip(names, json.loads(out)))
    for name in ("mirror", "crop-jpeg", "brighter"):
        found = [(m["cls"], m["id"], m["grade"]) for m in answers[name]["matches"] if m["verdict"] == "same"]
        assert answers[name]["in_scan"] and ("benign", "2", "same-frame") in found, (name, answers[name])
    assert "mirrored" in answers["mirror"]["matches"][0]["evidence"]
    for k in range(3):
        assert not answers[f"other-{k}"]["in_scan"], answers[f"other-{k}"]
    assert "per query image" in err and "CPU-s" in err
    cpu = sorted(a["cpu_seconds"] for a in answers.values())
    assert cpu[len(cpu) // 2] < 1.0, cpu  # a 64 px scan of ~30 images: SSIM against all + a few verifications


def test_text_output(synthetic_scan_dir: Path, queries: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli_captured(
        ["query", str(queries["crop-jpeg"]), str(queries["other-0"]), "--scan", str(synthetic_scan_dir), "--quiet"],
        capsys,
    )
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith(f"{queries['crop-jpeg']}: in the scan (benign 2 same-frame")
    assert any(ln.startswith("  benign 2  same same-frame  ssim=") for ln in lines)
    assert [ln for ln in lines if ln.startswith(str(queries["other-0"]))][0].startswith(
        f"{queries['other-0']}: not found ("
    )


def test_verdict_equals_the_assistants(synthetic_dir: Path, synthetic_scan_dir: Path) -> None:
    """A scanned copy asked as a query: its match on the source has the assessment the review's assistant gives
    that pair of the scan (same features, same seeded verification, same rule)."""
    from busi_curate.assistant import Assistant

    scan = read_scan(synthetic_scan_dir)
    index = ScanIndex(synthetic_scan_dir)
    assistant = Assistant(scan, settings=index.assistant)
    planted = [ln.split(",") for ln in (synthetic_dir / "planted.csv").read_text().splitlines()[1:]]
    paths = [synthetic_dir / "Dataset_BUSI_with_GT" / c / f"{c} ({i}).png" for _, _, c, i, _ in planted]
    compared = 0
    for (sc, si, cc, ci, kind), answer in zip(planted, index.ask(paths, top=10)):
        [match] = [m for m in answer.matches if (m.cls, m.id) == (sc, si)] or [None]
        if match is None:  # the source is not within the copy's 10 best by SSIM (e.g. a relabelled copy: it is)
            continue
        [a] = assistant.assess([(scan.row_of(cc, ci), scan.row_of(sc, si))])
        assert (match.verdict, match.grade, match.evidence) == (a.verdict, a.grade, a.evidence), kind
        assert match.ssim == pytest.approx(scan.pair_ssim(scan.row_of(cc, ci), scan.row_of(sc, si)), abs=1e-6)
        compared += 1
    assert compared >= 6, compared


@pytest.mark.parametrize(
    ("case", "message"),
    [("missing-image", "nope.png"), ("not-an-image", "bad.png"), ("no-scan", "scan folder does not exist")],
)
def test_bad_input_is_one_line(
    synthetic_scan_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    image, scan = tmp_path / "nope.png", synthetic_scan_dir
    if case == "not-an-image":
        image = tmp_path / "bad.png"
        image.write_bytes(b"not a png")
    elif case == "no-scan":
        image, scan = tmp_path / "bad.png", tmp_path / "noscan"
        Image.fromarray(np.zeros((40, 40), np.uint8)).save(image)
    code, out, err = run_cli_captured(["query", str(image), "--scan", str(scan), "--quiet"], capsys)
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert out == ""


def test_progress_and_quiet(
    synthetic_scan_dir: Path, queries: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for quiet in (False, True):
        argv = ["query", str(queries["brighter"]), "--scan", str(synthetic_scan_dir)] + ["--quiet"] * quiet
        code, _, err = run_cli_captured(argv, capsys)
        assert code == 0 and ("scan images" in err) != quiet and ("queries" in err) != quiet, err
