"""Opening a review: the scan (checked against its images), the journal, the walk; replay and merge.

Everything a review command needs besides the web server, so the CLI only parses options.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from busi_curate import __version__
from busi_curate.defaults import SCREEN_THRESHOLD
from busi_curate.errors import JournalError, ScanError
from busi_curate.fileio import file_sha256, write_csv, write_json
from busi_curate.review.groups import build_groups, merged_grades
from busi_curate.review.journal import Decision, Journal, Key, read_journal
from busi_curate.review.walk import RowPair, Walk

if TYPE_CHECKING:
    from busi_curate.scan.run import ScanResult

LOCK_NAME = ".review.lock"
EXTRA_NAME = "extra_pairs.csv"
EXTRA_COLUMNS = ["reference_class", "reference_id", "candidate_class", "candidate_id"]


def load_scan(scan_dir: str | Path, check_data: bool = True) -> ScanResult:
    """Read a scan folder and (by default) re-hash its images; ScanError if anything changed."""
    from busi_curate.scan.run import check_scan_images, read_scan

    scan = read_scan(scan_dir)
    if check_data:
        check_scan_images(scan)
    return scan


def known_keys(scan: ScanResult) -> set[Key]:
    index = scan.index
    return {(str(c), str(i)) for c, i in zip(index["class"], index["id"])}


def load_journal(path: str | Path, scan: ScanResult) -> tuple[list[Decision], list[str]]:
    """All valid lines of a journal, checked against the scan, and the warnings about skipped lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decisions = read_journal(path, known=known_keys(scan))
    return decisions, [str(w.message) for w in caught]


def read_extra_pairs(scan: ScanResult) -> list[RowPair]:
    """The extra pairs an automatic pass proposed for this scan (``extra_pairs.csv``), as rows; [] if none."""
    d = Path(scan.dir)
    p = d / EXTRA_NAME
    if not p.is_file():
        return []
    t = pd.read_csv(p, dtype=str, keep_default_na=False)
    if list(t.columns) != EXTRA_COLUMNS:
        raise ScanError(f"columns are {list(t.columns)}, expected {EXTRA_COLUMNS}", p)
    out = []
    for rc, ri, cc, ci in t.itertuples(index=False):
        try:
            out.append((scan.row_of(rc, ri), scan.row_of(cc, ci)))
        except KeyError:
            raise ScanError(f"names image {rc} {ri} or {cc} {ci}, which is not in the scan", p) from None
    return out


def write_extra_pairs(scan: ScanResult, pairs: Iterable[RowPair], source: str) -> Path:
    """Save the extra pairs (sorted, deduplicated) so later runs and the export ask them too."""
    d = Path(scan.dir)
    keys = [(scan.index.at[r, "class"], scan.index.at[r, "id"]) for r in range(scan.n)]
    rows = sorted({(min(a, b), max(a, b)) for a, b in pairs if a != b})
    t = pd.DataFrame([(*keys[a], *keys[b]) for a, b in rows], columns=EXTRA_COLUMNS)
    write_csv(d / EXTRA_NAME, t)
    write_json(
        d / (EXTRA_NAME + ".json"),
        {
            "tool": "busi-curate",
            "version": __version__,
            "source": source,
            "pairs": len(rows),
            "sha256": file_sha256(d / EXTRA_NAME),
        },
    )
    return d / EXTRA_NAME


def open_walk(scan: ScanResult, decisions: Sequence[Decision], threshold: float = SCREEN_THRESHOLD) -> Walk:
    """The walk over ``scan`` given ``decisions``, with the saved extra pairs (if any)."""
    return Walk(scan, decisions, threshold, extra_pairs=read_extra_pairs(scan))


def groups_line(decisions: Sequence[Decision], include_adjacent: bool = False) -> str:
    """e.g. ``"3 groups (2 duplet, 1 triplet), 7 images; 1 with members of different classes"``."""
    groups = build_groups(decisions, merged_grades(include_adjacent))
    kinds = Counter(g.kind for g in groups)
    order = sorted(kinds, key=lambda k: min(g.size for g in groups if g.kind == k))
    text = ", ".join(f"{kinds[k]} {k}" for k in order)
    conflicts = sum(g.class_conflict for g in groups)
    return (
        f"{len(groups)} groups ({text or 'none'}), {sum(g.size for g in groups)} images; "
        f"{conflicts} with members of different classes"
    )


@dataclass
class Replay:
    """The result of replaying a journal file against a scan."""

    walk: Walk
    decisions: list[Decision]
    warnings: list[str]


def replay(scan: ScanResult, path: str | Path, threshold: float = SCREEN_THRESHOLD) -> Replay:
    """Validate a journal file against the scan and apply it to a fresh walk (no server, no writes)."""
    path = Path(path)
    if not path.is_file():
        raise JournalError("journal file not found", path)
    decisions, warns = load_journal(path, scan)
    walk = open_walk(scan, decisions, threshold)
    return Replay(walk, decisions, warns)


def merge_into(decisions: Sequence[Decision], target: str | Path) -> int:
    """Append to journal ``target`` the lines of ``decisions`` it does not already hold (same fields,
    time included), in order; returns how many were appended. Later lines win, as always."""
    target = Path(target)
    have = {tuple(vars(d).values()) for d in read_journal(target)} if target.is_file() else set()
    n = 0
    with Journal(target) as j:
        for d in decisions:
            if tuple(vars(d).values()) not in have:
                j.append(d)
                have.add(tuple(vars(d).values()))
                n += 1
    return n


@contextlib.contextmanager
def review_lock(scan_dir: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on the scan folder's journal while writing to it (one writer at a time).

    The kernel releases the lock when the process dies, even by SIGKILL, so a crash never leaves it held.

    Raises:
        JournalError: another review (server, automatic pass or merge) holds it.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no locking
        yield
        return
    from busi_curate.fileio import open_nofollow

    path = Path(scan_dir) / LOCK_NAME
    existed = path.exists() or path.is_symlink()
    try:
        fd = open_nofollow(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise JournalError(f"cannot create the review lock ({exc.strerror or exc})", path) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JournalError("another review is writing this scan's journal (stop it first)", path) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:
            if not existed:  # leave no empty lock file behind
                with contextlib.suppress(OSError):
                    os.unlink(path)
            raise JournalError(f"cannot write the review lock ({exc.strerror or exc})", path) from None
        yield
    finally:
        os.close(fd)
