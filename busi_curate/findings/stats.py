"""Stage 6a -- findings: pure computations on a scan and its duplicate groups (paper section 4.3).

Everything here takes plain data (a :class:`~busi_curate.scan.run.ScanResult`, a list of
:class:`~busi_curate.review.groups.Group`, arrays) and returns DataFrames or dataclasses; rendering lives in
:mod:`busi_curate.findings.report`.

* :func:`groups_table`, :func:`class_conflicts_table`: the groups, their members and mask files.
* :func:`mask_iou_table`, :func:`iou_summary`: mask agreement for every pair inside every group
  (paper Table 2). Masks are compared in a common frame, two ways: (1) each image's mask union
  resized to a ``size x size`` square (assumes both images cover the same field of view); (2) the
  second image registered onto the first (scale + shift, :func:`register_pair`) and the IoU taken
  over the region both show. Two empty masks (normal images) have IoU 1.0 (they agree: no lesion);
  one empty and one non-empty mask have IoU 0.0.
* :func:`ssim_samples`, :func:`ssim_statistics`: SSIM of duplicate vs non-duplicate pairs (Table 1),
  Lilliefors normality tests, Mann-Whitney U, the percentile ranges and the threshold of Fig. 5.
* :func:`class_distribution`: class counts before and after curation (Table 3).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from busi_curate.defaults import SCREEN_THRESHOLD
from busi_curate.errors import ScanError
from busi_curate.review.groups import Group
from busi_curate.review.journal import Key

#: the paper's findings (section 4.3), printed beside ours for reference. Table 1 and Table 2 have no
#: numbers in the paper's text, so none are given here.
PAPER: dict[str, Any] = {
    "groups": {"quadruplet": 5, "triplet": 22, "duplet": 122},
    "images_in_groups": 330,
    "busi": {"normal": 133, "benign": 437, "malignant": 210, "total": 780},
    "curated": {"normal": 64, "benign": 222, "malignant": 164, "total": 450},
    "threshold": SCREEN_THRESHOLD,
    "mann_whitney_p": "< 0.0001",
}

#: IoU bin edges of the Table 2 summary: [0, 0.5), [0.5, 0.7), [0.7, 0.9), [0.9, 1].
IOU_EDGES: tuple[float, ...] = (0.0, 0.5, 0.7, 0.9)
DEFAULT_IOU_SIZE = 256
DEFAULT_PERCENTILE = 99.0
CLASS_ORDER = ("normal", "benign", "malignant")


# --------------------------------------------------------------------------- groups


def _key_str(k: Key) -> str:
    return f"{k[0]} {k[1]}"


def groups_table(groups: Sequence[Group], index: pd.DataFrame) -> pd.DataFrame:
    """One row per group member: ``group, kind, size, class, id, image, masks, grades``.

    ``image`` and ``masks`` (``;``-joined) are relative to the scanned data folder, as in ``index.csv``;
    ``grades`` are the grades of the decisions that joined the group (``;``-joined).
    """
    lookup = {
        (c, str(i)): (img, m) for c, i, img, m in zip(index["class"], index["id"], index["image"], index["masks"])
    }
    rows = []
    for g in groups:
        for cls, id_ in g.members:
            img, masks = lookup.get((cls, id_), ("", ""))
            rows.append((g.id, g.kind, g.size, cls, id_, img, masks, ";".join(g.grades)))
    return pd.DataFrame(rows, columns=["group", "kind", "size", "class", "id", "image", "masks", "grades"])


def class_conflicts_table(groups: Sequence[Group]) -> pd.DataFrame:
    """Groups whose members carry more than one class: ``group, kind, size, classes, members``."""
    rows = [
        (g.id, g.kind, g.size, ";".join(g.classes), "; ".join(_key_str(k) for k in g.members))
        for g in groups
        if g.class_conflict
    ]
    return pd.DataFrame(rows, columns=["group", "kind", "size", "classes", "members"])


def group_counts(groups: Sequence[Group]) -> dict[str, int]:
    """Number of groups of each kind (``duplet``, ``triplet``, ...), plus ``groups`` and ``images``."""
    out: dict[str, int] = {}
    for g in sorted(groups, key=lambda g: g.size):
        out[g.kind] = out.get(g.kind, 0) + 1
    out["groups"] = len(groups)
    out["images"] = sum(g.size for g in groups)
    out["class_conflicts"] = sum(g.class_conflict for g in groups)
    return out


# --------------------------------------------------------------------------- masks and IoU


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks of one shape; 1.0 when both are empty."""
    if a.shape != b.shape:
        raise ValueError(f"masks must have one shape, got {a.shape} and {b.shape}")
    union = int(np.count_nonzero(a | b))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(a & b)) / union


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Resize a ``(H, W) bool`` mask to ``(size, size) bool``: area-average, then ``>= 0.5``."""
    from PIL import Image

    img = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(img.resize((size, size), Image.Resampling.BOX), dtype=np.uint8) >= 128


#: ``(class, id) -> ((H, W) uint8 image, (H, W) bool mask union)``
ImageLoader = Callable[[Key], tuple[np.ndarray, np.ndarray]]


def scan_loader(scan: object, verify: bool = True) -> ImageLoader:
    """A cached function ``(class, id) -> (image, mask union)`` reading from the scanned data folder.

    With ``verify`` the image's pixels are checked against ``index.csv`` (ScanError if they changed
    since the scan), so the report never describes images other than the scanned ones.
    """
    from busi_curate.data.imageio import read_gray, read_mask_union

    cache: dict[Key, tuple[np.ndarray, np.ndarray]] = {}

    def load(key: Key) -> tuple[np.ndarray, np.ndarray]:
        if key not in cache:
            row = scan.row_of(*key)  # type: ignore[attr-defined]
            image_path = scan.image_path(row)  # type: ignore[attr-defined]
            gray = check_image(scan, row) if verify else read_gray(image_path)
            cache[key] = (gray, read_mask_union(scan.mask_paths(row), gray.shape, image_path))  # type: ignore[attr-defined]
        return cache[key]

    return load


def check_image(scan: object, row: int) -> np.ndarray:
    """Read the image of ``row`` and check its pixel hash against the scan; returns ``(H, W) uint8``.

    Raises:
        ScanError: the image is missing or its pixels changed since the scan.
    """
    from busi_curate.data.imageio import read_gray
    from busi_curate.errors import DatasetError
    from busi_curate.fileio import pixel_sha256

    path = scan.image_path(row)  # type: ignore[attr-defined]
    try:
        gray = read_gray(path)
    except DatasetError as exc:
        raise ScanError(f"scanned image cannot be read any more ({exc.message}); re-run the scan", path) from exc
    if pixel_sha256(gray) != scan.index.at[row, "pixel_sha256"]:  # type: ignore[attr-defined]
        raise ScanError("image pixels changed since the scan (hash differs from index.csv); re-run the scan", path)
    return gray


def group_pairs(groups: Iterable[Group]) -> list[tuple[Group, Key, Key]]:
    """Every unordered pair of members inside every group, in group then member order."""
    return [(g, a, b) for g in groups for a, b in combinations(g.members, 2)]


# --------------------------------------------------------------------------- registration


@dataclass(frozen=True)
class Registration:
    """An upright similarity ``p_a = scale * p_b + (dy, dx)`` from image B to image A, original pixels.

    ``ncc`` is the normalised cross-correlation of the two (smoothed, working-size) images on their
    overlap at that transform: about 1 for two copies of one frame.
    """

    scale: float
    dy: float
    dx: float
    ncc: float


@dataclass(frozen=True)
class RegistrationSettings:
    """Parameters of :func:`register_pair`."""

    coarse_side: int = 64  # long side of A in the scale search
    fine_side: int = 160  # long side of A in the final fit
    min_scale: float = 0.5
    max_scale: float = 2.0
    scale_steps: int = 25  # geometric grid over [min_scale, max_scale]
    accept_same_scale: float = 0.95  # NCC at scale 1 that ends the search early
    min_overlap: float = 0.3  # share of the largest possible overlap a shift must keep
    min_ncc: float = 0.9  # below this a registration is not trusted (copies of one frame: ~0.99)


def _resized(gray: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from PIL import Image
    from scipy import ndimage

    img = Image.fromarray(gray).resize((max(1, shape[1]), max(1, shape[0])), Image.Resampling.BILINEAR)
    return ndimage.gaussian_filter(np.asarray(img, dtype=np.float32), 1.0)


def _best_shift(
    A: np.ndarray, b: np.ndarray, fa: float, scales: Iterable[float], overlap: float
) -> tuple[float, float, tuple[int, int]]:
    """Best (ncc, scale, B origin in A's working pixels) over ``scales`` and all shifts (masked FFT NCC)."""
    from skimage.registration._masked_phase_cross_correlation import cross_correlate_masked

    best: tuple[float, float, tuple[int, int]] = (-2.0, 1.0, (0, 0))
    for s in scales:
        shape = (round(b.shape[0] * s * fa), round(b.shape[1] * s * fa))
        if min(shape) < 12:
            continue
        B = _resized(b, shape)
        ncc = cross_correlate_masked(
            A, B, np.ones(A.shape, bool), np.ones(B.shape, bool), mode="full", axes=(0, 1), overlap_ratio=overlap
        )
        if not np.isfinite(ncc).any():
            continue
        i, j = np.unravel_index(int(np.nanargmax(ncc)), ncc.shape)
        if ncc[i, j] > best[0]:
            best = (float(ncc[i, j]), float(s), (int(i) - B.shape[0] + 1, int(j) - B.shape[1] + 1))
    return best


def register_pair(
    a: np.ndarray, b: np.ndarray, settings: RegistrationSettings = RegistrationSettings()
) -> Registration:
    """Register image B onto image A (same frame, possibly cropped and rescaled; no rotation).

    Scale 1 is tried first (most copies are crops at one scale); otherwise a coarse search over a
    geometric scale grid, refined around the best scale at a finer size. Each scale's best shift is the
    peak of the masked normalised cross-correlation over all shifts (scikit-image, FFT).
    """
    fa = settings.fine_side / max(a.shape)
    A = _resized(a, (round(a.shape[0] * fa), round(a.shape[1] * fa)))
    ncc, s, (oy, ox) = _best_shift(A, b, fa, [1.0], settings.min_overlap)
    if ncc < settings.accept_same_scale:
        fc = settings.coarse_side / max(a.shape)
        Ac = _resized(a, (round(a.shape[0] * fc), round(a.shape[1] * fc)))
        grid = np.geomspace(settings.min_scale, settings.max_scale, settings.scale_steps)
        _, sc, _ = _best_shift(Ac, b, fc, grid, settings.min_overlap)
        step = (settings.max_scale / settings.min_scale) ** (1 / max(1, settings.scale_steps - 1))
        fine = sc * step ** np.linspace(-1, 1, 5)
        cand = _best_shift(A, b, fa, fine, settings.min_overlap)
        if cand[0] > ncc:
            ncc, s, (oy, ox) = cand
    return Registration(scale=s, dy=oy / fa, dx=ox / fa, ncc=ncc)


def registered_mask_iou(
    mask_a: np.ndarray, mask_b: np.ndarray, reg: Registration, size: int = DEFAULT_IOU_SIZE
) -> float:
    """IoU of mask B mapped into A's frame by ``reg``, over the region both images show.

    A's frame is sampled on a grid whose long side is ``size``; B's mask is read at the mapped
    positions (nearest pixel). Pixels of A outside B's field of view are left out. Both masks empty on
    the shared region: 1.0.
    """
    h, w = mask_a.shape
    g = min(1.0, size / max(h, w))
    ys = (np.arange(max(1, round(h * g))) + 0.5) / g - 0.5
    xs = (np.arange(max(1, round(w * g))) + 0.5) / g - 0.5
    ya = np.clip(np.rint(ys), 0, h - 1).astype(np.int64)
    xa = np.clip(np.rint(xs), 0, w - 1).astype(np.int64)
    yb = np.rint((ys - reg.dy) / reg.scale).astype(np.int64)
    xb = np.rint((xs - reg.dx) / reg.scale).astype(np.int64)
    vy = (yb >= 0) & (yb < mask_b.shape[0])
    vx = (xb >= 0) & (xb < mask_b.shape[1])
    if not vy.any() or not vx.any():
        return float("nan")
    ma = mask_a[np.ix_(ya[vy], xa[vx])]
    mb = mask_b[np.ix_(yb[vy], xb[vx])]
    return mask_iou(ma, mb)


IOU_COLUMNS = [
    "group",
    "kind",
    "class_a",
    "id_a",
    "class_b",
    "id_b",
    "link",
    "empty_a",
    "empty_b",
    "iou",
    "method",
    "iou_resized",
    "iou_registered",
    "reg_scale",
    "reg_dy",
    "reg_dx",
    "reg_ncc",
]


def mask_iou_table(
    groups: Sequence[Group],
    load: ImageLoader,
    size: int = DEFAULT_IOU_SIZE,
    register: bool = True,
    reg_settings: RegistrationSettings = RegistrationSettings(),
) -> pd.DataFrame:
    """Mask IoU of every pair inside every group (Table 2), in a common frame.

    Two measurements per pair: ``iou_resized`` (both masks resized to ``size x size``: assumes both
    images show the same field of view) and, with ``register``, ``iou_registered`` (B registered onto A by
    :func:`register_pair`, IoU over the region both show). ``iou`` is the registered value when the
    registration is trusted (``reg_ncc >= min_ncc``), else the resized one; ``method`` says which.
    ``link`` is the grade of the decision on that pair, or ``implied`` when the pair was joined through
    other members.
    """
    rows = []
    nan = float("nan")
    for g, a, b in group_pairs(groups):
        direct = {(p, q): gr for p, q, gr in g.pairs}
        link = direct.get((a, b)) or direct.get((b, a)) or "implied"
        (ga, ma), (gb, mb) = load(a), load(b)
        resized = mask_iou(resize_mask(ma, size), resize_mask(mb, size))
        reg, registered = None, nan
        if register:
            reg = register_pair(ga, gb, reg_settings)
            registered = registered_mask_iou(ma, mb, reg, size)
        trusted = reg is not None and reg.ncc >= reg_settings.min_ncc and not math.isnan(registered)
        iou, method = (registered, "registered") if trusted else (resized, "resized")
        rows.append(
            (
                g.id,
                g.kind,
                a[0],
                a[1],
                b[0],
                b[1],
                link,
                not ma.any(),
                not mb.any(),
                round(iou, 6),
                method,
                round(resized, 6),
                round(registered, 6),
                *((round(reg.scale, 4), round(reg.dy, 1), round(reg.dx, 1), round(reg.ncc, 4)) if reg else (nan,) * 4),
            )
        )
    return pd.DataFrame(rows, columns=IOU_COLUMNS)


def iou_bin_labels(edges: Sequence[float] = IOU_EDGES) -> list[str]:
    """Labels of the IoU bins: ``IoU < 0.5``, ``0.5 <= IoU < 0.7``, ..., ``IoU >= 0.9``."""
    labels = [f"IoU < {edges[1]:g}"]
    labels += [f"{lo:g} <= IoU < {hi:g}" for lo, hi in zip(edges[1:-1], edges[2:])]
    labels.append(f"IoU >= {edges[-1]:g}")
    return labels


def iou_summary(
    table: pd.DataFrame, edges: Sequence[float] = IOU_EDGES, columns: Sequence[str] = ("iou",)
) -> pd.DataFrame:
    """Table 2: pairs per IoU bin, for all pairs and for pairs where at least one mask is non-empty.

    One block of rows per measurement in ``columns`` (pairs where it is NaN are left out). Columns:
    ``measure, bin, pairs, share, pairs_with_lesion, share_with_lesion``; each block ends with the
    ``mean`` and ``median`` IoU in the ``share`` columns' place (``pairs`` = number of pairs used).
    """
    labels = iou_bin_labels(edges)
    rows = []
    for col in columns:
        if len(table) and col in table:
            iou = table[col].to_numpy(dtype=float)
            lesion = ~(table["empty_a"].to_numpy(dtype=bool) & table["empty_b"].to_numpy(dtype=bool))
            ok = ~np.isnan(iou)
            iou, lesion = iou[ok], lesion[ok]
        else:
            iou, lesion = np.zeros(0), np.zeros(0, bool)
        idx = np.searchsorted(np.asarray(edges[1:]), iou, side="right")

        def share(k: int, n: int) -> float:
            return round(k / n, 4) if n else float("nan")

        for i, lab in enumerate(labels):
            k_all, k_les = int(np.sum(idx == i)), int(np.sum((idx == i) & lesion))
            rows.append((col, lab, k_all, share(k_all, len(iou)), k_les, share(k_les, int(lesion.sum()))))
        for name, fn in (("mean", np.mean), ("median", np.median)):
            rows.append(
                (
                    col,
                    name,
                    len(iou),
                    round(float(fn(iou)), 4) if len(iou) else float("nan"),
                    int(lesion.sum()),
                    round(float(fn(iou[lesion])), 4) if lesion.any() else float("nan"),
                )
            )
    return pd.DataFrame(rows, columns=["measure", "bin", "pairs", "share", "pairs_with_lesion", "share_with_lesion"])


# --------------------------------------------------------------------------- SSIM statistics


@dataclass(frozen=True)
class SSIMSamples:
    """SSIM values of duplicate pairs (inside a group) and of every other scored pair."""

    duplicate: np.ndarray
    non_duplicate: np.ndarray
    #: duplicate pairs whose SSIM was not computed (pruned scans only).
    duplicate_missing: int = 0


def ssim_samples(scan: object, groups: Sequence[Group]) -> SSIMSamples:
    """Split the scan's SSIM values into duplicate pairs (all pairs inside a group) and the rest.

    Exhaustive scans use the upper triangle of ``ssim.npy``; pruned scans use only the computed pairs.
    """
    dup_rows: list[tuple[int, int]] = []
    for _, a, b in group_pairs(groups):
        i, j = scan.row_of(*a), scan.row_of(*b)  # type: ignore[attr-defined]
        dup_rows.append((min(i, j), max(i, j)))
    n = scan.n  # type: ignore[attr-defined]
    matrix = scan.ssim  # type: ignore[attr-defined]
    if matrix is not None:
        iu, ju = np.triu_indices(n, k=1)
        values = matrix[iu, ju].astype(np.float64)
        flat = iu.astype(np.int64) * n + ju
    elif scan.pairs is not None:  # type: ignore[attr-defined]
        p = scan.pairs  # type: ignore[attr-defined]
        a, b = p["a"].to_numpy(np.int64), p["b"].to_numpy(np.int64)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        values = p["ssim"].to_numpy(np.float64)
        flat = lo * n + hi
    else:
        raise ScanError("the scan has neither ssim.npy nor pairs.npz", scan.dir)  # type: ignore[attr-defined]
    dup_flat = np.array(sorted({i * n + j for i, j in dup_rows}), dtype=np.int64)
    is_dup = np.isin(flat, dup_flat)
    ok = ~np.isnan(values)
    dup = values[is_dup & ok]
    non = values[~is_dup & ok]
    return SSIMSamples(np.sort(dup), np.sort(non), duplicate_missing=int(len(dup_flat) - np.count_nonzero(is_dup & ok)))


@dataclass(frozen=True)
class SampleStats:
    """Summary of one SSIM sample (Table 1 row) with its Lilliefors normality test."""

    n: int
    mean: float
    std: float
    median: float
    min: float
    max: float
    #: the range holding ``percentile`` % of the sample (see :func:`ssim_statistics`).
    range_low: float
    range_high: float
    lilliefors_stat: float
    lilliefors_p: float


@dataclass(frozen=True)
class SSIMStatistics:
    """Table 1, the tests of section 4.3 and the Fig. 5 threshold."""

    duplicate: SampleStats
    non_duplicate: SampleStats
    percentile: float
    mannwhitney_u: float
    mannwhitney_p_two_sided: float
    mannwhitney_p_greater: float
    #: U / (n_dup * n_non): probability that a random duplicate pair scores above a random other pair.
    auc: float
    #: the suggested screening threshold: the low end of the duplicates' range (see :func:`ssim_statistics`).
    threshold: float
    #: share of duplicate / non-duplicate pairs at or above the threshold.
    duplicate_recall: float
    non_duplicate_above: int
    ranges_overlap: bool
    duplicate_missing: int = 0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _nan() -> float:
    return float("nan")


def sample_stats(x: np.ndarray, low_q: float, high_q: float) -> SampleStats:
    """Mean, sample standard deviation (ddof=1), median, extremes, a percentile range and Lilliefors.

    The range ``[low_q, high_q]`` percentiles uses observed values (``lower`` / ``higher`` methods), so it
    holds at least the stated share of a small sample.
    """
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return SampleStats(0, *([_nan()] * 9))
    lil_stat, lil_p = _nan(), _nan()
    if len(x) >= 4 and np.ptp(x) > 0:
        from statsmodels.stats.diagnostic import lilliefors

        lil_stat, lil_p = (float(v) for v in lilliefors(x, dist="norm", pvalmethod="table"))
    return SampleStats(
        n=len(x),
        mean=float(np.mean(x)),
        std=float(np.std(x, ddof=1)) if len(x) > 1 else _nan(),
        median=float(np.median(x)),
        min=float(x.min()),
        max=float(x.max()),
        range_low=float(np.percentile(x, low_q, method="lower")),
        range_high=float(np.percentile(x, high_q, method="higher")),
        lilliefors_stat=lil_stat,
        lilliefors_p=lil_p,
    )


def ssim_statistics(samples: SSIMSamples, percentile: float = DEFAULT_PERCENTILE) -> SSIMStatistics:
    """Table 1 and the tests of section 4.3 on duplicate vs non-duplicate SSIM values.

    The shaded ranges of Fig. 5 hold ``percentile`` % of each sample on the side facing the other one:
    duplicates from their ``100 - percentile`` th percentile up to their maximum, non-duplicates from their
    minimum up to their ``percentile`` th percentile. The suggested screening threshold is the low end of
    the duplicates' range: a candidate below it is, on this evidence, a duplicate with probability below
    ``(100 - percentile)`` %, so the review can skip it. When the two ranges do not overlap, any value in
    the gap separates them; the duplicates' low end is still the recall-oriented choice.
    """
    if not 50 < percentile < 100:
        raise ValueError(f"percentile must be in (50, 100), got {percentile}")
    dup = sample_stats(samples.duplicate, 100 - percentile, 100)
    non = sample_stats(samples.non_duplicate, 0, percentile)
    u, p2, pg, auc = _nan(), _nan(), _nan(), _nan()
    if len(samples.duplicate) and len(samples.non_duplicate):
        from scipy.stats import mannwhitneyu

        r2 = mannwhitneyu(samples.duplicate, samples.non_duplicate, alternative="two-sided")
        rg = mannwhitneyu(samples.duplicate, samples.non_duplicate, alternative="greater")
        u, p2, pg = float(r2.statistic), float(r2.pvalue), float(rg.pvalue)
        auc = u / (len(samples.duplicate) * len(samples.non_duplicate))
    thr = dup.range_low
    recall = float(np.mean(samples.duplicate >= thr)) if len(samples.duplicate) else _nan()
    above = int(np.count_nonzero(samples.non_duplicate >= thr)) if not math.isnan(thr) else 0
    overlap = bool(not math.isnan(thr) and not math.isnan(non.range_high) and non.range_high >= thr)
    return SSIMStatistics(dup, non, percentile, u, p2, pg, auc, thr, recall, above, overlap, samples.duplicate_missing)


def ssim_stats_table(st: SSIMStatistics) -> pd.DataFrame:
    """``ssim_stats.csv``: long format ``part, statistic, value`` (values rounded to 6 significant digits)."""

    def fmt(v: float | int | bool) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, int):
            return str(v)
        return "nan" if math.isnan(v) else f"{v:.6g}"

    rows = []
    for part, s in (("duplicate", st.duplicate), ("non-duplicate", st.non_duplicate)):
        for k, v in asdict(s).items():
            rows.append((part, k, fmt(v)))
    rows += [
        ("mann-whitney", "u", fmt(st.mannwhitney_u)),
        ("mann-whitney", "p_two_sided", fmt(st.mannwhitney_p_two_sided)),
        ("mann-whitney", "p_greater", fmt(st.mannwhitney_p_greater)),
        ("mann-whitney", "auc", fmt(st.auc)),
        ("threshold", "percentile", fmt(st.percentile)),
        ("threshold", "suggested", fmt(st.threshold)),
        ("threshold", "duplicate_recall", fmt(st.duplicate_recall)),
        ("threshold", "non_duplicate_pairs_above", fmt(st.non_duplicate_above)),
        ("threshold", "ranges_overlap", fmt(st.ranges_overlap)),
        ("threshold", "duplicate_pairs_not_scored", fmt(st.duplicate_missing)),
    ]
    return pd.DataFrame(rows, columns=["part", "statistic", "value"])


# --------------------------------------------------------------------------- class distribution


def class_distribution(index: pd.DataFrame, groups: Sequence[Group]) -> pd.DataFrame:
    """Table 3: class counts of the scanned set, after the paper's policy, and after keep-one.

    * ``remove-all`` (the paper): every image of every duplicate group is removed.
    * ``keep-one`` (for information, the rule of ``busi-curate export --policy keep-one``): one image
      per group is kept unless the group's members disagree on class, in which case the whole group
      is removed (its label is not known). Which member is kept does not change the class counts;
      here it is the first in record order.

    Columns: ``dataset, policy, removed, normal, benign, malignant, total`` and a ``*_pct`` column per
    class (share of the total, in %).
    """
    all_keys = list(zip(index["class"], index["id"].astype(str)))
    in_group = {k for g in groups for k in g.members}
    kept_one = {g.members[0] for g in groups if not g.class_conflict}
    classes = list(CLASS_ORDER) + sorted({c for c, _ in all_keys} - set(CLASS_ORDER))
    sets = (
        ("scanned", "none", all_keys),
        ("curated", "remove-all", [k for k in all_keys if k not in in_group]),
        ("curated", "keep-one", [k for k in all_keys if k not in in_group or k in kept_one]),
    )
    rows = []
    for name, policy, keys in sets:
        counts = {c: sum(1 for k in keys if k[0] == c) for c in classes}
        total = len(keys)
        row: dict[str, object] = {"dataset": name, "policy": policy, "removed": len(all_keys) - total}
        row.update(counts)
        row["total"] = total
        for c in classes:
            row[f"{c}_pct"] = round(100 * counts[c] / total, 1) if total else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- panels


def panel_selection(groups: Sequence[Group], cap: int = 12) -> list[Group]:
    """Groups to draw as example panels (Figs. 2-4): at most ``cap``.

    First one example of each kind (largest kinds first; a class-conflict group preferred), then the
    other class-conflict groups (largest first), then the remaining groups by size; ties by group id.
    Returned largest first.
    """
    if cap <= 0:
        return []
    order = sorted(groups, key=lambda g: (-g.size, not g.class_conflict, g.id))
    chosen: list[Group] = []
    seen_kinds: set[int] = set()
    for g in order:
        if g.size not in seen_kinds:
            seen_kinds.add(g.size)
            chosen.append(g)
    for g in sorted(order, key=lambda g: not g.class_conflict):  # stable: keeps size order within each part
        if g not in chosen:
            chosen.append(g)
    return sorted(chosen[:cap], key=lambda g: (-g.size, not g.class_conflict, g.id))
