"""Cross-validation folds over a manifest's kept images: the scheme of the paper's code, group-safe.

Default scheme (the one in the paper's code): kept images in record order (class, natural id);
``StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)`` on the class labels gives the test
fold; inside each fold's remainder ``train_test_split(test_size=val_fraction, stratify=labels,
random_state=seed)`` separates validation from training.

Group safety: images that must not be separated (kept members of one manifest group, images of one patient
(the manifest's optional ``patient`` column), or kept
images linked by an unmerged ``adjacent-frame`` decision or by a ``same-lesion`` one -- the same lesion
in another view, never merged into a group -- listed in the sidecar's ``fold_links``) form one
*unit*; the scheme above runs over units (labelled by their first member's class) and every member
follows its unit. When every unit is a single image -- always the case with ``drop-all`` and no
links -- this is exactly the paper's scheme, image for image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from busi_curate import __version__
from busi_curate.errors import ManifestError
from busi_curate.fileio import file_sha256, write_csv, write_json
from busi_curate.publish.manifest import FOLDS_COLUMNS, MANIFEST_JSON, Key, Manifest, check_folds_frame
from busi_curate.review.groups import UnionFind

SCHEME = (
    "StratifiedKFold(n_splits=k, shuffle=True, random_state=seed) over kept units in record order; "
    "train_test_split(test_size=val_fraction, stratify=class, random_state=seed) inside each remainder"
)


@dataclass(frozen=True)
class FoldSettings:
    """How folds are drawn; saved in the sidecar."""

    k: int = 4
    seed: int = 1993
    val_fraction: float = 0.2


def fold_units(
    keys: Sequence[Key],
    groups: Sequence[int | None],
    links: Sequence[tuple[Key, Key]] = (),
    patients: Sequence[str] | None = None,
) -> list[int]:
    """Unit number per image: images sharing a duplicate group, a patient, or joined by a link get the same unit
    (one union-find over all three, so a patient's images and their copies of other patients stay together).

    Units are numbered 0.. in order of their first image.
    """
    uf = UnionFind()
    for k in keys:
        uf.find(k)
    by_group: dict[object, Key] = {}
    tagged: list[tuple[str, object] | None] = [(("group", g) if g is not None else None) for g in groups]
    tagged += [(("patient", p) if p else None) for p in (patients or ())]
    for k, g in zip([*keys, *keys[: len(patients or ())]], tagged):
        if g is not None:
            if g in by_group:
                uf.union(by_group[g], k)
            else:
                by_group[g] = k
    present = set(keys)
    for a, b in links:
        if a in present and b in present:
            uf.union(a, b)
    number: dict[Key, int] = {}
    out = []
    for k in keys:
        root = uf.find(k)
        out.append(number.setdefault(root, len(number)))
    return out


def _labels_ok(labels: np.ndarray, k: int, what: str) -> None:
    if len(labels) < k:
        raise ManifestError(f"{what}: {len(labels)} unit(s) cannot be split into {k} folds")


def _unit_labels(units: list[int], labels: Sequence[str]) -> tuple[list[int], np.ndarray]:
    """The unit numbers in order of first appearance, and each unit's label (that of its first image)."""
    order: list[int] = []
    first_label: dict[int, str] = {}
    for u, lab in zip(units, labels):
        if u not in first_label:
            first_label[u] = lab
            order.append(u)
    return order, np.array([first_label[u] for u in order])


def make_folds(
    keys: Sequence[Key],
    labels: Sequence[str],
    units: Sequence[int] | None = None,
    settings: FoldSettings = FoldSettings(),
) -> pd.DataFrame:
    """Draw the folds.

    Args:
        keys: kept images ``(class, id)`` in record order.
        labels: class label of each image (usually ``key[0]``).
        units: unit number of each image (see :func:`fold_units`); None = every image its own unit.
        settings: k, seed, validation fraction.

    Returns:
        DataFrame with :data:`FOLDS_COLUMNS`, fold-major, images in the order given; fold numbers 0..k-1.

    Raises:
        ManifestError: too few images (or units) per class for ``k`` stratified folds or for a stratified
            validation split.
    """
    from sklearn.model_selection import StratifiedKFold, train_test_split

    if settings.k < 2:
        raise ManifestError(f"k must be at least 2, got {settings.k}")
    if not 0 <= settings.val_fraction < 1:
        raise ManifestError(f"the validation fraction must be in [0, 1), got {settings.val_fraction}")
    n = len(keys)
    if units is None:
        units = list(range(n))
    units_arr = np.asarray(units)
    order, unit_labels = _unit_labels(units_arr.tolist(), labels)
    _labels_ok(unit_labels, settings.k, "test folds")
    skf = StratifiedKFold(n_splits=settings.k, shuffle=True, random_state=settings.seed)
    unit_pos = {u: i for i, u in enumerate(order)}
    img_unit_pos = np.array([unit_pos[u] for u in units_arr.tolist()])
    rows = []
    try:
        splits = list(skf.split(np.zeros(len(order)), unit_labels))
    except ValueError as exc:
        raise ManifestError(f"cannot draw {settings.k} stratified test folds ({exc})") from None
    for f, (rest, test) in enumerate(splits):
        split_of_unit = np.full(len(order), "train", dtype=object)
        split_of_unit[test] = "test"
        if settings.val_fraction > 0:
            try:
                _, val = train_test_split(
                    rest, test_size=settings.val_fraction, stratify=unit_labels[rest], random_state=settings.seed
                )
            except ValueError as exc:
                raise ManifestError(f"fold {f}: cannot draw a stratified validation split ({exc})") from None
            split_of_unit[val] = "val"
        for i, key in enumerate(keys):
            rows.append((key[0], key[1], f, split_of_unit[img_unit_pos[i]]))
    return pd.DataFrame(rows, columns=list(FOLDS_COLUMNS))


def fold_counts(folds: pd.DataFrame) -> pd.DataFrame:
    """Images per (fold, split) and class, with a total column: the table the CLI prints."""
    table = folds.groupby(["fold", "split", "class"]).size().unstack("class", fill_value=0)
    table["total"] = table.sum(axis=1)
    return table


def folds_for_manifest(
    manifest: Manifest, settings: FoldSettings = FoldSettings(), links: Sequence[tuple[Key, Key]] | None = None
) -> pd.DataFrame:
    """Folds over the kept rows of ``manifest``; ``links`` default to the sidecar's ``fold_links``."""
    kept = manifest.kept()
    if links is None:
        links = [(tuple(a), tuple(b)) for a, b in (manifest.meta or {}).get("fold_links", [])]
    keys = [r.key for r in kept]
    units = fold_units(keys, [r.group for r in kept], links, [r.patient for r in kept])
    try:
        return make_folds(keys, [r.cls for r in kept], units, settings)
    except ManifestError as exc:
        raise ManifestError(exc.message, manifest.path) from None


def folds_summary(folds: pd.DataFrame, settings: FoldSettings, units: int, images: int) -> dict[str, Any]:
    """What the sidecars record about a folds table."""
    per_fold: dict[str, dict[str, dict[str, int]]] = {}
    for (f, split, cls), n in folds.groupby(["fold", "split", "class"]).size().items():
        per_fold.setdefault(str(f), {}).setdefault(str(split), {})[str(cls)] = int(n)
    return {**asdict(settings), "scheme": SCHEME, "units": units, "images": images, "per_fold": per_fold}


def write_folds(
    manifest: Manifest, out: str | Path, settings: FoldSettings = FoldSettings()
) -> tuple[pd.DataFrame, Path]:
    """``busi-curate folds``: draw folds for ``manifest`` and write ``out`` plus its sidecar ``<stem>.json``.

    Refuses to overwrite the ``folds.csv`` that an export recorded in ``manifest.json`` (re-export instead),
    so a published manifest folder stays consistent.
    """
    out = Path(out)
    if (
        manifest.meta is not None
        and out.resolve().parent == manifest.dir.resolve()
        and out.name in manifest.meta.get("files", {})
    ):
        raise ManifestError(
            "this folds file belongs to the exported manifest (its SHA-256 is in manifest.json); "
            "write to another --out, or re-run `busi-curate export` with the new settings",
            out,
        )
    if out.suffix.lower() != ".csv":
        raise ManifestError("the folds file name must end in .csv", out)
    if out.with_suffix(".json").name == MANIFEST_JSON:
        raise ManifestError("that name would overwrite the manifest sidecar", out)
    folds = folds_for_manifest(manifest, settings)
    check_folds_frame(folds.astype({"fold": str}), manifest, out)
    kept = manifest.kept()
    links = [(tuple(a), tuple(b)) for a, b in (manifest.meta or {}).get("fold_links", [])]
    n_units = len(set(fold_units([r.key for r in kept], [r.group for r in kept], links, [r.patient for r in kept])))
    write_csv(out, folds)
    write_json(
        out.with_suffix(".json"),
        {
            "tool": "busi-curate",
            "tool_version": __version__,
            "kind": "folds",
            "manifest": {"version": manifest.version, "sha256": manifest.sha256},
            "folds": folds_summary(folds, settings, n_units, len(kept)),
            "files": {out.name: file_sha256(out)},
        },
    )
    return folds, out.with_suffix(".json")
