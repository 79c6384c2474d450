"""The second shortlisting route finds a crop-shifted copy that SSIM ranks poorly; the walk records it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from busi_curate.assistant import Assistant
from busi_curate.assistant.shortlist import descriptor_votes
from busi_curate.data.synthetic import make_synthetic_busi
from busi_curate.review.auto import collect, run_auto
from busi_curate.review.groups import build_groups
from busi_curate.review.walk import Walk
from busi_curate.scan.run import ScanSettings, read_scan, run_scan

TOP_K = 3


@pytest.fixture(scope="module")
def shifted_scan(tmp_path_factory):
    """Synthetic set (no planted copies) plus benign 11 = benign 2 cropped off-centre (left 35%, top 12% cut)."""
    root = tmp_path_factory.mktemp("shifted")
    make_synthetic_busi(root / "data", n_per_class=(10, 4, 4), seed=3, kinds=())
    d = root / "data" / "Dataset_BUSI_with_GT" / "benign"
    img = np.asarray(Image.open(d / "benign (2).png").convert("L"))
    mask = np.asarray(Image.open(d / "benign (2)_mask.png").convert("L"))
    h, w = img.shape
    y0, x0 = int(0.12 * h), int(0.35 * w)
    Image.fromarray(img[y0:, x0:]).save(d / "benign (11).png")
    Image.fromarray(mask[y0:, x0:]).save(d / "benign (11)_mask.png")
    run_scan(root / "data", root / "scan", ScanSettings(size=64, top_k=TOP_K))
    return read_scan(root / "scan")


def test_ssim_ranking_hides_the_copy(shifted_scan):
    scan = shifted_scan
    i, j = scan.row_of("benign", "2"), scan.row_of("benign", "11")
    rank = int((scan.ssim[i][np.arange(scan.n) != i] > scan.ssim[i, j]).sum()) + 1
    assert rank > TOP_K or scan.ssim[i, j] < 0.23, (rank, scan.ssim[i, j])
    assert (min(i, j), max(i, j)) not in Assistant(scan).walk_pairs()


def test_extra_pairs_find_the_copy_and_it_is_verified_same(shifted_scan, tmp_path):
    scan = shifted_scan
    i, j = scan.row_of("benign", "2"), scan.row_of("benign", "11")
    a = Assistant(scan, cache_dir=tmp_path / "features")
    extra = a.extra_pairs()
    assert (min(i, j), max(i, j)) in extra
    assert all(p[0] < p[1] for p in extra) and extra == sorted(extra)
    assert not set(extra) & a.walk_pairs()
    assert Assistant(scan, cache_dir=tmp_path / "other").extra_pairs() == extra  # deterministic
    [res] = a.assess([(i, j)])
    assert (res.verdict, res.grade) == ("same", "same-frame"), res.evidence
    votes = descriptor_votes(a.features())
    best = max((v, p) for p, v in votes.items() if i in p)
    assert best[1] == (min(i, j), max(i, j))  # the copy is the image it shares most descriptors with


def auto_pass(assistant, extra=True):
    decisions = []
    walk = Walk(assistant.scan, extra_pairs=assistant.extra_pairs() if extra else ())
    summary = run_auto(walk, assistant, collect(decisions))
    return summary, decisions


def test_walk_records_the_extra_pair_and_groups_it(shifted_scan, tmp_path):
    a = Assistant(shifted_scan, cache_dir=tmp_path / "features")
    i, j = shifted_scan.row_of("benign", "2"), shifted_scan.row_of("benign", "11")
    summary, decisions = auto_pass(a)
    # the copy, plus chance pairs of these smooth synthetic frames (6-11 shared descriptors), all verified different
    assert summary.by_source.get("extra", 0) >= 1
    assert (min(i, j), max(i, j)) in set(a.extra_pairs())
    assert all(d.decided_by == "auto" for d in decisions)
    groups = build_groups(decisions)
    assert [g.members for g in groups] == [(("benign", "2"), ("benign", "11"))]
    # without the second route the copy is lost
    _, plain = auto_pass(Assistant(shifted_scan, cache_dir=tmp_path / "features"), extra=False)
    assert build_groups(plain) == []
