"""The paper's example groups (Figs. 2-4) and the known byte-identical pair, verified on the real images."""

from __future__ import annotations

import itertools

import pytest

from busi_curate.assistant.features import extract
from busi_curate.assistant.rule import decide
from busi_curate.assistant.verify import verify_pair
from busi_curate.data.imageio import read_gray
from busi_curate.fileio import pixel_sha256

pytestmark = pytest.mark.realdata

GROUPS = [
    [("benign", "139"), ("benign", "157"), ("benign", "65"), ("benign", "99")],  # Fig. 2, quadruplet
    [("benign", "131"), ("benign", "42"), ("malignant", "51")],  # Fig. 3, triplet
    [("benign", "406"), ("malignant", "94")],  # Fig. 4, duplet
]


@pytest.fixture(scope="module")
def feats(busi_dir):
    keys = {k for g in GROUPS for k in g} | {("benign", "433"), ("malignant", "145")}
    out = {}
    for cls, id_ in sorted(keys):
        gray = read_gray(busi_dir / "Dataset_BUSI_with_GT" / cls / f"{cls} ({id_}).png")
        out[(cls, id_)] = (pixel_sha256(gray), extract(gray))
    return out


def assess(feats, a, b):
    (ha, fa), (hb, fb) = feats[a], feats[b]
    return decide(None if ha == hb else verify_pair(fa, fb), float("nan"), identical=ha == hb)


def test_paper_groups_are_same_frame(feats):
    for g in GROUPS:
        for a, b in itertools.combinations(g, 2):
            r = assess(feats, a, b)
            assert (r.verdict, r.grade) == ("same", "same-frame"), (a, b, r.evidence)


def test_pairs_across_paper_groups_are_different(feats):
    for g1, g2 in itertools.combinations(GROUPS, 2):
        r = assess(feats, g1[0], g2[0])
        assert r.verdict == "different", (g1[0], g2[0], r.evidence)


def test_known_identical_pair(feats):
    r = assess(feats, ("benign", "433"), ("malignant", "145"))
    assert (r.verdict, r.grade) == ("same", "identical")
