"""Compiled image filters of the feature extraction (:mod:`.features`), equal bit for bit to ``scipy.ndimage``'s.

:func:`.features._level_features` smooths, differentiates and box-filters each pyramid level a dozen times; through
``scipy.ndimage`` every pass is a separate traversal with its own float64 line buffers, and those passes were most
of the description's time (~40 ms an image at 256 px, the largest stage of ``review --auto`` at scale, issue 21).
Here one compiled function makes the same passes. The arithmetic is ``scipy.ndimage``'s, step for step, so the
features (and every decision and journal line that depends on them) do not change by a bit:

* a 1-D correlation accumulates in float64 in scipy's order (``NI_Correlate1D``: the centre tap, then the
  symmetric (or anti-symmetric) pairs from the outermost in) and stores float32;
* a 1-D box filter keeps scipy's running mean (``NI_UniformFilter1D``: the first window's sum divided by the size,
  then ``+= (entering - leaving) / size``);
* borders are scipy's ``reflect`` (``d c b a | a b c d | d c b a``) or ``constant``; axis 0 is filtered before
  axis 1, as ``gaussian_filter``, ``uniform_filter`` and ``sobel`` do; element-wise float32 products round as
  numpy's do.

``tests/busi_curate/assistant/test_kernels.py`` compares them with ``scipy.ndimage`` on random and BUSI images.
"""

from __future__ import annotations

import numba
import numpy as np

_njit = numba.njit(cache=True, nogil=True)


@_njit
def reflect(i: int, n: int) -> int:  # scipy's "reflect" (half-sample symmetric), any overshoot
    if n == 1:
        return 0
    period = 2 * n
    i = i % period
    if i < 0:
        i += period
    return i if i < n else period - 1 - i


@_njit
def transposed(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``a.T``: a pass along axis 1 is made as a pass along axis 0 of the transpose, whose
    inner loop runs over contiguous memory (the values and their order of operations are the same)."""
    return a.T.copy()


@_njit
def correlate0(src: np.ndarray, w: np.ndarray, sign: float) -> np.ndarray:
    """:func:`correlate1d` along axis 0: row by row, every column at once."""
    h, wd = src.shape
    r = len(w) // 2
    out = np.empty((h, wd), np.float32)
    acc = np.empty(wd, np.float64)
    for y in range(h):
        c = src[y]
        for x in range(wd):
            acc[x] = np.float64(c[x]) * w[r]
        for jj in range(-r, 0):
            ra, rb, t = src[reflect(y + jj, h)], src[reflect(y - jj, h)], w[r + jj]
            for x in range(wd):
                acc[x] += (np.float64(ra[x]) + sign * np.float64(rb[x])) * t
        for x in range(wd):
            out[y, x] = np.float32(acc[x])
    return out


@_njit
def correlate1d(src: np.ndarray, w: np.ndarray, axis: int, sign: float) -> np.ndarray:
    """``scipy.ndimage.correlate1d(src, w, axis, mode="reflect")`` for an odd, symmetric (``sign`` 1) or
    anti-symmetric (``sign`` -1) ``w``; float32 out. Each value: the centre tap, then the pairs from the
    outermost in, in float64 (``NI_Correlate1D``)."""
    if axis == 0:
        return correlate0(src, w, sign)
    return transposed(correlate0(transposed(src), w, sign))


@_njit
def uniform0(src: np.ndarray, size: int) -> np.ndarray:
    """:func:`uniform1d` along axis 0: one running sum per column."""
    h, wd = src.shape
    s1 = size // 2
    s2 = size - s1 - 1
    fs = float(size)
    out = np.empty((h, wd), np.float32)
    acc = np.zeros(wd, np.float64)
    for k in range(-s1, s2 + 1):
        rk = src[reflect(k, h)]
        for x in range(wd):
            acc[x] += np.float64(rk[x])
    for x in range(wd):
        out[0, x] = np.float32(acc[x] / fs)
    for y in range(1, h):
        ra, rb = src[reflect(y + s2, h)], src[reflect(y - 1 - s1, h)]
        for x in range(wd):
            acc[x] += np.float64(ra[x]) - np.float64(rb[x])
            out[y, x] = np.float32(acc[x] / fs)
    return out


@_njit
def uniform1d(src: np.ndarray, size: int, axis: int) -> np.ndarray:
    """``scipy.ndimage.uniform_filter1d(src, size, axis, mode="reflect")``; float32 out. A running float64 sum
    (``+= entering - leaving``), each output that sum divided by ``size``."""
    if axis == 0:
        return uniform0(src, size)
    return transposed(uniform0(transposed(src), size))


@_njit
def extreme0(src: np.ndarray, size: int, maximum: bool, constant: bool, cval: float) -> np.ndarray:
    """:func:`extreme1d` along axis 0."""
    h, wd = src.shape
    s1 = size // 2
    out = np.empty((h, wd), src.dtype)
    acc = np.empty(wd, np.float64)
    for y in range(h):
        for k in range(y - s1, y - s1 + size):
            inside = 0 <= k < h
            if not inside and constant:
                for x in range(wd):
                    acc[x] = cval if k == y - s1 else (max(acc[x], cval) if maximum else min(acc[x], cval))
                continue
            rk = src[k if inside else reflect(k, h)]
            if k == y - s1:
                for x in range(wd):
                    acc[x] = np.float64(rk[x])
            elif maximum:
                for x in range(wd):
                    acc[x] = max(acc[x], np.float64(rk[x]))
            else:
                for x in range(wd):
                    acc[x] = min(acc[x], np.float64(rk[x]))
        for x in range(wd):
            out[y, x] = acc[x]
    return out


@_njit
def extreme1d(src: np.ndarray, size: int, axis: int, maximum: bool, constant: bool, cval: float) -> np.ndarray:
    """Maximum (or minimum) over a window of ``size`` along ``axis`` (scipy's placement: ``size // 2``
    before; borders ``reflect`` or ``constant`` ``cval``); exact, no arithmetic."""
    if axis == 0:
        return extreme0(src, size, maximum, constant, cval)
    return transposed(extreme0(transposed(src), size, maximum, constant, cval))


@_njit
def flag0(src: np.ndarray, size: int, maximum: bool, constant: bool) -> np.ndarray:
    """:func:`flag1d` along axis 0: a running count of ones per column."""
    h, wd = src.shape
    s1 = size // 2
    s2 = size - s1 - 1
    out = np.empty((h, wd), np.uint8)
    count = np.zeros(wd, np.int64)
    for k in range(-s1, s2 + 1):
        if constant and not 0 <= k < h:
            continue
        rk = src[reflect(k, h)]
        for x in range(wd):
            count[x] += rk[x] != 0
    for y in range(h):
        if y:
            k_in, k_out = y + s2, y - 1 - s1
            if not (constant and not 0 <= k_in < h):
                ra = src[reflect(k_in, h)]
                for x in range(wd):
                    count[x] += ra[x] != 0
            if not (constant and not 0 <= k_out < h):
                rb = src[reflect(k_out, h)]
                for x in range(wd):
                    count[x] -= rb[x] != 0
        for x in range(wd):
            out[y, x] = (count[x] > 0) if maximum else (count[x] == size)
    return out


@_njit
def flag1d(src: np.ndarray, size: int, axis: int, maximum: bool, constant: bool) -> np.ndarray:
    """Maximum (``maximum``) or minimum of a 0/1 ``uint8`` image over a window of ``size`` along ``axis``, by a
    running count of ones (O(1) a pixel); borders ``constant`` 0 or ``reflect``. Equal to :func:`extreme1d`."""
    if axis == 0:
        return flag0(src, size, maximum, constant)
    return transposed(flag0(transposed(src), size, maximum, constant))


@_njit
def flag_filter(src: np.ndarray, size: int, maximum: bool, constant: bool) -> np.ndarray:
    """``scipy.ndimage.maximum_filter`` (or ``minimum_filter``) of a 0/1 ``uint8`` image over a ``size`` square
    (mode ``constant`` 0 or ``reflect``); 0/1 ``uint8`` out."""
    return flag1d(flag1d(src, size, 0, maximum, constant), size, 1, maximum, constant)


@_njit
def _harris(img: np.ndarray, valid: np.ndarray, gauss: np.ndarray, win: int, r: int, nms: int, k: float):
    """(corner response, peak mask) of :func:`.features._level_features`."""
    f = img.astype(np.float32)
    f = correlate1d(correlate1d(f, gauss, 0, 1.0), gauss, 1, 1.0)
    deriv = np.array([-1.0, 0.0, 1.0])
    tri = np.array([1.0, 2.0, 1.0])
    gx = correlate1d(correlate1d(f, deriv, 1, -1.0), tri, 0, 1.0)
    gy = correlate1d(correlate1d(f, deriv, 0, -1.0), tri, 1, 1.0)
    sxx = uniform1d(uniform1d(gx * gx, win, 0), win, 1)
    syy = uniform1d(uniform1d(gy * gy, win, 0), win, 1)
    sxy = uniform1d(uniform1d(gx * gy, win, 0), win, 1)
    h, wd = img.shape
    resp = np.empty((h, wd), np.float32)
    kk = np.float32(k)
    for y in range(h):
        for x in range(wd):
            a, b, c = sxx[y, x], syy[y, x], sxy[y, x]
            t = a + b
            resp[y, x] = (a * b - c * c) - kk * (t * t)
    size = r + 1
    ok = flag_filter(valid, size, False, True)
    top = extreme1d(extreme1d(resp, nms, 0, True, False, 0.0), nms, 1, True, False, 0.0)
    peaks = np.zeros((h, wd), np.bool_)
    for y in range(r, h - r):
        for x in range(r, wd - r):
            peaks[y, x] = ok[y, x] > 0 and resp[y, x] > 0 and resp[y, x] == top[y, x]
    return resp, peaks


@_njit
def uniform_filter(src: np.ndarray, size: int) -> np.ndarray:
    """``scipy.ndimage.uniform_filter(src, size)`` (float32, mode reflect), bit for bit."""
    return uniform1d(uniform1d(src, size, 0), size, 1)


@_njit
def _band_pass(img: np.ndarray, small: int, large: int) -> np.ndarray:
    """``uniform_filter(img, small) - uniform_filter(img, large)`` in float32."""
    f = img.astype(np.float32)
    a = uniform1d(uniform1d(f, small, 0), small, 1)
    b = uniform1d(uniform1d(f, large, 0), large, 1)
    return a - b


@_njit
def _brief(smooth: np.ndarray, ys: np.ndarray, xs: np.ndarray, patterns: np.ndarray, min_balance: int):
    """Packed BRIEF bits (``(n_patterns, k, n_bits // 8) uint8``, numpy's ``packbits`` order; ``n_bits`` a
    multiple of 8) of the keypoints
    whose first pattern's bits are balanced (at least ``min_balance`` ones and zeros), and that keep mask."""
    n_pat, n_bits = patterns.shape[0], patterns.shape[1]
    w = smooth.shape[1]
    flat = smooth.ravel()
    first = patterns[0, :, 0] * w + patterns[0, :, 1]
    second = patterns[0, :, 2] * w + patterns[0, :, 3]
    k = len(ys)
    keep = np.zeros(k, np.bool_)
    for i in range(k):
        c = ys[i] * w + xs[i]
        ones = np.int64(0)
        for b in range(n_bits):
            ones += np.int64(flat[c + first[b]] < flat[c + second[b]])
        keep[i] = ones >= min_balance and ones <= n_bits - min_balance
    kept = np.flatnonzero(keep)
    out = np.zeros((n_pat, len(kept), n_bits >> 3), np.uint8)
    for p in range(n_pat):
        first = patterns[p, :, 0] * w + patterns[p, :, 1]
        second = patterns[p, :, 2] * w + patterns[p, :, 3]
        for j in range(len(kept)):
            c = ys[kept[j]] * w + xs[kept[j]]
            for byte in range(n_bits >> 3):
                v = np.int64(0)
                for b in range(8 * byte, 8 * byte + 8):  # branch-free: the bits are random
                    v = (v << 1) | np.int64(flat[c + first[b]] < flat[c + second[b]])
                out[p, j, byte] = v
    return out, keep


def gaussian_weights(sigma: float, truncate: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter1d``'s taps (radius ``int(truncate * sigma + 0.5)``)."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (float(sigma) * float(sigma)) * x**2)
    return np.ascontiguousarray((phi / phi.sum())[::-1])


def harris(
    img: np.ndarray, valid: np.ndarray, sigma: float, truncate: float, win: int, r: int, nms: int = 5, k: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Corner response (float32) and peaks (bool) of ``img`` (uint8) as :func:`.features._level_features` defines
    them: Gaussian pre-smoothing, Sobel gradients, a ``win`` box structure tensor, ``det - k trace^2``; a peak is
    the maximum of its ``nms`` window, positive, ``r`` px inside the image and with its whole ``r + 1`` window
    on ``valid``."""
    return _harris(
        np.ascontiguousarray(img, np.uint8),
        np.ascontiguousarray(valid).view(np.uint8),
        gaussian_weights(sigma, truncate),
        int(win),
        int(r),
        int(nms),
        float(k),
    )


def band_pass(img: np.ndarray, small: int, large: int) -> np.ndarray:
    """``uniform_filter(img, small) - uniform_filter(img, large)`` (float32, scipy's arithmetic)."""
    return _band_pass(np.ascontiguousarray(img, np.uint8), int(small), int(large))


def brief(
    smooth: np.ndarray, ys: np.ndarray, xs: np.ndarray, patterns: np.ndarray, min_balance: int
) -> tuple[np.ndarray, np.ndarray]:
    """BRIEF descriptors of keypoints ``(ys, xs)`` on ``smooth`` for each of ``patterns`` (``(P, bits, 4)`` offsets
    ``dy1, dx1, dy2, dx2``; bit = ``smooth[p1] < smooth[p2]``), packed as ``numpy.packbits``; only keypoints whose
    first-pattern bits hold at least ``min_balance`` ones and zeros. Returns (``(P, kept, bits // 8) uint8``, keep)."""
    return _brief(
        np.ascontiguousarray(smooth, np.float32),
        np.ascontiguousarray(ys, np.int64),
        np.ascontiguousarray(xs, np.int64),
        np.ascontiguousarray(patterns, np.int64),
        int(min_balance),
    )


def gaussian(img: np.ndarray, sigma: float, truncate: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(img.astype(float32), sigma, truncate=truncate)`` (mode reflect), bit for bit."""
    w = gaussian_weights(sigma, truncate)
    f = np.ascontiguousarray(img, np.float32)
    return correlate1d(correlate1d(f, w, 0, 1.0), w, 1, 1.0)
