"""``scan --update``: 100 scanned distinct frames + 500 added equal a scan of all 600 for every pair both hold;
old scores and review decisions stay; bad input is one line, exit status 2, and leaves the scan as it was."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli, run_cli_captured

from busi_curate.scan.run import ScanResult, read_scan

N_OLD, N_ALL = 100, 600


def _mask(image: Path) -> Path:
    return image.with_name(image.stem + "_mask.png")


def _link(full: Path, dst: Path, keys: list[Path]) -> None:
    """Hard-link images (and their masks) of ``full`` into ``dst`` at the same relative paths."""
    for p in keys:
        for q in (p, _mask(p)):
            t = dst / q.relative_to(full)
            t.parent.mkdir(parents=True, exist_ok=True)
            if not t.exists():
                os.link(q, t)


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """600 distinct synthetic frames with planted copies; the images in a fixed random order (first 100 = old)."""
    from busi_curate.studies.scale_data import write_scale_dataset

    full = tmp_path_factory.mktemp("frames")
    write_scale_dataset(full, N_ALL, seed=3, workers=2)
    images = sorted(p for p in (full / "Dataset_BUSI_with_GT").glob("*/*.png") if "_mask" not in p.name)
    random.Random(0).shuffle(images)
    return full, images


def _grow(
    frames: tuple[Path, list[Path]], tmp: Path, args: list[str], old: int = N_OLD, new: int = N_ALL - N_OLD
) -> tuple[Path, Path]:
    """Scan the first ``old`` frames into ``tmp/scan``, then add ``new`` more to the data folder; returns both."""
    full, images = frames
    data = tmp / "data"
    _link(full, data, images[:old])
    assert run_cli(["scan", str(data), "--out", str(tmp / "scan"), "--size", "64", "--quiet", *args]) == 0
    _link(full, data, images[: old + new])
    return data, tmp / "scan"


def _keys(scan: ScanResult) -> list[tuple[str, str]]:
    return [(str(c), str(i)) for c, i in zip(scan.index["class"], scan.index["id"])]


def _pairs(scan: ScanResult) -> dict[tuple[tuple[str, str], ...], float]:
    k = _keys(scan)
    if scan.ssim is not None:
        a, b = np.triu_indices(scan.n, 1)
        vals = scan.ssim[a, b]
    else:
        assert scan.pairs is not None
        a, b, vals = scan.pairs["a"], scan.pairs["b"], scan.pairs["ssim"]
    return {tuple(sorted((k[i], k[j]))): float(v) for i, j, v in zip(a, b, vals)}


def _by_key(c: pd.DataFrame) -> pd.DataFrame:
    return c.sort_values(["reference_class", "reference_id", "rank"]).reset_index(drop=True)


def test_exhaustive_update_equals_a_scan_of_all(frames: tuple[Path, list[Path]], tmp_path: Path) -> None:
    data, scan_dir = _grow(frames, tmp_path, [])
    before = read_scan(scan_dir)
    old_matrix = before.ssim.copy()  # type: ignore[union-attr]
    assert run_cli(["scan", "--update", str(scan_dir), str(data), "--quiet"]) == 0
    assert run_cli(["scan", str(data), "--out", str(tmp_path / "all"), "--size", "64", "--quiet"]) == 0
    up, whole = read_scan(scan_dir), read_scan(tmp_path / "all")
    assert up.n == whole.n == N_ALL and _keys(up)[:N_OLD] == _keys(before)  # old rows keep their numbers
    np.testing.assert_array_equal(up.ssim[:N_OLD, :N_OLD], old_matrix)  # type: ignore[index]
    assert _pairs(up) == _pairs(whole)  # every one of the 179,700 pairs, to the bit
    pd.testing.assert_frame_equal(_by_key(up.candidates), _by_key(whole.candidates))
    same = whole.index.set_index(["class", "id"]).loc[_keys(up)].reset_index()
    assert (same[up.index.columns].drop(columns="row").to_numpy() == up.index.drop(columns="row").to_numpy()).all()
    entry = up.meta["updates"][-1]
    assert entry["added"] == N_ALL - N_OLD and entry["images_before"] == N_OLD
    assert entry["pairs_scored"] == N_ALL * (N_ALL - 1) // 2 - N_OLD * (N_OLD - 1) // 2
    code = run_cli(["scan", "--update", str(scan_dir), str(data), "--quiet"])  # nothing new: nothing written
    assert code == 0 and read_scan(scan_dir).meta == up.meta


@pytest.mark.parametrize("finder", ["faiss", "ssim-cascade"])
def test_pruned_update_keeps_old_pairs_and_finds_copies(
    frames: tuple[Path, list[Path]], tmp_path: Path, finder: str
) -> None:
    pytest.importorskip("faiss") if finder == "faiss" else None
    args = ["--mode", "pruned", "--finder", finder, "--prune-k", "20"]
    data, scan_dir = _grow(frames, tmp_path, args)
    old = _pairs(read_scan(scan_dir))
    assert run_cli(["scan", "--update", str(scan_dir), str(data), "--quiet"]) == 0
    assert run_cli(["scan", str(data), "--out", str(tmp_path / "all"), "--size", "64", "--quiet", *args]) == 0
    up, whole = _pairs(read_scan(scan_dir)), _pairs(read_scan(tmp_path / "all"))
    assert {k: up[k] for k in old} == old  # earlier scores kept, not recomputed
    common = set(up) & set(whole)
    assert len(common) > 0.8 * len(whole) and all(up[k] == whole[k] for k in common)
    planted = pd.read_csv(frames[0] / "planted.csv", dtype=str)
    copies = {tuple(sorted(((r.source_class, r.source_id), (r.copy_class, r.copy_id)))) for r in planted.itertuples()}
    assert copies <= set(whole) and copies <= set(up)  # each planted pair is scored, whichever half it came in


@pytest.mark.slow
def test_review_decisions_survive_an_update(frames: tuple[Path, list[Path]], tmp_path: Path) -> None:
    """The journal of a 40-image review is untouched by adding 40 images; a second automatic pass only appends.
    (Smaller than the other tests: the assistant's features and verification dominate.)"""
    data, scan_dir = _grow(frames, tmp_path, [], old=40, new=40)
    assert run_cli(["review", str(scan_dir), "--auto", "--no-browser", "--quiet"]) == 0
    journal = scan_dir / "decisions.csv"
    first = journal.read_bytes()
    assert first.count(b"\n") > 1
    assert run_cli(["scan", "--update", str(scan_dir), str(data), "--quiet"]) == 0
    assert journal.read_bytes() == first
    assert run_cli(["review", str(scan_dir), "--auto", "--no-browser", "--quiet"]) == 0
    assert journal.read_bytes().startswith(first) and len(journal.read_bytes()) > len(first)


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of the scan folder but the review's lock file (its content is the last holder's pid)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.name != ".review.lock"}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("collide", "its class and id are scanned"),
        ("missing", "scanned, missing from the data"),
        ("other-folder", "is not the scanned data folder"),
        ("size", "was made with size = 64, not 128"),
        ("mode", "was made with mode = 'exhaustive'"),
        ("out", "drop --out"),
        ("not-a-scan", "scan.json is missing"),
    ],
)
def test_bad_input_is_one_line_and_leaves_the_scan(
    frames: tuple[Path, list[Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    full, images = frames
    data = tmp_path / "data"
    _link(full, data, images[:30])
    scan_dir = tmp_path / "scan"
    assert run_cli(["scan", str(data), "--out", str(scan_dir), "--size", "64", "--quiet"]) == 0
    _link(full, data, images[30:40])
    argv = ["scan", "--update", str(scan_dir), str(data), "--quiet"]
    if case == "collide":  # a new image saved under the id of a scanned one
        victim = data / images[0].relative_to(full)
        for src, dst in ((images[35], victim), (_mask(images[35]), _mask(victim))):
            dst.unlink()
            shutil.copy(src, dst)
    elif case == "missing":
        (data / images[1].relative_to(full)).unlink()
        _mask(data / images[1].relative_to(full)).unlink()
    elif case == "other-folder":
        argv[3] = str(full)
    elif case in ("size", "mode"):
        argv += ["--size", "128"] if case == "size" else ["--mode", "pruned"]
    elif case == "out":
        argv += ["--out", str(tmp_path / "x")]
    elif case == "not-a-scan":
        argv[2] = str(data)
    before = _snapshot(scan_dir)
    code, _, err = run_cli_captured(argv, capsys)
    assert code == 2 and message in err and err.count("\n") <= 3, err
    assert err.startswith("error: ") and "Traceback" not in err
    assert _snapshot(scan_dir) == before  # nothing half-written


def test_a_failure_while_writing_leaves_the_scan(
    frames: tuple[Path, list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk when scan.json is written (index.csv, candidates.csv and ssim.npy are staged by then): the old
    files stay and no temporary file is left."""
    import busi_curate.fileio as fio
    from busi_curate.scan.update import update_scan

    full, images = frames
    data = tmp_path / "data"
    _link(full, data, images[:30])
    scan_dir = tmp_path / "scan"
    assert run_cli(["scan", str(data), "--out", str(scan_dir), "--size", "64", "--quiet"]) == 0
    _link(full, data, images[30:40])
    before = _snapshot(scan_dir)

    def full_disk(path: object, obj: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fio, "write_json", full_disk)
    with pytest.raises(OSError, match="No space"):
        update_scan(scan_dir, data)
    monkeypatch.undo()
    assert _snapshot(scan_dir) == before and read_scan(scan_dir).n == 30


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_and_quiet(
    frames: tuple[Path, list[Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str], quiet: bool
) -> None:
    """Loading, the new images' shortlist and their exact SSIM show counted bars on stderr; --quiet none."""
    data, scan_dir = _grow(frames, tmp_path, ["--mode", "pruned", "--prune-k", "5"], old=30, new=10)
    capsys.readouterr()
    code, out, err = run_cli_captured(["scan", "--update", str(scan_dir), str(data)] + ["--quiet"] * quiet, capsys)
    assert code == 0 and out.startswith("added 10 images")
    bars = ("shortlist (new images)", "ssim (new pairs)")
    assert all((b in err) != quiet for b in bars), err
