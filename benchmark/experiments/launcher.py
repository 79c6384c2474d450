"""Stage: experiments -- the one launcher of child ``busi-bench run --fold K`` processes.

``busi-bench run --all-folds --workers N`` / ``--concurrent`` (:func:`benchmark.experiments.run.run_concurrent`) and
``busi-bench grid`` (:func:`benchmark.experiments.grid.run_job`) both start one child per fold through
:func:`run_child`, so the command line, the thread split and the log format are written once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ChildRun:
    """One fold of one run, as a ``busi-bench run`` command line.

    Attributes:
        manifest, folds, data: the run's inputs.
        out: the run folder (the child writes ``out/fold<K>/``).
        profile: the profile the settings started from.
        config: a YAML file of the run's settings (the children train exactly what it says).
        fold: the test fold K.
        resume: continue from ``checkpoint/last.pt`` when there is one.
        threads: torch (and OpenMP / MKL) threads of the child; None = the config's.
    """

    manifest: Path
    folds: Path
    data: Path
    out: Path
    profile: str
    config: Path
    fold: int
    resume: bool = False
    threads: int | None = None

    def command(self) -> list[str]:
        """The child's command line (``python -m benchmark.cli run ...``)."""
        return [
            sys.executable,
            "-m",
            "benchmark.cli",
            "run",
            *("--manifest", str(self.manifest), "--folds", str(self.folds), "--data", str(self.data)),
            *("--out", str(self.out), "--profile", self.profile, "--config", str(self.config)),
            *("--fold", str(self.fold), "--no-progress"),
            *(["--resume"] if self.resume else []),
            *(["--threads", str(self.threads)] if self.threads else []),
        ]

    def env(self) -> dict[str, str]:
        """The child's environment: unbuffered output, and its thread count for OpenMP / MKL when set."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if self.threads:
            env.update(OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads))
        return env


def run_child(child: ChildRun, log_path: Path, nice: int = 0) -> int:
    """Run ``child`` to completion, its output appended to ``log_path`` after a dated line with its command.

    Returns:
        The child's exit status.
    """
    from busi_curate.fileio import open_append

    cmd = child.command()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open_append(log_path, encoding="utf-8") as fh:
        fh.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=child.env(),
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
            check=False,
        )
    return proc.returncode
