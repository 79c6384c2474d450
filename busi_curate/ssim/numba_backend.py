"""The CPU backend: parallel numba kernels, per-image statistics computed once.

Uniform window (scikit-image's default): window sums of pixels, squares and cross products
are integers, so the cancelling terms (``49*Sxy - Sx*Sy``) are computed exactly in int32 and only
the final ratio is floating point. Only pixels scikit-image keeps (those whose window lies inside
the image) are computed, so no border handling is needed. Gaussian window: the same structure in
float64 with the separable Gaussian weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import SSIMBackend, SSIMSettings, check_images

try:
    import numba
    from numba import njit, prange
except ImportError as exc:  # pragma: no cover - numba is a core dependency
    raise ImportError("the numba SSIM backend needs numba: pip install numba") from exc


@njit(cache=True, parallel=True, fastmath=False)
def _uniform_stats(imgs: np.ndarray, w: int, k1: float, k2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, s, _ = imgs.shape
    t = s - w + 1
    sx = np.empty((n, t, t), np.float32)  # window sums of pixels: integers below 2**24, exact in float32
    ex = np.empty((n, t, t), np.float32)
    dx = np.empty((n, t, t), np.float32)
    nw = w * w
    for k in prange(n):
        for y in range(t):
            for x in range(t):
                s1 = 0
                s2 = 0
                for dy in range(w):
                    for dxx in range(w):
                        v = np.int64(imgs[k, y + dy, x + dxx])
                        s1 += v
                        s2 += v * v
                sx[k, y, x] = s1
                ex[k, y, x] = np.float32(np.float64(s1) * s1 + 0.5 * k1)
                dx[k, y, x] = np.float32(np.float64(nw * s2 - s1 * s1) + 0.5 * k2)
    return sx, ex, dx


@njit(cache=True, fastmath=True, boundscheck=False)
def _uniform_one(ia: np.ndarray, ib: np.ndarray, sxa: np.ndarray, sxb: np.ndarray, exa: np.ndarray, exb: np.ndarray,
                 dxa: np.ndarray, dxb: np.ndarray, w: int, k1f: np.float32, k2f: np.float32,
                 col: np.ndarray, h: np.ndarray, prod: np.ndarray) -> float:
    # Window sums of products are integers below 2**24: exact in float32, and SIMD friendly.
    # The cancelling term nw*Sxy - Sx*Sy is formed in float64 (exact), the ratio in float32.
    s = ia.shape[0]
    t = s - w + 1
    nw = np.float64(w * w)
    two = np.float32(2.0)
    for x in range(s):
        col[x] = 0
    for y in range(w):
        ra = ia[y]
        rb = ib[y]
        for x in range(s):
            col[x] += np.float32(ra[x]) * np.float32(rb[x])
    acc = 0.0
    for yo in range(t):
        if yo > 0:
            na = ia[yo + w - 1]
            nb = ib[yo + w - 1]
            pa = ia[yo - 1]
            pb = ib[yo - 1]
            for x in range(s):
                col[x] += np.float32(na[x]) * np.float32(nb[x]) - np.float32(pa[x]) * np.float32(pb[x])
        for x in range(t):
            h[x] = col[x]
        for k in range(1, w):
            for x in range(t):
                h[x] += col[x + k]
        ra = sxa[yo]
        rb = sxb[yo]
        ea = exa[yo]
        eb = exb[yo]
        da = dxa[yo]
        db = dxb[yo]
        row = np.float32(0.0)
        for x in range(t):
            pxy = np.float64(ra[x]) * np.float64(rb[x])
            q = nw * np.float64(h[x]) - pxy
            num = (two * np.float32(pxy) + k1f) * (two * np.float32(q) + k2f)
            den = (ea[x] + eb[x]) * (da[x] + db[x])
            row += num / den
        acc += row
    return acc / (t * t)


@njit(cache=True, parallel=True, boundscheck=False)
def _uniform_pairs(imgs: np.ndarray, sx: np.ndarray, ex: np.ndarray, dx: np.ndarray, a: np.ndarray, b: np.ndarray,
                   w: int, k1: float, k2: float) -> np.ndarray:
    n_pairs = a.shape[0]
    s = imgs.shape[1]
    t = s - w + 1
    out = np.empty(n_pairs, np.float64)
    k1f = np.float32(k1)
    k2f = np.float32(k2)
    n_chunks = min(n_pairs, 64)
    for c in prange(n_chunks):
        col = np.zeros(s, np.float32)
        h = np.zeros(t, np.float32)
        prod = np.zeros(t, np.float32)
        lo = c * n_pairs // n_chunks
        hi = (c + 1) * n_pairs // n_chunks
        for p in range(lo, hi):
            i = a[p]
            j = b[p]
            out[p] = _uniform_one(imgs[i], imgs[j], sx[i], sx[j], ex[i], ex[j], dx[i], dx[j], w, k1f, k2f, col, h, prod)
    return out


@njit(cache=True)
def _filter_valid(img: np.ndarray, wts: np.ndarray) -> np.ndarray:
    """Separable correlation with ``wts`` on the valid region, float64: ``(S, S) -> (T, T)``."""
    s = img.shape[0]
    w = wts.shape[0]
    t = s - w + 1
    tmp = np.zeros((t, s), np.float64)
    for y in range(t):
        for k in range(w):
            wk = wts[k]
            for x in range(s):
                tmp[y, x] += wk * img[y + k, x]
    out = np.zeros((t, t), np.float64)
    for y in range(t):
        for x in range(t):
            acc = 0.0
            for k in range(w):
                acc += wts[k] * tmp[y, x + k]
            out[y, x] = acc
    return out


@njit(cache=True, parallel=True)
def _generic_stats(imgs: np.ndarray, wts: np.ndarray, cov_norm: float) -> tuple[np.ndarray, np.ndarray]:
    n, s, _ = imgs.shape
    t = s - wts.shape[0] + 1
    mu = np.empty((n, t, t), np.float64)
    var = np.empty((n, t, t), np.float64)
    for k in prange(n):
        x = imgs[k].astype(np.float64)
        m = _filter_valid(x, wts)
        mu[k] = m
        var[k] = cov_norm * (_filter_valid(x * x, wts) - m * m)
    return mu, var


@njit(cache=True, parallel=True)
def _generic_pairs(imgs: np.ndarray, mu: np.ndarray, var: np.ndarray, a: np.ndarray, b: np.ndarray, wts: np.ndarray,
                   cov_norm: float, c1: float, c2: float) -> np.ndarray:
    n_pairs = a.shape[0]
    t = mu.shape[1]
    out = np.empty(n_pairs, np.float64)
    for p in prange(n_pairs):
        i = a[p]
        j = b[p]
        xy = imgs[i].astype(np.float64) * imgs[j].astype(np.float64)
        uxy = _filter_valid(xy, wts)
        acc = 0.0
        for y in range(t):
            for x in range(t):
                ux = mu[i, y, x]
                uy = mu[j, y, x]
                vxy = cov_norm * (uxy[y, x] - ux * uy)
                acc += ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (var[i, y, x] + var[j, y, x] + c2))
        out[p] = acc / (t * t)
    return out


@dataclass
class _Uniform:
    imgs: np.ndarray
    sx: np.ndarray
    ex: np.ndarray
    dx: np.ndarray
    k1: float
    k2: float


@dataclass
class _Generic:
    imgs: np.ndarray
    mu: np.ndarray
    var: np.ndarray


class NumbaBackend(SSIMBackend):
    """Parallel CPU kernels (all cores numba sees; set ``NUMBA_NUM_THREADS`` to limit)."""

    name = "numba"

    def __init__(self, settings: SSIMSettings | None = None, threads: int | None = None) -> None:
        super().__init__(settings)
        if threads:
            numba.set_num_threads(threads)

    def prepare(self, images: np.ndarray) -> object:
        st = self.settings
        check_images(images, st)
        imgs = np.ascontiguousarray(images)
        if not st.gaussian:
            w = st.window
            nw = w * w
            # scaled constants: A1*nw^2 = 2*Sx*Sy + k1,  A2*nw^2/cov = 2*(nw*Sxy - Sx*Sy) + k2
            k1 = nw * nw * st.c1
            k2 = nw * nw * st.c2 / st.cov_norm
            sx, ex, dx = _uniform_stats(imgs, w, k1, k2)
            return _Uniform(imgs, sx, ex, dx, k1, k2)
        mu, var = _generic_stats(imgs, st.weights_1d(), st.cov_norm)
        return _Generic(imgs, mu, var)

    def pairs_prepared(self, prepared: object, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        st = self.settings
        if isinstance(prepared, _Uniform):
            return _uniform_pairs(prepared.imgs, prepared.sx, prepared.ex, prepared.dx, a, b, st.window,
                                  prepared.k1, prepared.k2)
        assert isinstance(prepared, _Generic)
        return _generic_pairs(prepared.imgs, prepared.mu, prepared.var, a, b, st.weights_1d(), st.cov_norm, st.c1, st.c2)
