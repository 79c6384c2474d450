"""The profile line every report table starts with, from the runs' config, provenance and train.log only.

Folds, epochs, image draws per epoch (and whether the rows with and without DO drew the same number), the
precision and why, the CPU/GPU the runs trained on and the commits: nothing here is typed by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

#: "training: 272 images (837 after oversampling, 400 drawn per epoch)" (``train.py``'s log line)
_DRAWN = re.compile(r"training: (\d+) images \((\d+) after oversampling, (\d+) drawn per epoch\)")


class _Run(Protocol):
    name: str
    path: Path
    folds: list[dict[str, Any]]
    config: dict[str, Any]


def fold_draws(run_dir: Path, fold: dict[str, Any], cfg: dict[str, Any]) -> int | None:
    """Images one epoch of ``fold`` drew: from its ``train.log`` (last training start), else from the config.

    Without the log the count is exact when every epoch draws ``images_per_epoch`` (``draws: fixed``), when
    the list is the training split itself (no DO), or when the split holds at least ``images_per_epoch``.
    """
    log = run_dir / f"fold{fold.get('fold')}" / "train.log"
    if log.is_file():
        found = _DRAWN.findall(log.read_text(encoding="utf-8", errors="replace"))
        if found:
            return int(found[-1][2])
    ipe, n = int(cfg.get("images_per_epoch") or 0), fold.get("n_train")
    if ipe and cfg.get("draws") == "fixed":
        return ipe
    if n is None:
        return None
    if not cfg.get("oversample"):
        return min(ipe, int(n)) if ipe else int(n)
    return ipe if ipe and ipe <= int(n) else None


def _precision(run: _Run) -> str:
    """The precision every fold of ``run`` trained in, and why (folds may have run on different machines)."""
    out = []
    for f in run.folds or [{}]:
        prov = f.get("provenance", {})
        if "precision" in prov:
            out.append(f"{prov['precision']} ({prov.get('precision_reason', '')})")
        else:
            out.append(
                f"{run.config.get('precision', 'auto')} (the profile's setting; the reason was not recorded then)"
            )
    return _join(out)


def fold_values(run: _Run, key: str) -> str:
    """The distinct values of provenance ``key`` over the folds of ``run`` (folds may come from different machines
    or commits)."""
    return _join(f.get("provenance", {}).get(key, "?") for f in run.folds)


def fold_hardware(run: _Run) -> str:
    """The machines the folds of ``run`` trained on (one entry per distinct machine)."""
    return fold_values(run, "hardware")


def _join(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in sorted(set(values), key=str)) or "?"


def profile_lines(runs: Sequence[_Run]) -> list[str]:
    """Markdown note lines: the profile of the runs behind a table, and the DO draw confound when there is one."""
    runs = [r for r in runs if r.folds]
    if not runs:
        return []
    by_do: dict[bool, set[int | None]] = {True: set(), False: set()}
    for r in runs:
        for f in r.folds:
            if f.get("epochs_run") is not None:  # trained here (a combination of two runs trains nothing)
                by_do[bool(r.config.get("oversample"))].add(fold_draws(r.path, f, r.config))
    provs = [f["provenance"] for r in runs for f in r.folds if "provenance" in f]
    lines = [
        f"- profile of these rows (from their config.yaml / metrics.json / train.log): "
        f"{_join(r.config.get('profile') for r in runs)}; folds per row {_join(len(r.folds) for r in runs)}; "
        f"{_join(r.config.get('epochs') for r in runs)} epochs max "
        f"({_join(f['epochs_run'] for r in runs for f in r.folds if f.get('epochs_run') is not None)} run); "
        f"{_join(r.config.get('image_size') for r in runs)} px; precision {_join(_precision(r) for r in runs)}; "
        f"hardware {_join(p.get('hardware', '?') for p in provs)}; commit {_join(p.get('git_commit', '?') for p in provs)}",
    ]
    draws = {do: _join("?" if d is None else d for d in ds) for do, ds in by_do.items() if ds}
    text = "; ".join(f"{'with' if do else 'without'} DO {d}" for do, d in sorted(draws.items(), reverse=True))
    if len(draws) == 2 and by_do[True] != by_do[False]:
        lines.append(
            f"- image draws per epoch: {text}. **DO confound**: rows with DO trained on more image draws than "
            "rows without, so a DO row's gain mixes oversampling with longer training"
        )
    else:
        lines.append(
            f"- image draws per epoch: {text}" + (" (the same with and without DO)" if len(draws) == 2 else "")
        )
    return lines
