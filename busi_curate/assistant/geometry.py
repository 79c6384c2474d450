"""The geometric models of a copy and their robust fits, for :mod:`.verify`.

A fit maps image A's working pixels onto B's: ``p_b = L p_a + t``, held as a ``(2, 3)`` matrix ``[L | t]``. Three
models are fitted and the evidence chooses between them (:func:`.verify.verify_pair`):

* ``similarity``: one scale, a rotation and a shift (RANSAC over 2-match hypotheses, :func:`ransac_similarity`);
* ``affine``: a scale per axis (aspect changes up to ``max_aspect``, as when an image is resized to a fixed square
  or a crop is resized back to the frame), a small shear, a rotation and a shift (RANSAC over 3-match hypotheses,
  :func:`ransac_affine`);
* ``frame``: A's whole frame resized onto B's whole frame (:func:`frame_model`), the transformation the exhaustive
  SSIM scan assumes when it compares both images at one square size: a copy resized to a square has it exactly,
  however few keypoints survived the resizing.

:func:`shape` decomposes ``L`` as ``R(rotation) [[sx, k], [0, sy]]`` and :func:`describe` names it in words
("stretched x1.22 horizontally").
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np

from busi_curate.assistant.measures import lsq_similarity


class FitSettings(Protocol):
    """What the fits read from :class:`.verify.VerifySettings`."""

    @property
    def min_scale(self) -> float: ...
    @property
    def max_scale(self) -> float: ...
    @property
    def rotation_window_deg(self) -> float: ...
    @property
    def residual_px(self) -> float: ...
    @property
    def hypotheses(self) -> int: ...
    @property
    def max_aspect(self) -> float: ...
    @property
    def max_shear(self) -> float: ...


class Shape(NamedTuple):
    """``L = R(rotation) [[sx, k], [0, sy]]``: ``scale = sqrt(sx sy)``, ``aspect = sx / sy``, ``shear = k / sy``."""

    scale: float
    rotation_deg: float
    aspect: float
    shear: float


def from_similarity(a: complex, t: np.ndarray) -> np.ndarray:
    """The ``(2, 3)`` matrix of ``z_b = a z_a + t`` (complex ``a``)."""
    return np.array([[a.real, -a.imag, t[0]], [a.imag, a.real, t[1]]], dtype=np.float64)


def apply(m: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``(k, 2)`` points ``p`` mapped by ``m``."""
    return p @ m[:, :2].T + m[:, 2]


def invert(m: np.ndarray) -> np.ndarray:
    """The inverse map of ``m``."""
    li = np.linalg.inv(m[:, :2])
    return np.concatenate([li, -(li @ m[:, 2])[:, None]], axis=1)


def shape(m: np.ndarray) -> Shape:
    """Scale, rotation, aspect and shear of ``m``'s linear part (its determinant must be positive)."""
    lin = m[:, :2]
    sx = float(np.hypot(lin[0, 0], lin[1, 0]))
    rot = float(np.arctan2(lin[1, 0], lin[0, 0]))
    c, s = np.cos(rot), np.sin(rot)
    k = c * lin[0, 1] + s * lin[1, 1]
    sy = -s * lin[0, 1] + c * lin[1, 1]
    if sx <= 0 or sy <= 0:
        return Shape(float("nan"), float(np.degrees(rot)), float("nan"), float("nan"))
    return Shape(float(np.sqrt(sx * sy)), float(np.degrees(rot)), sx / sy, float(k / sy))


def describe(aspect: float, shear: float) -> list[str]:
    """The non-similarity part of a fit in words: ``stretched x1.22 horizontally``, ``sheared 0.08``."""
    out = []
    if aspect >= 1.03:
        out.append(f"stretched x{aspect:.2f} horizontally")
    elif aspect <= 1 / 1.03:
        out.append(f"stretched x{1 / aspect:.2f} vertically")
    if abs(shear) >= 0.03:
        out.append(f"sheared {shear:+.2f}")
    return out


def _plausible(lin: np.ndarray, settings: FitSettings, rotation_deg: float, window_deg: float) -> np.ndarray:
    """``(h,)`` bool: which ``(h, 2, 2)`` linear parts are within the scale, rotation, aspect and shear bounds."""
    sx = np.hypot(lin[:, 0, 0], lin[:, 1, 0])
    rot = np.arctan2(lin[:, 1, 0], lin[:, 0, 0])
    c, s = np.cos(rot), np.sin(rot)
    k = c * lin[:, 0, 1] + s * lin[:, 1, 1]
    sy = -s * lin[:, 0, 1] + c * lin[:, 1, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale, aspect, shear = np.sqrt(np.abs(sx * sy)), sx / sy, k / sy
        dev = np.degrees(np.angle(np.exp(1j * (rot - np.deg2rad(rotation_deg)))))
        ok = (sy > 0) & (scale >= settings.min_scale) & (scale <= settings.max_scale)
        ok &= (aspect <= settings.max_aspect) & (aspect >= 1 / settings.max_aspect)
        ok &= np.abs(shear) <= settings.max_shear
    return ok & (np.abs(dev) <= window_deg)


def lsq_affine(pa: np.ndarray, pb: np.ndarray) -> np.ndarray | None:
    """Least-squares ``(2, 3)`` affine mapping ``pa`` to ``pb`` (None when degenerate)."""
    x = np.concatenate([pa, np.ones((len(pa), 1))], axis=1)
    sol, _, rank, _ = np.linalg.lstsq(x, pb, rcond=None)
    return None if rank < 3 else np.asarray(sol.T, dtype=np.float64)


def ransac_affine(
    pa: np.ndarray,
    pb: np.ndarray,
    settings: FitSettings,
    seed: int = 0,
    rotation_deg: float = 0.0,
    window_deg: float | None = None,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray]:
    """Best ``(m, inlier mask)`` for ``pb = L pa + t`` within the bounds of :func:`_plausible` (None when no
    hypothesis is plausible). Hypotheses: ``settings.hypotheses`` random triples of matches (drawn with ``seed``)
    and, with ``start`` (an inlier mask, e.g. of the similarity), the least-squares affine of those matches; all
    are scored at once, the best is refined by least squares while it does not lose inliers."""
    n = len(pa)
    none = (None, np.zeros(n, bool))
    if n < 6:
        return none
    window = settings.rotation_window_deg if window_deg is None else window_deg
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, (settings.hypotheses, 3))
    x = np.concatenate([pa[idx], np.ones((len(idx), 3, 1))], axis=2)  # (h, 3, 3)
    det = np.linalg.det(x)
    keep = np.abs(det) > 2 * 64.0  # triangles of at least 64 px^2: thinner ones extrapolate noise
    sols = np.linalg.solve(x[keep], pb[idx[keep]]) if keep.any() else np.zeros((0, 3, 2))
    ms = np.transpose(sols, (0, 2, 1))  # (h, 2, 3)
    if start is not None and start.sum() >= 3:
        m0 = lsq_affine(pa[start], pb[start])
        if m0 is not None:
            ms = np.concatenate([ms, m0[None]], axis=0)
    ms = ms[_plausible(ms[:, :, :2], settings, rotation_deg, window)]
    if len(ms) == 0:
        return none
    pred = np.einsum("hij,mj->hmi", ms[:, :, :2], pa) + ms[:, None, :, 2]
    res = np.linalg.norm(pred - pb[None], axis=2)
    count = (res < settings.residual_px).sum(1)
    best = int(np.argmax(count))
    m, inl = ms[best], res[best] < settings.residual_px
    for _ in range(2):
        if inl.sum() < 3:
            break
        new_m = lsq_affine(pa[inl], pb[inl])
        if new_m is None or not _plausible(new_m[None, :, :2], settings, rotation_deg, window)[0]:
            break
        new = np.linalg.norm(apply(new_m, pa) - pb, axis=1) < settings.residual_px
        if new.sum() < inl.sum():
            break
        m, inl = new_m, new
    return m, inl


def ransac_similarity(
    pa: np.ndarray,
    pb: np.ndarray,
    settings: FitSettings,
    seed: int = 0,
    rotation_deg: float = 0.0,
    window_deg: float | None = None,
) -> tuple[complex, np.ndarray, np.ndarray]:
    """Best ``(a, t, inlier mask)`` for ``pb = a pa + t`` (complex ``a``: scale and rotation); ``a = 0`` when no
    hypothesis is plausible. Rotation is limited to ``rotation_deg +- window_deg`` (default
    ``settings.rotation_window_deg``).

    Hypotheses come from pairs of matches (all pairs when few, else ``settings.hypotheses`` random ones,
    drawn with ``seed`` so the result is deterministic) and are scored all at once.
    """
    m = len(pa)
    none = (0j, np.zeros(2), np.zeros(m, bool))
    if m < 3:
        return none
    if m * (m - 1) // 2 <= settings.hypotheses:
        i, j = np.triu_indices(m, 1)
    else:
        rng = np.random.default_rng(seed)
        i = rng.integers(0, m, settings.hypotheses)
        j = (i + 1 + rng.integers(0, m - 1, settings.hypotheses)) % m
    za, zb = pa[:, 0] + 1j * pa[:, 1], pb[:, 0] + 1j * pb[:, 1]
    da, db = za[j] - za[i], zb[j] - zb[i]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = db / da
    s = np.abs(a)
    dev = np.angle(a * np.exp(-1j * np.deg2rad(rotation_deg)), deg=True)
    ok = (np.abs(da) > 8) & (s >= settings.min_scale) & (s <= settings.max_scale)
    ok &= np.abs(dev) <= (settings.rotation_window_deg if window_deg is None else window_deg)
    if not ok.any():
        return none
    a, i = a[ok], i[ok]
    t = zb[i] - a * za[i]  # (h,)
    res = np.abs(zb[None] - (a[:, None] * za[None] + t[:, None]))  # (h, m)
    count = (res < settings.residual_px).sum(1)
    best = int(np.argmax(count))
    inl = res[best] < settings.residual_px
    a_best, t_best = complex(a[best]), complex(t[best])
    for _ in range(2):  # least-squares refinement on the inliers, kept while it does not lose inliers
        if inl.sum() < 3:
            break
        ab = lsq_similarity(pa[inl], pb[inl])
        tb = complex(zb[inl].mean() - ab * za[inl].mean())
        if not settings.min_scale <= abs(ab) <= settings.max_scale:
            break
        new = np.abs(zb - (ab * za + tb)) < settings.residual_px
        if new.sum() < inl.sum():
            break
        inl, a_best, t_best = new, ab, tb
    return a_best, np.array([t_best.real, t_best.imag]), inl


def similarity_rotation(pa: np.ndarray, pb: np.ndarray) -> float:
    """Rotation (degrees) of the least-squares similarity mapping ``pa`` to ``pb``."""
    return float(np.degrees(np.angle(lsq_similarity(pa, pb))))


def frame_model(shape_a: tuple[int, int], shape_b: tuple[int, int]) -> np.ndarray:
    """``(2, 3)`` map of A's whole ``(h, w)`` frame onto B's (pixel centres onto pixel centres): the frame resized,
    one scale per axis."""
    (ha, wa), (hb, wb) = shape_a, shape_b
    sx, sy = wb / wa, hb / ha
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])


def to_original(m: np.ndarray, scale_a: float, scale_b: float, mirror_width: int | None = None) -> np.ndarray:
    """A working-image fit in original pixels (``small = original * scale``). For a fit onto B's mirror image
    (``x -> mirror_width - 1 - x`` of B's working image) the mirror is undone."""
    out = m.copy()
    out[:, :2] *= scale_a / scale_b
    out[:, 2] /= scale_b
    if mirror_width is not None:
        out[0] = -out[0]
        out[0, 2] += (mirror_width - 1) / scale_b
    return out


def inside(xy: np.ndarray, valid: np.ndarray) -> int:
    """Number of points ``(x, y)`` that fall on ``True`` pixels of ``valid``."""
    h, w = valid.shape
    x, y = np.rint(xy[:, 0]).astype(np.intp), np.rint(xy[:, 1]).astype(np.intp)
    ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    return int(valid[y[ok], x[ok]].sum())
