"""Checks that a manifest and its folds keep duplicates and linked images apart from leaks, even when the
files were edited and their digests recomputed.

* a manifest's rows agree with its sidecar: the policy's rule on groups (``drop-all``: no member of a
  group is kept; ``keep-one``: at most one per group), the recorded counts and the group count;
* the sidecar's ``fold_links`` are well formed;
* a folds table never puts two images of one *unit* (a kept group, or a ``fold_links`` pair) on two
  sides of a fold;
* image and mask paths stay inside the data folder (relative, no ``..``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any

import pandas as pd

from busi_curate.errors import ManifestError

if TYPE_CHECKING:
    from pathlib import Path

    from busi_curate.publish.manifest import Manifest, ManifestRow

Key = tuple[str, str]


def check_relative(value: str, column: str, line: int, path: Path) -> str:
    """``value`` when it is a relative POSIX path that stays inside the data folder.

    Raises:
        ManifestError: an absolute path, a drive, a backslash, a ``..`` part or a NUL.
    """
    parts = PurePosixPath(value).parts
    if (
        PurePosixPath(value).is_absolute()
        or PureWindowsPath(value).drive
        or "\\" in value
        or "\0" in value
        or ".." in parts
    ):
        raise ManifestError(
            f"line {line}: column {column!r} must be a path relative to the data folder, without '..', "
            f"got {value[:120]!r}",
            path,
        )
    return value


def fold_links(meta: dict[str, Any] | None, path: Path) -> list[tuple[Key, Key]]:
    """The sidecar's ``fold_links`` as pairs of ``(class, id)`` keys ([] without a sidecar).

    Raises:
        ManifestError: not a list of ``[[class, id], [class, id]]`` pairs.
    """
    raw = (meta or {}).get("fold_links", [])
    out: list[tuple[Key, Key]] = []
    ok = isinstance(raw, list)
    for pair in raw if ok else []:
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(k, list) and len(k) == 2 and all(isinstance(x, str) for x in k) for k in pair)
        ):
            ok = False
            break
        out.append(((pair[0][0], pair[0][1]), (pair[1][0], pair[1][1])))
    if not ok:
        raise ManifestError("'fold_links' must be a list of [[class, id], [class, id]] pairs", path)
    return out


def _counts(rows: Iterable[ManifestRow], kept_only: bool) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        if r.kept or not kept_only:
            out[r.cls] = out.get(r.cls, 0) + 1
    out["total"] = sum(out.values())
    return out


def check_manifest_rows(rows: Sequence[ManifestRow], meta: dict[str, Any], side: Path, path: Path) -> None:
    """The rows of ``path`` against the sidecar ``side``: policy rule on groups, counts, group count, links.

    Raises:
        ManifestError: naming the first disagreement.
    """
    groups: dict[int, list[ManifestRow]] = {}
    for r in rows:
        if r.group is not None:
            groups.setdefault(r.group, []).append(r)
    policy = meta.get("policy")
    for g, members in sorted(groups.items()):
        kept = [r for r in members if r.kept]
        if (policy == "drop-all" and kept) or (policy == "keep-one" and len(kept) > 1):
            shown = ", ".join(f"{r.cls} {r.id}" for r in kept[:4])
            raise ManifestError(
                f"keeps {len(kept)} member(s) of duplicate group {g} ({shown}), which the {policy} policy "
                "removes; manifests are never edited by hand (re-run `busi-curate export`)",
                path,
            )
    counts = meta.get("counts")
    if isinstance(counts, dict):
        for when, kept_only in (("before", False), ("after", True)):
            if when in counts and _nonzero(dict(counts[when])) != _nonzero(_counts(rows, kept_only)):
                raise ManifestError(
                    f"its {'kept' if kept_only else 'listed'} images per class {_counts(rows, kept_only)} differ "
                    f"from the counts '{when}' recorded in {side.name} {dict(counts[when])}",
                    path,
                )
    recorded = meta.get("groups")
    if isinstance(recorded, dict) and policy in ("drop-all", "keep-one"):
        n_images = sum(len(m) for m in groups.values())
        if recorded.get("count", len(groups)) != len(groups) or recorded.get("images", n_images) != n_images:
            raise ManifestError(
                f"lists {len(groups)} groups of {n_images} images; {side.name} records "
                f"{recorded.get('count')} groups of {recorded.get('images')} images",
                path,
            )
    by_key = {r.key: r for r in rows}
    for a, b in fold_links(meta, side):
        for k in (a, b):
            if k not in by_key or not by_key[k].kept:
                raise ManifestError(f"'fold_links' names {k[0]} {k[1]}, which is not a kept image", side)


def units_of(manifest: Manifest) -> dict[Key, int]:
    """Unit number of every kept image: kept members of one group and ``fold_links`` pairs share a unit."""
    from busi_curate.review.groups import UnionFind

    uf = UnionFind()
    first: dict[int, Key] = {}
    kept = manifest.kept()
    for r in kept:
        uf.find(r.key)
        if r.group is not None:
            uf.union(first.setdefault(r.group, r.key), r.key)
    keys = {r.key for r in kept}
    for a, b in fold_links(manifest.meta, manifest.dir / "manifest.json"):
        if a in keys and b in keys:
            uf.union(a, b)
    roots: dict[Key, int] = {}
    return {r.key: roots.setdefault(uf.find(r.key), len(roots)) for r in kept}


def check_fold_table(
    frame: pd.DataFrame, kept: Sequence[Key], path: Path, units: dict[Key, int] | None = None
) -> pd.DataFrame:
    """Check a text folds table (columns class, id, fold, split) over the ``kept`` images; returns it with
    ``fold`` as int. Used for folds files and for the folds a packed dataset carries.

    Raises:
        ManifestError: bad fold numbers or splits; an image not kept; an image twice in a fold; a kept image
            missing from a fold; an image in no test fold or in more than one; a unit split across a fold.
    """
    from busi_curate.data.dataset import record_sort_key

    def first(keys: Iterable[Key]) -> Key:
        return sorted(keys, key=lambda k: record_sort_key(*k))[0]

    try:
        frame = frame.assign(fold=frame["fold"].astype(int))
    except (ValueError, TypeError, OverflowError):
        raise ManifestError("column 'fold' must hold integers", path) from None
    if frame.empty:
        raise ManifestError("folds file lists no rows", path)
    if (frame["fold"] < 0).any():
        raise ManifestError("fold numbers must be >= 0", path)
    bad = sorted(set(frame["split"]) - {"test", "train", "val"})
    if bad:
        raise ManifestError(
            f"unknown split value(s) {[str(b)[:40] for b in bad[:5]]} (expected test, train, val)", path
        )
    kept_set = set(kept)
    other = set(zip(frame["class"], frame["id"])) - kept_set
    if other:
        c, i = first(other)
        raise ManifestError(f"{len(other)} image(s) listed in folds are not kept images, first {c} {i}", path)
    dup = frame.duplicated(["class", "id", "fold"])
    if dup.any():
        r = frame[dup].iloc[0]
        raise ManifestError(f"image {r['class']} {r['id']} is listed twice in fold {r['fold']}", path)
    for f, grp in frame.groupby("fold"):
        missing = kept_set - set(zip(grp["class"], grp["id"]))
        if missing:
            c, i = first(missing)
            raise ManifestError(f"fold {f} does not list {len(missing)} kept image(s), first {c} {i}", path)
    tests = frame[frame["split"] == "test"]
    n_test = tests.groupby(["class", "id"]).size()
    twice = n_test[n_test > 1]
    if len(twice):
        (c, i), n = next(iter(twice.items()))
        raise ManifestError(f"image {c} {i} is a test image in {n} folds (expected exactly one)", path)
    never = kept_set - set(zip(tests["class"], tests["id"]))
    if never:
        c, i = first(never)
        raise ManifestError(f"{len(never)} kept image(s) are in no test fold, first {c} {i}", path)
    check_units_together(frame, units or {}, path)
    return frame


def check_units_together(frame: pd.DataFrame, units: dict[Key, int], path: Path) -> None:
    """No fold puts two images of one unit in different splits (a duplicate or a linked pair on both sides).

    ``frame`` has columns class, id, fold (int), split; images missing from ``units`` are their own unit.

    Raises:
        ManifestError: naming the fold and the two images.
    """
    if not units or frame.empty:
        return
    keys = list(zip(frame["class"], frame["id"]))
    unit = [units.get(k, -1 - i) for i, k in enumerate(keys)]
    t = pd.DataFrame({"fold": frame["fold"].to_numpy(), "unit": unit, "split": frame["split"].to_numpy()})
    spread = t.groupby(["fold", "unit"])["split"].nunique()
    bad = spread[spread > 1]
    if bad.empty:
        return
    fold, u = bad.index[0]
    sel = t[(t["fold"] == fold) & (t["unit"] == u)]
    a, b = sel.index[0], sel[sel["split"] != sel["split"].iloc[0]].index[0]
    raise ManifestError(
        f"fold {fold} puts {keys[a][0]} {keys[a][1]} ({t['split'][a]}) and {keys[b][0]} {keys[b][1]} "
        f"({t['split'][b]}) on two sides, but they are one duplicate group or linked pair (fold_links); "
        "folds are never edited by hand",
        path,
    )


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    """Class counts without zero entries (a sidecar may list a class the data does not have)."""
    return {k: v for k, v in counts.items() if v}
