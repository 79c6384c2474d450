"""Feature extraction and its on-disk cache: reuse, invalidation (checksum, settings, changed image), determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

from busi_curate.assistant import Assistant
from busi_curate.assistant.features import FEATURES_FORMAT, VARIANTS, FeatureCache, FeatureSettings, extract
from busi_curate.data.imageio import read_gray
from busi_curate.scan.run import read_scan


def same_features(a, b) -> bool:
    return (
        np.array_equal(a.small, b.small)
        and np.array_equal(a.valid, b.valid)
        and np.array_equal(a.xy, b.xy)
        and np.array_equal(a.level, b.level)
        and np.array_equal(a.desc, b.desc)
        and np.array_equal(a.variants, b.variants)
        and a.scale == b.scale
    )


@pytest.fixture()
def scan(synthetic_scan_dir):
    return read_scan(synthetic_scan_dir)


def keys_paths(scan):
    return list(scan.index["pixel_sha256"]), [scan.image_path(r) for r in range(scan.n)]


def test_extract_is_deterministic_and_shaped(scan):
    gray = read_gray(scan.image_path(0))
    f1, f2 = extract(gray), extract(gray)
    assert same_features(f1, f2)
    assert max(f1.small.shape) == FeatureSettings().long_side
    assert f1.desc.dtype == np.uint64 and f1.desc.shape == (len(f1.xy), 4)
    assert f1.variants.shape == (len(VARIANTS), len(f1.xy), 4) and np.array_equal(f1.variants[0], f1.desc)
    assert len(f1.xy) > 50 and set(np.unique(f1.level)) <= set(range(FeatureSettings().levels))
    # keypoints sit on tissue, never in the border band
    x, y = np.rint(f1.xy[f1.level == 0]).astype(int).T
    assert f1.valid[y, x].all()


def test_mirrored_variant_describes_the_flipped_image(scan):
    """The mirrored-pattern descriptor of an image equals the upright descriptor of its mirror image, keypoint by
    keypoint (most bits: keypoints are re-detected on the flipped image, box filters are symmetric)."""
    gray = read_gray(scan.image_path(0))
    f, g = extract(gray), extract(np.ascontiguousarray(gray[:, ::-1]))
    w = f.small.shape[1]
    mirror_v = VARIANTS.index((0.0, True))
    lookup = {(round(float(x)), round(float(y))): k for k, (x, y) in enumerate(g.xy)}
    same = [np.bitwise_count(f.variants[mirror_v][k] ^ g.desc[lookup[key]]).sum()
            for k, (x, y) in enumerate(f.xy) if (key := (round(float(w - 1 - x)), round(float(y)))) in lookup]  # fmt: skip
    assert len(same) > 0.8 * len(f.xy)
    assert np.median(same) <= 8  # of 256 bits; an unrelated descriptor differs in ~128


def test_overlay_marks_are_not_tissue():
    rng = np.random.default_rng(0)
    img = (rng.random((200, 300)) * 120 + 40).astype(np.uint8)
    img[50:60, 100:160] = 255  # a white text bar
    f = extract(img)
    yy, xx = np.mgrid[0 : f.small.shape[0], 0 : f.small.shape[1]]
    bar = (yy >= 50 * f.scale) & (yy < 60 * f.scale) & (xx >= 100 * f.scale) & (xx < 160 * f.scale)
    assert not f.valid[bar].any()


def test_cache_is_reused(scan, tmp_path):
    keys, paths = keys_paths(scan)
    first = FeatureCache(tmp_path, FeatureSettings())
    a = first.get(keys, paths, workers=1)
    assert (first.computed, first.loaded_from_cache) == (len(set(keys)), 0)  # identical pixels described once
    meta = json.loads((tmp_path / "features.json").read_text())
    assert (
        meta["format"] == FEATURES_FORMAT
        and meta["pixel_sha256"] == list(dict.fromkeys(keys))
        and len(meta["sha256"]) == 64
    )
    second = FeatureCache(tmp_path, FeatureSettings())
    b = second.get(keys, paths, workers=1)
    assert (second.computed, second.loaded_from_cache) == (0, len(keys))
    assert all(same_features(x, y) for x, y in zip(a, b))


def test_damaged_cache_is_rebuilt_with_a_warning(scan, tmp_path):
    keys, paths = keys_paths(scan)
    FeatureCache(tmp_path).get(keys, paths, workers=1)
    raw = bytearray((tmp_path / "features.npz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (tmp_path / "features.npz").write_bytes(bytes(raw))
    again = FeatureCache(tmp_path)
    with pytest.warns(UserWarning, match="checksum"):
        again.get(keys, paths, workers=1)
    assert again.computed == len(set(keys))
    assert FeatureCache(tmp_path).load()  # rewritten and valid again


def test_other_settings_invalidate_the_cache(scan, tmp_path):
    keys, paths = keys_paths(scan)
    FeatureCache(tmp_path).get(keys, paths, workers=1)
    other = FeatureCache(tmp_path, FeatureSettings(keypoints=80))
    assert other.load() == {}
    other.get(keys, paths, workers=1)
    assert other.computed == len(set(keys))


def test_only_missing_images_are_computed(scan, tmp_path):
    keys, paths = keys_paths(scan)
    cache = FeatureCache(tmp_path)
    cache.get(keys, paths, workers=1)
    have = cache.load()
    kept = [k for k in dict.fromkeys(keys)][1:]  # as if image 0 had been added since
    cache.save(kept, [have[k] for k in kept])
    c = FeatureCache(tmp_path)
    c.get(keys, paths, workers=1)
    assert c.computed == 1


def test_an_image_changed_since_the_scan_is_refused(tmp_path):
    from busi_curate.data.synthetic import make_synthetic_busi
    from busi_curate.errors import ScanError
    from busi_curate.scan.run import ScanSettings, run_scan

    make_synthetic_busi(tmp_path / "data", n_per_class=(3, 2, 2), kinds=())
    run_scan(tmp_path / "data", tmp_path / "scan", ScanSettings(size=32))
    scan = read_scan(tmp_path / "scan")
    path = scan.image_path(2)
    from PIL import Image

    img = np.asarray(Image.open(path)).copy()
    img[10:20, 10:20] = 255 - img[10:20, 10:20]
    Image.fromarray(img).save(path)
    with pytest.raises(ScanError, match="changed since the scan") as err:
        Assistant(scan, cache_dir=tmp_path / "features").assess([(0, 1)])
    assert err.value.path == path
    assert not (tmp_path / "features" / "features.npz").exists()  # nothing half-written


def test_assistant_is_lazy_and_uses_the_scan_cache(synthetic_scan_dir, tmp_path):
    a = Assistant(read_scan(synthetic_scan_dir), cache_dir=tmp_path / "features")
    assert not (tmp_path / "features").exists()  # construction is cheap: nothing computed yet
    a.assess([(0, 1)])
    assert (tmp_path / "features" / "features.npz").is_file()
    b = Assistant(read_scan(synthetic_scan_dir), cache_dir=tmp_path / "features")
    assert b.assess([(0, 1)]) == a.assess([(0, 1)]) and b.cache.computed == 0


def test_the_extra_pairs_cache_the_normalised_descriptors(synthetic_scan_dir, tmp_path, monkeypatch):
    from busi_curate.assistant import localnorm

    a = Assistant(read_scan(synthetic_scan_dir), cache_dir=tmp_path / "features")
    extra = a.extra_pairs()
    assert (tmp_path / "features" / "normalised.npz").is_file()
    # a second pass describes nothing again, and proposes the same pairs
    monkeypatch.setattr(localnorm, "normalised_features", lambda *a, **k: pytest.fail("described again"))
    b = Assistant(read_scan(synthetic_scan_dir), cache_dir=tmp_path / "features")
    assert b.extra_pairs() == extra


def test_process_pool_gives_the_same_features(scan):
    _, paths = keys_paths(scan)
    from busi_curate.assistant.features import extract_many

    one = extract_many(paths[:34], workers=1)
    two = extract_many(paths[:34], workers=2)
    assert all(same_features(x, y) for x, y in zip(one, two))


def test_unwritable_cache_folder_warns_and_works(scan, tmp_path):
    keys, paths = keys_paths(scan)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    c = FeatureCache(blocker / "features")
    with pytest.warns(UserWarning, match="cannot write the feature cache"):
        feats = c.get(keys[:3], paths[:3], workers=1)
    assert len(feats) == 3
