"""Speed benchmark of the SSIM backends and the pruned mode (``busi-curate bench-ssim``).

Everything is timed in one process on the same images, and every speed-up is a ratio to the
scikit-image loop measured in the same run (shared machines are noisy; absolute figures drift).
Not a unit test: nothing here asserts a time.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from busi_curate.ssim import SSIMSettings, get_backend
from busi_curate.ssim.base import n_pairs
from busi_curate.ssim.reference import skimage_ssim


def synthetic_thumbnails(
    n: int, size: int = 128, seed: int = 0, dup_fraction: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct ultrasound-like ``(size, size) uint8`` images in memory, with planted near-duplicates.

    Images are random crops (and flips, gain, offset, noise) of ``max(64, n // 8)`` frames from the
    synthetic generator, so no two are alike unless planted; ``round(n * dup_fraction)`` images are
    then replaced by a slightly perturbed copy of another: brightness +8, Gaussian noise (sigma 3) or
    contrast x1.1. (Not a shift: with per-image noise, a 2-pixel shift drops SSIM to the level of
    unrelated images, so it would not be a duplicate by this measure.)

    Returns:
        ``(images (n, size, size) uint8, planted (P, 2) int64 rows (source, copy))``.
    """
    from busi_curate.data.synthetic import _frame

    rng = np.random.default_rng(seed)
    big = int(size * 1.5)
    n_base = min(n, max(64, n // 8))
    lesions = ("benign", "malignant", None)
    bases = [_frame(rng, big, big, lesions[k % 3])[0] for k in range(n_base)]
    out = np.empty((n, size, size), dtype=np.uint8)
    for i in range(n):
        base = bases[i % n_base]
        oy, ox = rng.integers(0, big - size + 1, 2)
        img = base[oy : oy + size, ox : ox + size].astype(np.float64)
        if rng.random() < 0.5:
            img = img[:, ::-1]
        img = img * rng.uniform(0.85, 1.15) + rng.uniform(-15, 15) + rng.normal(0, 4, img.shape)
        out[i] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    n_dup = int(round(n * dup_fraction))
    idx = rng.permutation(n)[: 2 * n_dup].reshape(-1, 2) if n_dup else np.zeros((0, 2), dtype=np.int64)
    for src, dst in idx:
        kind = rng.integers(3)
        img = out[src].astype(np.float64)
        if kind == 0:
            img = img + 8
        elif kind == 1:
            img = img + rng.normal(0, 3, img.shape)
        else:
            img = (img - img.mean()) * 1.1 + img.mean()
        out[dst] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return out, idx.astype(np.int64)


def hardware() -> dict[str, Any]:
    """CPU model, core count and (when torch sees one) the CUDA device, for the record."""
    import os

    info: dict[str, Any] = {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import numba

        info["numba_threads"] = numba.get_num_threads()
    except ImportError:  # pragma: no cover
        pass
    return info


@dataclass
class BackendTiming:
    """One backend's all-pairs run."""

    name: str
    pairs: int
    seconds: float
    max_abs_diff: float  # vs scikit-image on the sampled pairs
    device: str = "cpu"
    cpu_seconds: float = 0.0  # process CPU time (all threads): wall on idle cores ~ cpu_seconds / threads

    @property
    def pairs_per_s(self) -> float:
        return self.pairs / max(self.seconds, 1e-12)


@dataclass
class BenchResult:
    """Everything ``bench-ssim`` measured, JSON-ready via :meth:`to_dict`."""

    n_images: int
    size: int
    window: str
    reference_pairs: int
    reference_seconds: float
    backends: list[BackendTiming] = field(default_factory=list)
    pruned: dict[str, Any] | None = None
    hardware: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    reference_cpu_seconds: float = 0.0

    @property
    def reference_pairs_per_s(self) -> float:
        return self.reference_pairs / max(self.reference_seconds, 1e-12)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "n_images": self.n_images,
            "size": self.size,
            "window": self.window,
            "all_pairs": n_pairs(self.n_images),
            "reference": {
                "pairs": self.reference_pairs,
                "seconds": round(self.reference_seconds, 4),
                "cpu_seconds": round(self.reference_cpu_seconds, 4),
                "pairs_per_s": round(self.reference_pairs_per_s, 1),
            },
            "backends": [
                {
                    "name": b.name,
                    "device": b.device,
                    "pairs": b.pairs,
                    "seconds": round(b.seconds, 4),
                    "cpu_seconds": round(b.cpu_seconds, 4),
                    "pairs_per_s": round(b.pairs_per_s, 1),
                    "ratio_to_reference": round(b.pairs_per_s / self.reference_pairs_per_s, 1),
                    "max_abs_diff_vs_reference": b.max_abs_diff,
                }
                for b in self.backends
            ],
            "pruned": self.pruned,
            "hardware": self.hardware,
        }


def sample_pairs(n: int, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` distinct random pairs ``a < b`` of ``n`` images (all of them if fewer exist)."""
    total = n_pairs(n)
    rng = np.random.default_rng(seed)
    codes = np.sort(rng.choice(total, size=min(count, total), replace=False))
    # invert the row-major upper-triangle numbering
    starts = np.array([i * n - i * (i + 1) // 2 for i in range(n)], dtype=np.int64)
    a = np.searchsorted(starts, codes, side="right") - 1
    b = codes - starts[a] + a + 1
    return a.astype(np.int64), b.astype(np.int64)


def time_reference(
    images: np.ndarray, a: np.ndarray, b: np.ndarray, settings: SSIMSettings
) -> tuple[np.ndarray, float]:
    """The single-process scikit-image loop on pairs ``(a, b)``: values and seconds."""
    t0 = time.perf_counter()
    vals = np.array([skimage_ssim(images[i], images[j], settings) for i, j in zip(a, b)])
    return vals, time.perf_counter() - t0


def time_backend(
    name: str,
    images: np.ndarray,
    settings: SSIMSettings,
    check: tuple[np.ndarray, np.ndarray, np.ndarray],
    device: str | None = None,
    progress: bool = False,
) -> BackendTiming:
    """All-pairs matrix by backend ``name`` (after a warm-up on 16 images, so JIT compilation is not timed)."""
    kwargs: dict[str, Any] = {"settings": settings}
    if name == "torch":
        kwargs["device"] = device
    backend = get_backend(name, **kwargs)
    backend.matrix(images[: min(16, len(images))])
    from tqdm.auto import tqdm

    with tqdm(
        total=n_pairs(len(images)), desc=name, unit="pair", unit_scale=True, disable=not progress, leave=False
    ) as bar:

        def tick(k: int) -> None:
            bar.update(k)

        t0, c0 = time.perf_counter(), time.process_time()
        m = backend.matrix(images, progress=tick)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
    a, b, ref = check
    diff = float(np.max(np.abs(m[a, b].astype(np.float64) - ref))) if len(a) else 0.0
    return BackendTiming(name, n_pairs(len(images)), dt, diff, str(getattr(backend, "device", "cpu")), dc)


def time_pruned(
    images: np.ndarray,
    prune_k: int,
    planted: np.ndarray,
    settings: SSIMSettings,
    backend: str = "numba",
    exhaustive_pairs_per_s: float | None = None,
) -> dict[str, Any]:
    """The pruned mode on ``images``: shortlist time, exact-SSIM time, and planted duplicates found first."""
    from busi_curate.scan.candidates import top_k_from_pairs
    from busi_curate.scan.prune import DEFAULT_FINDER, shortlist_pairs

    be = get_backend(backend, settings=settings)
    be.pairs(images[:16], np.array([0]), np.array([1]))  # JIT warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    a, b = shortlist_pairs(images, prune_k)
    t1, c1 = time.perf_counter(), time.process_time()
    vals = be.pairs(images, a, b)
    t2, c2 = time.perf_counter(), time.process_time()
    rows, _ = top_k_from_pairs(len(images), a, b, vals, 1)
    found = sum(1 for s, c in planted if len(rows[c]) and int(rows[c][0]) == s)
    out: dict[str, Any] = {
        "n_images": len(images),
        "finder": DEFAULT_FINDER,
        "prune_k": prune_k,
        "pairs_scored": int(len(a)),
        "fraction_of_all_pairs": round(len(a) / n_pairs(len(images)), 5),
        "shortlist_seconds": round(t1 - t0, 3),
        "exact_seconds": round(t2 - t1, 3),
        "total_seconds": round(t2 - t0, 3),
        "shortlist_cpu_seconds": round(c1 - c0, 3),
        "exact_cpu_seconds": round(c2 - c1, 3),
        "planted": len(planted),
        "planted_ranked_first": found,
    }
    if exhaustive_pairs_per_s:
        out["exhaustive_estimate_seconds"] = round(n_pairs(len(images)) / exhaustive_pairs_per_s, 1)
    return out


def _ratio(r: float) -> str:
    return f"{r:.0f}x" if r >= 10 else f"{r:.2f}x"


def run_bench(
    images: np.ndarray,
    backends: list[str],
    sample: int = 300,
    window: str = "uniform",
    device: str | None = None,
    synthetic: int | None = None,
    prune_k: int = 50,
    source: str = "",
    progress: bool = False,
    echo: Any = None,
) -> BenchResult:
    """Time the scikit-image loop on ``sample`` pairs and each backend on all pairs of ``images``.

    With ``synthetic``, also time the pruned mode on that many synthetic images of the same size.
    ``echo`` (a print-like callable) reports each stage as it finishes.
    """
    say = echo or (lambda *_: None)
    settings = SSIMSettings.named(window)
    a, b = sample_pairs(len(images), sample)
    c0 = time.process_time()
    ref_vals, ref_s = time_reference(images, a, b, settings)
    ref_cpu = time.process_time() - c0
    res = BenchResult(
        len(images),
        int(images.shape[1]),
        window,
        len(a),
        ref_s,
        hardware=hardware(),
        source=source,
        reference_cpu_seconds=ref_cpu,
    )
    say(
        f"scikit-image loop: {len(a)} pairs in {ref_s:.2f} s (cpu {ref_cpu:.2f} s) = {res.reference_pairs_per_s:,.0f} pairs/s"
    )
    for name in backends:
        if name == "reference":
            continue
        bt = time_backend(name, images, settings, (a, b, ref_vals), device=device, progress=progress)
        res.backends.append(bt)
        say(
            f"{name} ({bt.device}): {bt.pairs:,} pairs in {bt.seconds:.2f} s (cpu {bt.cpu_seconds:.2f} s) = "
            f"{bt.pairs_per_s:,.0f} pairs/s, "
            f"{_ratio(bt.pairs_per_s / res.reference_pairs_per_s)} scikit-image; max |diff| {bt.max_abs_diff:.1e}"
        )
    if synthetic:
        imgs, planted = synthetic_thumbnails(synthetic, int(images.shape[1]))
        fast = next((x.pairs_per_s for x in res.backends if x.name == "numba"), None)
        res.pruned = time_pruned(imgs, prune_k, planted, settings, exhaustive_pairs_per_s=fast)
        say(_pruned_line(synthetic, res.pruned))
    return res


def _pruned_line(synthetic: int, p: dict[str, Any]) -> str:
    """One line on the pruned mode's timing (``p``: :func:`time_pruned`'s figures) on ``synthetic`` images."""
    return (
        f"pruned mode on {synthetic:,} synthetic images: {p['pairs_scored']:,} pairs "
        f"({100 * p['fraction_of_all_pairs']:.2f}% of all) in {p['total_seconds']:.1f} s "
        f"(shortlist {p['shortlist_seconds']:.1f} s + exact {p['exact_seconds']:.1f} s; cpu "
        f"{p['shortlist_cpu_seconds'] + p['exact_cpu_seconds']:.1f} s); "
        f"planted duplicates ranked first {p['planted_ranked_first']}/{p['planted']}"
        + (
            f"; exhaustive would take ~{p['exhaustive_estimate_seconds']:.0f} s"
            if "exhaustive_estimate_seconds" in p
            else ""
        )
    )
