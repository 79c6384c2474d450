"""The locally normalised descriptors (issue 20): a copy equalised by CLAHE and then cropped shares too few descriptors
with its source for the first descriptor route, but the normalised route proposes it; unrelated frames it does not."""

from __future__ import annotations

import numpy as np
import pytest

from busi_curate.assistant.features import extract
from busi_curate.assistant.localnorm import (
    LocalNormSettings,
    agreement,
    local_votes,
    normalised_image,
    with_local_votes,
)
from busi_curate.assistant.shortlist import ShortlistSettings, _corners, shortlist, supported_votes
from busi_curate.data.synthetic import _frame

SETTINGS = ShortlistSettings()
LOCAL = LocalNormSettings(enabled=True)


@pytest.fixture(scope="module")
def scene():
    """Features of a synthetic frame, its CLAHE (kernel 80 px, clip 0.025) + crop (64% x 70%) copy and two unrelated
    frames."""
    from skimage.exposure import equalize_adapthist

    rng = np.random.default_rng(1)
    src, other, normal = (_frame(rng, 360, 440, lesion)[0] for lesion in ("benign", "malignant", None))
    eq = np.clip(np.rint(equalize_adapthist(src, kernel_size=80, clip_limit=0.025) * 255), 0, 255).astype(np.uint8)
    copy = eq[54:305, 88:369]  # 64% x 70% at (88, 54)
    return [extract(x) for x in (src, copy, other, normal)]


def test_clahe_crop_copy_is_proposed_by_the_normalised_route_only(scene):
    old = supported_votes(scene, SETTINGS)
    assert old.get((0, 1), 0) < SETTINGS.min_votes  # the first route does not reach it
    assert shortlist(old, len(scene), set(), SETTINGS) == []
    new = local_votes(scene, LOCAL, SETTINGS)
    assert new[(0, 1)] >= LOCAL.min_agree
    assert all(k < LOCAL.min_agree for p, k in new.items() if p != (0, 1))  # unrelated frames are not proposed
    assert shortlist(with_local_votes(old, scene, LOCAL, SETTINGS), len(scene), set(), SETTINGS) == [(0, 1)]
    # the walk's pairs are not proposed again
    assert shortlist(with_local_votes(old, scene, LOCAL, SETTINGS), len(scene), {(0, 1)}, SETTINGS) == []


def test_the_route_is_on_by_default_and_can_be_switched_off(scene):
    assert LocalNormSettings().enabled  # compiled description: within issue 20's budget (docs/assistant.md, Speed)
    off = LocalNormSettings(enabled=False)
    assert local_votes(scene, off, SETTINGS) == {}
    old = supported_votes(scene, SETTINGS)
    assert with_local_votes(old, scene, off, SETTINGS) == old


def test_normalised_image_undoes_a_smooth_local_gain():
    rng = np.random.default_rng(0)
    img = _frame(rng, 200, 256, "benign")[0]
    yy, xx = np.mgrid[0:200, 0:256]
    gain = 0.6 + 0.8 * (xx / 255.0)  # contrast about the local mean x0.6 on the left to x1.4 on the right
    f = img.astype(np.float64)
    from scipy import ndimage

    mean = ndimage.uniform_filter(f, 31)
    changed = np.clip(mean + gain * (f - mean), 0, 255).astype(np.uint8)
    a, b = normalised_image(img, LOCAL).astype(float), normalised_image(changed, LOCAL).astype(float)
    raw = np.abs(img.astype(float) - changed).mean()
    assert np.abs(a - b)[20:-20, 20:-20].mean() < 0.5 * raw


def test_agreement_counts_votes_of_one_similarity_that_nests_the_frames():
    rng = np.random.default_rng(0)
    p = rng.uniform(40, 200, 10) + 1j * rng.uniform(30, 150, 10)
    frames = (_corners(256, 192), _corners(256, 192))
    crop = (p - (40 + 30j)) / 0.7  # B = A cropped at (40, 30), 70%, enlarged back: B's frame inside A's
    kw = dict(scales=(0.35, 2.9), max_rot=20.0, margin=12.0, max_anchors=32)
    assert agreement(p, crop, 3.0, frames, **kw) == 10
    moved = crop.copy()
    moved[:4] = rng.uniform(0, 256, 4) + 1j * rng.uniform(0, 192, 4)
    assert agreement(p, moved, 3.0, frames, **kw) == 6
    # the same points shifted by half a frame: the frames overlap but neither holds the other
    assert agreement(p, p + 128, 3.0, frames, **kw) < 3
    assert agreement(p, crop, 3.0, frames, **kw, enough=4) >= 4


def test_threads_describe_the_same_as_one(scene):
    rng = np.random.default_rng(5)
    many = scene + [extract(_frame(rng, 120, 160, None)[0]) for _ in range(62)]  # 66 images: the pool is used
    one = local_votes(many, LOCAL, SETTINGS, workers=1)
    assert one[(0, 1)] >= LOCAL.min_agree
    assert local_votes(many, LOCAL, SETTINGS, workers=2) == one


def _same(a, b) -> bool:
    return all(np.array_equal(x.xy, y.xy) and np.array_equal(x.desc, y.desc) for x, y in zip(a, b)) and len(a) == len(b)


def test_the_normalised_cache_describes_each_image_once(scene, tmp_path):
    from dataclasses import replace

    from busi_curate.assistant.localnorm import NormalisedCache, normalised_features

    keys = ["a", "b", "c", "a"]  # identical pixels (two "a") are described once
    feats = [scene[0], scene[1], scene[2], scene[0]]
    direct = [normalised_features(f, LOCAL) for f in feats]
    first = NormalisedCache(tmp_path, LOCAL)
    assert _same(first.describe(keys, feats), direct) and first.computed == 3
    again = NormalisedCache(tmp_path, LOCAL)
    assert _same(again.describe(keys, feats), direct)
    assert (again.computed, again.loaded_from_cache) == (0, 4)
    assert local_votes(feats, LOCAL, SETTINGS, normalised=again.describe(keys, feats)) == local_votes(
        feats, LOCAL, SETTINGS
    )
    changed = NormalisedCache(tmp_path, replace(LOCAL, sigma=6.0))  # other settings: the cache does not apply
    changed.describe(keys, feats)
    assert changed.computed == 3
    assert (tmp_path / "normalised.json").is_file() and not (tmp_path / "features.json").exists()


def test_a_damaged_normalised_cache_is_recomputed(scene, tmp_path):
    from busi_curate.assistant.localnorm import NormalisedCache

    NormalisedCache(tmp_path, LOCAL).describe(["a", "b"], scene[:2])
    with open(tmp_path / "normalised.npz", "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00" * 16)
    cache = NormalisedCache(tmp_path, LOCAL)
    with pytest.warns(UserWarning, match="checksum"):
        cache.describe(["a", "b"], scene[:2])
    assert cache.computed == 2
