"""Stage: grid -- the paper's experiments declared in one YAML file, run as ordinary resumable run folders.

A grid file::

    name: cpu-table5                 # free text
    defaults:                        # every run starts from these
      profile: cpu-grid
      manifest: manifests/curated_busi_v1/manifest.csv
      folds: manifests/curated_busi_v1/folds.csv
      data: ../shared/data/BUSI
      model: mt-unetpp
      fold: all                      # or a list of fold numbers
      cpus: 1                        # resources of one fold (threads locally, num_cpus on Ray)
      gpus: 0
    runs:
      - name: mt-do                  # the run folder RUNS/<name>/
        table: "5"                   # which paper tables the run feeds (documentation, used by the report)
      - name: st-seg
        task: seg
        oversample: false
    combine:                         # ST (Seg + Cls) + PR: refine one run's masks with another's classes
      - name: st-seg-cls-pr
        seg: st-seg
        cls: st-cls

Every key of a run other than ``name, table, manifest, folds, data, profile, fold, cpus, gpus`` is a
setting of :class:`benchmark.profiles.RunConfig` (``task``, ``oversample``, ``refine``, ``cls_head``,
``lambda_seg``, ``class_subset``...). A job is one fold of one run: ``busi-bench run --fold K --resume``
in a child process, so a finished fold is skipped, an unfinished one resumed from its checkpoint, and
a killed grid continues where it stopped when started again.

Engines: ``local`` (K worker processes here, each with ``cpus`` torch threads, run under ``nice``) and
``ray`` (each job a Ray task with ``num_cpus`` / ``num_gpus``; a local Ray instance by default, a cluster
with ``--address``). Both call the same :func:`run_job`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from benchmark.errors import ConfigError
from benchmark.experiments.grid_checks import (
    cap,
    check_fold_numbers,
    check_folds_present,
    check_name,
    check_resources,
    show,
)
from benchmark.experiments.launcher import ChildRun, run_child
from benchmark.run_folder import finished_folds
from busi_curate.fileio import write_text

#: Keys of a run entry that are not RunConfig settings.
RUN_KEYS = ("name", "table", "manifest", "folds", "data", "profile", "fold", "cpus", "gpus")
STATUS_DONE, STATUS_PARTIAL, STATUS_PENDING, STATUS_FAILED = "done", "partial", "pending", "failed"


@dataclass(frozen=True)
class GridRun:
    """One declared run: where its inputs are, its profile and settings, its folds and resources."""

    name: str
    manifest: Path
    folds_file: Path
    data: Path
    profile: str
    settings: dict[str, Any]
    folds: tuple[int, ...] | None  # None = every fold of the folds file
    cpus: int = 1
    gpus: float = 0.0
    table: str = ""


@dataclass(frozen=True)
class GridCombine:
    """``busi-bench combine SEG CLS --out NAME``: ST (Seg + Cls) + PR from two runs of the grid."""

    name: str
    seg: str
    cls: str
    refine: str = "paper"
    table: str = ""


@dataclass
class Grid:
    """A parsed grid file."""

    path: Path
    name: str
    runs: list[GridRun]
    combines: list[GridCombine] = field(default_factory=list)

    def run(self, name: str) -> GridRun:
        """The run called ``name``.

        Raises:
            ConfigError: no such run.
        """
        for r in self.runs:
            if r.name == name:
                return r
        raise ConfigError(f"{self.path}: no run named {name!r} (runs: {', '.join(r.name for r in self.runs)})")


@dataclass(frozen=True)
class Job:
    """One fold of one run."""

    run: GridRun
    fold: int

    @property
    def label(self) -> str:
        return f"{self.run.name}/fold{self.fold}"


def _resolve(base: Path, value: Any, what: str, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: '{what}' must be a path")
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p)


def load_grid(path: str | Path, base: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Grid:
    """Parse and check a grid file; relative paths are taken from ``base`` (default: the current folder).

    ``overrides`` replace keys of every run after its own (e.g. another manifest for a test).

    Every run's settings are resolved against its profile here, so a typo fails before anything runs.

    Raises:
        ConfigError: unreadable YAML, unknown keys or settings, duplicate names, a combine naming an
            unknown run.
    """
    path = Path(path)
    data = _read_grid_file(path)
    base = Path(base) if base is not None else Path.cwd()
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{path}: 'defaults' must be a mapping")
    runs: list[GridRun] = []
    for i, entry in enumerate(data["runs"]):
        where = f"{path}: runs[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: each run is a mapping")
        runs.append(_grid_run(dict(defaults, **entry, **(overrides or {})), path, base, runs, where))
    combines: list[GridCombine] = []
    for i, entry in enumerate(data.get("combine") or []):
        combines.append(_grid_combine(entry, runs, combines, f"{path}: combine[{i}]"))
    return Grid(path, str(data.get("name", path.stem)), runs, combines)


def _read_grid_file(path: Path) -> dict[str, Any]:
    """The grid file's YAML: a mapping with a non-empty ``runs`` list and only the known top-level keys."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(cap(f"{path}: cannot read the grid file ({str(exc).splitlines()[0]})")) from exc
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list) or not data["runs"]:
        raise ConfigError(f"{path}: a grid file is a mapping with a non-empty 'runs' list")
    unknown = sorted(set(data) - {"name", "defaults", "runs", "combine", "description"})
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(unknown)}")
    return data


def _grid_run(merged: dict[str, Any], path: Path, base: Path, runs: list[GridRun], where: str) -> GridRun:
    """One run of the grid from its ``merged`` entry (defaults, the entry, the overrides), its settings resolved
    against its profile; ``runs``: those before it (names must differ)."""
    from benchmark.profiles import RunConfig, resolve_config

    name = check_name(merged.get("name"), where)
    where = f"{path}: run {name!r}"
    if any(r.name == name for r in runs):
        raise ConfigError(f"{where}: the name is used twice")
    settings = {k.replace("-", "_"): v for k, v in merged.items() if k not in RUN_KEYS}
    known = {f.name for f in fields(RunConfig)}
    bad = sorted(k for k in settings if k not in known)
    if bad:
        raise ConfigError(cap(f"{where}: unknown setting(s) {', '.join(bad)} (see busi-bench profiles paper)"))
    profile = merged.get("profile", "paper")
    try:
        if not isinstance(profile, str):
            raise ConfigError(f"'profile' must be a profile name, got {show(profile)}")
        resolve_config(profile, None, settings)
    except ConfigError as exc:
        raise ConfigError(cap(f"{where}: {exc}")) from exc
    cpus, gpus = check_resources(merged.get("cpus", 1), merged.get("gpus", 0), where)
    for key in ("manifest", "folds", "data"):
        if key not in merged:
            raise ConfigError(f"{where}: '{key}' is required (in the run or in 'defaults')")
    return GridRun(
        name=name,
        manifest=_resolve(base, merged["manifest"], "manifest", where),
        folds_file=_resolve(base, merged["folds"], "folds", where),
        data=_resolve(base, merged["data"], "data", where),
        profile=profile,
        settings=settings,
        folds=check_fold_numbers(merged.get("fold"), where),
        cpus=cpus,
        gpus=gpus,
        table=str(merged.get("table", "")),
    )


def _grid_combine(entry: Any, runs: list[GridRun], combines: list[GridCombine], where: str) -> GridCombine:
    """One ``combine`` entry: a segmentation run and a classification run of this grid, under a new name."""
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("name", "seg", "cls")):
        raise ConfigError(f"{where}: each combine entry needs 'name', 'seg' and 'cls'")
    check_name(entry["name"], where)
    c = GridCombine(
        entry["name"], entry["seg"], entry["cls"], str(entry.get("refine", "paper")), str(entry.get("table", ""))
    )
    names = {r.name for r in runs}
    for ref in (c.seg, c.cls):
        if ref not in names:
            raise ConfigError(f"{where}: {show(ref)} is not a run of this grid")
    if c.name in names or any(x.name == c.name for x in combines):
        raise ConfigError(f"{where}: the name {c.name!r} is used twice")
    return c


def run_folds(run: GridRun) -> tuple[int, ...]:
    """The fold numbers of ``run`` (all folds of its folds file when it names none)."""
    from busi_curate.publish.manifest import read_folds, read_manifest

    present = read_folds(run.folds_file, read_manifest(run.manifest)).numbers
    if run.folds is None:
        return tuple(present)
    check_folds_present(run.folds, present, f"grid run {run.name!r}")
    return run.folds


def jobs(grid: Grid, only: Sequence[str] | None = None) -> list[Job]:
    """Every (run, fold) of the grid in file order (restricted to the runs named in ``only``)."""
    wanted = set(only) if only else None
    if wanted:
        missing = wanted - {r.name for r in grid.runs}
        if missing:
            raise ConfigError(f"{grid.path}: no run named {', '.join(sorted(missing))}")
    return [Job(r, k) for r in grid.runs if wanted is None or r.name in wanted for k in run_folds(r)]


def job_status(job: Job, out: Path) -> tuple[str, str]:
    """(status, detail) of a job from its fold folder: done, partial (epoch e of E), failed or pending."""
    fold_dir = out / job.run.name / f"fold{job.fold}"
    if (fold_dir / "metrics.json").is_file():
        return STATUS_DONE, ""
    log = fold_dir / "train.log"
    last_epoch = ""
    if log.is_file():
        for line in reversed(log.read_text(encoding="utf-8", errors="replace").splitlines()):
            if " epoch " in line and "/" in line:
                last_epoch = line.split(" epoch ", 1)[1].split()[0]
                break
    if (out / job.run.name / f"fold{job.fold}.failed").is_file():
        return STATUS_FAILED, (out / job.run.name / f"fold{job.fold}.failed").read_text(encoding="utf-8").strip()
    if (fold_dir / "checkpoint" / "last.pt").is_file() or last_epoch:
        return STATUS_PARTIAL, f"epoch {last_epoch}" if last_epoch else "started"
    return STATUS_PENDING, ""


def _entry_config(run: GridRun, out: Path) -> Path:
    import yaml

    path = out / run.name / "grid-entry.yaml"
    write_text(
        path,
        f"# settings of grid run {run.name!r} (profile {run.profile}); written by busi-bench grid\n"
        + yaml.safe_dump(run.settings, sort_keys=True),
    )
    return path


def job_command(job: Job, out: Path, threads: int) -> ChildRun:
    """The ``busi-bench run`` child of one job (resumed, with ``threads`` threads)."""
    r = job.run
    cfg = _entry_config(r, out)
    return ChildRun(r.manifest, r.folds_file, r.data, out / r.name, r.profile, cfg, job.fold, True, threads)


def run_job(job: Job, out: str | Path, threads: int, nice: int = 0) -> tuple[str, int]:
    """Run one job to completion in a child process; its output goes to ``RUNS/<run>/fold<K>.log``.

    Returns:
        (job label, exit status).
    """
    out = Path(out)
    if job_status(job, out)[0] == STATUS_DONE:
        return job.label, 0
    log_path = out / job.run.name / f"fold{job.fold}.log"
    failed = out / job.run.name / f"fold{job.fold}.failed"
    failed.unlink(missing_ok=True)
    rc = run_child(job_command(job, out, threads), log_path, nice)
    if rc != 0:
        write_text(failed, f"exit status {rc}; see {log_path}\n")
    return job.label, rc


def combine_ready(grid: Grid, out: Path) -> list[tuple[GridCombine, bool]]:
    """Each combine entry and whether both of its runs are done."""
    done = {r.name: all(job_status(Job(r, k), out)[0] == STATUS_DONE for k in run_folds(r)) for r in grid.runs}
    return [(c, done[c.seg] and done[c.cls]) for c in grid.combines]


def run_combines(grid: Grid, out: Path) -> list[str]:
    """Run every combine whose two runs are done (re-written each time: it is cheap). Returns messages."""
    from benchmark.evaluation.combine import combine_runs

    msgs = []
    for c, ready in combine_ready(grid, out):
        if not ready:
            msgs.append(f"{c.name}: waiting for {c.seg} and {c.cls}")
            continue
        combine_runs(out / c.seg, out / c.cls, out / c.name, c.refine)
        msgs.append(f"{c.name}: combined {c.seg} + {c.cls} -> {out / c.name}")
    return msgs


def run_local(
    grid: Grid,
    out: str | Path,
    workers: int = 1,
    threads: int | None = None,
    nice: int = 10,
    only: Sequence[str] | None = None,
    echo: Any = print,
) -> int:
    """Run every unfinished job here, ``workers`` at a time. Returns 0 when every job succeeded."""
    out = Path(out)
    todo = [j for j in jobs(grid, only) if job_status(j, out)[0] != STATUS_DONE]
    echo(f"grid {grid.name}: {len(todo)} job(s) to run with {workers} worker(s) -> {out}")
    status = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(run_job, j, out, threads or j.run.cpus, nice) for j in todo]
        for fut in futures:
            label, rc = fut.result()
            echo(f"{label}: {'done' if rc == 0 else f'FAILED (exit status {rc})'}")
            status = status or rc
    for msg in run_combines(grid, out):
        echo(msg)
    return status


def run_ray(
    grid: Grid,
    out: str | Path,
    address: str | None = None,
    only: Sequence[str] | None = None,
    echo: Any = print,
    num_cpus: int | None = None,
) -> int:
    """Run every unfinished job as a Ray task (``num_cpus`` / ``num_gpus`` from the run). Returns 0 on success.

    Raises:
        MissingExtraError: Ray is not installed (the ``[grid]`` extra).
    """
    try:
        import ray
    except ImportError as exc:
        from benchmark.errors import MissingExtraError

        raise MissingExtraError("busi-bench grid --engine ray needs the [grid] extra: pip install -e .[grid]") from exc
    out = Path(out).resolve()
    todo = [j for j in jobs(grid, only) if job_status(j, out)[0] != STATUS_DONE]
    echo(f"grid {grid.name}: {len(todo)} job(s) to run on Ray ({address or 'local instance'}) -> {out}")
    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {"address": address} if address else {"num_cpus": num_cpus or os.cpu_count() or 1}
        ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
    try:
        remote = ray.remote(run_job)
        refs = [remote.options(num_cpus=j.run.cpus, num_gpus=j.run.gpus).remote(j, out, j.run.cpus) for j in todo]
        status = 0
        for label, rc in ray.get(refs):
            echo(f"{label}: {'done' if rc == 0 else f'FAILED (exit status {rc})'}")
            status = status or rc
    finally:
        if started_here:
            ray.shutdown()
    for msg in run_combines(grid, out):
        echo(msg)
    return status


def status_table(grid: Grid, out: str | Path) -> str:
    """Markdown table: one row per run, one cell per fold (done / partial epoch / pending / failed)."""
    out = Path(out)
    lines = [
        f"grid {grid.name} ({grid.path}) -> {out}",
        "",
        "| run | table | profile | folds | done |",
        "|---|---|---|---|---|",
    ]
    total = finished = 0
    for r in grid.runs:
        cells = []
        for k in run_folds(r):
            st, detail = job_status(Job(r, k), out)
            total += 1
            finished += st == STATUS_DONE
            cells.append(f"{k}: {st}{' ' + detail if detail else ''}")
        n_done = sum(c.split(": ", 1)[1] == STATUS_DONE for c in cells)
        lines.append(f"| {r.name} | {r.table} | {r.profile} | {'; '.join(cells)} | {n_done}/{len(cells)} |")
    for c, ready in combine_ready(grid, out):
        done = bool(finished_folds(out / c.name))
        lines.append(
            f"| {c.name} (combine {c.seg} + {c.cls}) | {c.table} | - | - | "
            f"{'done' if done else 'ready' if ready else 'waiting'} |"
        )
    lines += ["", f"{finished} of {total} fold jobs done"]
    return "\n".join(lines)
