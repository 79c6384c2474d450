"""The engines compared (issue 21 item 5): ``scan`` and ``review --auto`` on the local engine and on Ray, same files?

``python -m busi_curate.studies.engine_bench WORK --n 1000 [--mode exhaustive|pruned] [--review] [--stage-costs | --costs-only]``
writes ``n`` distinct synthetic frames (:func:`busi_curate.studies.scale_data.write_scale_dataset`, ``seed=5``) under
``WORK/data`` unless they are there, then runs each public command in its own process, first ``--engine local``
then ``--engine ray`` (a local Ray instance of every core, started by the command), and checks that
their folders hold the same bytes: every file but ``scan.json`` (equal but for its timing and engine fields),
``decisions.csv`` (equal but for its ``time`` column, the clock of each decision) and the review's lock file.

CPU-seconds are those of the command's whole process tree: this process makes itself the children's subreaper
(``PR_SET_CHILD_SUBREAPER``), so Ray's servers and workers, orphaned when the command shuts Ray down, are reaped
here and their user + system time lands in ``RUSAGE_CHILDREN``; the figure does not depend on the machine's load.
Linux only.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

PR_SET_CHILD_SUBREAPER = 36
#: scan.json keys that may differ between engines
TIMING_KEYS = ("engine", "pairs_per_s", "timings_s")


def _subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _reap_all(deadline_s: float = 60.0) -> None:
    """Wait for every descendant left behind (Ray's processes exit after ``ray.shutdown``)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.2)


class TreeSampler(threading.Thread):
    """Every ``period`` seconds, the CPU-seconds (user + system, its own) of every process below this one, read from
    ``/proc``; :attr:`seen` keeps the most seen per process (key: pid and start time)."""

    def __init__(self, period: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.period, self.seen, self.halt = period, dict[tuple[int, str], float](), threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.sample()
            self.halt.wait(self.period)

    def sample(self) -> None:
        me, parent, cpu = os.getpid(), dict[int, int](), dict[tuple[int, str], float]()
        for d in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            f = stat[stat.rindex(")") + 2 :].split()  # state, ppid, ... (proc(5), from field 3)
            parent[int(d)] = int(f[1])
            cpu[(int(d), f[19])] = (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        for (pid, start), t in cpu.items():
            p = parent.get(pid, 0)
            while p > 1 and p != me:
                p = parent.get(p, 0)
            if p == me:
                self.seen[(pid, start)] = max(t, self.seen.get((pid, start), 0.0))


def run_tree(args: list[str]) -> dict[str, Any]:
    """``python -m busi_curate ARGS`` measured: CPU-s of its whole process tree, wall s, its first output line.

    Two lower bounds of the tree's CPU time, the larger reported: ``RUSAGE_CHILDREN`` (every process reaped by its
    parent, up to here: misses a process whose parent was killed before reaping it, as Ray's workers are) and the
    sum of :class:`TreeSampler`'s figures (misses each process's last ``period`` and processes shorter than it)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    sampler = TreeSampler()
    sampler.start()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "busi_curate", *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    sampler.halt.set()
    sampler.join()
    _reap_all()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"`busi-curate {' '.join(args)}` failed ({proc.returncode}): {proc.stderr[-2000:]}")
    reaped = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    sampled = sum(sampler.seen.values())
    line = proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""
    return {"cpu_s": round(max(reaped, sampled), 1), "cpu_reaped_s": round(reaped, 1), "cpu_sampled_s": round(sampled, 1),
            "processes": len(sampler.seen), "wall_s": round(wall, 1), "load": round(os.getloadavg()[0], 1), "out": line}  # fmt: skip


def _journal_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    t = rows[0].index("time")
    return [r[:t] + r[t + 1 :] for r in rows]


def differing_files(a: Path, b: Path) -> list[str]:
    """Files of folder ``a`` and ``b`` that differ (module docstring says what 'same' means per file)."""
    from busi_curate.review.session import LOCK_NAME  # the review's lock file holds its process id: not an output

    names = sorted({str(p.relative_to(d)) for d in (a, b) for p in d.rglob("*") if p.is_file()} - {LOCK_NAME})
    bad = []
    for name in names:
        pa, pb = a / name, b / name
        if not (pa.is_file() and pb.is_file()):
            bad.append(name)
        elif name == "scan.json":
            ja, jb = (json.loads(p.read_text()) for p in (pa, pb))
            if any(ja.get(k) != jb.get(k) for k in set(ja) | set(jb) if k not in TIMING_KEYS):
                bad.append(name)
        elif name == "decisions.csv":
            if _journal_rows(pa) != _journal_rows(pb):
                bad.append(name)
        elif pa.read_bytes() != pb.read_bytes():
            bad.append(name)
    return bad


def bench(work: Path, n: int, mode: str, review: bool) -> dict[str, Any]:
    """Run the comparison (module docstring); returns what was measured."""
    from busi_curate.studies.scale_data import write_scale_dataset

    data = work / "data"
    if not (data / "planted.csv").exists():
        write_scale_dataset(data, n, seed=5)
    _subreaper()
    res: dict[str, Any] = {"n": n, "mode": mode, "cpus": os.cpu_count(), "runs": {}}
    for engine in ("local", "ray"):
        out = work / f"{mode}-{engine}"
        shutil.rmtree(out, ignore_errors=True)  # this benchmark's own folder: a fresh scan, no old journal
        runs = res["runs"].setdefault(engine, {})
        runs["scan"] = run_tree(["scan", str(data), "--out", str(out), "--mode", mode, "--quiet", "--engine", engine])
        if review:
            runs["review"] = run_tree(["review", str(out), "--auto", "--no-browser", "--quiet", "--engine", engine])
        print(engine, json.dumps(runs), flush=True)
    res["differing_files"] = differing_files(work / f"{mode}-local", work / f"{mode}-ray")
    return res


def _cpu(fn: Any) -> tuple[Any, float]:
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


def stage_costs(data: Path, scan_dir: Path, verify: int = 200) -> dict[str, float]:
    """CPU-seconds per image or per pair of each stage, in this process on one core (numba set to one thread):
    decoding + hashing + thumbnail (every image of ``data``), exact 128 px SSIM (the pairs of ``scan_dir``, an
    exhaustive scan of ``data``), the assistant's features (every image) and verification (``verify`` of the pairs
    the review walk reaches: candidates at or above the screening threshold)."""
    import numba
    import numpy as np

    from busi_curate.assistant import Assistant, AssistantSettings
    from busi_curate.data.dataset import load_dataset
    from busi_curate.scan.blocks import exact_pairs
    from busi_curate.scan.run import read_scan
    from busi_curate.ssim import get_backend

    numba.set_num_threads(1)
    ds, t_load = _cpu(lambda: load_dataset(data, thumbnail_size=128, workers=1))
    n = len(ds)
    a, b = (x.astype(np.int64) for x in np.triu_indices(n, 1))
    backend = get_backend("numba")
    exact_pairs(backend, ds.thumbnails[:64], a[:100], b[:100] % 64)  # JIT warm-up (cached compile) not timed
    _, t_ssim = _cpu(lambda: exact_pairs(backend, ds.thumbnails, a, b))
    helper = Assistant(read_scan(scan_dir), settings=AssistantSettings(workers=1))
    _, t_feat = _cpu(helper.features)
    pairs = sorted(p for p in helper.walk_pairs() if not helper.identical(*p))[:verify]
    _, t_verify = _cpu(lambda: [helper.evidence(i, j) for i, j in pairs])
    return {"images": n, "decode_per_image": t_load / n, "ssim128_per_pair": t_ssim / len(a),
            "features_per_image": t_feat / n, "verify_per_pair": t_verify / len(pairs), "verified_pairs": len(pairs)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work", type=Path)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--mode", choices=("exhaustive", "pruned"), default="exhaustive")
    ap.add_argument("--review", action="store_true")
    ap.add_argument("--stage-costs", action="store_true", help="then CPU-s per image / pair of each stage (exhaustive)")
    ap.add_argument("--costs-only", action="store_true", help="only the stage costs, of WORK's earlier exhaustive run")
    a = ap.parse_args(argv)
    if a.costs_only:
        print(json.dumps(stage_costs(a.work / "data", a.work / "exhaustive-local"), indent=1))
        return
    res = bench(a.work, a.n, a.mode, a.review)
    if a.stage_costs and a.mode == "exhaustive":
        res["stage_costs"] = stage_costs(a.work / "data", a.work / "exhaustive-local")
    print(json.dumps(res, indent=1))
    if res["differing_files"]:
        raise SystemExit(f"the engines wrote different files: {res['differing_files']}")


if __name__ == "__main__":
    main()
