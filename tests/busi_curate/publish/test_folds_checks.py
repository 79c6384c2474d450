"""Every check of a folds table against its manifest, each tested by one change to the published folds of
``manifests/curated_busi_v1`` (the unchanged table passes first)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from busi_curate.errors import ManifestError
from busi_curate.publish.manifest import check_folds_frame, read_manifest

CURATED = Path(__file__).resolve().parents[3] / "manifests" / "curated_busi_v1"


@pytest.fixture(scope="module")
def published():  # type: ignore[no-untyped-def]
    manifest = read_manifest(CURATED)
    frame = pd.read_csv(CURATED / "folds.csv", dtype=str, keep_default_na=False)
    check_folds_frame(frame, manifest, CURATED / "folds.csv")  # the published table passes
    return manifest, frame


def _first_test_row(frame: pd.DataFrame) -> int:
    return int(frame.index[frame["split"] == "test"][0])


def _never_test(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.loc[_first_test_row(frame), "split"] = "train"
    return out


def _twice_test(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    r = out.loc[_first_test_row(frame)]
    other = out.index[(out["class"] == r["class"]) & (out["id"] == r["id"]) & (out["fold"] != r["fold"])][0]
    out.loc[other, "split"] = "test"
    return out


@pytest.mark.parametrize(
    "change,message",
    [
        (_never_test, "in no test fold"),
        (_twice_test, "is a test image in 2 folds"),
        (lambda f: f.drop(index=f.index[f["fold"] == "1"][0]), "does not list 1 kept image"),
        (lambda f: f.assign(split=f["split"].replace({"val": "valid"})), "unknown split value"),
        (lambda f: f.assign(fold=f["fold"].replace({"0": "-1"})), "fold numbers must be >= 0"),
    ],
)
def test_one_change_to_the_published_folds_is_refused(published, change, message: str) -> None:  # type: ignore[no-untyped-def]
    manifest, frame = published
    with pytest.raises(ManifestError, match=message):
        check_folds_frame(change(frame), manifest, CURATED / "folds.csv")
