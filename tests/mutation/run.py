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
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from model import MUTANTS, REPO, Mutant, MutantError, Outcome, Run, busi_dir, load_mutants
from report import RESULTS, _commit, outcomes_of, render, save_results, score

REPORT = REPO / "docs" / "mutation.md"


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
    status: int | None = None
    try:
        while time.monotonic() - start < timeout:
            done, wstatus = os.waitpid(pid, os.WNOHANG)  # (0, 0) while the child runs
            if done:
                status = wstatus
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], help="run this mutant id (repeatable)")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per test run (default 240)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of each selection")
    parser.add_argument("--no-report", action="store_true", help="print only; do not write docs/mutation.md")
    parser.add_argument("--merge", action="store_true", help="keep the recorded outcomes of the mutants not run now")
    parser.add_argument("--render", action="store_true", help="only rewrite docs/mutation.md from docs/mutation.json")
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
    if args.render:
        import json

        sys.path.insert(0, str(REPO))
        from busi_curate.fileio import write_text

        data = json.loads(RESULTS.read_text())
        write_text(REPORT, render(outcomes_of(data, mutants), data["runs"]))
        print(f"wrote {REPORT}")
        return 0
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
