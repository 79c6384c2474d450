"""The published Curated BUSI manifest: it reads back, it regenerates byte for byte from the real data and the
committed journal, and the real data verifies against it (real-data parts skipped where ../shared/data/BUSI is absent).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from busi_curate.publish.export import ExportSettings, export_manifest
from busi_curate.publish.folds import FoldSettings
from busi_curate.publish.manifest import Manifest, read_folds, read_manifest
from busi_curate.publish.verify import verify_data

PUBLISHED = Path(__file__).resolve().parents[3] / "manifests" / "curated_busi_v1"
FILES = ("manifest.csv", "manifest.json", "folds.csv", "README.md")

needs_published = pytest.mark.skipif(
    not (PUBLISHED / "manifest.json").is_file(), reason=f"{PUBLISHED} is not published yet"
)
needs_journal = pytest.mark.skipif(
    not (PUBLISHED / "decisions.csv").is_file(), reason=f"no review journal in {PUBLISHED} yet"
)


@needs_published
def test_published_manifest_reads_back() -> None:
    m = read_manifest(PUBLISHED)
    assert m.meta is not None and m.version == m.meta["version"]
    assert m.meta["counts"]["before"]["total"] == len(m) == 780
    assert m.meta["counts"]["after"]["total"] == len(m.kept())
    assert m.dir.name == f"curated_busi_v{m.version.split('.')[0]}"  # the folder carries the major version
    folds = read_folds(PUBLISHED / "folds.csv")
    assert folds.numbers == list(range(m.meta["folds"]["k"]))
    assert (PUBLISHED / "decisions.csv").is_file()


@pytest.fixture(scope="module")
def busi_scan(busi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from busi_curate.scan.run import ScanSettings, run_scan

    recorded = json.loads((PUBLISHED / "manifest.json").read_text())["scan"]["settings"]
    out = tmp_path_factory.mktemp("busi-scan")
    run_scan(busi_dir, out, ScanSettings(**recorded))  # the scan settings the published manifest was made with
    return out


@pytest.mark.realdata
@pytest.mark.slow
@needs_published
@needs_journal
def test_published_manifest_regenerates_byte_for_byte(busi_scan: Path, tmp_path: Path) -> None:
    meta = json.loads((PUBLISHED / "manifest.json").read_text())
    settings = ExportSettings(
        policy=meta["policy"],
        version=meta["version"],
        undecided=meta["undecided"]["treated_as"],
        include_adjacent=meta["include_adjacent"],
        threshold=meta["scan"]["threshold"],
        folds=FoldSettings(
            k=meta["folds"]["k"], seed=meta["folds"]["seed"], val_fraction=meta["folds"]["val_fraction"]
        ),
    )
    out = tmp_path / PUBLISHED.name
    export_manifest(busi_scan, out, PUBLISHED / "decisions.csv", settings)
    for name in FILES:
        assert (out / name).read_bytes() == (PUBLISHED / name).read_bytes(), (
            f"{name} differs from a fresh export: re-export manifests/{PUBLISHED.name}/ (never edit it by hand)"
        )


@pytest.mark.realdata
@pytest.mark.slow
@needs_published
def test_real_busi_verifies_against_the_published_manifest(busi_dir: Path) -> None:
    report = verify_data(read_manifest(PUBLISHED), busi_dir)
    assert report.ok, report.summary()
    counts = report.counts()
    assert counts["image"] == {"ok": 780} and counts["mask"] == {"ok": 798}


@pytest.mark.realdata
@needs_published
def test_rgb_originals_verify_as_reencoded(busi_dir: Path, tmp_path: Path) -> None:
    """The original download stores these images as RGB with R = G = B: same pixels, other bytes."""
    m = read_manifest(PUBLISHED)
    rows = [r for r in m.rows if r.id in ("1", "2", "3")]
    for r in rows:
        for rel in (r.image, *r.masks):
            dst = tmp_path / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(busi_dir / rel, dst)
        Image.open(tmp_path / r.image).convert("RGB").save(tmp_path / r.image)
    report = verify_data(Manifest(m.path, rows, m.meta, m.sha256), tmp_path)
    assert report.ok
    assert all(c.status == "ok-reencoded" for c in report.checks if c.kind == "image")
