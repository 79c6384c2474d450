"""Issue 22's corpus: disk full, read-only output folders, kill -9 leftovers and crafted files that keep their
digests. Each case checks one line on stderr naming the file, exit status 2, no traceback, nothing
half-written, and (for the journal) no confirmed decision lost.

Disk-full and read-only cases run on a small tmpfs (``mount -t tmpfs``, which needs root); where mounting is
not allowed they are skipped cleanly.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from faults import fill, remount_ro, small_tmpfs

Argv = Callable[[dict[str, Path], Path], tuple[str, list[str], str]]


def _invoke(tool: str, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    if tool == "curate":
        from busi_curate.cli import main

        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code, capsys.readouterr().err
    from click.testing import CliRunner

    from benchmark.cli import main as bench

    r = CliRunner().invoke(bench, argv)
    return r.exit_code, r.output + (f"\n{r.exception!r}" if r.exception and r.exit_code not in (0, 2) else "")


def _one_line(err: str, needle: str) -> None:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1 and "error" in lines[0].lower(), err
    assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


@dataclass(frozen=True)
class Out:
    """A command writing into a new output on the faulty disk: (tool, argv, needle in the error line)."""

    id: str
    make: Argv
    bench: bool = False


def _files(p: Path) -> list[Path]:
    return sorted(x for x in p.rglob("*") if x.is_file()) if p.exists() else []


OUTS = [
    Out(
        "scan",
        lambda f, o: ("curate", ["scan", str(f["data"]), "--out", str(o / "scan"), "--size", "32", "--quiet"], "scan"),
    ),
    Out("export", lambda f, o: ("curate", ["export", str(f["scan"]), "--out", str(o / "m")], "fs/m")),
    Out(
        "materialize",
        lambda f, o: (
            "curate",
            ["materialize", str(f["manifest"]), str(f["data"]), "--out", str(o / "mat"), "--size", "32", "--quiet"],
            str(o),
        ),
    ),
    Out("report", lambda f, o: ("curate", ["report", str(f["scan"]), "--out", str(o / "rep"), "--quiet"], "/rep")),
    Out(
        "pack",
        lambda f, o: (
            "bench",
            [
                "pack",
                str(f["manifest"] / "manifest.csv"),
                str(f["manifest"] / "folds.csv"),
                str(f["data"]),
                "--size",
                "32",
                "--out",
                str(o / "p.npz"),
            ],
            "p.npz",
        ),
        bench=True,
    ),
    Out(
        "bench-run",
        lambda f, o: (
            "bench",
            [
                "run",
                "--manifest",
                str(f["manifest"] / "manifest.csv"),
                "--folds",
                str(f["manifest"] / "folds.csv"),
                "--data",
                str(f["data"]),
                "--out",
                str(o / "run"),
                "--profile",
                "smoke",
                "--image-size",
                "32",
                "--epochs",
                "1",
                "--fold",
                "0",
                "--device",
                "cpu",
                "--no-progress",
                "--set",
                "images_per_epoch=8",
            ],
            "/run",
        ),
        bench=True,
    ),
]


@pytest.fixture()
def inputs(synthetic_dir: Path, scan_copy: Path, synthetic_manifest_dir: Path) -> dict[str, Path]:
    from helpers import review_planted

    review_planted(scan_copy, synthetic_dir)  # a journal, so export and report have decisions
    return {"data": synthetic_dir, "scan": scan_copy, "manifest": synthetic_manifest_dir}


@pytest.mark.parametrize("fault", ["disk-full", "read-only"])
@pytest.mark.parametrize("case", OUTS, ids=[c.id for c in OUTS])
def test_output_on_a_full_or_read_only_disk(case: Out, fault: str, inputs, tmp_path: Path, capsys) -> None:
    if case.bench:
        pytest.importorskip("torch")
        pytest.importorskip("monai")
    with small_tmpfs(tmp_path / "fs", "256k") as fs:
        if fault == "disk-full":
            filler = fill(fs)
        else:
            remount_ro(fs)
        tool, argv, needle = case.make(inputs, fs)
        code, err = _invoke(tool, argv, capsys)
        assert code == 2, f"exit {code}\n{err}"
        _one_line(err, needle)
        # a log is append-only and a fold's empty lock file holds no output (the kernel lock died with the run)
        left = [p for p in _files(fs) if p.name not in (".filler", ".run.lock") and p.suffix != ".log"]
        assert not left, f"half-written: {left}"
        if fault == "disk-full":
            filler.unlink()


@pytest.mark.parametrize("fault", ["disk-full", "read-only"])
def test_review_on_a_full_or_read_only_disk_keeps_every_confirmed_answer(
    fault: str, inputs, tmp_path: Path, capsys
) -> None:
    with small_tmpfs(tmp_path / "fs", "2m") as fs:
        scan = fs / "scan"
        shutil.copytree(inputs["scan"], scan)
        (scan / ".review.lock").unlink(missing_ok=True)
        journal = (scan / "decisions.csv").read_bytes()
        if fault == "disk-full":
            fill(fs)
        else:
            remount_ro(fs)
        code, err = _invoke("curate", ["review", str(scan), "--auto", "--no-browser"], capsys)
        assert code == 2, err
        _one_line(err, str(scan))
        assert (scan / "decisions.csv").read_bytes() == journal  # every confirmed answer still there, nothing added
        assert not (scan / ".review.lock").exists()  # no 0-byte lock left


def _tmp_leftover(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f".{name}.k9x_ab12.tmp"  # what atomic_open leaves when the process is killed mid-write
    p.write_text("half")
    return p


def test_kill9_leftovers_of_export_and_report_are_swept(inputs, tmp_path: Path, capsys) -> None:
    for cmd, out in (("export", tmp_path / "m"), ("report", tmp_path / "rep")):
        left = _tmp_leftover(out, "manifest.csv" if cmd == "export" else "report.md")
        code, err = _invoke("curate", [cmd, str(inputs["scan"]), "--out", str(out)], capsys)
        assert code == 0, err
        assert not left.exists() and not list(out.rglob("*.tmp"))


def test_kill9_leftovers_of_scan_are_swept(synthetic_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "scan"
    left = _tmp_leftover(out, "ssim.npy")
    code, err = _invoke("curate", ["scan", str(synthetic_dir), "--out", str(out), "--size", "32", "--quiet"], capsys)
    assert code == 0, err
    assert not left.exists() and not list(out.rglob("*.tmp"))


def test_kill9_staging_folders_of_materialize_are_swept(inputs, tmp_path: Path, capsys) -> None:
    out = tmp_path / "mat"
    stale = tmp_path / ".mat.ab_cd12z.partial"
    (stale / "images").mkdir(parents=True)
    (stale / "images" / "x.png").write_bytes(b"half")
    other = tmp_path / ".other.ab_cd12z.partial"  # another output's staging folder is not ours to remove
    other.mkdir()
    argv = ["materialize", str(inputs["manifest"]), str(inputs["data"]), "--out", str(out), "--size", "32"]
    code, err = _invoke("curate", argv, capsys)
    assert code == 0, err
    assert not stale.exists() and other.exists() and (out / "materialize.json").is_file()


def _resign(d: Path) -> None:
    meta = json.loads((d / "manifest.json").read_text())
    for name in ("manifest.csv", "folds.csv"):
        meta["files"][name] = hashlib.sha256((d / name).read_bytes()).hexdigest()
    (d / "manifest.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def _edit_csv(p: Path, fn: Callable[[list[list[str]]], None]) -> None:
    import csv

    rows = list(csv.reader(p.read_text().splitlines()))
    fn(rows)
    with open(p, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def _outside_image(rows: list[list[str]]) -> None:
    rows[1][4] = "../outside/x.png"


def _kept_group_member(rows: list[list[str]]) -> None:
    for r in rows[1:]:
        if r[13] and r[14] == "removed":
            r[14], r[15] = "kept", ""
            return


CRAFTED = {
    "image-outside-data": (_outside_image, "manifest.csv"),
    "group-member-kept": (_kept_group_member, "manifest.csv"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
@pytest.mark.parametrize("command", ["verify", "materialize"])
def test_crafted_manifests_keeping_their_digest(case: str, command: str, inputs, tmp_path: Path, capsys) -> None:
    fn, needle = CRAFTED[case]
    d = tmp_path / "m"
    shutil.copytree(inputs["manifest"], d)
    _edit_csv(d / "manifest.csv", fn)
    _resign(d)
    argv = [command, str(d), str(inputs["data"])] + (
        ["--out", str(tmp_path / "out")] if command == "materialize" else []
    )
    code, err = _invoke("curate", argv, capsys)
    assert code == 2, err
    _one_line(err, needle)
    assert not (tmp_path / "out").exists()


def test_a_journal_with_cr_only_line_ends_is_read(inputs, tmp_path: Path, capsys) -> None:
    scan = inputs["scan"]
    text = (scan / "decisions.csv").read_text()
    (scan / "decisions.csv").write_bytes(text.replace("\n", "\r").encode())  # an old Excel export
    code, err = _invoke("curate", ["export", str(scan), "--out", str(tmp_path / "m")], capsys)
    assert code == 0 and "Traceback" not in err and "_csv.Error" not in err, err
    meta = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert meta["decisions"]["lines"] > 0  # every line was read, not skipped


def test_a_second_writer_on_a_fold_is_refused(inputs, tmp_path: Path, capsys) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    from benchmark.training.checkpoint import lock_fold, unlock_fold

    out = tmp_path / "run"
    fd = lock_fold(out / "fold0")  # an orphaned grid job still running this fold
    try:
        tool, argv, _ = OUTS[-1].make(inputs, tmp_path)
        code, err = _invoke(tool, argv, capsys)
    finally:
        unlock_fold(fd)
    assert code == 2, err
    _one_line(err, "another busi-bench run is writing this fold")
    assert not (out / "fold0" / "train.log").exists()  # not even a log line from the second writer


def test_scan_out_inside_the_dataset_is_refused(synthetic_dir: Path, tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    shutil.copytree(synthetic_dir, data, symlinks=True)
    cls = next(p for p in data.rglob("*") if p.is_dir() and any(p.glob("*.png")))
    out = cls / "scan"
    code, err = _invoke("curate", ["scan", str(data), "--out", str(out), "--size", "32", "--quiet"], capsys)
    assert code == 2, err
    _one_line(err, "inside the dataset folder")
    assert not out.exists()


@pytest.mark.parametrize("kind", ["float32", "signed"])
def test_float_and_signed_tiffs_are_refused_not_guessed(kind: str, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from busi_curate.data.imageio import read_gray
    from busi_curate.errors import DatasetError

    p = tmp_path / f"{kind}.tif"
    a = np.linspace(0, 1, 64, dtype=np.float32) if kind == "float32" else np.arange(-32, 32, dtype=np.int32)
    Image.fromarray(a.reshape(8, 8)).save(p)
    with pytest.raises(DatasetError, match="convert the image to 8- or 16-bit unsigned") as exc:
        read_gray(p)
    assert p.name in str(exc.value)


def _link_out(data: Path, tmp_path: Path, manifest: Path) -> Path:
    """Replace the first kept image of ``manifest`` by a link to an identical copy outside the data folder."""
    import csv

    with open(manifest / "manifest.csv", newline="") as fh:
        img = data / next(r["image"] for r in csv.DictReader(fh) if r["status"] == "kept")
    outside = tmp_path / "outside" / img.name
    outside.parent.mkdir()
    shutil.copy2(img, outside)
    img.unlink()
    img.symlink_to(outside)
    return img


@pytest.mark.parametrize("reader", ["scan", "verify", "bench-run"])
def test_a_link_out_of_the_data_folder_is_refused_by_every_reader(reader: str, inputs, tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    shutil.copytree(inputs["data"], data, symlinks=True)
    m = inputs["manifest"]
    link = _link_out(data, tmp_path, m)
    if reader == "scan":
        tool, argv = "curate", ["scan", str(data), "--out", str(tmp_path / "s"), "--size", "32", "--quiet"]
    elif reader == "verify":
        tool, argv = "curate", ["verify", str(m), str(data), "--quiet"]
    else:
        pytest.importorskip("torch")
        pytest.importorskip("monai")
        tool, argv, _ = OUTS[-1].make(dict(inputs, data=data), tmp_path)
    code, err = _invoke(tool, argv, capsys)
    assert code == 2, err
    _one_line(err, link.name)
    assert "outside the data folder" in err
