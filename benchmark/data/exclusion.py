"""Stage: load -- images left out of a fold's training data, for the paired leakage design (issue 19).

An exclusion file (``RunConfig.exclude``) is a CSV ``arm, draw_seed, fold, split, class, id, reason``: each
row drops one image from the ``train`` or ``val`` split of one fold; test images are never touched. It sits
beside a sidecar ``<stem>.json`` recording its SHA-256, the arm, the folds file and journal it was derived
from (with their SHA-256) and the seed of the control draw; :func:`read_exclusion` checks them.

:func:`leakage_arms` derives, from a naive folds file and a review journal, the two arms that are compared
with the unchanged naive folds (arm ``full``):

* ``copies-removed``: every same-frame copy (same-frame or identical decision, transitively) of a fold's
  test images, dropped from that fold's train and val splits;
* ``control`` (one file per seed): as many random images that are not such copies, drawn within each
  (split, class) cell with the same count as ``copies-removed`` drops there, so both arms train on lists
  of one size and class mix. Seeded: ``numpy.random.default_rng([seed, fold])``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.errors import BenchError
from busi_curate import __version__ as curate_version
from busi_curate.data.dataset import record_sort_key
from busi_curate.fileio import file_sha256, write_csv, write_json
from busi_curate.review.groups import UnionFind
from busi_curate.review.journal import read_journal

EXCLUDE_COLUMNS = ("arm", "draw_seed", "fold", "split", "class", "id", "reason")
ARM_FULL, ARM_REMOVED, ARM_CONTROL = "full", "copies-removed", "control"
ARMS = (ARM_FULL, ARM_REMOVED, ARM_CONTROL)
Key = tuple[str, str]


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def read_exclusion(path: str | Path) -> pd.DataFrame:
    """The rows of an exclusion file, checked against its sidecar.

    Raises:
        BenchError: unreadable, wrong columns, a test split, or content that differs from the sidecar's SHA-256.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        meta = json.loads(_sidecar(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot read the exclusion file or its sidecar {_sidecar(path).name} ({exc})", path) from exc
    if tuple(frame.columns) != EXCLUDE_COLUMNS:
        raise BenchError(f"an exclusion file has the columns {', '.join(EXCLUDE_COLUMNS)}", path)
    if meta.get("files", {}).get(path.name) != file_sha256(path):
        raise BenchError("content differs from the SHA-256 its sidecar recorded; exclusions are never edited", path)
    if not frame["split"].isin(["train", "val"]).all():
        raise BenchError("an exclusion may only drop train or val images (test images are never dropped)", path)
    try:
        frame["fold"] = frame["fold"].astype(int)
    except ValueError:
        raise BenchError("column 'fold' must hold integers", path) from None
    return frame


def exclusion_arm(path: str | Path) -> tuple[str, int | None]:
    """(arm, draw seed) recorded in an exclusion file's sidecar."""
    meta = json.loads(_sidecar(Path(path)).read_text(encoding="utf-8"))
    return str(meta["arm"]), meta.get("draw_seed")


def apply_exclusion(train: list[Key], val: list[Key], path: str | Path, fold: int) -> tuple[list[Key], list[Key], int]:
    """``train`` and ``val`` of ``fold`` without the images the file drops; returns them and the count dropped.

    Raises:
        BenchError: the file drops an image that is not in the split it names (derived from other folds).
    """
    frame = read_exclusion(path)
    rows = frame[frame["fold"] == fold]
    out = {"train": list(train), "val": list(val)}
    for split, part in rows.groupby("split"):
        drop = set(zip(part["class"], part["id"]))
        missing = drop - set(out[str(split)])
        if missing:
            c, i = sorted(missing)[0]
            raise BenchError(
                f"drops {c} {i} from fold {fold} {split}, which that split does not hold (another folds file?)", path
            )
        out[str(split)] = [k for k in out[str(split)] if k not in drop]
    return out["train"], out["val"], len(rows)


def copies_of_tests(parts: dict[str, list[Key]], root: Callable[[Key], object]) -> dict[Key, list[Key]]:
    """Each train / val image that is a same-frame copy of a test image of the fold -> those test images
    (``root``: the same-frame component of an image, e.g. ``UnionFind.find``)."""
    tests: dict[object, list[Key]] = {}
    for t in parts["test"]:
        tests.setdefault(root(t), []).append(t)
    return {k: tests[root(k)] for s in ("train", "val") for k in parts[s] if root(k) in tests}


def _control_draw(parts: dict[str, list[Key]], copies: set[Key], rng: np.random.Generator) -> list[tuple[str, Key]]:
    """As many non-copies as copies in each (split, class) cell, drawn without replacement."""
    picked: list[tuple[str, Key]] = []
    for split in ("train", "val"):
        for cls in sorted({k[0] for k in parts[split]}):
            need = sum(1 for k in parts[split] if k in copies and k[0] == cls)
            pool = [k for k in parts[split] if k[0] == cls and k not in copies]
            if need > len(pool):
                raise BenchError(f"cannot draw {need} control images of class {cls} from {len(pool)} in {split}")
            idx = rng.choice(len(pool), size=need, replace=False) if need else np.zeros(0, int)
            picked += [(split, pool[int(i)]) for i in sorted(idx)]
    return picked


def leakage_arms(
    folds_file: str | Path,
    manifest: str | Path,
    journal: str | Path,
    out_dir: str | Path,
    seeds: Sequence[int] = (1993,),
) -> list[Path]:
    """Write ``copies-removed.csv`` and ``control-seed<S>.csv`` (each with its sidecar) into ``out_dir``."""
    from busi_curate.publish.manifest import read_folds, read_manifest

    folds = read_folds(folds_file, read_manifest(manifest))
    uf, _ = frame_relations(journal)
    removed: list[dict[str, object]] = []
    controls: dict[int, list[dict[str, object]]] = {s: [] for s in seeds}
    for k in folds.numbers:
        parts = folds.split(k)
        copies = copies_of_tests(parts, uf.find)
        for split in ("train", "val"):
            for key in parts[split]:
                if key in copies:
                    why = "same-frame copy of test " + "; ".join(f"{c} {i}" for c, i in copies[key])
                    removed.append(dict(arm=ARM_REMOVED, draw_seed="", fold=k, split=split, reason=why, **_kv(key)))
        for s in seeds:
            draw = _control_draw(parts, set(copies), np.random.default_rng([s, k]))
            controls[s] += [
                dict(arm=ARM_CONTROL, draw_seed=s, fold=k, split=sp, reason="random non-copy", **_kv(key))
                for sp, key in draw
            ]
    base = {
        "tool": "busi-bench leakage-arms",
        "busi_curate_version": curate_version,
        "folds": str(folds_file),
        "folds_sha256": file_sha256(folds_file),
        "journal": str(journal),
        "journal_sha256": file_sha256(journal),
        "copy": "same-frame or identical decision, transitive (busi_curate.audit.leakage.relations)",
        "control": "same count per (fold, split, class) as copies-removed, drawn from the non-copies with "
        "numpy.random.default_rng([draw_seed, fold])",
    }
    out_dir = Path(out_dir)
    written = [_write(out_dir / "copies-removed.csv", removed, dict(base, arm=ARM_REMOVED, draw_seed=None))]
    for s in seeds:
        written.append(_write(out_dir / f"control-seed{s}.csv", controls[s], dict(base, arm=ARM_CONTROL, draw_seed=s)))
    return written


def _kv(key: Key) -> dict[str, str]:
    return {"class": key[0], "id": key[1]}


def _write(path: Path, rows: list[dict[str, object]], meta: dict[str, object]) -> Path:
    frame = pd.DataFrame(rows, columns=list(EXCLUDE_COLUMNS))
    if len(frame):
        order = sorted(
            range(len(frame)),
            key=lambda i: (frame["fold"][i], frame["split"][i], *record_sort_key(frame["class"][i], frame["id"][i])),
        )
        frame = frame.iloc[order]
    write_csv(path, frame)
    counts = frame.groupby(["fold", "split"]).size() if len(frame) else pd.Series(dtype=int)
    meta = dict(meta, n_rows=len(frame), per_fold_split={f"{f}/{s}": int(n) for (f, s), n in counts.items()})
    write_json(_sidecar(path), dict(meta, files={path.name: file_sha256(path)}))
    return path


def frame_relations(journal: str | Path) -> tuple[UnionFind, dict[tuple[str, str], set[tuple[str, str]]]]:
    """Same-frame components and adjacent-frame partners from the standing decisions of a journal
    (the relations of :func:`busi_curate.audit.leakage.relations`, one definition for audit and benchmark)."""
    from busi_curate.audit.leakage import relations

    uf, same = relations(read_journal(journal))
    adjacent: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for (a, b), d in same.items():
        if d.grade == "adjacent-frame":
            adjacent.setdefault(a, set()).add(b)
            adjacent.setdefault(b, set()).add(a)
    return uf, adjacent
