"""The CPU backend: parallel numba kernels, per-image statistics computed once.

Uniform window (scikit-image's default): window sums of pixels, squares and cross products
are integers, so the cancelling terms (``49*Sxy - Sx*Sy``) are computed exactly in int32 and only
the final ratio is float32. Per image, the window sums ``Sx`` (int16) and ``nw*Sxx - Sx^2``
(float32) are computed once; per pair only the cross sums (sliding, exact) and the ratio, in loops
LLVM vectorises 8 lanes wide (AVX2). Only pixels scikit-image keeps (those whose window lies inside
the image) are computed, so no border handling is needed. Gaussian window (or a uniform window
wider than 11): the same structure in float64 with the separable weights; slower.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from busi_curate.ssim.base import SSIMBackend, SSIMSettings, check_images

try:
    import numba
    from numba import njit, prange
    from numba.core import types
    from numba.extending import intrinsic
except ImportError as exc:  # pragma: no cover - numba is a core dependency
    raise ImportError("the numba SSIM backend needs numba: pip install numba") from exc


# numba types every integer product as int64, and 64-bit lanes halve the AVX2 width (and block the
# int -> float32 conversion). These three intrinsics are plain 32-bit LLVM operations; every value
# they see is bounded well below 2**31 (see the bounds in ``_uniform_one``).
@intrinsic
def _mul32(typingctx, a, b):
    def codegen(context, builder, sig, args):
        return builder.mul(args[0], args[1])

    return types.int32(types.int32, types.int32), codegen


@intrinsic
def _add32(typingctx, a, b):
    def codegen(context, builder, sig, args):
        return builder.add(args[0], args[1])

    return types.int32(types.int32, types.int32), codegen


@intrinsic
def _sub32(typingctx, a, b):
    def codegen(context, builder, sig, args):
        return builder.sub(args[0], args[1])

    return types.int32(types.int32, types.int32), codegen


#: largest uniform window whose pixel sums fit the int16 ``sx`` table (121 * 255 < 2**15).
MAX_INT_WINDOW = 11


@njit(cache=True, parallel=True, boundscheck=False)
def _uniform_stats(imgs: np.ndarray, w: int, k2h: float, tp: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-image window sums ``sx`` (int16) and ``dx = nw*Sxx - Sx^2 + k2/2`` (float32), ``(N, TH, tp)``.

    ``(N, H, W)`` images give ``TH = H - w + 1`` rows of ``TW = W - w + 1`` values, each row padded to ``tp``.
    """
    n, hgt, wid = imgs.shape
    th = hgt - w + 1
    tw = wid - w + 1
    nw = w * w
    sx = np.zeros((n, th, tp), np.int16)
    dx = np.ones((n, th, tp), np.float32)  # padding lanes: any finite, non-zero denominator
    for k in prange(n):
        c1 = np.zeros(wid, np.int64)
        c2 = np.zeros(wid, np.int64)
        img = imgs[k]
        for y in range(w):
            for x in range(wid):
                v = np.int64(img[y, x])
                c1[x] += v
                c2[x] += v * v
        for yo in range(th):
            if yo > 0:
                for x in range(wid):
                    v = np.int64(img[yo + w - 1, x])
                    u = np.int64(img[yo - 1, x])
                    c1[x] += v - u
                    c2[x] += v * v - u * u
            for x in range(tw):
                s1 = np.int64(0)
                s2 = np.int64(0)
                for d in range(w):
                    s1 += c1[x + d]
                    s2 += c2[x + d]
                sx[k, yo, x] = s1
                dx[k, yo, x] = np.float32(np.float64(nw * s2 - s1 * s1) + k2h)
    return sx, dx


@njit(inline="always", fastmath=True)
def _term(
    hx: np.int32,
    sxa: np.int16,
    sxb: np.int16,
    dxa: np.float32,
    dxb: np.float32,
    lane: np.float32,
    nw: np.int32,
    k1f: np.float32,
    k2f: np.float32,
) -> np.float32:
    """One pixel's scaled SSIM ratio (see ``_uniform_one``), times ``lane`` (0 on padding lanes)."""
    two = np.float32(2.0)
    sa = np.int32(sxa)
    sb = np.int32(sxb)
    # (mypy reads numba intrinsics as typing-context functions: hence the ignores)
    pxy = _mul32(sa, sb)  # type: ignore[call-arg,var-annotated]
    q = _sub32(_mul32(nw, np.int32(hx)), pxy)
    e = _add32(_mul32(sa, sa), _mul32(sb, sb))
    num = (two * np.float32(pxy) + k1f) * (two * np.float32(q) + k2f)
    den = (np.float32(e) + k1f) * (dxa + dxb)
    return lane * (num / den)


@njit(cache=True, fastmath=True, boundscheck=False, error_model="numpy")
def _uniform_one(
    ia: np.ndarray,
    ib: np.ndarray,
    sxa: np.ndarray,
    sxb: np.ndarray,
    dxa: np.ndarray,
    dxb: np.ndarray,
    col: np.ndarray,
    h: np.ndarray,
    lane: np.ndarray,
    w: int,
    k1f: np.float32,
    k2f: np.float32,
) -> float:
    """Mean SSIM of one pair in scaled integer form.

    With window sums ``Sx, Sy, Sxy`` over ``nw = w*w`` pixels (``S <= 121*255``, ``Sxy <= 121*255^2``):
    ``SSIM = (2 Sx Sy + k1)(2 (nw Sxy - Sx Sy) + k2) / ((Sx^2 + Sy^2 + k1)(dx + dy))`` where every
    integer term is below 2**31, so the cancelling ``nw*Sxy - Sx*Sy`` is exact in int32; only the
    ratio is float32 (vectorised 8 lanes wide; ``lane`` zeroes the padding lanes beyond ``TW``).

    Long because one jitted kernel: its column sums, window sums and ratio share locals in the hot loop.
    """
    hgt, wid = ia.shape
    th = hgt - w + 1
    tw = wid - w + 1
    tp = sxa.shape[1]
    nw = np.int32(w * w)
    for x in range(col.shape[0]):
        col[x] = 0
    for y in range(w):  # column sums of products over the first w rows (vpmaddwd)
        ra = ia[y]
        rb = ib[y]
        for x in range(wid):
            col[x] += np.int32(ra[x]) * np.int32(rb[x])
    total = 0.0
    for yo in range(th):
        if yo > 0:  # slide the column sums down one row (exact integers: no drift)
            na = ia[yo + w - 1]
            nb = ib[yo + w - 1]
            pa = ia[yo - 1]
            pb = ib[yo - 1]
            for x in range(wid):
                col[x] += np.int32(np.int32(na[x]) * np.int32(nb[x]) - np.int32(pa[x]) * np.int32(pb[x]))
        row = np.float32(0.0)
        # fixed-width horizontal sums keep the loop one vector pass: 7 (the default), 3 and 5 (pruned mode)
        if w == 7:
            for x in range(tp):
                hx = np.int32(col[x] + col[x + 1] + col[x + 2] + col[x + 3] + col[x + 4] + col[x + 5] + col[x + 6])
                row += _term(hx, sxa[yo, x], sxb[yo, x], dxa[yo, x], dxb[yo, x], lane[x], nw, k1f, k2f)
        elif w == 3:
            for x in range(tp):
                hx = np.int32(col[x] + col[x + 1] + col[x + 2])
                row += _term(hx, sxa[yo, x], sxb[yo, x], dxa[yo, x], dxb[yo, x], lane[x], nw, k1f, k2f)
        elif w == 5:
            for x in range(tp):
                hx = np.int32(col[x] + col[x + 1] + col[x + 2] + col[x + 3] + col[x + 4])
                row += _term(hx, sxa[yo, x], sxb[yo, x], dxa[yo, x], dxb[yo, x], lane[x], nw, k1f, k2f)
        else:
            for x in range(tp):  # horizontal window sums of the column sums, one pass per offset
                h[x] = col[x]
            for d in range(1, w):
                for x in range(tp):
                    h[x] += col[x + d]
            for x in range(tp):
                row += _term(h[x], sxa[yo, x], sxb[yo, x], dxa[yo, x], dxb[yo, x], lane[x], nw, k1f, k2f)
        total += row  # type: ignore[assignment]
    return total / (th * tw)


@njit(cache=True, parallel=True, boundscheck=False)
def _uniform_pairs(
    imgs: np.ndarray,
    sx: np.ndarray,
    dx: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    w: int,
    k1: float,
    k2: float,
    n_chunks: int,
) -> np.ndarray:
    """SSIM of each ``(a[p], b[p])``; contiguous chunks per thread, so a run of pairs sharing ``a`` keeps
    that reference image's rows in cache."""
    n_pairs = a.shape[0]
    tw = imgs.shape[2] - w + 1  # valid columns per row; the lanes beyond are padding
    tp = sx.shape[2]
    out = np.empty(n_pairs, np.float64)
    k1f = np.float32(k1)
    k2f = np.float32(k2)
    n_chunks = max(1, min(n_pairs, n_chunks))
    for c in prange(n_chunks):
        col = np.zeros(tp + w, np.int32)
        h = np.zeros(tp, np.int32)
        lane = np.zeros(tp, np.float32)
        lane[:tw] = 1.0
        lo = c * n_pairs // n_chunks
        hi = (c + 1) * n_pairs // n_chunks
        for p in range(lo, hi):
            i = a[p]
            j = b[p]
            out[p] = _uniform_one(imgs[i], imgs[j], sx[i], sx[j], dx[i], dx[j], col, h, lane, w, k1f, k2f)
    return out


@njit(cache=True)
def _filter_valid(img: np.ndarray, wts: np.ndarray) -> np.ndarray:
    """Separable correlation with ``wts`` on the valid region, float64: ``(H, W) -> (H - w + 1, W - w + 1)``."""
    hgt, wid = img.shape
    w = wts.shape[0]
    th = hgt - w + 1
    tw = wid - w + 1
    tmp = np.zeros((th, wid), np.float64)
    for y in range(th):
        for k in range(w):
            wk = wts[k]
            for x in range(wid):
                tmp[y, x] += wk * img[y + k, x]
    out = np.zeros((th, tw), np.float64)
    for y in range(th):
        for x in range(tw):
            acc = 0.0
            for k in range(w):
                acc += wts[k] * tmp[y, x + k]
            out[y, x] = acc
    return out


@njit(cache=True, parallel=True)
def _generic_stats(imgs: np.ndarray, wts: np.ndarray, cov_norm: float) -> tuple[np.ndarray, np.ndarray]:
    n, hgt, wid = imgs.shape
    th = hgt - wts.shape[0] + 1
    tw = wid - wts.shape[0] + 1
    mu = np.empty((n, th, tw), np.float64)
    var = np.empty((n, th, tw), np.float64)
    for k in prange(n):
        x = imgs[k].astype(np.float64)
        m = _filter_valid(x, wts)
        mu[k] = m
        var[k] = cov_norm * (_filter_valid(x * x, wts) - m * m)
    return mu, var


@njit(cache=True, parallel=True)
def _generic_pairs(
    imgs: np.ndarray,
    mu: np.ndarray,
    var: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    wts: np.ndarray,
    cov_norm: float,
    c1: float,
    c2: float,
) -> np.ndarray:
    n_pairs = a.shape[0]
    th, tw = mu.shape[1], mu.shape[2]
    out = np.empty(n_pairs, np.float64)
    for p in prange(n_pairs):
        i = a[p]
        j = b[p]
        xy = imgs[i].astype(np.float64) * imgs[j].astype(np.float64)
        uxy = _filter_valid(xy, wts)
        acc = 0.0
        for y in range(th):
            for x in range(tw):
                ux = mu[i, y, x]
                uy = mu[j, y, x]
                vxy = cov_norm * (uxy[y, x] - ux * uy)
                acc += ((2 * ux * uy + c1) * (2 * vxy + c2)) / (
                    (ux * ux + uy * uy + c1) * (var[i, y, x] + var[j, y, x] + c2)
                )
        out[p] = acc / (th * tw)
    return out


@dataclass
class _Uniform:
    imgs: np.ndarray
    sx: np.ndarray  # (N, T, TP) int16 window sums, rows padded to a multiple of 8 lanes
    dx: np.ndarray  # (N, T, TP) float32
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
        if not st.gaussian and st.window <= MAX_INT_WINDOW:
            w = st.window
            nw = w * w
            # scaled constants: nw^2 * (2 ux uy + C1) = 2 Sx Sy + k1,  nw^2/cov * (2 vxy + C2) = 2 (nw Sxy - Sx Sy) + k2
            k1 = nw * nw * st.c1
            k2 = nw * nw * st.c2 / st.cov_norm
            tw = imgs.shape[2] - w + 1  # row length of the statistics, padded to whole 8-lane vectors
            sx, dx = _uniform_stats(imgs, w, 0.5 * k2, -(-tw // 8) * 8)
            return _Uniform(imgs, sx, dx, k1, k2)
        mu, var = _generic_stats(imgs, st.weights_1d(), st.cov_norm)
        return _Generic(imgs, mu, var)

    def pairs_prepared(self, prepared: object, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        st = self.settings
        if isinstance(prepared, _Uniform):
            return _uniform_pairs(
                prepared.imgs,
                prepared.sx,
                prepared.dx,
                a,
                b,
                st.window,
                prepared.k1,
                prepared.k2,
                8 * numba.get_num_threads(),
            )
        assert isinstance(prepared, _Generic)
        return _generic_pairs(
            prepared.imgs, prepared.mu, prepared.var, a, b, st.weights_1d(), st.cov_norm, st.c1, st.c2
        )
