"""The mutants file and the records of a run (shared by ``run.py`` and ``report.py``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MUTANTS = Path(__file__).with_name("mutants.yaml")


@dataclass(frozen=True)
class Mutant:
    """One single change to the code, and the tests that should notice it."""

    id: str
    file: str
    original: str
    replacement: str
    tests: tuple[str, ...]
    what: str
    equivalent: str = ""
    issue: int = 0  # the issue-25 survivor it reconstructs (1-7; 8: the note on SSIM defaults; 0: new)


@dataclass
class Outcome:
    mutant: Mutant
    status: str
    seconds: float = 0.0
    detail: str = ""
    commit: str = ""


@dataclass
class Run:
    outcomes: list[Outcome] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    commit: str = ""
    baseline: dict[tuple[str, ...], str] = field(default_factory=dict)


class MutantError(Exception):
    """A malformed mutants file (the message names the entry)."""


def load_mutants(path: Path = MUTANTS) -> list[Mutant]:
    """Read and check ``mutants.yaml`` (ids unique, every field present, the file existing)."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise MutantError(f"{path}: expected a list of mutants")
    out: list[Mutant] = []
    seen: set[str] = set()
    for n, entry in enumerate(data, start=1):
        if not isinstance(entry, dict):
            raise MutantError(f"{path}: entry {n} is not a mapping")
        missing = [k for k in ("id", "file", "original", "replacement", "tests", "what") if k not in entry]
        if missing:
            raise MutantError(f"{path}: entry {n} ({entry.get('id', '?')}) lacks {', '.join(missing)}")
        m = Mutant(
            id=str(entry["id"]),
            file=str(entry["file"]),
            original=str(entry["original"]),
            replacement=str(entry["replacement"]),
            tests=tuple(str(t) for t in entry["tests"]),
            what=str(entry["what"]),
            equivalent=str(entry.get("equivalent", "")),
            issue=int(entry.get("issue", 0)),
        )
        if m.id in seen:
            raise MutantError(f"{path}: mutant id {m.id!r} is used twice")
        if m.original == m.replacement:
            raise MutantError(f"{path}: mutant {m.id!r} changes nothing")
        seen.add(m.id)
        out.append(m)
    return out


def busi_dir() -> str | None:
    """Where the real BUSI is, as ``tests/conftest.py`` would find it from the working tree."""
    env = os.environ.get("BUSI_DIR")
    if env:
        return env
    default = REPO.parent / "shared" / "data" / "BUSI"
    return str(default) if default.is_dir() else None
