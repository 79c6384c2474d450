"""The ``same-lesion`` grade ("same lesion, other view") in groups, folds and the export: never merged into a
duplicate group (so no policy removes its images), always kept in one fold unit."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import planted_keys, review_planted

from busi_curate.publish.export import POLICIES, ExportSettings, export_manifest
from busi_curate.publish.folds import fold_units, make_folds
from busi_curate.review.groups import build_groups, merged_grades
from busi_curate.review.journal import Decision

LESION = Decision("benign", "2", "benign", "3", "same", "same-lesion", "test", time="2026-01-01T00:00:00Z")


def test_same_lesion_is_never_merged_into_a_group() -> None:
    for adjacent in (False, True):
        assert "same-lesion" not in merged_grades(adjacent)
        assert build_groups([LESION], merged_grades(adjacent)) == []


def test_fold_links_keep_a_same_lesion_pair_in_one_unit() -> None:
    keys = [("benign", str(i)) for i in range(1, 25)] + [("malignant", str(i)) for i in range(1, 25)]
    units = fold_units(keys, [None] * len(keys), [(("benign", "2"), ("benign", "3"))])
    assert units[1] == units[2] and len(set(units)) == len(keys) - 1
    folds = make_folds(keys, [k[0] for k in keys], units)
    for f in range(4):
        sel = folds[(folds["fold"] == f) & (folds["class"] == "benign") & folds["id"].isin(["2", "3"])]
        assert sel["split"].nunique() == 1


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("include_adjacent", [False, True])
def test_export_keeps_same_lesion_images_and_links_them(
    scan_copy: Path, synthetic_dir: Path, tmp_path: Path, policy: str, include_adjacent: bool
) -> None:
    assert not {("benign", "2"), ("benign", "3")} & planted_keys(synthetic_dir)  # two unrelated images
    review_planted(scan_copy, synthetic_dir, extra=[LESION])
    res = export_manifest(
        scan_copy, tmp_path / "m", settings=ExportSettings(policy=policy, include_adjacent=include_adjacent)
    )
    kept = {r.key for r in res.rows if r.kept}
    assert {("benign", "2"), ("benign", "3")} <= kept  # not removed, whatever the policy
    assert all(("benign", "2") not in g.members for g in res.groups)
    assert res.meta["fold_links"] == [[["benign", "2"], ["benign", "3"]]]
    assert res.meta["decisions"]["standing_answers"]["same same-lesion"] == 1
    folds = res.folds
    for f in range(4):
        sel = folds[(folds["fold"] == f) & (folds["class"] == "benign") & folds["id"].isin(["2", "3"])]
        assert sel["split"].nunique() == 1  # never one in train and the other in test
    readme = (tmp_path / "m" / "README.md").read_text()
    assert "1 `adjacent-frame` or `same-lesion` pair(s) not merged" in readme


def test_readme_wording_unchanged_without_same_lesion(scan_copy: Path, synthetic_dir: Path, tmp_path: Path) -> None:
    adj = Decision("benign", "2", "benign", "3", "same", "adjacent-frame", "test", time="2026-01-01T00:00:00Z")
    review_planted(scan_copy, synthetic_dir, extra=[adj])
    export_manifest(scan_copy, tmp_path / "m")
    readme = (tmp_path / "m" / "README.md").read_text()
    assert "or 1 `adjacent-frame` pair(s) not merged)" in readme and "same-lesion" not in readme
