"""The mutation report: ``docs/mutation.json`` (outcomes, merged across runs) and ``docs/mutation.md`` (rendered)."""

from __future__ import annotations

import os
import platform
import subprocess
from collections import Counter
from pathlib import Path

from model import REPO, Mutant, Outcome, Run, busi_dir

RESULTS = REPO / "docs" / "mutation.json"
COUNTED = ("killed", "timeout", "survived")


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


def _problems(outcomes: list[Outcome]) -> list[str]:
    out = [ln for status in ("stale", "error", "not run") for ln in _listing(outcomes, status, status != "not run")]
    return [ln for ln in out if ln != "- none"] or ["- none"]


def _issue(n: int) -> str:
    """Issue 25 lists seven survivors (1-7) and a note on the SSIM defaults (8 here)."""
    return "note" if n == 8 else str(n)


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
        *_problems(outcomes),
        "",
        "## The mutants of issue 25",
        "",
        "| # | mutant | outcome |",
        "|---|---|---|",
        *[f"| {_issue(o.mutant.issue)} | `{o.mutant.id}`: {o.mutant.what} | {o.status} |" for o in issue],
        "",
    ]
    return "\n".join(lines)
