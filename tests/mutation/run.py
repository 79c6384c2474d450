"""Mutation testing over a curated list of mutants (``make mutation``): a plain script, never collected by pytest.

Each mutant in ``mutants.yaml`` names a file, an exact snippet of it (found exactly once), its replacement and
the test selection that should notice the change. The runner copies the repository's files (tracked and
untracked-but-not-ignored, as ``git ls-files`` lists them) to a temporary folder, checks that each selection
passes there unchanged (the baseline), then for each mutant writes the changed file into the copy, runs the
selection with a timeout and restores the file. The working tree is never written to, except the report.

Outcomes: ``killed`` (a test failed, or the suite could not be collected), ``timeout`` (counted as killed, as
cosmic-ray does), ``survived``, ``stale`` (the snippet is no longer in the file, or more than once: fix the
entry), ``equivalent`` (listed with its reason, not run, excluded from the score) and ``error`` (the selection
collected no test or its baseline fails: not counted, fix the entry). Score = (killed + timeout) /
(killed + timeout + survived).

Usage::

    python tests/mutation/run.py                      # every mutant; writes docs/mutation.md
    python tests/mutation/run.py --only fold-links-ignored --only holm-family --no-report
    python tests/mutation/run.py --list
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MUTANTS = Path(__file__).with_name("mutants.yaml")
REPORT = REPO / "docs" / "mutation.md"
RESULTS = REPO / "docs" / "mutation.json"
COUNTED = ("killed", "timeout", "survived")


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
    issue: int = 0  # number of the issue-25 original it reconstructs (0: new)


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


def copy_tree(dst: Path) -> None:
    """Copy the files git knows of (tracked, and untracked but not ignored) into ``dst``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        src = REPO / rel
        if not src.is_file() or src.is_symlink():
            continue
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst / rel)


def busi_dir() -> str | None:
    """Where the real BUSI is, as ``tests/conftest.py`` would find it from the working tree."""
    env = os.environ.get("BUSI_DIR")
    if env:
        return env
    default = REPO.parent / "shared" / "data" / "BUSI"
    return str(default) if default.is_dir() else None


#: third-party libraries imported once by the runner, before any fork, so each test run starts warm (mutmut 3
#: forks the same way). The project's own packages are never imported here: each forked child imports them
#: from the mutated copy.
PRELOAD = (
    "numpy",
    "pandas",
    "scipy.ndimage",
    "scipy.stats",
    "skimage.metrics",
    "skimage.transform",
    "sklearn.model_selection",
    "statsmodels.stats.multitest",
    "statsmodels.stats.contingency_tables",
    "PIL.Image",
    "yaml",
    "click",
    "numba",
    "torch",
    "monai",
    "pytest",
    "hypothesis",
)


def preload() -> list[str]:
    """Import :data:`PRELOAD` (those installed); returns the names imported."""
    import importlib

    done = []
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        done.append(name)
    leaked = [m for m in sys.modules if m.split(".")[0] in ("busi_curate", "benchmark")]
    if leaked:  # a preloaded library imported the project: the children would test the unmutated code
        raise RuntimeError(f"the runner imported the project's own modules before forking: {leaked[:5]}")
    return done


def _child(tree: Path, tests: tuple[str, ...], log: Path) -> None:
    """In the forked child: run pytest on ``tests`` inside ``tree`` and exit with its status."""
    code = 3
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.chdir(tree)
        os.environ.update(PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
        os.environ.pop("CI", None)  # a mutant run is not CI: real-data skips stay skips
        where = busi_dir()
        if where:
            os.environ["BUSI_DIR"] = where
        sys.path.insert(0, str(tree))
        sys.dont_write_bytecode = True
        import pytest

        code = int(pytest.main(["-q", "-x", "--no-header", "-p", "no:cacheprovider", *tests]))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run_tests(tree: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float, str]:
    """Run one test selection in ``tree`` in a forked child: ``(passed|failed|timeout|error, seconds, last line)``."""
    log = tree.parent / "pytest.log"
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        _child(tree, tests, log)
    status = None
    try:
        while time.monotonic() - start < timeout:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
    finally:
        if status is None:  # timed out, or the runner itself was stopped: stop the child too
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    if status is None:
        return "timeout", time.monotonic() - start, f"over {timeout:.0f} s"
    seconds = time.monotonic() - start
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return "passed", seconds, last
    if code in (1, 2):  # 1: a test failed; 2: interrupted, e.g. the mutant broke an import
        return "failed", seconds, last
    return "error", seconds, f"pytest exit {code}: {last}"


def apply(tree: Path, m: Mutant) -> str | None:
    """Write the mutant into ``tree``; returns the original text, or None when the snippet is stale."""
    path = tree / m.file
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    if text.count(m.original) != 1:
        return None
    path.write_text(text.replace(m.original, m.replacement), encoding="utf-8")
    return text


def check_snippets(mutants: list[Mutant]) -> int:
    """Print each mutant whose snippet is not found exactly once in the working tree; 1 if any."""
    stale = 0
    for m in mutants:
        path = REPO / m.file
        n = path.read_text(encoding="utf-8").count(m.original) if path.is_file() else 0
        if n != 1:
            stale += 1
            print(f"stale: {m.id}: snippet found {n} times in {m.file}")
    print(f"{len(mutants) - stale} of {len(mutants)} snippets found exactly once")
    return 1 if stale else 0


def run_one(tree: Path, m: Mutant, timeout: float, baseline: dict[tuple[str, ...], str]) -> Outcome:
    if m.equivalent:
        return Outcome(m, "equivalent", detail=m.equivalent)
    original = apply(tree, m)
    if original is None:
        n = (tree / m.file).read_text(encoding="utf-8").count(m.original) if (tree / m.file).is_file() else 0
        return Outcome(m, "stale", detail=f"snippet found {n} times in {m.file}")
    try:
        if baseline.get(m.tests, "passed") != "passed":
            return Outcome(m, "error", detail=f"baseline of the selection: {baseline[m.tests]}")
        result, seconds, last = run_tests(tree, m.tests, timeout)
    finally:
        (tree / m.file).write_text(original, encoding="utf-8")
    status = {"passed": "survived", "failed": "killed", "timeout": "timeout", "error": "error"}[result]
    return Outcome(m, status, seconds, last)


def run_all(mutants: list[Mutant], timeout: float, baseline_check: bool) -> Run:
    run = Run(load_before=os.getloadavg(), commit=_commit())
    start = time.monotonic()
    print(f"preloaded: {', '.join(preload())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="busi-mutation-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        copy_tree(tree)
        if baseline_check:
            for sel in sorted({m.tests for m in mutants if not m.equivalent}):
                result, seconds, last = run_tests(tree, sel, timeout * 2)
                run.baseline[sel] = result if result == "passed" else f"{result} ({last})"
                print(f"baseline {' '.join(sel)}: {result} in {seconds:.1f} s", flush=True)
        for n, m in enumerate(mutants, start=1):
            o = run_one(tree, m, timeout, run.baseline)
            run.outcomes.append(o)
            print(f"[{n}/{len(mutants)}] {m.id}: {o.status} ({o.seconds:.1f} s) {o.detail}", flush=True)
    run.wall_s = time.monotonic() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    run.cpu_s = usage.ru_utime + usage.ru_stime
    return run


def score(outcomes: list[Outcome]) -> tuple[int, int]:
    """(detected, counted): killed + timeout over killed + timeout + survived."""
    c = Counter(o.status for o in outcomes)
    return c["killed"] + c["timeout"], sum(c[s] for s in COUNTED)


def module_of(path: str) -> str:
    """The row of the report's table: the package for ``ssim/``, else the file."""
    return "busi_curate/ssim/" if path.startswith("busi_curate/ssim/") else path


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout
    return proc.stdout.strip() + (" (with uncommitted changes)" if dirty.strip() else "")


def _table(outcomes: list[Outcome]) -> list[str]:
    rows = ["| module | mutants | killed | survived | equivalent | stale / error |", "|---|---|---|---|---|---|"]
    by_mod: dict[str, Counter[str]] = {}
    for o in outcomes:
        by_mod.setdefault(module_of(o.mutant.file), Counter())[o.status] += 1
    for mod, c in sorted(by_mod.items()):
        rows.append(
            f"| `{mod}` | {sum(c.values())} | {c['killed'] + c['timeout']} | {c['survived']} | "
            f"{c['equivalent']} | {c['stale'] + c['error']} |"
        )
    return rows


def _listing(outcomes: list[Outcome], status: str, with_detail: bool) -> list[str]:
    out = []
    for o in outcomes:
        if o.status == status:
            m = o.mutant
            tail = f" -- {o.detail}" if with_detail and o.detail else ""
            out.append(f"- `{m.id}` ({m.file}): {m.what}{tail}")
    return out or ["- none"]


def run_record(run: Run, argv: list[str]) -> dict[str, object]:
    """What the report says about one invocation: command, commit, machine, load, time."""
    return {
        "command": " ".join(["python", "tests/mutation/run.py", *argv]),
        "commit": run.commit,
        "mutants": len(run.outcomes),
        "machine": f"{os.cpu_count()} cores, {_cpu_name()}",
        "load_before": [round(x, 2) for x in run.load_before],
        "wall_s": round(run.wall_s),
        "cpu_s": round(run.cpu_s),
        "busi": busi_dir() or "",
    }


def save_results(run: Run, argv: list[str], merge: bool, path: Path = RESULTS) -> dict[str, object]:
    """Write the outcomes (JSON); with ``merge``, this run's outcomes replace those of the same mutants in the
    previous results and the others are kept, each with the commit it ran at."""
    import json

    old: dict[str, object] = json.loads(path.read_text()) if merge and path.is_file() else {}
    record = run_record(run, argv)
    outcomes = dict(old.get("outcomes", {})) if merge else {}  # type: ignore[call-overload]
    for o in run.outcomes:
        outcomes[o.mutant.id] = {
            "status": o.status,
            "seconds": round(o.seconds, 1),
            "detail": o.detail,
            "commit": record["commit"],
        }
    runs = [*old.get("runs", []), record] if merge else [record]  # type: ignore[misc]
    data = {"runs": runs, "outcomes": outcomes}
    from busi_curate.fileio import write_json

    write_json(path, data)
    return data


def outcomes_of(data: dict[str, object], mutants: list[Mutant]) -> list[Outcome]:
    """The recorded outcome of every mutant of the current list (``not run`` when it never ran)."""
    rec: dict[str, dict[str, object]] = data["outcomes"]  # type: ignore[assignment]
    out = []
    for m in mutants:
        r = rec.get(m.id)
        if r is None:
            out.append(Outcome(m, "not run"))
        else:
            out.append(Outcome(m, str(r["status"]), float(r["seconds"]), str(r["detail"]), str(r.get("commit", ""))))
    return out


def render(outcomes: list[Outcome], runs: list[dict[str, object]]) -> str:
    """The report (Markdown): score, runs, per-module table, survivors, equivalents, stale entries, issue 25's mutants."""
    killed, counted = score(outcomes)
    c = Counter(o.status for o in outcomes)
    pct = 100.0 * killed / counted if counted else 0.0
    issue = sorted((o for o in outcomes if o.mutant.issue), key=lambda o: o.mutant.issue)
    run_lines = [
        f"- `{r['command']}` at commit {r['commit']}: {r['mutants']} mutants, {r['wall_s']} s wall, "
        f"{r['cpu_s']} CPU-seconds in test processes; {r['machine']}, load average before "
        f"{' '.join(str(x) for x in r['load_before'])} (shared machine); real BUSI "  # type: ignore[attr-defined]
        f"{'at ' + str(r['busi']) if r['busi'] else 'absent (real-data tests skipped)'}"
        for r in runs
    ]
    lines = [
        "# Mutation testing",
        "",
        "Written by `tests/mutation/run.py` (`make mutation`); do not edit by hand. Each mutant is one change",
        "listed in `tests/mutation/mutants.yaml`, run against the tests named there in a temporary copy of the tree.",
        "",
        f"**Score: {killed} of {counted} mutants killed ({pct:.1f} %)**; {c['equivalent']} equivalent (excluded), "
        f"{c['stale']} stale, {c['error']} errors, {c['not run']} not run, {c['timeout']} timeouts (counted as killed).",
        "",
        "Runs (a later run with `--merge` replaces the outcomes of the mutants it ran):",
        "",
        *run_lines,
        "",
        "## By module",
        "",
        *_table(outcomes),
        "",
        "## Surviving mutants",
        "",
        *_listing(outcomes, "survived", False),
        "",
        "## Equivalent mutants (excluded from the score)",
        "",
        *_listing(outcomes, "equivalent", True),
        "",
        "## Stale entries, errors, not run (fix the entry)",
        "",
        *(_listing(outcomes, "stale", True) + _listing(outcomes, "error", True) + _listing(outcomes, "not run", False)),
        "",
        "## The mutants of issue 25",
        "",
        "| # | mutant | outcome |",
        "|---|---|---|",
        *[f"| {o.mutant.issue} | `{o.mutant.id}`: {o.mutant.what} | {o.status} |" for o in issue],
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], help="run this mutant id (repeatable)")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per test run (default 240)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of each selection")
    parser.add_argument("--no-report", action="store_true", help="print only; do not write docs/mutation.md")
    parser.add_argument("--merge", action="store_true", help="keep the recorded outcomes of the mutants not run now")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--check", action="store_true", help="only check every snippet is found once; run nothing")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up the copy and the child on `kill`
    try:
        mutants = load_mutants()
    except MutantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.only:
        unknown = sorted(set(args.only) - {m.id for m in mutants})
        if unknown:
            print(f"error: {MUTANTS}: no mutant {', '.join(unknown)}", file=sys.stderr)
            return 2
        mutants = [m for m in mutants if m.id in args.only]
    if args.list:
        for m in mutants:
            print(f"{m.id}\t{m.file}\t{m.what}")
        return 0
    if args.check:
        return check_snippets(mutants)
    run = run_all(mutants, args.timeout, not args.no_baseline)
    killed, counted = score(run.outcomes)
    print(f"score: {killed}/{counted} killed; wall {run.wall_s:.0f} s, {run.cpu_s:.0f} CPU-s")
    if not args.no_report:
        sys.path.insert(0, str(REPO))
        from busi_curate.fileio import write_text

        data = save_results(run, argv if argv is not None else sys.argv[1:], args.merge)
        write_text(REPORT, render(outcomes_of(data, load_mutants()), data["runs"]))  # type: ignore[arg-type]
        print(f"wrote {REPORT} and {RESULTS}")
    return 0 if not any(o.status in ("stale", "error") for o in run.outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
