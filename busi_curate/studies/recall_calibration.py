"""Calibration of the ``faiss`` finder's shortlist (issue 21): its recall of exhaustive SSIM, step by step.

On a ``bench-scale`` data set (``busi_curate.studies.scale_data``), 100 reference rows (``default_rng([seed, 5])``,
as :func:`busi_curate.studies.scale_bench.shortlist_check`) are scored against every image by exact 128 px SSIM;
then the finder's own steps (:mod:`busi_curate.scan.ann`: descriptors, index, ``WIDEN * k`` neighbours, the 64 px
re-score and refinement, the range search) run on all images, and the share of those rows' top-10 pairs and of
their pairs with SSIM >= the screening threshold that each step holds is printed, with each step's CPU-seconds.
It also prints the smallest descriptor inner product of a pair in that band (what ``RANGE_THRESHOLD`` must stay
under). Calibrate on one seed, report on another (``bench-scale --check-rows``)::

    python -m busi_curate.studies.recall_calibration DATA --seed 0
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROWS = 100


def calibrate(data: Path, seed: int, k: int = 50) -> list[str]:
    """The report's lines (module docstring)."""
    from busi_curate.data.dataset import load_dataset
    from busi_curate.scan import ann
    from busi_curate.scan.prune import CASCADE_WINDOW, shrink
    from busi_curate.ssim import SSIMSettings, get_backend
    from busi_curate.studies.scale_bench import exhaustive_truth

    clock = time.process_time
    thumbs = load_dataset(data, thumbnail_size=128).thumbnails
    assert thumbs is not None
    n = len(thumbs)
    sample = np.sort(np.random.default_rng([seed, 5]).choice(n, size=min(ROWS, n), replace=False))
    ref = get_backend("numba", settings=SSIMSettings.named("uniform"))
    top, band = exhaustive_truth(ref, ref.prepare(thumbs), n, sample)
    lines = [f"{n} images, {ROWS} rows (seed {seed}): {len(top)} top-10 pairs, {len(band)} pairs in the band"]

    def held(codes: np.ndarray, what: str, t0: float) -> None:
        lines.append(
            f"{what}: {len(codes):,} pairs, top-10 {np.isin(top, codes).sum()}/{len(top)}, "
            f"band {np.isin(band, codes).sum()}/{len(band)} ({clock() - t0:.1f} CPU-s)"
        )

    desc = ann.ssim_descriptor(thumbs)
    ip = np.einsum("ij,ij->i", desc[band // n], desc[band % n])
    lines.append(
        f"smallest descriptor inner product in the band: {ip.min():.3f} (range threshold {ann.RANGE_THRESHOLD})"
    )
    t0 = clock()
    index = ann.descriptor_index(desc)
    wide = ann.search(index, desc, ann.WIDEN * k)
    wa, wb = ann.neighbour_pairs_of(wide)
    held(wa * n + wb, f"{type(index).__name__} {ann.WIDEN * k} neighbours", t0)
    t0 = clock()
    ra, rb = ann.range_pairs(index, desc, ann.RANGE_THRESHOLD)
    held(ra * n + rb, f"range >= {ann.RANGE_THRESHOLD}", t0)
    backend = get_backend("numba", settings=SSIMSettings(win_size=CASCADE_WINDOW))
    half = backend.prepare(shrink(thumbs, 64))
    t0 = clock()
    keep = ann.KEEP * k
    best, _, _ = ann.descend(lambda a, b: backend.pairs_prepared(half, a, b) if len(a) else np.zeros(0), wide, keep)
    ka, kb = ann.neighbour_pairs_of(best)
    held(ka * n + kb, f"64 px best {keep} + refinement", t0)
    held(np.unique(np.concatenate([ka * n + kb, ra * n + rb])), "the finder's pairs (best + range)", clock())
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data", type=Path, help="a bench-scale data folder (WORK/data)")
    p.add_argument("--seed", type=int, default=0, help="draw of the reference rows")
    args = p.parse_args()
    for line in calibrate(args.data, args.seed):
        print(line, flush=True)


if __name__ == "__main__":
    main()
