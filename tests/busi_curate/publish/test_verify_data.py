"""busi-curate verify: re-encoded copies pass; missing, changed and extra files are reported; exit 0 / 1 / 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli_captured as run_cli
from PIL import Image

from busi_curate.publish.manifest import read_manifest
from busi_curate.publish.verify import verify_data

BENIGN = Path("Dataset_BUSI_with_GT") / "benign"


@pytest.fixture()
def data(synthetic_dir: Path, tmp_path: Path) -> Path:
    d = tmp_path / "data"
    shutil.copytree(synthetic_dir, d)
    return d


def test_identical_copy_passes(
    synthetic_manifest_dir: Path, synthetic_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(["verify", str(synthetic_manifest_dir), str(synthetic_dir), "--quiet"], capsys)
    assert code == 0
    assert "images: 36 checked: 36 ok" in out and "mask files: 37 checked: 37 ok" in out and "OK:" in out
    # the inner Dataset_BUSI_with_GT folder is accepted as DATA_DIR too
    code, _, _ = run_cli(
        [
            "verify",
            str(synthetic_manifest_dir / "manifest.csv"),
            str(synthetic_dir / "Dataset_BUSI_with_GT"),
            "--quiet",
        ],
        capsys,
    )
    assert code == 0


def test_reencoded_copy_with_equal_pixels_passes(
    synthetic_manifest_dir: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("benign (2).png", "benign (5).png"):
        p = data / BENIGN / name
        Image.open(p).convert("RGB").save(p, compress_level=9)  # R = G = B: same gray pixels, other bytes
    m = Image.open(data / BENIGN / "benign (2)_mask.png")
    m.convert("RGBA").save(data / BENIGN / "benign (2)_mask.png")  # masks: any non-zero channel, alpha ignored
    report = verify_data(read_manifest(synthetic_manifest_dir), data)
    assert report.ok
    assert {c.path for c in report.checks if c.status == "ok-reencoded"} == {
        (BENIGN / "benign (2).png").as_posix(),
        (BENIGN / "benign (5).png").as_posix(),
    }
    code, out, _ = run_cli(["verify", str(synthetic_manifest_dir), str(data), "--quiet"], capsys)
    assert code == 0 and "2 ok-reencoded" in out


def test_altered_folder_is_reported_file_by_file(
    synthetic_manifest_dir: Path, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = data / BENIGN / "benign (3).png"
    a = np.asarray(Image.open(p)).copy()
    a[10, 10] ^= 0x01  # one pixel, one bit
    Image.fromarray(a).save(p)
    (data / BENIGN / "benign (4).png").unlink()
    (data / BENIGN / "benign (6)_mask.png").unlink()
    mk = data / "Dataset_BUSI_with_GT" / "malignant" / "malignant (1)_mask.png"
    Image.fromarray(np.zeros_like(np.asarray(Image.open(mk)))).save(mk)
    shutil.copy(data / BENIGN / "benign (7).png", data / BENIGN / "benign (99).png")
    (data / BENIGN / "notes.txt").write_text("not an image: ignored")
    (data / "Dataset_BUSI_with_GT" / "normal" / "normal (1).png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")

    report = verify_data(read_manifest(synthetic_manifest_dir), data)
    got = {(c.path.rsplit("/", 1)[-1], c.status) for c in report.problems()}
    assert got == {
        ("benign (3).png", "changed"),
        ("benign (4).png", "missing"),
        ("benign (6)_mask.png", "missing"),
        ("malignant (1)_mask.png", "changed"),
        ("benign (99).png", "extra"),
        ("normal (1).png", "changed"),
    }
    report_csv = tmp_path / "report.csv"
    code, out, err = run_cli(
        ["verify", str(synthetic_manifest_dir), str(data), "--quiet", "--report", str(report_csv)], capsys
    )
    assert code == 1
    assert "MISMATCH: 6 problem(s)" in out and "benign (4).png" in out and "missing" in out
    table = pd.read_csv(report_csv, dtype=str, keep_default_na=False)
    assert list(table.columns) == ["kind", "class", "id", "path", "status", "detail"]
    assert len(table) == len(report.checks) and (table["status"] != "ok").sum() == 6


def test_mask_of_another_size_is_changed(synthetic_manifest_dir: Path, data: Path) -> None:
    mk = data / BENIGN / "benign (8)_mask.png"
    Image.open(mk).resize((50, 40)).save(mk)
    bad = verify_data(read_manifest(synthetic_manifest_dir), data).problems()
    assert [(c.status, "50x40" in c.detail) for c in bad] == [("changed", True)]


def test_broken_manifest_and_missing_folder_exit_2(
    synthetic_manifest_dir: Path, synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["verify", str(synthetic_manifest_dir), str(tmp_path / "nowhere")], capsys)
    assert code == 2 and "data folder does not exist" in err
    broken = tmp_path / "broken"
    shutil.copytree(synthetic_manifest_dir, broken)
    frame = pd.read_csv(broken / "manifest.csv", dtype=str, keep_default_na=False)
    frame.rename(columns={"pixel_sha256": "sha"}).to_csv(broken / "manifest.csv", index=False)
    code, _, err = run_cli(["verify", str(broken), str(synthetic_dir)], capsys)
    assert code == 2 and "schema changed" in err and "manifest.csv" in err
