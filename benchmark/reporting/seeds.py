"""Stage: report -- the spread over training seeds of a table row, when several seeds of one configuration ran.

Two runs are seeds of one configuration when their resolved configs differ only in :data:`SEED_FREE`
settings (the seed, and settings that do not change what is trained: threads, device, checkpoint cadence,
evaluation batch size, the free-text label). A row then shows its first run's mean ± std over folds and,
beside it, the per-seed means (each the mean over that seed's folds): their mean, standard deviation
(ddof 1) and range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmark.profiles import SEED_FREE


def _key(cfg: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in cfg.items() if k not in SEED_FREE))


def seed_siblings(run: Any, runs: Sequence[Any]) -> tuple[Any, ...]:
    """``run`` and every run of ``runs`` that is the same configuration at another seed (one per seed)."""
    key, seen, out = _key(run.config), {run.config.get("seed")}, [run]
    for r in runs:
        if r is not run and _key(r.config) == key and r.config.get("seed") not in seen:
            seen.add(r.config.get("seed"))
            out.append(r)
    return tuple(out)


def seed_fields(fold_values: Sequence[Sequence[float | None]], seeds: Sequence[Any]) -> dict[str, Any]:
    """``n_seeds, seeds, seed_mean, seed_std, seed_min, seed_max`` from each seed's per-fold values."""
    means = []
    for vals in fold_values:
        v = [x for x in vals if x is not None and not (isinstance(x, float) and math.isnan(x))]
        means.append(float(np.mean(v)) if v else math.nan)
    ok = [m for m in means if not math.isnan(m)]
    nan = math.nan
    return {
        "n_seeds": len(ok),
        "seeds": ",".join(str(s) for s, m in zip(seeds, means) if not math.isnan(m)),
        "seed_mean": float(np.mean(ok)) if ok else nan,
        "seed_std": float(np.std(ok, ddof=1)) if len(ok) > 1 else nan,
        "seed_min": min(ok) if ok else nan,
        "seed_max": max(ok) if ok else nan,
    }


def seed_text(row: Any) -> str:
    """`` [3 seeds: 0.612 ± 0.010, 0.601-0.623]`` for a tidy row with several seeds, else ``""``."""
    try:
        n = float(row.get("n_seeds", 1))
    except (TypeError, ValueError, AttributeError):
        return ""
    if math.isnan(n) or n < 2:
        return ""
    return (
        f" [{int(n)} seeds: {row['seed_mean']:.3f} ± {row['seed_std']:.3f}, "
        f"{row['seed_min']:.3f}-{row['seed_max']:.3f}]"
    )
