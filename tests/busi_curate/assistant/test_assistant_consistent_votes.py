"""Consistent votes: a pair with too few shared descriptors for the shortlist is raised when they agree on one
similarity (a copy changed both in scale and in local contrast), not when they land anywhere (chance)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from busi_curate.assistant.features import ImageFeatures
from busi_curate.assistant.shortlist import (
    ShortlistSettings,
    _agreeing,
    consistent_votes,
    descriptor_votes,
    supported_votes,
)

SETTINGS = ShortlistSettings()


def _feats(xy: np.ndarray, desc: np.ndarray) -> ImageFeatures:
    small = np.zeros((192, 256), np.uint8)
    return ImageFeatures(
        small=small,
        valid=np.ones_like(small, bool),
        xy=np.asarray(xy, np.float32),
        level=np.zeros(len(xy), np.uint8),
        desc=desc,
        scale=1.0,
    )


def _scene(rng: np.random.Generator, shared: int = 4, filler: int = 40, shift: complex = 40 + 30j, zoom: float = 0.7):
    """Images A, B and C: B is A cropped at ``shift`` (``zoom``: 70%) and enlarged back to 256 x 192 px, so A's shared
    keypoints move by one similarity that puts B's frame inside A's (a crop); C holds the same shared descriptors at
    random places. Each image has its own random filler descriptors."""
    common = rng.integers(0, 2**63, size=(shared, 4), dtype=np.uint64)
    lo = np.array([shift.real, shift.imag])
    hi = np.minimum(lo + zoom * np.array([256, 192]), [256, 192])  # where A's frame and B's view meet
    p = lo + 5 + rng.uniform(0, 1, size=(shared, 2)) * (hi - lo - 10)
    qc = ((p[:, 0] + 1j * p[:, 1]) - shift) / zoom
    images = []
    for pts in (p, np.stack([qc.real, qc.imag], 1), rng.uniform([0, 0], [256, 192], size=(shared, 2))):
        fill = rng.integers(0, 2**63, size=(filler, 4), dtype=np.uint64)
        images.append(_feats(np.vstack([pts, rng.uniform([0, 0], [256, 192], (filler, 2))]), np.vstack([common, fill])))
    return images


def test_agreeing_counts_the_matches_one_similarity_explains():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 200, 6) + 1j * rng.uniform(0, 150, 6)
    q = 0.8 * np.exp(1j * np.deg2rad(-10)) * p + (5 - 7j)
    assert _agreeing(p, q, 2.0, SETTINGS) == 6
    q_out = q.copy()
    q_out[:2] = rng.uniform(0, 200, 2) + 1j * rng.uniform(0, 150, 2)  # two wrong matches
    assert _agreeing(p, q_out, 2.0, SETTINGS) == 4
    # out of the verification's range: rotated 40 degrees, or scaled x4
    assert _agreeing(p, np.exp(1j * np.deg2rad(40)) * p, 2.0, SETTINGS) < 3
    assert _agreeing(p, 4.0 * p, 2.0, SETTINGS) < 3


def test_consistent_votes_raise_the_copy_not_the_chance_pair():
    for seed in range(5):
        a, b, c = _scene(np.random.default_rng(seed))
        feats = [a, b, c]
        votes = descriptor_votes(feats, SETTINGS)
        assert votes == {(0, 1): 4, (0, 2): 4, (1, 2): 4}  # too few for the shortlist (min_votes 6)
        cons = consistent_votes(feats, SETTINGS)
        assert cons[(0, 1)] == 4, cons
        assert cons[(0, 2)] < SETTINGS.min_consistent and cons[(1, 2)] < SETTINGS.min_consistent, cons
        raised = supported_votes(feats, SETTINGS)
        assert raised == {(0, 1): SETTINGS.min_votes, (0, 2): 4, (1, 2): 4}


def test_three_agreeing_votes_are_not_enough():
    a, b, _ = _scene(np.random.default_rng(1), shared=3)
    assert supported_votes([a, b], SETTINGS) == descriptor_votes([a, b], SETTINGS) == {(0, 1): 3}


def test_votes_that_put_neither_frame_inside_the_other_are_not_raised():
    """The same agreeing votes, but B is A's view moved by half a frame, overlapping it by half: no crop, pad or
    resize does that (BUSI's chance pairs out of the walk's reach with agreeing votes were of this kind)."""
    a, b, _ = _scene(np.random.default_rng(2), shift=128 + 0j, zoom=1.0)
    assert consistent_votes([a, b], SETTINGS) == {(0, 1): 0}
    assert consistent_votes([a, b], replace(SETTINGS, consistent_frames=False)) == {(0, 1): 4}
    assert supported_votes([a, b], SETTINGS) == {(0, 1): 4}
