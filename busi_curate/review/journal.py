"""The review journal ``decisions.csv``: append-only, fsync'ed line by line, tolerant of a crash mid-line.

Columns (a contract other tools read)::

    reference_class, reference_id, candidate_class, candidate_id, answer, grade, decided_by, evidence, time

``answer`` is ``same``, ``different`` or ``skip``; ``undo`` revokes the latest earlier decision on
the same pair (nothing is ever deleted). ``grade`` (for ``same``) is ``identical``, ``same-frame``,
``adjacent-frame`` or ``same-lesion`` (the same lesion seen in another view: not a copy, never merged into a
duplicate group, but kept in one fold unit; journals written before it existed never hold it). ``decided_by``
is ``auto`` or the reviewer's name. ``time`` is ISO 8601 UTC. The latest line on an (unordered) pair is its
decision.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import astuple, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, cast, get_args

from busi_curate.data.ids import CLASS_RE, Key, check_id
from busi_curate.errors import JournalError
from busi_curate.fileio import fsync_dir, open_nofollow, refuse_link

JOURNAL_COLUMNS = [
    "reference_class",
    "reference_id",
    "candidate_class",
    "candidate_id",
    "answer",
    "grade",
    "decided_by",
    "evidence",
    "time",
]
#: What a journal line answers about a pair.
Answer = Literal["same", "different", "skip", "undo"]
#: How alike the two images of a "same" pair are ("" for every other answer).
Grade = Literal["", "identical", "same-frame", "adjacent-frame", "same-lesion"]
ANSWERS: tuple[Answer, ...] = get_args(Answer)
GRADES: tuple[Grade, ...] = tuple(g for g in get_args(Grade) if g)

#: Reviewer names: 1-64 ASCII letters, digits, space, ``. _ - @``.
REVIEWER_RE = re.compile(r"[A-Za-z0-9._@-](?:[A-Za-z0-9 ._@-]{0,62}[A-Za-z0-9._@-])?", re.ASCII)
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z", re.ASCII)


def check_reviewer(name: str) -> str:
    """``name`` when it is a valid reviewer name (:data:`REVIEWER_RE`); raises ValueError otherwise."""
    if name == "auto":
        raise ValueError("reviewer name 'auto' is reserved for the automatic assistant")
    if not REVIEWER_RE.fullmatch(name):
        raise ValueError(f"reviewer name {name!r} must be 1-64 ASCII letters, digits, spaces or . _ - @")
    return name


@dataclass(frozen=True)
class Decision:
    """One journal line."""

    reference_class: str
    reference_id: str
    candidate_class: str
    candidate_id: str
    answer: Answer
    grade: Grade = ""
    decided_by: str = ""
    evidence: str = ""
    time: str = ""

    @property
    def reference(self) -> Key:
        return (self.reference_class, self.reference_id)

    @property
    def candidate(self) -> Key:
        return (self.candidate_class, self.candidate_id)

    @property
    def pair(self) -> tuple[Key, Key]:
        """The unordered pair, as a sorted tuple of ``(class, id)`` keys."""
        a, b = self.reference, self.candidate
        return (a, b) if a <= b else (b, a)

    def validate(self) -> None:
        """Check every field; raises ValueError naming the first that is wrong."""
        for name in ("reference_class", "candidate_class"):
            if not CLASS_RE.fullmatch(getattr(self, name)):
                raise ValueError(f"{name} {getattr(self, name)!r} is not a class name")
        for name in ("reference_id", "candidate_id"):
            check_id(getattr(self, name))
        if self.decided_by and self.decided_by != "auto":
            check_reviewer(self.decided_by)
        if any(c in self.evidence for c in "\r\n") or any(
            unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in self.evidence
        ):
            raise ValueError("evidence contains a line break or control character")
        if self.time and not _TIME_RE.fullmatch(self.time):
            raise ValueError(f"time {self.time!r} is not ISO 8601 UTC (YYYY-MM-DDTHH:MM:SSZ)")
        if self.answer not in ANSWERS:
            raise ValueError(f"answer must be one of {ANSWERS}, got {self.answer!r}")
        if self.answer == "same" and self.grade not in GRADES:
            raise ValueError(f"a 'same' decision needs a grade in {GRADES}, got {self.grade!r}")
        if self.answer != "same" and self.grade:
            raise ValueError(f"only 'same' decisions carry a grade (got {self.grade!r} with {self.answer!r})")
        if self.reference == self.candidate:
            raise ValueError("an image cannot be compared with itself")


def _last_byte(path: Path) -> bytes:
    fd = open_nofollow(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1)


def now() -> str:
    """Current time, ISO 8601 UTC to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _line(d: Decision) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(astuple(d))
    return buf.getvalue()


class Journal:
    """Append-only writer. Every :meth:`append` is flushed and fsync'ed before it returns."""

    def __init__(self, path: str | Path) -> None:
        self.path = refuse_link(Path(path))
        self._fd = -1
        self._broken = ""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = open_nofollow(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        except OSError as exc:
            raise JournalError(f"cannot open the journal for writing ({exc.strerror or exc})", self.path) from None
        try:
            if os.fstat(self._fd).st_size == 0:
                self._write(",".join(JOURNAL_COLUMNS) + "\n")
                with contextlib.suppress(OSError):
                    fsync_dir(self.path.parent)
            elif _last_byte(self.path) != b"\n":  # a line cut by a crash: end it, so it stays one (skipped) line
                self._write("\n")
        except BaseException:
            self.close()
            raise

    def _write(self, text: str) -> None:
        """Append ``text`` whole or not at all: unbuffered writes, fsync; on any error the file is cut back
        to its size before (so a line the caller was told failed never reaches the file) and
        :class:`JournalError` is raised."""
        if self._broken:
            raise JournalError(self._broken, self.path)
        data = memoryview(text.encode("utf-8"))
        size = os.fstat(self._fd).st_size
        try:
            while data:
                data = data[os.write(self._fd, data) :]
            os.fsync(self._fd)
        except OSError as exc:
            why = exc.strerror or str(exc)
            try:
                os.ftruncate(self._fd, size)
                os.fsync(self._fd)
            except OSError:
                self._broken = (
                    f"a failed write ({why}) could not be taken back; stop the review and check the journal's last line"
                )
            raise JournalError(f"could not save to the journal ({why}); nothing was written", self.path) from None

    def append(self, decision: Decision) -> Decision:
        """Validate, stamp the time if empty, write, fsync. Returns the decision as written."""
        decision.validate()
        if not decision.time:
            decision = replace(decision, time=now())
        self._write(_line(decision))
        return decision

    def extend(self, decisions: Iterable[Decision]) -> None:
        for d in decisions:
            self.append(d)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_journal(path: str | Path, known: set[Key] | None = None) -> list[Decision]:
    """Read every valid line of a journal, in order.

    A line cut in half by a crash (or otherwise unparseable) is skipped with a warning; earlier and
    later lines are kept.

    Args:
        known: the ``(class, id)`` keys of the scan; a line naming another image is an error.

    Raises:
        JournalError: wrong header, or lines naming images that are not in the scan.
    """
    path = Path(path)
    if not path.exists():
        return []
    if path.is_symlink() or not path.is_file():
        raise JournalError("not a regular file (a journal is never read through a link)", path)
    # split on "\n" only: str.splitlines would also break inside ids or names at U+2028, U+0085, \x1c...
    text = path.read_bytes().decode("utf-8", errors="replace")
    # CR LF (Windows) and CR alone (old Excel exports) end lines too; no valid field holds a CR
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return []
    lines = [ln + "\n" for ln in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    if lines[-1] == "":
        lines.pop()
    try:
        header = next(csv.reader([lines[0]]))
    except csv.Error as exc:
        raise JournalError(f"cannot parse the header line ({exc})", path) from None
    if header != JOURNAL_COLUMNS:
        raise JournalError(f"not a decisions journal: header is {header}, expected {JOURNAL_COLUMNS}", path)
    out: list[Decision] = []
    unknown: list[str] = []
    for n, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        try:
            row = next(csv.reader([raw]))
            if len(row) != len(JOURNAL_COLUMNS) or not raw.endswith("\n"):
                raise ValueError(f"{len(row)} fields" + ("" if raw.endswith("\n") else ", no line end"))
            answer, grade = cast(Answer, row[4]), cast(Grade, row[5])  # checked by validate() below
            d = Decision(row[0], row[1], row[2], row[3], answer, grade, row[6], row[7], row[8])
            d.validate()
        except (ValueError, csv.Error) as exc:
            warnings.warn(f"{path}:{n}: skipped a damaged journal line ({exc}): {raw.strip()[:80]!r}", stacklevel=2)
            continue
        if known is not None:
            for k in (d.reference, d.candidate):
                if k not in known:
                    unknown.append(f"  line {n}: {k[0]} {k[1]}")
        out.append(d)
    if unknown:
        raise JournalError(
            f"{len(unknown)} journal line(s) name images that are not in the scan:\n" + "\n".join(unknown[:20]), path
        )
    return out


def undo_id(d: Decision) -> str:
    """How an undo names the decision it takes back: pair, answer and time."""
    return f"{d.reference_class} {d.reference_id}|{d.candidate_class} {d.candidate_id}|{d.answer}|{d.time}"


def undo_applies(undo: Decision, top: Decision) -> bool:
    """Whether ``undo`` revokes ``top`` (the standing decision of its pair).

    An undo written since version 0.2 names its decision (evidence ``undo <answer> @ <time>``) and revokes
    only that one, so a duplicated undo revokes nothing more; an older undo revokes whatever stands.
    """
    _, sep, when = undo.evidence.partition(" @ ")
    return not sep or (top.time == when and undo.evidence.split(" @ ")[0] == f"undo {top.answer}")


def apply_line(stack: list[Decision], d: Decision) -> Decision | None:
    """Apply one journal line to its pair's stack of answers (the standing one last).

    The one undo rule, shared by :func:`effective` and the review walk: an ``undo`` pops the decision
    it names (:func:`undo_applies`) and returns it; any other answer is pushed. Returns None when
    nothing was taken back.
    """
    if d.answer != "undo":
        stack.append(d)
        return None
    return stack.pop() if stack and undo_applies(d, stack[-1]) else None


def effective(decisions: Iterable[Decision]) -> dict[tuple[Key, Key], Decision]:
    """The standing decision on each pair: the latest line, with ``undo`` revoking the one it names."""
    stacks: dict[tuple[Key, Key], list[Decision]] = {}
    for d in decisions:
        apply_line(stacks.setdefault(d.pair, []), d)
    return {pair: st[-1] for pair, st in stacks.items() if st}
