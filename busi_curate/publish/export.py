"""Stage 6 -- export: turn a scan and its review journal into a versioned manifest, its folds and a sidecar.

``export_manifest`` re-loads the scanned data folder (every image's pixel hash must still match the
scan's ``index.csv``), builds duplicate groups from the standing ``same`` decisions, applies a removal
policy from :data:`POLICIES` and writes ``manifest.csv``, ``folds.csv``, ``manifest.json`` and a
generated ``README.md``. The output has no timestamps or absolute paths: the same data, scan settings,
journal and options give the same bytes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from busi_curate import __version__
from busi_curate.data.dataset import CLASSES, ImageRecord, record_sort_key
from busi_curate.defaults import JOURNAL_NAME, SCREEN_THRESHOLD
from busi_curate.errors import ManifestError
from busi_curate.fileio import file_sha256, staged_files, sweep_leftovers, write_csv, write_json, write_text
from busi_curate.publish.folds import FoldSettings, fold_units, folds_summary, make_folds
from busi_curate.publish.manifest import (
    FOLDS_CSV,
    MANIFEST_CSV,
    MANIFEST_FORMAT,
    MANIFEST_JSON,
    ManifestRow,
    check_version,
    rows_frame,
)
from busi_curate.publish.readme import by_size, render_readme
from busi_curate.review.groups import Group, build_groups, merged_grades
from busi_curate.review.journal import Decision, Grade, Key, effective, read_journal
from busi_curate.scan.run import ScanResult, check_scan_data, read_scan

UNDECIDED = ("different", "same")
#: grade given to an open question treated as ``same`` by ``--undecided same``.
UNDECIDED_SAME_GRADE: Grade = "same-frame"

Outcome = tuple[str, str]  # (status, reason)
Policy = Callable[[Group, dict[Key, ImageRecord]], dict[Key, Outcome]]


# --------------------------------------------------------------------------- policies


def drop_all(group: Group, records: dict[Key, ImageRecord]) -> dict[Key, Outcome]:
    """The paper's policy: every member of a duplicate group is removed."""
    reason = f"class conflict in group {group.id}" if group.class_conflict else f"member of group {group.id}"
    return {k: ("removed", reason) for k in group.members}


def keep_one(group: Group, records: dict[Key, ImageRecord]) -> dict[Key, Outcome]:
    """Keep one representative of a group whose members agree on class; drop groups with conflicting classes.

    The representative is the member with the largest image area (width x height: the least cropped copy),
    ties broken by record order (class, then natural id). Every other member is removed.
    """
    if group.class_conflict:
        return {k: ("removed", f"class conflict in group {group.id}") for k in group.members}
    rep = min(group.members, key=lambda k: (-records[k].width * records[k].height, record_sort_key(*k)))
    out = {k: ("removed", f"member of group {group.id}, represented by {rep[0]} {rep[1]}") for k in group.members}
    out[rep] = ("kept", f"kept as representative of group {group.id}")
    return out


#: policy name -> rule. Adding a policy is one function plus one line here (and a paragraph in docs/manifest.md).
POLICIES: dict[str, Policy] = {
    "drop-all": drop_all,
    "keep-one": keep_one,
}
DEFAULT_POLICY = "drop-all"


def policy_rule(name: str) -> str:
    """The documented rule of a policy (its docstring, on one line)."""
    doc = POLICIES[name].__doc__ or ""
    return " ".join(doc.split())


# --------------------------------------------------------------------------- open questions


def _as_pair(q: Any) -> tuple[Key, Key]:
    """Normalise one open question (whatever the walk returns) to a sorted pair of keys."""
    if hasattr(q, "pair"):
        q = q.pair
    elif hasattr(q, "reference") and hasattr(q, "candidate"):
        q = (q.reference, q.candidate)
    elif hasattr(q, "reference_class"):
        q = ((q.reference_class, q.reference_id), (q.candidate_class, q.candidate_id))
    a, b = q
    a, b = (str(a[0]), str(a[1])), (str(b[0]), str(b[1]))
    return (a, b) if a <= b else (b, a)


def open_questions(
    scan: ScanResult, decisions: Sequence[Decision], threshold: float = SCREEN_THRESHOLD
) -> list[tuple[Key, Key]]:
    """Review questions still open: the review walk's, including the assistant's saved extra pairs."""
    from busi_curate.review.session import open_walk

    walk = open_walk(scan, list(decisions), threshold=threshold)
    return sorted({_as_pair(q) for q in walk.open_questions()})


# --------------------------------------------------------------------------- export


@dataclass(frozen=True)
class ExportSettings:
    """Every option of an export; recorded in ``manifest.json``."""

    policy: str = DEFAULT_POLICY
    version: str = "1.0.0"
    undecided: str | None = None
    include_adjacent: bool = False
    threshold: float = SCREEN_THRESHOLD
    folds: FoldSettings = field(default_factory=FoldSettings)


@dataclass
class ExportResult:
    """What an export wrote (or would write)."""

    rows: list[ManifestRow]
    folds: Any  # pandas DataFrame
    meta: dict[str, Any]
    groups: list[Group]
    open_questions: list[tuple[Key, Key]]
    out: Path | None = None


def build_rows(records: Sequence[ImageRecord], groups: Sequence[Group], policy: str, version: str) -> list[ManifestRow]:
    """Manifest rows in record order, status and reason set by ``policy``."""
    if policy not in POLICIES:
        raise ManifestError(f"unknown policy {policy!r} (known: {', '.join(POLICIES)})")
    by_key = {r.key: r for r in records}
    outcome: dict[Key, Outcome] = {}
    group_of: dict[Key, int] = {}
    for g in groups:
        outcome.update(POLICIES[policy](g, by_key))
        for k in g.members:
            group_of[k] = g.id
    return [
        ManifestRow.from_record(r, version, group_of.get(r.key), *outcome.get(r.key, ("kept", ""))) for r in records
    ]


def _counts(rows: Sequence[ManifestRow], kept_only: bool) -> dict[str, int]:
    present = {r.cls for r in rows}  # BUSI's three classes always (zeros included); unlabelled data only its own
    out = dict.fromkeys(sorted(present | (set(CLASSES) if present & set(CLASSES) else set())), 0)
    for r in rows:
        if r.kept or not kept_only:
            out[r.cls] += 1
    out["total"] = sum(out.values())
    return out


def export_manifest(
    scan_dir: str | Path,
    out: str | Path | None,
    decisions_path: str | Path | None = None,
    settings: ExportSettings = ExportSettings(),
    data_dir: str | Path | None = None,
    questions: Callable[[ScanResult, Sequence[Decision], float], list[tuple[Key, Key]]] | None = None,
) -> ExportResult:
    """Build the manifest, folds and sidecar of a reviewed scan; write them into ``out`` (unless None).

    Args:
        scan_dir: scan folder (``busi-curate scan``).
        out: manifest folder to write (created); None to only compute.
        decisions_path: review journal; default ``scan_dir/decisions.csv``.
        settings: policy, version, treatment of open questions, merged grades, folds.
        data_dir: data folder, if not the one recorded in ``scan.json``.
        questions: open-question finder (default :func:`open_questions`; tests pass a fake).

    Raises:
        ManifestError: unknown policy, bad version, missing journal, open questions without ``undecided``.
        ScanError: the data changed since the scan. JournalError: the journal names unknown images.
    """
    _check_settings(settings)
    scan = read_scan(scan_dir)
    dpath, decisions = _read_decisions(scan, decisions_path)
    finder = questions or open_questions
    pending = sorted({_as_pair(q) for q in finder(scan, decisions, settings.threshold)})
    extra = _undecided(pending, settings, dpath)
    grades = merged_grades(settings.include_adjacent)
    groups = build_groups(list(decisions) + extra, grades=grades)
    records = check_scan_data(scan, data_dir)
    rows = build_rows(records, groups, settings.policy, settings.version)

    # folds: kept members of one group, and kept images joined by an unmerged 'same' decision, stay together
    kept = [r for r in rows if r.kept]
    links = _fold_links({r.key for r in kept}, list(decisions) + extra, grades)
    units = fold_units([r.key for r in kept], [r.group for r in kept], links, [r.patient for r in kept])
    try:
        folds = make_folds([r.key for r in kept], [r.cls for r in kept], units, settings.folds)
    except ManifestError as exc:
        raise ManifestError(exc.message, scan.dir) from None
    meta = _sidecar(scan, settings, dpath, decisions, pending, grades, groups, rows, links, folds, len(set(units)))
    result = ExportResult(rows, folds, meta, groups, pending, None)
    if out is not None:
        write_export(result, Path(out))
    return result


def _check_settings(settings: ExportSettings) -> None:
    if settings.policy not in POLICIES:
        raise ManifestError(f"unknown policy {settings.policy!r} (known: {', '.join(POLICIES)})")
    if settings.undecided not in (None, *UNDECIDED):
        raise ManifestError(f"--undecided must be one of {', '.join(UNDECIDED)}, got {settings.undecided!r}")
    check_version(settings.version)


def _read_decisions(scan: ScanResult, decisions_path: str | Path | None) -> tuple[Path, list[Decision]]:
    """The journal (default ``SCAN/decisions.csv``) and its lines, checked against the scan's images."""
    dpath = Path(decisions_path) if decisions_path is not None else scan.dir / JOURNAL_NAME
    if not dpath.is_file():
        raise ManifestError("decisions journal not found (review the scan first: `busi-curate review SCAN_DIR`)", dpath)
    known = {(str(c), str(i)) for c, i in zip(scan.index["class"], scan.index["id"])}
    return dpath, read_journal(dpath, known=known)


def _undecided(pending: list[tuple[Key, Key]], settings: ExportSettings, dpath: Path) -> list[Decision]:
    """The decisions ``--undecided`` stands in for the open questions; ManifestError when it is not given."""
    if pending and settings.undecided is None:
        shown = "\n".join(f"  {a[0]} {a[1]} vs {b[0]} {b[1]}" for a, b in pending[:10])
        raise ManifestError(
            f"{len(pending)} review question(s) are still open; finish the review, or say how to treat them "
            f"with --undecided different|same:\n{shown}" + ("\n  ..." if len(pending) > 10 else ""),
            dpath,
        )
    if pending and settings.undecided == "same":
        return [
            Decision(a[0], a[1], b[0], b[1], "same", UNDECIDED_SAME_GRADE, "export:undecided=same") for a, b in pending
        ]
    return []


def _fold_links(kept_keys: set[Key], decisions: list[Decision], grades: Sequence[str]) -> list[tuple[Key, Key]]:
    """Kept images joined by a standing 'same' whose grade is not merged: one fold unit, never split."""
    return sorted(
        (a, b)
        for (a, b), d in effective(decisions).items()
        if d.answer == "same" and d.grade not in grades and a in kept_keys and b in kept_keys
    )


def _sidecar(
    scan: ScanResult,
    settings: ExportSettings,
    dpath: Path,
    decisions: list[Decision],
    pending: list[tuple[Key, Key]],
    grades: Sequence[str],
    groups: list[Group],
    rows: list[ManifestRow],
    links: list[tuple[Key, Key]],
    folds: Any,
    n_units: int,
) -> dict[str, Any]:
    """What ``manifest.json`` says about the inputs, the policy, the groups, the counts and the folds."""
    kinds = Counter(g.kind for g in sorted(groups, key=lambda g: g.size))
    standing = effective(decisions)
    scan_settings = scan.meta.get("settings", {})
    meta: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "tool": "busi-curate",
        "tool_version": __version__,
        "version": settings.version,
        "dataset": rows[0].dataset if rows else "",
        "policy": settings.policy,
        "policy_rule": policy_rule(settings.policy),
        "merged_grades": list(grades),
        "include_adjacent": settings.include_adjacent,
        "undecided": {
            "treated_as": settings.undecided,
            "open_questions": len(pending),
            "grade_if_same": UNDECIDED_SAME_GRADE if settings.undecided == "same" else None,
        },
        "decisions": {
            "file": dpath.name,
            "sha256": file_sha256(dpath),
            "lines": len(decisions),
            "standing": len(standing),
            "standing_by": Counter(d.decided_by or "?" for d in standing.values()),
            "standing_answers": Counter(f"{d.answer} {d.grade}".strip() for d in standing.values()),
        },
        "scan": {
            "n_images": scan.n,
            "index_sha256": scan.meta.get("files", {}).get("index.csv"),
            "threshold": settings.threshold,
            "settings": {k: scan_settings.get(k) for k in ("size", "backend", "window", "mode", "top_k")},
            "ssim": scan.meta.get("ssim"),
        },
        "groups": {
            "count": len(groups),
            "kinds": dict(sorted(kinds.items())),
            "images": sum(g.size for g in groups),
            "class_conflicts": sum(g.class_conflict for g in groups),
        },
        "counts": {"before": _counts(rows, False), "after": _counts(rows, True)},
        "fold_links": [[list(a), list(b)] for a, b in links],
        "folds": folds_summary(folds, settings.folds, n_units, sum(r.kept for r in rows)),
        "files": {},
    }
    return meta


def write_export(result: ExportResult, out: Path) -> None:
    """Write ``manifest.csv``, ``folds.csv``, ``manifest.json`` and ``README.md`` into ``out`` (each atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(out)  # temporary files a killed export left
    with staged_files(out) as stage:  # all four files or none (a full disk leaves the earlier export whole)
        m, f = stage(MANIFEST_CSV), stage(FOLDS_CSV)
        write_csv(m, rows_frame(result.rows))
        write_csv(f, result.folds)
        result.meta["files"] = {MANIFEST_CSV: file_sha256(m), FOLDS_CSV: file_sha256(f)}
        write_json(stage(MANIFEST_JSON), result.meta)
        write_text(stage("README.md"), render_readme(result.meta, out.name))
    result.out = out


def export_summary(result: ExportResult) -> list[str]:
    """Lines the CLI prints after an export."""
    m = result.meta
    b, a = m["counts"]["before"], m["counts"]["after"]
    cls = [c for c in b if c != "total"]
    lines = [
        f"{m['groups']['count']} group(s) ({', '.join(f'{n} {k}' for k, n in by_size(m['groups']['kinds'])) or 'none'}), "
        f"{m['groups']['class_conflicts']} with a class conflict; policy {m['policy']}",
        "kept " + ", ".join(f"{c} {a[c]}/{b[c]}" for c in cls) + f"; total {a['total']}/{b['total']}",
    ]
    if m["undecided"]["open_questions"]:
        lines.append(
            f"warning: {m['undecided']['open_questions']} open question(s) treated as {m['undecided']['treated_as']}"
        )
    return lines


__all__ = ["POLICIES", "ExportResult", "ExportSettings", "export_manifest", "open_questions"]
