"""Defaults the paper fixes, pinned where every consumer reads them (issue 25: a changed default moved nothing).

* the screening threshold (section 4.3, Fig. 5: "a threshold SSIM value ~ 0.23"): the constant, every function
  and CLI option that defaults to it, and the walk's behaviour at the boundary when no threshold is given;
* the SSIM settings against scikit-image's *own* defaults: ``structural_similarity`` called with nothing but the
  two images (the contract tests give both sides the same settings, so a changed default would move both).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from fake_scan import FakeScan
from skimage.metrics import structural_similarity

from busi_curate.defaults import SCREEN_THRESHOLD
from busi_curate.ssim.base import SSIMSettings

PAPER_THRESHOLD = 0.23  # Aumente-Maestro et al. 2025, section 4.3 and Fig. 5


def test_the_screening_threshold_is_the_papers() -> None:
    assert SCREEN_THRESHOLD == PAPER_THRESHOLD


def _defaults() -> list[tuple[str, object]]:
    from busi_curate.assistant import AssistantSettings
    from busi_curate.commands.export import export
    from busi_curate.commands.review import review
    from busi_curate.publish.export import ExportSettings, open_questions
    from busi_curate.review.run import automatic_pass, open_review
    from busi_curate.review.session import open_walk, replay
    from busi_curate.review.walk import Walk

    out: list[tuple[str, object]] = [
        (f"{f.__module__}.{f.__qualname__}", inspect.signature(f).parameters["threshold"].default)
        for f in (Walk.__init__, open_walk, replay, open_review, automatic_pass, open_questions)
    ]
    out.append(("ExportSettings().threshold", ExportSettings().threshold))
    out.append(("AssistantSettings().threshold", AssistantSettings().threshold))
    for cmd in (review, export):
        opt = next(p for p in cmd.params if p.name == "threshold")
        out.append((f"busi-curate {cmd.name} --threshold", opt.default))
    return out


def test_every_consumer_defaults_to_the_papers_threshold() -> None:
    wrong = [(where, value) for where, value in _defaults() if value != PAPER_THRESHOLD]
    assert not wrong, f"defaults other than the paper's {PAPER_THRESHOLD}: {wrong}"


def _scan() -> FakeScan:
    """Three images; image 1's candidates at SSIM 0.231 (image 2) and 0.229 (image 3)."""
    return FakeScan(np.array([[0, 0.231, 0.229], [0.231, 0, 0.1], [0.229, 0.1, 0]]))


def test_the_walk_without_a_threshold_screens_at_the_papers() -> None:
    from busi_curate.review.journal import Decision
    from busi_curate.review.walk import Walk

    scan = _scan()
    walk = Walk(scan)  # type: ignore[arg-type]
    q = walk.next_question()
    assert q is not None and (q.reference, q.candidate) == (0, 1)  # 0.231 >= 0.23: asked
    same = Decision("benign", "1", "benign", "2", "same", "same-frame", "test")
    walk = Walk(scan, [same])  # type: ignore[arg-type]
    assert [(q.reference, q.candidate) for q in walk.open_questions()] == []  # 0.229 < 0.23: never asked
    assert Walk(scan, [same], threshold=0.2).open_questions()  # type: ignore[arg-type]  # (the scan can ask it)


def _images(seed: int, n: int = 3, shape: tuple[int, int] = (48, 40)) -> np.ndarray:
    """Low-contrast, dark and noisy images: where K1, K2 and the window change SSIM the most."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 40, size=shape).astype(np.int16)
    out = [np.clip(base + rng.integers(-12, 13, size=shape) * k, 0, 255) for k in range(1, n + 1)]
    return np.stack(out).astype(np.uint8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_settings_are_scikit_images_own_defaults(seed: int) -> None:
    from busi_curate.ssim.reference import skimage_ssim

    x, y, _ = _images(seed)
    ours = skimage_ssim(x, y, SSIMSettings())
    assert ours == pytest.approx(structural_similarity(x, y), abs=1e-12)
    # and the comparison can fail: each constant moves SSIM well beyond the tolerance on these images
    for other in (
        SSIMSettings(k1=0.02),
        SSIMSettings(k2=0.05),
        SSIMSettings(win_size=9),
        SSIMSettings(data_range=256.0),
        SSIMSettings(sample_covariance=False),
    ):
        assert abs(skimage_ssim(x, y, other) - ours) > 1e-6, other


def test_default_settings_match_scikit_images_documented_values() -> None:
    s = SSIMSettings()
    assert (s.k1, s.k2, s.win_size, s.window, s.data_range, s.gaussian, s.sample_covariance) == (
        0.01,
        0.03,
        7,
        7,
        255.0,
        False,
        True,
    )
    assert s.c1 == pytest.approx((0.01 * 255) ** 2) and s.c2 == pytest.approx((0.03 * 255) ** 2)
    assert s.cov_norm == pytest.approx(49 / 48)
    assert SSIMSettings.named("uniform") == s


def test_the_gaussian_preset_is_wang_2004_as_scikit_image_spells_it() -> None:
    from busi_curate.ssim.reference import skimage_ssim

    x, y, _ = _images(5)
    # scikit-image's docstring: "To match the implementation of Wang et al. [1], set gaussian_weights to True,
    # sigma to 1.5, use_sample_covariance to False, and specify the data_range argument."
    ref = structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    g = SSIMSettings.named("gaussian")
    assert skimage_ssim(x, y, g) == pytest.approx(ref, abs=1e-12)
    assert (g.radius, g.window) == (5, 11)


@pytest.mark.parametrize("name", ["reference", "numba"])
def test_backends_with_default_settings_give_scikit_images_default_ssim(name: str) -> None:
    from busi_curate.ssim import get_backend

    images = _images(7, n=3)
    backend = get_backend(name)
    a, b = np.array([0, 0, 1]), np.array([1, 2, 2])
    got = backend.pairs(images, a, b)
    want = [structural_similarity(images[i], images[j]) for i, j in zip(a, b)]
    assert got == pytest.approx(want, abs=1e-6)


def test_a_candidate_exactly_at_the_threshold_is_asked() -> None:
    """ "Below the threshold: never asked" -- so one at exactly 0.23 is asked."""
    from busi_curate.review.walk import Walk

    scan = FakeScan(np.array([[0, PAPER_THRESHOLD, 0.1], [PAPER_THRESHOLD, 0, 0.1], [0.1, 0.1, 0]]))
    q = Walk(scan).next_question()  # type: ignore[arg-type]
    assert q is not None and q.ssim == PAPER_THRESHOLD and (q.reference, q.candidate) == (0, 1)
    assert Walk(scan, threshold=0.2300001).next_question() is None  # type: ignore[arg-type]


@pytest.mark.parametrize("sigma", [1.0, 1.5, 2.0, 3.0])
def test_the_gaussian_window_is_truncated_where_scikit_image_truncates_it(sigma: float) -> None:
    """scikit-image's Gaussian window: radius ``int(3.5 * sigma + 0.5)`` (``truncate=3.5``), whatever ``win_size``."""
    from busi_curate.ssim import get_backend

    s = SSIMSettings(gaussian=True, sigma=sigma, sample_covariance=False)
    assert s.radius == int(3.5 * sigma + 0.5)
    images = _images(11, n=2, shape=(40, 44))
    want = structural_similarity(
        images[0], images[1], gaussian_weights=True, sigma=sigma, use_sample_covariance=False, data_range=255
    )
    got = get_backend("numba", settings=s).pairs(images, np.array([0]), np.array([1]))
    assert got[0] == pytest.approx(want, abs=1e-6)
