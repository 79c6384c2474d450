"""A table of bad inputs and faults across every command: each gets its exit status, one line naming the
file, no traceback, and nothing half-written in the output folder.

Every case builds its bad input inside a private copy (the shared fixtures stay read-only), runs the
command in-process as a user would, and checks:

* the exit status (2 for bad input; 0 where the input is valid or ``--lenient`` skips it, with a warning);
* that stderr names the offending file (or the value at fault) and holds no traceback;
* that no temporary ``*.tmp`` file is left anywhere and a fresh output folder holds no file.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

BUSI = "Dataset_BUSI_with_GT"


@dataclass
class Ctx:
    """Private copies of the fixtures for one case."""

    tmp: Path
    data: Path
    scan: Path
    manifest: Path

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    def img(self, cls: str, id_: str) -> Path:
        return self.data / BUSI / cls / f"{cls} ({id_}).png"

    def mask(self, cls: str, id_: str) -> Path:
        return self.data / BUSI / cls / f"{cls} ({id_})_mask.png"


@dataclass(frozen=True)
class Case:
    """One bad input: ``make`` mutates the context and returns ``(tool, argv, needle)``."""

    id: str
    make: Callable[[Ctx], tuple[str, list[str], str]]
    code: int = 2


def bomb_png(path: Path, w: int = 20000, h: int = 20000) -> None:
    """A tiny PNG that declares ``w`` x ``h`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = zlib.compress(b"\x00" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", raw)
        + chunk(b"IEND", b"")
    )


def _scan(ctx: Ctx, *extra: str) -> tuple[str, list[str], str]:
    return "curate", ["scan", str(ctx.data), "--out", str(ctx.out), "--size", "32", "--quiet", *extra], ""


def scan_case(mutate: Callable[[Ctx], str], *extra: str) -> Callable[[Ctx], tuple[str, list[str], str]]:
    def make(ctx: Ctx) -> tuple[str, list[str], str]:
        needle = mutate(ctx)
        tool, argv, _ = _scan(ctx, *extra)
        return tool, argv, needle

    return make


def truncate(p: Path, keep: int = 60) -> str:
    p.write_bytes(p.read_bytes()[:keep])
    return p.name


def generic(ctx: Ctx, rows: str, files: dict[str, np.ndarray] | None = None) -> None:
    root = ctx.data = ctx.tmp / "generic"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name, arr in (
        files or {"a.png": np.full((40, 40), 90, np.uint8), "b.png": np.full((40, 40), 30, np.uint8)}
    ).items():
        Image.fromarray(arr).save(root / "images" / name)
    (root / "labels.csv").write_text(rows, encoding="utf-8")


def edit_json(p: Path, fn: Callable[[dict], None]) -> str:
    d = json.loads(p.read_text(encoding="utf-8"))
    fn(d)
    p.write_text(json.dumps(d), encoding="utf-8")
    return p.name


def _curate(*argv: str, needle: str = "") -> tuple[str, list[str], str]:
    return "curate", list(argv), needle


def _bench(*argv: str, needle: str = "") -> tuple[str, list[str], str]:
    return "bench", list(argv), needle


def _run(ctx: Ctx, manifest: Path | None = None, folds: Path | None = None, *extra: str) -> list[str]:
    m = manifest or ctx.manifest / "manifest.csv"
    return [
        "run",
        "--manifest",
        str(m),
        "--folds",
        str(folds or m.with_name("folds.csv")),
        "--data",
        str(ctx.data),
        "--out",
        str(ctx.out),
        "--profile",
        "smoke",
        "--image-size",
        "32",
        "--epochs",
        "1",
        "--fold",
        "0",
        *extra,
    ]


def _first_kept(ctx: Ctx) -> str:
    import csv

    with open(ctx.manifest / "manifest.csv", newline="", encoding="utf-8") as fh:
        return next(r["image"] for r in csv.DictReader(fh) if r["status"] == "kept")


def _fifo(ctx: Ctx) -> str:
    p = ctx.img("benign", "1")
    p.unlink()
    os.mkfifo(p)
    return p.name


def _symlink(target: Path, link: Path) -> str:
    if link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(target)
    return link.name


def _evil_checkpoint(path: Path, marker: Path) -> str:
    import torch

    class Evil:
        def __reduce__(self):  # noqa: ANN204
            return (Path.write_text, (marker, "pwned"))

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": "busi-bench-checkpoint/1", "model": {}, "config": {}, "x": Evil()}, path)
    return path.name


CASES: list[Case] = [
    # ---------------------------------------------------------------- scan: images and masks
    Case("scan-truncated-image", scan_case(lambda c: truncate(c.img("benign", "2")))),
    Case("scan-zero-byte-image", scan_case(lambda c: truncate(c.img("benign", "3"), 0))),
    Case(
        "scan-text-renamed-png",
        scan_case(lambda c: (c.img("malignant", "1").write_text("hello"), c.img("malignant", "1").name)[1]),
    ),
    Case("scan-truncated-mask", scan_case(lambda c: truncate(c.mask("benign", "4"), 40))),
    Case("scan-missing-mask", scan_case(lambda c: (c.mask("benign", "5").unlink(), "benign (5).png")[1])),
    Case(
        "scan-mask-other-size",
        scan_case(lambda c: (Image.new("L", (7, 9), 255).save(c.mask("benign", "6")), c.mask("benign", "6").name)[1]),
    ),
    Case("scan-unknown-class-folder", scan_case(lambda c: ((c.data / BUSI / "cystic").mkdir(), "cystic")[1])),
    Case(
        "scan-empty-class-folder",
        scan_case(lambda c: (shutil.rmtree(c.data / BUSI / "normal"), (c.data / BUSI / "normal").mkdir(), "normal")[2]),
    ),
    Case(
        "scan-empty-dataset-folder",
        scan_case(lambda c: (shutil.rmtree(c.data / BUSI), (c.data / BUSI).mkdir(), BUSI)[2]),
    ),
    Case(
        "scan-missing-data-folder", lambda c: _curate("scan", str(c.tmp / "nope"), "--out", str(c.out), needle="nope")
    ),
    Case(
        "scan-unparseable-name",
        scan_case(
            lambda c: (shutil.copy(c.img("benign", "1"), c.data / BUSI / "benign" / "benign-7.png"), "benign-7.png")[1]
        ),
    ),
    Case(
        "scan-mask-without-image",
        scan_case(
            lambda c: (
                shutil.copy(c.mask("benign", "1"), c.data / BUSI / "benign" / "benign (999)_mask.png"),
                "benign (999)_mask.png",
            )[1]
        ),
    ),
    Case(
        "scan-colliding-leading-zero",
        scan_case(
            lambda c: (
                shutil.copy(c.img("normal", "1"), c.data / BUSI / "normal" / "normal (01).png"),
                "normal (01).png",
            )[1]
        ),
    ),
    Case(
        "scan-colliding-upper-case",
        scan_case(
            lambda c: (
                shutil.copy(c.img("normal", "2"), c.data / BUSI / "normal" / "NORMAL (2).PNG"),
                "NORMAL (2).PNG",
            )[1]
        ),
    ),
    Case(
        "scan-non-ascii-digits",
        scan_case(
            lambda c: (
                shutil.copy(c.img("normal", "3"), c.data / BUSI / "normal" / "normal (\u0663).png"),
                "normal (\u0663).png",
            )[1]
        ),
    ),
    Case("scan-fifo-image", scan_case(_fifo)),
    Case(
        "scan-decompression-bomb", scan_case(lambda c: (bomb_png(c.img("benign", "7")), c.img("benign", "7").name)[1])
    ),
    Case(
        "scan-decompression-bomb-lenient",
        scan_case(lambda c: (bomb_png(c.img("benign", "7")), c.img("benign", "7").name)[1], "--lenient"),
        code=0,
    ),
    Case("scan-truncated-lenient", scan_case(lambda c: truncate(c.img("benign", "8")), "--lenient"), code=0),
    Case(
        "scan-16-bit-image-is-valid",
        scan_case(
            lambda c: (
                Image.fromarray(np.asarray(Image.open(c.img("benign", "9")).convert("L")).astype(np.uint16) * 257).save(
                    c.img("benign", "9")
                ),
                "",
            )[1]
        ),
        code=0,
    ),
    Case(
        "scan-rgba-mask-is-valid",
        scan_case(lambda c: (Image.open(c.mask("benign", "10")).convert("RGBA").save(c.mask("benign", "10")), "")[1]),
        code=0,
    ),
    Case("scan-out-is-a-file", lambda c: (c.out.write_text("x"), _scan(c))[1][:2] + ("out",)),
    Case(
        "scan-out-holds-a-journal",
        lambda c: (c.out.mkdir(), (c.out / "decisions.csv").write_text("x"), _scan(c))[2][:2] + ("decisions.csv",),
    ),
    Case(
        "scan-out-is-a-symlink",
        lambda c: ((c.tmp / "real").mkdir(), _symlink(c.tmp / "real", c.out), _scan(c))[2][:2] + ("out",),
    ),
    # ---------------------------------------------------------------- scan: generic layout
    Case(
        "generic-absolute-path",
        lambda c: (
            (generic(c, "image,class\n/etc/hostname,benign\nb.png,normal\n"), _scan(c))[1][:2] + ("/etc/hostname",)
        ),
    ),
    Case(
        "generic-dotdot-path",
        lambda c: (
            (generic(c, "image,class\n../labels.csv,benign\nb.png,normal\n"), _scan(c))[1][:2] + ("../labels.csv",)
        ),
    ),
    Case(
        "generic-unknown-class",
        lambda c: (generic(c, "image,class\na.png,cyst\nb.png,normal\n"), _scan(c))[1][:2] + ("labels.csv",),
    ),
    Case(
        "generic-duplicate-ids",
        lambda c: (generic(c, "image,class,id\na.png,normal,7\nb.png,normal,7\n"), _scan(c))[1][:2] + ("labels.csv",),
    ),
    Case(
        "generic-unicode-line-break-id",
        lambda c: (
            (generic(c, "image,class,id\na.png,normal,x\u2028y\nb.png,normal,z\n"), _scan(c))[1][:2] + ("labels.csv",)
        ),
    ),
    Case(
        "generic-missing-columns",
        lambda c: (generic(c, "file,label\na.png,normal\n"), _scan(c))[1][:2] + ("labels.csv",),
    ),
    Case("generic-empty-labels", lambda c: (generic(c, "image,class\n"), _scan(c))[1][:2] + ("labels.csv",)),
    Case(
        "generic-missing-mask",
        lambda c: (
            (generic(c, "image,class,masks\na.png,benign,nope.png\nb.png,normal,\n"), _scan(c))[1][:2] + ("nope.png",)
        ),
    ),
    Case(
        "generic-missing-image",
        lambda c: (generic(c, "image,class\na.png,normal\nzzz.png,normal\n"), _scan(c))[1][:2] + ("zzz.png",),
    ),
    # ---------------------------------------------------------------- review
    Case("review-missing-scan", lambda c: _curate("review", str(c.tmp / "none"), "--no-browser", needle="none")),
    Case(
        "review-damaged-scan-json",
        lambda c: (
            (c.scan / "scan.json").write_text("{not json"),
            _curate("review", str(c.scan), "--no-browser", needle="scan.json"),
        )[1],
    ),
    Case(
        "review-scan-json-without-checksums",
        lambda c: (
            edit_json(c.scan / "scan.json", lambda d: d.pop("files")),
            _curate("review", str(c.scan), "--no-browser", needle="scan.json"),
        )[1],
    ),
    Case(
        "review-scan-json-missing-one-checksum",
        lambda c: (
            edit_json(c.scan / "scan.json", lambda d: d["files"].pop("ssim.npy")),
            _curate("review", str(c.scan), "--no-browser", needle="ssim.npy"),
        )[1],
    ),
    Case(
        "review-ssim-wrong-shape",
        lambda c: (
            np.save(c.scan / "ssim.npy", np.zeros((3, 3), np.float32)),
            edit_json(
                c.scan / "scan.json",
                lambda d: d["files"].__setitem__(
                    "ssim.npy", __import__("busi_curate.fileio", fromlist=["x"]).file_sha256(c.scan / "ssim.npy")
                ),
            ),
            _curate("review", str(c.scan), "--no-browser", needle="ssim.npy"),
        )[2],
    ),
    Case(
        "review-ssim-edited",
        lambda c: (
            (c.scan / "ssim.npy").write_bytes((c.scan / "ssim.npy").read_bytes()[:-4] + b"\x00\x00\x80\x3f"),
            _curate("review", str(c.scan), "--no-browser", needle="ssim.npy"),
        )[1],
    ),
    Case(
        "review-index-edited",
        lambda c: (
            (c.scan / "index.csv").write_text((c.scan / "index.csv").read_text() + "\n"),
            _curate("review", str(c.scan), "--no-browser", needle="index.csv"),
        )[1],
    ),
    Case(
        "review-journal-bad-header",
        lambda c: (
            (c.scan / "decisions.csv").write_text("a,b,c\n1,2,3\n"),
            _curate("review", str(c.scan), "--no-browser", needle="decisions.csv"),
        )[1],
    ),
    Case(
        "review-journal-unknown-ids",
        lambda c: (
            (c.scan / "decisions.csv").write_text(
                ",".join(__import__("busi_curate.review.journal", fromlist=["x"]).JOURNAL_COLUMNS)
                + "\nbenign,1,benign,999,different,,x,,2026-01-01T00:00:00Z\n"
            ),
            _curate("review", str(c.scan), "--no-browser", needle="benign 999"),
        )[1],
    ),
    Case(
        "review-journal-is-a-symlink",
        lambda c: (
            (c.tmp / "elsewhere.csv").write_text(""),
            _symlink(c.tmp / "elsewhere.csv", c.scan / "decisions.csv"),
            _curate("review", str(c.scan), "--auto", "--no-browser", needle="decisions.csv"),
        )[2],
    ),
    Case(
        "review-lock-is-a-symlink",
        lambda c: (
            (c.tmp / "victim.txt").write_text("keep me"),
            _symlink(c.tmp / "victim.txt", c.scan / ".review.lock"),
            _curate("review", str(c.scan), "--auto", "--no-browser", needle=".review.lock"),
        )[2],
    ),
    Case(
        "review-reviewer-with-line-separator",
        lambda c: _curate("review", str(c.scan), "--no-browser", "--reviewer", "ana\u2028bob", needle="reviewer"),
    ),
    Case(
        "review-reviewer-auto-reserved",
        lambda c: _curate("review", str(c.scan), "--no-browser", "--reviewer", "auto", needle="reviewer"),
    ),
    Case(
        "review-replay-missing-file",
        lambda c: _curate(
            "review", str(c.scan), "--no-browser", "--decisions", str(c.tmp / "theirs.csv"), needle="theirs.csv"
        ),
    ),
    Case(
        "review-replay-bad-header",
        lambda c: (
            (c.tmp / "theirs.csv").write_text("x,y\n"),
            _curate(
                "review", str(c.scan), "--no-browser", "--decisions", str(c.tmp / "theirs.csv"), needle="theirs.csv"
            ),
        )[1],
    ),
    # ---------------------------------------------------------------- report / export
    Case("report-missing-scan", lambda c: _curate("report", str(c.tmp / "none"), "--out", str(c.out), needle="none")),
    Case(
        "report-damaged-journal",
        lambda c: (
            (c.scan / "decisions.csv").write_text("x,y\n1,2\n"),
            _curate("report", str(c.scan), "--out", str(c.out), needle="decisions.csv"),
        )[1],
    ),
    Case(
        "report-ssim-wrong-shape",
        lambda c: (
            np.save(c.scan / "ssim.npy", np.zeros((2, 2), np.float32)),
            _curate("report", str(c.scan), "--out", str(c.out), needle="ssim.npy"),
        )[1],
    ),
    Case("export-missing-scan", lambda c: _curate("export", str(c.tmp / "none"), "--out", str(c.out), needle="none")),
    Case(
        "export-without-journal", lambda c: _curate("export", str(c.scan), "--out", str(c.out), needle="decisions.csv")
    ),
    Case(
        "export-damaged-journal",
        lambda c: (
            (c.scan / "decisions.csv").write_text("nope\n"),
            _curate("export", str(c.scan), "--out", str(c.out), needle="decisions.csv"),
        )[1],
    ),
    Case(
        "export-scan-edited",
        lambda c: (
            (c.scan / "candidates.csv").write_text("x\n"),
            _curate("export", str(c.scan), "--out", str(c.out), needle="candidates.csv"),
        )[1],
    ),
    # ---------------------------------------------------------------- verify / materialize
    Case(
        "verify-missing-sidecar",
        lambda c: (
            (c.manifest / "manifest.json").unlink(),
            _curate("verify", str(c.manifest / "manifest.csv"), str(c.data), needle="manifest.json"),
        )[1],
    ),
    Case(
        "verify-sidecar-without-checksum",
        lambda c: (
            edit_json(c.manifest / "manifest.json", lambda d: d["files"].pop("manifest.csv")),
            _curate("verify", str(c.manifest / "manifest.csv"), str(c.data), needle="manifest.json"),
        )[1],
    ),
    Case(
        "verify-sidecar-damaged",
        lambda c: (
            (c.manifest / "manifest.json").write_text("[1,"),
            _curate("verify", str(c.manifest / "manifest.csv"), str(c.data), needle="manifest.json"),
        )[1],
    ),
    Case(
        "verify-manifest-edited",
        lambda c: (
            (c.manifest / "manifest.csv").write_text(
                (c.manifest / "manifest.csv").read_text().replace("kept", "kept", 1) + "\n"
            ),
            _curate("verify", str(c.manifest / "manifest.csv"), str(c.data), needle="manifest.csv"),
        )[1],
    ),
    Case(
        "verify-manifest-wrong-columns",
        lambda c: (
            (c.manifest / "manifest.csv").write_text("a,b\n1,2\n"),
            _curate("verify", str(c.manifest / "manifest.csv"), str(c.data), needle="manifest.csv"),
        )[1],
    ),
    Case(
        "verify-missing-data",
        lambda c: _curate("verify", str(c.manifest / "manifest.csv"), str(c.tmp / "gone"), needle="gone"),
    ),
    Case(
        "materialize-damaged-manifest",
        lambda c: (
            (c.manifest / "manifest.csv").write_text("a,b\n"),
            _curate(
                "materialize", str(c.manifest / "manifest.csv"), str(c.data), "--out", str(c.out), needle="manifest.csv"
            ),
        )[1],
    ),
    Case(
        "materialize-changed-image",
        lambda c: (
            truncate(c.data / _first_kept(c)),
            _curate(
                "materialize",
                str(c.manifest / "manifest.csv"),
                str(c.data),
                "--out",
                str(c.out),
                "--quiet",  # as the scan cases: no progress bar before the one line
                needle=Path(_first_kept(c)).name,
            ),
        )[1],
    ),
    # ---------------------------------------------------------------- busi-bench run / predict
    Case(
        "bench-run-manifest-without-sidecar",
        lambda c: ((c.manifest / "manifest.json").unlink(), _bench(*_run(c), needle="manifest.json"))[1],
    ),
    Case(
        "bench-run-folds-edited",
        lambda c: (
            (c.manifest / "folds.csv").write_text((c.manifest / "folds.csv").read_text() + "\n"),
            _bench(*_run(c), needle="folds.csv"),
        )[1],
    ),
    Case(
        "bench-run-folds-without-sidecar",
        lambda c: (
            shutil.copy(c.manifest / "folds.csv", c.tmp / "folds.csv"),
            _bench(*_run(c, None, c.tmp / "folds.csv"), needle="folds.csv"),
        )[1],
    ),
    Case("bench-run-fold-not-in-folds", lambda c: _bench(*_run(c)[:-1], "9", needle="fold 9")),
    Case("bench-run-unknown-setting", lambda c: _bench(*_run(c), "--set", "lernrate=3", needle="lernrate")),
    Case(
        "bench-run-changed-pixels",
        lambda c: (
            Image.fromarray(255 - np.asarray(Image.open(c.img("normal", "1")).convert("L"))).save(c.img("normal", "1")),
            _bench(*_run(c), needle="normal 1"),
        )[1],
    ),
    Case(
        "bench-run-resume-crafted-checkpoint",
        lambda c: (
            _evil_checkpoint(c.out / "fold0" / "checkpoint" / "last.pt", c.tmp / "pwned"),
            _bench(*_run(c), "--resume", needle="last.pt"),
        )[1],
    ),
    Case(
        "bench-run-resume-truncated-checkpoint",
        lambda c: (
            (c.out / "fold0" / "checkpoint").mkdir(parents=True),
            (c.out / "fold0" / "checkpoint" / "last.pt").write_bytes(b"PK\x03\x04"),
            _bench(*_run(c), "--resume", needle="last.pt"),
        )[2],
    ),
    Case(
        "bench-run-packed-damaged",
        lambda c: (
            (c.tmp / "p.npz").write_bytes(b"x"),
            (c.tmp / "p.json").write_text("{}"),
            _bench("run", "--packed", str(c.tmp / "p.npz"), "--fold", "0", "--out", str(c.out), needle="p.json"),
        )[2],
    ),
    Case(
        "bench-predict-crafted-checkpoint",
        lambda c: (
            _evil_checkpoint(c.tmp / "evil.pt", c.tmp / "pwned"),
            _bench("predict", str(c.tmp / "evil.pt"), str(c.img("benign", "1")), "--out", str(c.out), needle="evil.pt"),
        )[1],
    ),
    Case(
        "bench-predict-zero-byte-checkpoint",
        lambda c: (
            (c.tmp / "z.pt").write_bytes(b""),
            _bench("predict", str(c.tmp / "z.pt"), str(c.img("benign", "1")), "--out", str(c.out), needle="z.pt"),
        )[1],
    ),
]


@pytest.fixture(scope="module")
def base(synthetic_dir: Path, synthetic_scan_dir: Path, synthetic_manifest_dir: Path) -> tuple[Path, Path, Path]:
    return synthetic_dir, synthetic_scan_dir, synthetic_manifest_dir


def _ctx(base: tuple[Path, Path, Path], tmp: Path) -> Ctx:
    data, scan, manifest = base
    shutil.copytree(data, tmp / "data", symlinks=True)
    shutil.copytree(scan, tmp / "scan")
    shutil.copytree(manifest, tmp / "manifest")
    return Ctx(tmp, tmp / "data", tmp / "scan", tmp / "manifest")


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, base, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if case.id.startswith("bench"):
        pytest.importorskip("torch")
        pytest.importorskip("monai")
    ctx = _ctx(base, tmp_path)
    tool, argv, needle = case.make(ctx)
    out_before = sorted(p.name for p in ctx.out.iterdir()) if ctx.out.is_dir() else None
    if tool == "curate":
        from busi_curate.cli import main
    else:
        from benchmark.cli import main  # type: ignore[assignment]
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == case.code, f"{case.id}: exit {code}\n{err}"
    assert "Traceback" not in err
    if needle:
        assert needle in err, f"{case.id}: {needle!r} not in\n{err}"
    if case.code == 2:
        assert err.strip() and ("error" in err.splitlines()[0].lower())
        assert not (tmp_path / "pwned").exists()
        if out_before is None and ctx.out.is_dir():
            written = [
                p for p in ctx.out.rglob("*") if p.is_file() and "checkpoint" not in p.parts and p.suffix != ".log"
            ]
            assert not written, f"{case.id}: half-written {written}"
    assert not list(tmp_path.rglob("*.tmp")), f"{case.id}: temporary files left"
    if case.id == "review-lock-is-a-symlink":
        assert (tmp_path / "victim.txt").read_text() == "keep me"
