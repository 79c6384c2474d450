"""Evidence that survives transformations (issue 10): every transformation of the benchmark, applied to real-looking
frames, is graded same-frame with the transformation named; a neighbouring frame (tissue moved, new speckle) is not;
a pair's verdict does not depend on the other images of the dataset."""

from __future__ import annotations

import numpy as np
import pytest

from busi_curate.assistant.features import extract
from busi_curate.assistant.rule import decide
from busi_curate.assistant.verify import verify_pair
from busi_curate.data.imageio import read_gray
from busi_curate.studies.robust_bench import NOT_COPIES, TRANSFORMS

NAMED = {"mirror": "mirrored", "rotate": "rotated"}


@pytest.fixture(scope="module")
def frames(synthetic_dir):
    root = synthetic_dir / "Dataset_BUSI_with_GT"
    return [read_gray(root / cls / f"{cls} ({i}).png") for cls, i in (("benign", 3), ("malignant", 2), ("normal", 4))]


#: heavy speckle noise also makes the tissue look as if it moved (block matching on noisy tiles): such a copy may
#: be graded adjacent-frame (kept apart, not lost); measured limits in docs/assistant.md
MAY_LOOK_MOVED = {"speckle"}


def _gray(img: np.ndarray) -> np.ndarray:
    """As the dataset loader reads an RGB file (ITU-R 601-2 luma, Pillow's ``L``)."""
    from PIL import Image

    return np.asarray(Image.fromarray(img).convert("L")) if img.ndim == 3 else img


@pytest.mark.parametrize("kind", sorted(TRANSFORMS))
def test_every_transformation_is_a_same_frame_copy(frames, kind):
    for k, img in enumerate(frames):
        copy, params = TRANSFORMS[kind](img, np.random.default_rng([7, k]))
        a = decide(verify_pair(extract(img), extract(_gray(copy)), seed=1), 0.3)
        allowed = {("same", "same-frame")} | ({("same", "adjacent-frame")} if kind in MAY_LOOK_MOVED else set())
        assert (a.verdict, a.grade) in allowed, (kind, params, a.evidence)
        if kind in NAMED:
            assert NAMED[kind] in a.evidence, a.evidence


def test_rotation_bound_is_at_least_15_degrees(frames):
    from skimage.transform import rotate

    img = frames[0]
    for ang in (-15.0, -10.0, 6.0, 15.0):
        copy = np.clip(np.rint(rotate(img, ang, preserve_range=True, order=1)), 0, 255).astype(np.uint8)
        ev = verify_pair(extract(img), extract(copy), seed=1)
        a = decide(ev, 0.3)
        assert (a.verdict, a.grade) == ("same", "same-frame"), (ang, a.evidence)
        assert abs(abs(ev.rotation_deg) - abs(ang)) < 1.0, (ang, ev.rotation_deg)


def test_a_neighbouring_frame_is_never_same_frame(frames):
    for k, img in enumerate(frames):
        other, params = NOT_COPIES["neighbour"](img, np.random.default_rng([3, k]))
        a = decide(verify_pair(extract(img), extract(other), seed=1), 0.5)
        assert a.grade != "same-frame", (params, a.evidence)


def test_mirror_of_a_different_image_is_not_a_copy(frames):
    a = decide(verify_pair(extract(frames[0]), extract(np.ascontiguousarray(frames[1][:, ::-1])), seed=1), 0.3)
    assert a.verdict == "different", a.evidence


def _tiles(field) -> np.ndarray:
    """Rows ``(x, y, dx, dy)`` of a 4x4 grid of tile centres displaced by ``field(z) -> complex``."""
    yy, xx = np.mgrid[0:4, 0:4]
    z = (30 + 60 * xx.ravel()) + 1j * (30 + 60 * yy.ravel())
    d = field(z)
    return np.stack([z.real, z.imag, d.real, d.imag], 1)


def test_nonrigid_motion_removes_a_similarity_and_sees_a_deformation():
    from busi_curate.assistant.measures import nonrigid_motion

    k_true, m_true = np.exp(1j * np.deg2rad(0.6)) * 1.004, 0.7 - 0.4j  # the kind of error a noisy fit makes
    motion, k, m = nonrigid_motion(_tiles(lambda z: (k_true - 1) * z + m_true))
    assert motion < 1e-6 and abs(k - k_true) < 1e-9 and abs(m - m_true) < 1e-6
    # the same error plus tissue of one corner moving 3 px against the rest: still seen
    bump = lambda z: (k_true - 1) * z + m_true + 3.0 * ((z.real > 100) & (z.imag > 100))  # noqa: E731
    assert nonrigid_motion(_tiles(bump))[0] > 1.5
    # one wild tile does not count (second largest distance, after a refit without the worst tile)
    one = lambda z: 4.0 * (z == z[0])  # noqa: E731
    assert nonrigid_motion(_tiles(one))[0] < 1e-6
    assert np.isnan(nonrigid_motion(np.zeros((3, 4)))[0])


def test_intensity_slope_undoes_a_monotone_curve():
    from busi_curate.assistant.measures import intensity_slope

    rng = np.random.default_rng(0)
    x = rng.uniform(20, 230, 5000)
    y = 255 * (x / 255) ** 0.5  # gamma 0.5 applied to x: x = 255 (y / 255) ** 2, dx/dy = 2 y / 255
    got = intensity_slope(y, x)
    inner = (y > 80) & (y < 230)
    np.testing.assert_allclose(got[inner], 2 * y[inner] / 255, rtol=0.05)


def test_containment_of_a_noisy_copy_with_a_changed_curve_is_about_one():
    """Heavy noise on a copy whose intensities were changed: the detail mapped by the coarse curve's slope keeps
    the noise's energy, so containment stays ~1; a new realisation of the detail (another frame) is far below."""
    from scipy import ndimage

    from busi_curate.assistant.measures import detail_containment, intensity_slope

    rng = np.random.default_rng(1)
    anatomy = ndimage.gaussian_filter(rng.uniform(0, 1, (128, 128)), 6)
    anatomy = 60 + 120 * (anatomy - anatomy.min()) / np.ptp(anatomy)

    def frame(seed: int) -> np.ndarray:
        return anatomy * (1 + 0.3 * ndimage.gaussian_filter(np.random.default_rng(seed).normal(0, 1, anatomy.shape), 1))

    a = frame(2)
    noisy = np.sqrt(a * 255) * (1 + 0.25 * rng.normal(0, 1, a.shape))  # gamma 0.5, then multiplicative noise
    other = np.sqrt(frame(3) * 255)

    def contained(b: np.ndarray) -> float:
        fa, fb = ndimage.gaussian_filter(a, 0.8), ndimage.gaussian_filter(b, 0.8)
        ca, cb = ndimage.gaussian_filter(a, 3), ndimage.gaussian_filter(b, 3)
        return detail_containment((fa - ca).ravel(), (intensity_slope(cb.ravel(), ca.ravel()) * (fb - cb).ravel()))

    assert contained(noisy) > 0.9
    assert contained(other) < 0.6
