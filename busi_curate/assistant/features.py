"""Per-image keypoints and binary descriptors for the assistant, computed once and cached on disk.

Each image is read in grayscale, resized so its long side is :attr:`FeatureSettings.long_side`
pixels, and described by Harris corners with upright BRIEF descriptors (256 bits) at a few pyramid
levels, so that a copy rescaled by 0.5-2x still matches. Keypoints are only taken on tissue: not
in the outer border band and not on or next to near-white pixels (scanner text, calipers, marks).

Why not ``skimage.feature.ORB``: measured on BUSI at 256 px it costs 85-175 ms per image on this
2-core machine (66-136 s for the 780 images), more than the whole assistant's budget; this
vectorised upright variant (rotation is not needed: BUSI copies are crops and rescales) costs a few
milliseconds per image.

The cache is one bundle ``features.npz`` with a sidecar ``features.json`` (format version,
settings, the ``pixel_sha256`` of every image it holds and the SHA-256 of the bundle). Entries are
keyed by pixel hash, so a changed or added image is recomputed and everything else reused; a
bundle whose checksum, version or settings differ is ignored and rebuilt.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from busi_curate.engine import Engine, LocalEngine

FEATURES_FORMAT = 2
N_BITS = 256
#: pattern variants of every keypoint's descriptor: (rotation degrees, mirrored). Variant 0 is the upright
#: descriptor; the others describe the same keypoints with the BRIEF pattern rotated and/or mirrored, so a
#: rotated or mirrored copy of the image matches them (see :mod:`.verify`).
VARIANTS: tuple[tuple[float, bool], ...] = (
    (0.0, False),
    (12.0, False),
    (-12.0, False),
    (0.0, True),
    (12.0, True),
    (-12.0, True),
)


@dataclass(frozen=True)
class FeatureSettings:
    """How images are described; saved with the cache (a change invalidates it)."""

    long_side: int = 256  # px, long side of the working image
    levels: int = 4  # pyramid levels for scale robustness
    level_scale: float = 0.75  # size ratio between consecutive levels (covers 0.42x..2.4x)
    keypoints: int = 160  # keypoints at level 0; level l keeps keypoints * level_scale**(2l)
    border: float = 0.04  # outer band (fraction of each side) without keypoints
    bright: int = 250  # gray level from which a pixel counts as overlay (text, marks)
    flat_var: float = 2.0  # local (5x5) variance below which a pixel is padding, not tissue
    min_bit_balance: int = 48  # descriptors with fewer 1-bits (or 0-bits) than this carry little information
    patch_radius: int = 12  # BRIEF patch radius (px at each level)
    harris_window: int = 5  # box window (px) integrating the Harris structure tensor
    smooth_sigma: float = 1.0  # pre-smoothing against speckle before corners
    brief_box: int = 5  # box smoothing (px) of the image the BRIEF tests read
    brief_background: int = 17  # box (px) whose mean is subtracted first (band-pass)
    seed: int = 20250101  # BRIEF sampling pattern


@dataclass(frozen=True, eq=False)
class ImageFeatures:
    """Features of one image. Coordinates are ``(x, y)`` in the working image (level 0).

    Compared and hashed by identity (``eq=False``), so per-image results can be cached with ``functools``.
    """

    small: np.ndarray  # (h, w) uint8 working image
    valid: np.ndarray  # (h, w) bool: tissue (not border band, not overlay)
    xy: np.ndarray  # (k, 2) float32
    level: np.ndarray  # (k,) uint8
    desc: np.ndarray  # (k, 4) uint64: 256-bit upright BRIEF
    scale: float  # working image size / original size
    variants: np.ndarray | None = None  # (len(VARIANTS), k, 4) uint64: descriptors for each pattern variant

    def variant(self, v: int) -> np.ndarray:
        """``(k, 4) uint64`` descriptors with pattern variant ``v`` of :data:`VARIANTS` (0: :attr:`desc`)."""
        if v == 0 or self.variants is None:
            return self.desc if v == 0 else np.zeros((0, 4), np.uint64)
        return self.variants[v]


def working_image(gray: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """``gray`` resized (antialiased bilinear) so its long side is ``long_side``; returns (image, scale)."""
    from PIL import Image

    h, w = gray.shape
    s = long_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BILINEAR), dtype=np.uint8), s


def tissue_mask(small: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    """``(h, w) bool``: pixels away from the border band and from near-white overlay marks."""
    from busi_curate.assistant.kernels import flag_filter, uniform_filter

    h, w = small.shape
    valid = np.zeros((h, w), dtype=bool)
    by, bx = max(1, round(settings.border * h)), max(1, round(settings.border * w))
    valid[by : h - by, bx : w - bx] = True
    # scipy.ndimage's maximum_filter and uniform_filter (mode reflect), compiled (:mod:`.kernels`)
    bright = flag_filter((small >= settings.bright).view(np.uint8), 7, True, False) > 0
    # flat padding (black bands, letterboxing): no texture, and descriptors there are all alike
    f = np.ascontiguousarray(small, np.float32)
    var = uniform_filter(f * f, 5) - uniform_filter(f, 5) ** 2
    flat = flag_filter((var < settings.flat_var).view(np.uint8), 5, True, False) > 0
    return valid & ~bright & ~flat


@functools.lru_cache(maxsize=64)
def _brief_pattern(settings: FeatureSettings, rotation_deg: float = 0.0, mirrored: bool = False) -> np.ndarray:
    """``(N_BITS, 4) int`` offsets ``(dy1, dx1, dy2, dx2)`` of the BRIEF tests (isotropic Gaussian).

    ``mirrored`` flips the x offsets and ``rotation_deg`` then rotates the offsets (x right, y down): the
    descriptor of an image mirrored and/or rotated that way, at the corresponding keypoint, reads the same
    pixels as the upright descriptor of the original. Cached (read-only): every image uses the same patterns.
    """
    rng = np.random.default_rng(settings.seed)
    r = settings.patch_radius
    pts = np.clip(np.round(rng.normal(0.0, r / 2.5, size=(N_BITS, 4))), -r, r)
    if not rotation_deg and not mirrored:
        return _frozen(pts.astype(np.int64))
    out = np.empty_like(pts)
    c, sn = np.cos(np.deg2rad(rotation_deg)), np.sin(np.deg2rad(rotation_deg))
    for k in (0, 2):
        dy, dx = pts[:, k], pts[:, k + 1] * (-1 if mirrored else 1)
        out[:, k + 1] = c * dx - sn * dy
        out[:, k] = sn * dx + c * dy
    return _frozen(np.clip(np.round(out), -r, r).astype(np.int64))


def _frozen(a: np.ndarray) -> np.ndarray:
    """``a`` made read-only (a cached value is shared)."""
    a.flags.writeable = False
    return a


def _level_features(
    img: np.ndarray, valid: np.ndarray, n: int, patterns: list[np.ndarray], settings: FeatureSettings
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Harris keypoints (``(k, 2)`` x, y) and packed BRIEF descriptors (``(k, 32) uint8``, one array per pattern)
    of one level. A keypoint is kept when its upright descriptor (``patterns[0]``) is informative.

    The filters are those of ``scipy.ndimage`` computed by :mod:`.kernels` (equal bit for bit): Gaussian
    pre-smoothing (``smooth_sigma``, truncated at 2.5 sigma), Sobel gradients, the structure tensor over a
    ``harris_window`` box, response ``det - 0.05 trace^2``; a keypoint is a positive 5x5 maximum whose whole patch
    lies on tissue. The BRIEF tests read a band-pass image (a ``brief_box`` box minus a ``brief_background`` box):
    a patch's overall gradient, shared by most ultrasound patches, is removed so the bits describe local
    structure only."""
    from busi_curate.assistant import kernels

    resp, peaks = kernels.harris(img, valid, settings.smooth_sigma, 2.5, settings.harris_window, settings.patch_radius)
    ys, xs = np.nonzero(peaks)
    if len(ys) > n:
        order = np.argsort(-resp[ys, xs], kind="stable")[:n]  # strongest corners
        order.sort()
        ys, xs = ys[order], xs[order]
    smooth = kernels.band_pass(img, settings.brief_box, settings.brief_background)
    desc, keep = kernels.brief(smooth, ys, xs, np.stack(patterns), settings.min_bit_balance)
    return np.stack([xs[keep], ys[keep]], axis=1).astype(np.float32), list(desc)


def extract(gray: np.ndarray, settings: FeatureSettings = FeatureSettings()) -> ImageFeatures:
    """Features of one ``(H, W) uint8`` image."""
    from PIL import Image

    small, scale = working_image(gray, settings.long_side)
    valid = tissue_mask(small, settings)
    patterns = [_brief_pattern(settings, rot, mir) for rot, mir in VARIANTS]
    xy_l: list[np.ndarray] = []
    lev_l: list[np.ndarray] = []
    desc_l: list[list[np.ndarray]] = []
    img, vmask = small, valid
    for lev in range(settings.levels):
        f = settings.level_scale**lev
        if lev:
            size = (max(1, round(small.shape[1] * f)), max(1, round(small.shape[0] * f)))
            if min(size) < 4 * settings.patch_radius:
                break
            img = np.asarray(Image.fromarray(small).resize(size, Image.Resampling.BILINEAR), dtype=np.uint8)
            vmask = np.asarray(Image.fromarray(valid.astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST)) > 0
        n = max(8, round(settings.keypoints * f * f))
        xy, desc = _level_features(img, vmask, n, patterns, settings)
        # level coordinates -> level-0 coordinates
        xy_l.append(
            (xy + 0.5)
            * (
                np.array([small.shape[1], small.shape[0]], np.float32)
                / np.array([img.shape[1], img.shape[0]], np.float32)
            )
            - 0.5
        )
        lev_l.append(np.full(len(xy), lev, np.uint8))
        desc_l.append(desc)
    xy_all = np.concatenate(xy_l).astype(np.float32)
    var = np.stack(
        [
            np.ascontiguousarray(np.concatenate([d[v] for d in desc_l])).view(np.uint64).reshape(-1, 4)
            for v in range(len(VARIANTS))
        ]
    )
    return ImageFeatures(small, valid, xy_all, np.concatenate(lev_l), var[0].copy(), scale, var)


def _extract_path(args: tuple[str, FeatureSettings, str | None]) -> ImageFeatures:
    from busi_curate.scan.run import read_scanned

    path, settings, expected = args
    gray = read_scanned(path, expected)
    return extract(gray, settings)


FEATURE_BLOCK = 32  #: images described per task of a distributed engine


def _extract_block(_: None, jobs: Sequence[tuple[str, FeatureSettings, str | None]]) -> list[ImageFeatures]:
    return [_extract_path(j) for j in jobs]  # one engine task


def extract_many(
    paths: Sequence[str | Path],
    settings: FeatureSettings = FeatureSettings(),
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    expected_sha256: Sequence[str] | None = None,
    engine: Engine | None = None,
) -> list[ImageFeatures]:
    """Features of many image files, in order; ``workers`` > 1 uses a process pool (CPU-bound, GIL-bound), a
    distributed ``engine`` (:mod:`busi_curate.engine`) tasks of :data:`FEATURE_BLOCK` images. With
    ``expected_sha256`` each image's pixel hash is checked first (ScanError naming the file if it differs)."""
    shas: Sequence[str | None] = expected_sha256 if expected_sha256 is not None else [None] * len(paths)
    jobs = [(str(p), settings, k) for p, k in zip(paths, shas)]
    if engine is not None and not isinstance(engine, LocalEngine):
        return engine.map_items(_extract_block, jobs, FEATURE_BLOCK, None, progress)
    if workers <= 1 or len(jobs) < 32:
        out = []
        for j in jobs:
            out.append(_extract_path(j))
            if progress:
                progress(1)
        return out
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # forkserver: safe when the caller has threads (the review server); spawn where it is missing
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
    out = []
    with _main_not_rerun(), ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        for f in pool.map(_extract_path, jobs, chunksize=16):
            out.append(f)
            if progress:
                progress(1)
    return out


@contextlib.contextmanager
def _main_not_rerun() -> Iterator[None]:
    """Start the workers without re-running the caller's ``__main__`` in them.

    forkserver and spawn workers import the parent's main script (or ``-m`` module) before their first task;
    a script or notebook export without an ``if __name__ == "__main__":`` guard would run again in every
    worker and break the pool (``BrokenProcessPool``). The work done here needs nothing from ``__main__``
    (it is :func:`_extract_path` of this module), so its path and spec are hidden while workers start.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {k: main.__dict__.pop(k) for k in ("__file__",) if k in main.__dict__}
    spec = getattr(main, "__spec__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.update(saved)
        main.__spec__ = spec


# ----------------------------------------------------------------------------------------- cache


def _pack(feats: Sequence[ImageFeatures]) -> dict[str, np.ndarray]:
    shapes = np.array([f.small.shape for f in feats], dtype=np.int64).reshape(-1, 2)
    kcount = np.array([len(f.xy) for f in feats], dtype=np.int64)
    return {
        "shapes": shapes,
        "scales": np.array([f.scale for f in feats], dtype=np.float64),
        "small": np.concatenate([f.small.ravel() for f in feats]) if feats else np.zeros(0, np.uint8),
        "valid": np.packbits(np.concatenate([f.valid.ravel() for f in feats])) if feats else np.zeros(0, np.uint8),
        "kcount": kcount,
        "xy": np.concatenate([f.xy for f in feats]) if feats else np.zeros((0, 2), np.float32),
        "level": np.concatenate([f.level for f in feats]) if feats else np.zeros(0, np.uint8),
        "desc": np.concatenate([f.desc for f in feats]) if feats else np.zeros((0, 4), np.uint64),
        "variants": (
            np.concatenate([_variants(f) for f in feats], axis=1)
            if feats
            else np.zeros((len(VARIANTS), 0, 4), np.uint64)
        ),
    }


def _variants(f: ImageFeatures) -> np.ndarray:
    if f.variants is None:
        raise ValueError("features without descriptor variants cannot be cached")
    return f.variants


def _unpack(z: dict[str, np.ndarray]) -> list[ImageFeatures]:
    shapes, kcount = z["shapes"], z["kcount"]
    areas = shapes[:, 0] * shapes[:, 1]
    poff = np.concatenate([[0], np.cumsum(areas)])
    koff = np.concatenate([[0], np.cumsum(kcount)])
    valid_all = np.unpackbits(z["valid"])[: poff[-1]].astype(bool)
    out = []
    for i, (h, w) in enumerate(shapes):
        sl, kl = slice(poff[i], poff[i + 1]), slice(koff[i], koff[i + 1])
        out.append(
            ImageFeatures(
                z["small"][sl].reshape(h, w),
                valid_all[sl].reshape(h, w),
                z["xy"][kl],
                z["level"][kl],
                z["desc"][kl],
                float(z["scales"][i]),
                z["variants"][:, kl],
            )
        )
    return out


class FeatureCache:
    """``cache_dir/features.npz`` + ``features.json``: features keyed by image pixel hash."""

    NAME = "features"  #: the files' stem

    def __init__(self, cache_dir: str | Path | None, settings: FeatureSettings = FeatureSettings()) -> None:
        self.dir = Path(cache_dir) if cache_dir is not None else None
        self.settings = settings
        self.loaded_from_cache = 0
        self.computed = 0

    @property
    def bundle(self) -> Path:
        assert self.dir is not None
        return self.dir / f"{self.NAME}.npz"

    @property
    def sidecar(self) -> Path:
        assert self.dir is not None
        return self.dir / f"{self.NAME}.json"

    def settings_record(self) -> dict[str, Any]:
        """The settings saved with the cache (a change invalidates it)."""
        return asdict(self.settings)

    def load(self) -> dict[str, ImageFeatures]:
        """Cached features by pixel hash; empty (with a warning) when the cache is stale or damaged."""
        from busi_curate.fileio import file_sha256

        if self.dir is None or not self.sidecar.is_file() or not self.bundle.is_file():
            return {}
        try:
            meta = json.loads(self.sidecar.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            warnings.warn(f"{self.sidecar}: damaged feature cache sidecar; recomputing", stacklevel=2)
            return {}
        if meta.get("format") != FEATURES_FORMAT or meta.get("settings") != self.settings_record():
            return {}
        if meta.get("sha256") != file_sha256(self.bundle):
            warnings.warn(
                f"{self.bundle}: feature cache checksum differs from features.json; recomputing", stacklevel=2
            )
            return {}
        with np.load(self.bundle) as z:
            feats = _unpack({k: z[k] for k in z.files})
        keys = meta.get("pixel_sha256", [])
        if len(keys) != len(feats):
            return {}
        return dict(zip(keys, feats))

    def save(self, keys: Sequence[str], feats: Sequence[ImageFeatures]) -> None:
        """Write the bundle (atomically) and then its sidecar."""
        from busi_curate import __version__
        from busi_curate.fileio import atomic_open, file_sha256, write_json

        if self.dir is None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        with atomic_open(self.bundle, "wb") as fh:
            np.savez(fh, **_pack(feats))  # type: ignore[arg-type]
        write_json(
            self.sidecar,
            {
                "format": FEATURES_FORMAT,
                "tool": "busi-curate",
                "version": __version__,
                "settings": self.settings_record(),
                "n_images": len(keys),
                "pixel_sha256": list(keys),
                "sha256": file_sha256(self.bundle),
            },
        )

    def get(
        self,
        keys: Sequence[str],
        paths: Sequence[str | Path],
        workers: int = 2,
        progress: Callable[[int], None] | None = None,
        engine: Engine | None = None,
    ) -> list[ImageFeatures]:
        """Features for images ``paths`` with pixel hashes ``keys``: cached ones reused, others computed (on
        ``engine`` when given) and saved.

        Sets :attr:`computed` (images described now) and :attr:`loaded_from_cache` (images served from disk).
        """
        compute = lambda ks, ps: extract_many(ps, self.settings, workers, progress, expected_sha256=ks, engine=engine)  # noqa: E731
        return self._fill(keys, paths, compute)

    def _fill(
        self, keys: Sequence[str], sources: Sequence[Any], compute: Callable[..., list[ImageFeatures]]
    ) -> list[Any]:
        """Cached entries of ``keys``; missing ones (each distinct key once) made by ``compute(keys, sources)`` and saved
        (a read-only folder: kept in memory, with a warning). Sets :attr:`computed`, :attr:`loaded_from_cache`."""
        have = self.load()
        first: dict[str, Any] = {}
        for k, src in zip(keys, sources):
            first.setdefault(k, src)
        missing = [k for k in first if k not in have]
        self.loaded_from_cache, self.computed = sum(k in have for k in keys), len(missing)
        if missing:
            have.update(zip(missing, compute(missing, [first[k] for k in missing])))
            try:
                self.save(list(first), [have[k] for k in first])
            except OSError as exc:  # a read-only scan folder: work from memory
                warnings.warn(
                    f"{self.dir}: cannot write the feature cache {self.bundle.name} ({exc}); kept in memory",
                    stacklevel=3,
                )
        return [have[k] for k in keys]
