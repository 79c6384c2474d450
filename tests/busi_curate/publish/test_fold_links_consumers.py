"""Every consumer of fold links, on manifests that HAVE links (issue 25: ``busi-curate folds`` ignoring them split
linked pairs of ``manifests/curated_busi_v1`` across train and test in 43 (fold, pair) cases, and no test saw it).

Consumers: the export's folds, ``busi-curate folds`` (``write_folds`` / ``folds_for_manifest``) and its sidecar's
unit count, and the committed ``folds.csv``. Each check is shown able to fail: without the links the same
draw separates linked pairs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import planted_keys, review_planted, run_cli

from busi_curate.publish.export import ExportSettings, export_manifest
from busi_curate.publish.folds import FoldSettings, fold_units, folds_for_manifest
from busi_curate.publish.manifest import read_folds, read_manifest
from busi_curate.review.journal import Decision

REPO = Path(__file__).resolve().parents[3]
CURATED = REPO / "manifests" / "curated_busi_v1"
Key = tuple[str, str]


def _links(meta: dict) -> list[tuple[Key, Key]]:
    return [(tuple(a), tuple(b)) for a, b in meta["fold_links"]]  # type: ignore[misc]


def split_links(folds: pd.DataFrame, links: list[tuple[Key, Key]]) -> list[tuple[int, Key, Key]]:
    """(fold, a, b) for every link whose two images are in different splits of a fold."""
    where = {(int(f), c, str(i)): s for f, c, i, s in zip(folds["fold"], folds["class"], folds["id"], folds["split"])}
    out = []
    for f in sorted({int(x) for x in folds["fold"]}):
        for a, b in links:
            if where[(f, *a)] != where[(f, *b)]:
                out.append((f, a, b))
    return out


@pytest.fixture(scope="module")
def curated():  # type: ignore[no-untyped-def]
    return read_manifest(CURATED / "manifest.csv")


def test_the_curated_manifest_has_links_and_a_draw_without_them_splits_them(curated) -> None:  # type: ignore[no-untyped-def]
    links = _links(curated.meta)
    assert len(links) >= 10
    unlinked = folds_for_manifest(curated, links=[])
    assert len(split_links(unlinked, links)) >= 10  # the draw does separate them when told nothing


def test_folds_for_manifest_reads_the_links_from_the_sidecar(curated) -> None:  # type: ignore[no-untyped-def]
    folds = folds_for_manifest(curated)
    assert split_links(folds, _links(curated.meta)) == []


def test_the_committed_folds_keep_every_link_in_one_split(curated) -> None:  # type: ignore[no-untyped-def]
    folds = read_folds(CURATED / "folds.csv", curated)
    assert split_links(folds.frame, _links(curated.meta)) == []
    # and they are what `busi-curate folds` draws from the manifest with the recorded settings
    s = curated.meta["folds"]
    redrawn = folds_for_manifest(curated, FoldSettings(s["k"], s["seed"], s["val_fraction"]))
    committed = folds.frame.astype({"fold": int}).reset_index(drop=True)
    pd.testing.assert_frame_equal(redrawn.astype({"fold": int}), committed, check_dtype=False)


@pytest.mark.parametrize("k", [4, 5])
def test_busi_curate_folds_keeps_every_link_in_one_split(curated, tmp_path: Path, k: int) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "folds.csv"
    assert run_cli(["folds", str(CURATED), "--out", str(out), "--k", str(k)]) == 0
    folds = pd.read_csv(out, dtype={"id": str})
    links = _links(curated.meta)
    assert split_links(folds, links) == []
    side = json.loads(out.with_suffix(".json").read_text())
    kept = curated.kept()
    units = fold_units([r.key for r in kept], [r.group for r in kept], links)
    assert side["folds"]["units"] == len(set(units)) < len(kept)  # units counted with the links
    if k == 4:
        assert side["folds"]["units"] == curated.meta["folds"]["units"]


# ----------------------------------------------------------------------------- a small synthetic manifest

#: a chain of adjacent frames (2-3-5-6), another pair (8-9) and a same-lesion pair (malignant 3-4), all of
#: synthetic images with no planted copy
LINKS = [
    ("benign", "2", "benign", "3", "adjacent-frame"),
    ("benign", "3", "benign", "5", "adjacent-frame"),
    ("benign", "5", "benign", "6", "adjacent-frame"),
    ("benign", "8", "benign", "9", "adjacent-frame"),
    ("malignant", "3", "malignant", "4", "same-lesion"),
]


@pytest.fixture(scope="module")
def linked_manifest(
    synthetic_dir: Path, synthetic_scan_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, object]:
    import shutil

    scan = tmp_path_factory.mktemp("linked") / "scan"
    shutil.copytree(synthetic_scan_dir, scan)
    keys = {(a, b) for a, b, *_ in LINKS} | {(c, d) for _, _, c, d, _ in LINKS}
    assert not keys & planted_keys(synthetic_dir)  # unrelated images: only the links join them
    extra = [Decision(a, b, c, d, "same", g, "test", time="2026-01-01T00:00:00Z") for a, b, c, d, g in LINKS]  # type: ignore[arg-type]
    review_planted(scan, synthetic_dir, extra=extra)
    out = scan.parent / "m"
    res = export_manifest(scan, out, settings=ExportSettings())
    return out, res


def test_the_export_records_the_links_and_keeps_them_together(linked_manifest) -> None:  # type: ignore[no-untyped-def]
    out, res = linked_manifest
    links = _links(res.meta)
    assert sorted(links) == sorted(((a, b), (c, d)) for a, b, c, d, _ in LINKS)
    assert split_links(res.folds, links) == []
    committed = read_folds(out / "folds.csv", read_manifest(out))
    assert split_links(committed.frame, links) == []


def test_busi_curate_folds_on_the_synthetic_manifest_keeps_the_links(linked_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, _ = linked_manifest
    manifest = read_manifest(out)
    links = _links(manifest.meta)
    for seed in (1, 2, 3):
        assert split_links(folds_for_manifest(manifest, FoldSettings(seed=seed), links=[]), links)  # can fail
        f = tmp_path / f"folds{seed}.csv"
        assert run_cli(["folds", str(out), "--out", str(f), "--seed", str(seed)]) == 0
        assert split_links(pd.read_csv(f, dtype={"id": str}), links) == []
