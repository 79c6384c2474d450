"""Measurements on two registered images, shared by :mod:`.verify`: the least-squares similarity of point pairs,
a trimmed NCC, the monotone intensity mapping and its slope, the detail containment, and the tile displacements
with the non-rigid motion left after a similarity. Plain arrays in, numbers out: no settings, no features."""

from __future__ import annotations

import numpy as np


def lsq_similarity(pa: np.ndarray, pb: np.ndarray) -> complex:
    """Least-squares similarity ``zb = a za + t`` in complex form; returns ``a`` (``|a|`` scale, ``arg a`` rotation)."""
    za = (pa[:, 0] - pa[:, 0].mean()) + 1j * (pa[:, 1] - pa[:, 1].mean())
    zb = (pb[:, 0] - pb[:, 0].mean()) + 1j * (pb[:, 1] - pb[:, 1].mean())
    return complex((np.conj(za) * zb).sum() / max(float((np.abs(za) ** 2).sum()), 1e-9))


def trimmed_ncc(x: np.ndarray, y: np.ndarray, trim: float) -> float:
    """NCC of paired samples after dropping the ``trim`` fraction with the largest residual of a linear fit."""
    if len(x) < 50:
        return float("nan")
    x = x - x.mean()
    y = y - y.mean()
    vx = float((x * x).sum())
    if vx <= 1e-9 or float((y * y).sum()) <= 1e-9:
        return 0.0
    beta = float((x * y).sum()) / vx
    r = np.abs(y - beta * x)
    keep = r <= np.quantile(r, 1 - trim)
    x, y = x[keep] - x[keep].mean(), y[keep] - y[keep].mean()
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / den) if den > 0 else 0.0


def match_intensities(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``y`` mapped monotonically onto the distribution of ``x`` (histogram matching of paired samples).

    Any increasing intensity change of a copy (gamma, brightness, contrast, histogram equalisation) is undone,
    so the NCC that follows measures structure, not the intensity curve.
    """
    from skimage.exposure import match_histograms

    return np.asarray(match_histograms(y, x), dtype=np.float64)


def intensity_slope(y: np.ndarray, x: np.ndarray, knots: int = 32) -> np.ndarray:
    """Slope, at every sample of ``y``, of the monotone curve that maps ``y``'s distribution onto ``x``'s (the
    intensity change undone by :func:`match_intensities`, estimated on anatomy-scale samples, where noise does not
    widen the histogram). Fine detail is mapped with it to first order: ``detail_x ~ slope * detail_y``, so the
    energy of noise added to a copy is kept (matching the noisy image's own histogram would squeeze it)."""
    q = np.linspace(0, 1, knots + 1)
    ky, kx = np.quantile(y, q), np.quantile(x, q)
    dy = np.diff(ky)
    ok = dy > 1e-6 * max(float(ky[-1] - ky[0]), 1e-9)
    if ok.sum() < 2:
        return np.ones_like(y)
    mids = 0.5 * (ky[1:] + ky[:-1])[ok]
    slopes = np.diff(kx)[ok] / dy[ok]
    return np.interp(y, mids, slopes)


def detail_containment(da: np.ndarray, db: np.ndarray) -> float:
    """How much of the fine detail (band-pass samples ``da``, ``db``) one image shares with the other, relative to
    what a degraded copy allows: ``corr(da, db) / sqrt(min(Ea, Eb) / max(Ea, Eb))`` (``E``: detail energy).

    A copy with added noise (speckle, JPEG) holds all of the original's detail plus independent noise, and a
    blurred copy a part of it: either way the correlation equals the energy ratio's square root (~1). Two frames
    of a sweep have detail of the same energy (the same scanner's speckle) that is largely new: well below 1.
    """
    if len(da) < 50:
        return float("nan")
    da, db = da - da.mean(), db - db.mean()
    ea, eb = float((da * da).mean()), float((db * db).mean())
    if min(ea, eb) <= 1e-9:
        return float("nan")
    rho = float((da * db).mean()) / np.sqrt(ea * eb)
    return float(rho / np.sqrt(min(ea, eb) / max(ea, eb)))


def _tile_shift(
    a: np.ndarray, b: np.ndarray, both: np.ndarray, y0: int, x0: int, size: tuple[int, int], r: int
) -> tuple[float, float] | None:
    """Sub-pixel shift ``(dy, dx)`` that best aligns tile ``a[y0:y0+th, x0:x0+tw]`` with ``b`` (NCC over integer
    shifts within ``r`` px, refined by a parabola through the peak), or None when the tile has no clear peak."""
    th, tw = size
    ta = a[y0 : y0 + th, x0 : x0 + tw]
    ma = both[y0 : y0 + th, x0 : x0 + tw]
    scores = np.full((2 * r + 1, 2 * r + 1), -np.inf)
    for iy, dy in enumerate(range(-r, r + 1)):
        for ix, dx in enumerate(range(-r, r + 1)):
            tb = b[y0 + dy : y0 + dy + th, x0 + dx : x0 + dx + tw]
            m = ma & both[y0 + dy : y0 + dy + th, x0 + dx : x0 + dx + tw]
            if m.mean() < 0.7:
                continue
            xa, xb = ta[m] - ta[m].mean(), tb[m] - tb[m].mean()
            den = float(np.sqrt((xa * xa).sum() * (xb * xb).sum()))
            if den > 0:
                scores[iy, ix] = float((xa * xb).sum()) / den
    py, px = (int(v) for v in np.unravel_index(int(np.argmax(scores)), scores.shape))
    if not np.isfinite(scores[py, px]) or not 0 < py < 2 * r or not 0 < px < 2 * r:
        return None  # no peak inside the search window
    if scores[py, px] < 0.8:
        return None  # the tile does not match anywhere: its shift means nothing

    def vertex(lo: float, mid: float, hi: float) -> float:
        den = lo - 2 * mid + hi
        return 0.0 if not np.isfinite(den) or den >= 0 else float(np.clip(0.5 * (lo - hi) / den, -0.5, 0.5))

    sub_y = py - r + vertex(scores[py - 1, px], scores[py, px], scores[py + 1, px])
    sub_x = px - r + vertex(scores[py, px - 1], scores[py, px], scores[py, px + 1])
    return sub_y, sub_x


def tile_shifts(a: np.ndarray, b: np.ndarray, both: np.ndarray, tiles: int = 4, search: int = 5) -> np.ndarray:
    """Displacements of the tiles of two registered ``(h, w)`` images (coarse, anatomy-scale): ``(n, 4)`` rows
    ``(x, y, dx, dy)``, the tile centre in ``a`` and where it is found in ``b``, relative to it, px.

    Block matching: each of ``tiles x tiles`` tiles (inside a ``search`` margin, >= 80% of it in ``both``) is
    aligned with the other image by NCC over shifts up to ``search`` px, refined to sub-pixel (tiles whose best
    NCC is below 0.8 or at the edge of the search are left out).

    Why not a library matcher: ``skimage.registration.phase_cross_correlation`` on tiles is biased towards no
    shift (1.5 px measured as 0.5 on a test field), and ``skimage.feature.match_template`` has no mask, so
    tiles at the tissue border pull towards zero (measured: synthetic neighbours 0.43-4.1 px against noisy
    copies up to 1.3 px, where this masked NCC gives 1.48-2.8 against <= 1.38 for all but one copy).
    """
    h, w = a.shape
    r = search
    th, tw = (h - 2 * r) // tiles, (w - 2 * r) // tiles
    rows: list[tuple[float, float, float, float]] = []
    if th < 8 or tw < 8:
        return np.zeros((0, 4))
    for ty in range(tiles):
        for tx in range(tiles):
            y0, x0 = r + ty * th, r + tx * tw
            if both[y0 : y0 + th, x0 : x0 + tw].mean() < 0.8:
                continue
            sh = _tile_shift(a, b, both, y0, x0, (th, tw), r)
            if sh is not None:
                rows.append((x0 + (tw - 1) / 2, y0 + (th - 1) / 2, sh[1], sh[0]))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def nonrigid_motion(shifts: np.ndarray, min_tiles: int = 6) -> tuple[float, complex, complex]:
    """``(motion, k, m)`` of tile displacements (rows of :func:`tile_shifts`).

    ``z -> k z + m`` (complex, ``z = x + i y``) is the similarity that best explains the displacements (least
    squares, refitted without the worst tile): what the global fit got slightly wrong (a rotation of half a
    degree moves the corners of a 256 px image by more than a pixel). ``motion`` is the second largest distance
    of a tile's displacement from that similarity: how far structures move relative to each other, which no
    degraded copy of one frame shows. With fewer than ``min_tiles`` tiles only the median shift is removed
    (``k = 1``); NaN (and the identity) with fewer than 4.
    """
    if len(shifts) < 4:
        return float("nan"), 1 + 0j, 0j
    z = shifts[:, 0] + 1j * shifts[:, 1]
    w = z + shifts[:, 2] + 1j * shifts[:, 3]
    if len(shifts) < min_tiles:
        d = w - z
        m = complex(np.median(d.real), np.median(d.imag))
        return float(np.sort(np.abs(d - m))[-2]), 1 + 0j, m
    keep = np.ones(len(z), bool)
    for _ in range(2):  # fit, drop the worst tile, refit
        p = np.stack([z[keep].real, z[keep].imag], 1)
        q = np.stack([w[keep].real, w[keep].imag], 1)
        k = lsq_similarity(p, q)
        m = complex(w[keep].mean() - k * z[keep].mean())
        res = np.abs(w - (k * z + m))
        keep = res < res.max()
        if keep.sum() < min_tiles - 1:
            break
    return float(np.sort(res)[-2]), k, m


def local_ranks(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Rank of every sample of ``x`` within its group (``groups``: one integer label per sample), scaled to
    ``(0, 1)``. Any increasing intensity mapping that varies from group to group (tile to tile) leaves it unchanged."""
    order = np.lexsort((x, groups))
    g = groups[order]
    starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    sizes = np.diff(np.r_[starts, len(g)])
    pos = np.arange(len(g)) - np.repeat(starts, sizes)
    out = np.empty(len(x), dtype=np.float64)
    out[order] = (pos + 0.5) / np.repeat(sizes, sizes)
    return out


def local_rank_ncc(x: np.ndarray, y: np.ndarray, groups: np.ndarray, trim: float, min_group: int = 16) -> float:
    """Trimmed NCC of the within-tile ranks of paired samples ``x``, ``y`` (tile label ``groups`` per sample; tiles
    with fewer than ``min_group`` samples are left out): invariant to locally varying monotone intensity mappings
    (CLAHE and other adaptive equalisation, unsharp masking, vignetting), as the ranks are within each tile."""
    labels, counts = np.unique(groups, return_counts=True)
    keep = np.isin(groups, labels[counts >= min_group])
    if keep.sum() < 50:
        return float("nan")
    g = groups[keep]
    return trimmed_ncc(local_ranks(x[keep], g), local_ranks(y[keep], g), trim)
