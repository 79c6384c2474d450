"""The transformations of the robustness benchmark (:mod:`.robust_bench`): each makes a copy of one frame the way
copies are made in practice (issues 10 and 20), drawing its parameters from ``rng``; ``neighbour`` makes a
synthetic neighbouring frame of a sweep (not a copy). One registry, :data:`TRANSFORMS`: adding a family is one
function and one line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Transform = Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, str]]


def _pil(img: np.ndarray) -> Any:
    """A PIL image of ``img`` (PIL is imported lazily)."""
    from PIL import Image

    return Image.fromarray(img)


def _mirror(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    return img[:, ::-1].copy(), "left-right"


def _rotate(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    from skimage.transform import rotate

    ang = float(rng.uniform(3.0, 15.0) * rng.choice([-1, 1]))
    out = rotate(img, ang, resize=False, mode="constant", cval=0, preserve_range=True, order=1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), f"{ang:+.1f} deg"


def _gamma(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    from skimage.exposure import adjust_gamma

    g = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
    return adjust_gamma(img, g), f"gamma {g:.2f}"


def _brightness(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    d = float(rng.uniform(25, 60) * rng.choice([-1, 1]))
    return np.clip(img.astype(np.float64) + d, 0, 255).astype(np.uint8), f"{d:+.0f} gray levels"


def _contrast(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    c = float(rng.choice([rng.uniform(0.5, 0.75), rng.uniform(1.3, 1.8)]))
    m = float(img.mean())
    return np.clip((img.astype(np.float64) - m) * c + m, 0, 255).astype(np.uint8), f"contrast x{c:.2f}"


def _histeq(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    from skimage.exposure import equalize_hist

    return np.clip(np.rint(equalize_hist(img) * 255), 0, 255).astype(np.uint8), "histogram equalisation"


def _speckle(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    from scipy import ndimage

    sd = float(rng.uniform(0.25, 0.5))
    noise = ndimage.gaussian_filter(rng.normal(0, 1, img.shape), 0.7)
    noise *= sd / max(float(noise.std()), 1e-9)
    return np.clip(img.astype(np.float64) * (1 + noise), 0, 255).astype(np.uint8), f"multiplicative sd {sd:.2f}"


def _jpeg(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    import io

    from PIL import Image

    q = int(rng.integers(30, 61))
    buf = io.BytesIO()
    _pil(img).save(buf, format="JPEG", quality=q)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("L")).copy(), f"quality {q}"


def _crop(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    h, w = img.shape
    fy, fx = float(rng.uniform(0.55, 0.85)), float(rng.uniform(0.55, 0.85))
    ch, cw = round(h * fy), round(w * fx)
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return img[y0 : y0 + ch, x0 : x0 + cw].copy(), f"{fx:.0%} x {fy:.0%} at ({x0}, {y0})"


def _rescale(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    from PIL import Image

    s = float(rng.choice([rng.uniform(0.4, 0.8), rng.uniform(1.25, 2.0)]))
    h, w = img.shape
    size = (max(16, round(w * s)), max(16, round(h * s)))
    return np.asarray(_pil(img).resize(size, Image.Resampling.BILINEAR)).copy(), f"x{s:.2f}"


def _pad(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    h, w = img.shape
    if rng.random() < 0.5:  # letterbox: bands above and below
        t, b = (int(rng.uniform(0.1, 0.3) * h) for _ in range(2))
        lft = rgt = 0
    else:
        lft, rgt, t, b = (int(rng.uniform(0.05, 0.25) * s) for s in (w, w, h, h))
    out = np.zeros((h + t + b, w + lft + rgt), np.uint8)
    out[t : t + h, lft : lft + w] = img
    return out, f"black bands l{lft} r{rgt} t{t} b{b} px"


def _text(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    from PIL import ImageDraw

    h, w = img.shape
    im = _pil(img.copy())
    d = ImageDraw.Draw(im)
    words = ["RT BREAST", "LT 10 O'CLOCK", "4CM FN", "TRANS", "SAG", "LESION 1", "L12-5", "DEPTH 4.0"]
    n = int(rng.integers(2, 5))
    for _ in range(n):
        x, y = int(rng.integers(0, max(1, w - 90))), int(rng.integers(0, max(1, h - 14)))
        d.text((x, y), str(rng.choice(words)), fill=255)
    for _ in range(2):  # a caliper pair: two crosses and a dotted line between them
        x0, y0 = int(rng.integers(w // 5, 4 * w // 5)), int(rng.integers(h // 5, 4 * h // 5))
        x1, y1 = x0 + int(rng.integers(-60, 61)), y0 + int(rng.integers(-40, 41))
        for cx, cy in ((x0, y0), (x1, y1)):
            d.line([(cx - 5, cy), (cx + 5, cy)], fill=255)
            d.line([(cx, cy - 5), (cx, cy + 5)], fill=255)
        for k in range(0, 20, 2):
            px, py = x0 + (x1 - x0) * k / 20, y0 + (y1 - y0) * k / 20
            d.point((px, py), fill=255)
    return np.asarray(im).copy(), f"{n} text labels + 2 calipers"


def _neighbour(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Not a copy: a sweep's next frame. The tissue is deformed by a smooth displacement field (structures move
    relative to each other by up to ``amp`` px) and a fraction ``mix`` of the speckle is new: the anatomy (the
    deformed frame smoothed at ``grain * 3`` px) times a fresh speckle realisation of BUSI's grain (``grain`` px,
    about 0.4% of the frame width: finer speckle would vanish in the 256 px working image and stay the old one)."""
    from scipy import ndimage

    h, w = img.shape
    amp, mix = float(rng.uniform(4, 8)), float(rng.uniform(0.3, 0.9))
    grain = max(1.0, 0.004 * max(h, w))
    field = [ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), min(h, w) / 10) for _ in range(2)]
    field = [f * amp / max(float(np.abs(f).max()), 1e-9) for f in field]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    moved = ndimage.map_coordinates(img.astype(np.float64), [yy + field[0], xx + field[1]], order=1, mode="nearest")
    anatomy = ndimage.gaussian_filter(moved, 3 * grain)
    speckle = ndimage.gaussian_filter(rng.rayleigh(1.0, (h, w)), grain)
    speckle = 1 + (speckle - speckle.mean()) * (0.35 / max(float(speckle.std()), 1e-9))  # contrast of BUSI speckle
    fresh = anatomy * speckle
    frame = (1 - mix) * moved + mix * fresh
    return np.clip(frame, 0, 255).astype(np.uint8), f"tissue moved up to {amp:.1f} px, {mix:.0%} new speckle"


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(_pil(img).resize((max(16, w), max(16, h)), Image.Resampling.BICUBIC)).copy()


def _stretch(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """One axis scaled x1.1-1.5 more (or less) than the other (issue 20: aspect-ratio changes)."""
    h, w = img.shape
    f = float(rng.uniform(1.1, 1.5))
    horizontal, up = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
    k = f if up else 1 / f
    out = _resize(img, round(w * k), h) if horizontal else _resize(img, w, round(h * k))
    return out, f"{'width' if horizontal else 'height'} x{k:.2f}"


def _square(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """The whole frame resized to a square (as MedMNIST and many training pipelines do), 128-256 px."""
    side = int(rng.choice([128, 192, 224, 256]))
    return _resize(img, side, side), f"{side} x {side} px"


def _clahe(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """``skimage.exposure.equalize_adapthist``: contrast-limited adaptive histogram equalisation."""
    from skimage.exposure import equalize_adapthist

    clip, tiles = float(rng.uniform(0.01, 0.03)), float(rng.uniform(4, 8))
    kernel = max(8, round(max(img.shape) / tiles))
    out = equalize_adapthist(img, kernel_size=kernel, clip_limit=clip)
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8), f"CLAHE clip {clip:.3f}, kernel {kernel} px"


def _crop_stretch(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A crop resized back to the frame: the crop's aspect differs from the frame's."""
    h, w = img.shape
    crop, params = _crop(img, rng)
    return _resize(crop, w, h), f"crop {params}, resized to {w} x {h}"


def _mirror_stretch(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    out, params = _stretch(img[:, ::-1].copy(), rng)
    return out, f"mirrored, {params}"


def _clahe_tint(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """CLAHE, then a colour tint (an RGB file)."""
    eq, params = _clahe(img, rng)
    tint = rng.uniform(0.7, 1.0, 3)
    tint[int(rng.integers(3))] = 1.0
    rgb = np.clip(np.rint(eq[..., None] * tint), 0, 255).astype(np.uint8)
    return rgb, f"{params}, RGB tint {tint.round(2).tolist()}"


def _square_text(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    sq, params = _square(img, rng)
    out, marks = _text(sq, rng)
    return out, f"{params}, {marks}"


def _clahe_crop(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    eq, params = _clahe(img, rng)
    out, crop = _crop(eq, rng)
    return out, f"{params}, crop {crop}"


#: transformation name -> function(image, rng) -> (copy, parameters). All are copies of the same frame except
#: ``neighbour`` (expected: never same-frame). Cross-class copies (:data:`CROSS_CLASS`) are filed in another class.
TRANSFORMS: dict[str, Transform] = {
    "mirror": _mirror,
    "rotate": _rotate,
    "gamma": _gamma,
    "brightness": _brightness,
    "contrast": _contrast,
    "histeq": _histeq,
    "speckle": _speckle,
    "jpeg": _jpeg,
    "crop": _crop,
    "rescale": _rescale,
    "pad": _pad,
    "text": _text,
    # issue 20: aspect changes, squares and local equalisation, alone and combined
    "stretch": _stretch,
    "square": _square,
    "clahe": _clahe,
    "crop+stretch": _crop_stretch,
    "mirror+stretch": _mirror_stretch,
    "clahe+tint": _clahe_tint,
    "square+text": _square_text,
    "clahe+crop": _clahe_crop,
}
NOT_COPIES = {"neighbour": _neighbour}
#: cross-class kinds: a copy filed under another class, made by the named transformation (None: any, drawn)
CROSS_CLASS: dict[str, str | None] = {
    "cross-class": None,
    "cross-class stretch": "stretch",
    "cross-class square": "square",
    "cross-class clahe": "clahe",
}
