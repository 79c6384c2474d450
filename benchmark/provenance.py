"""Self-describing outputs: every file a run writes carries (or sits beside) tool versions, config and input checksums."""

from __future__ import annotations

import datetime as _dt
import json
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from benchmark import __version__
from benchmark.errors import BenchError
from busi_curate import __version__ as curate_version
from busi_curate.fileio import write_json

TOOL = "busi-bench"


@lru_cache(maxsize=1)
def git_commit() -> str:
    """Short commit of the working tree the code runs from, or ``unknown``."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@lru_cache(maxsize=1)
def hardware() -> str:
    """CPU model and core count (and the CUDA device when present), in words."""
    import os

    import torch

    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    out = f"{cores}-core CPU ({model})"
    if torch.cuda.is_available():
        out += f", GPU {torch.cuda.get_device_name(0)}"
    return out


def provenance(
    config: dict[str, Any] | None = None, inputs: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    """Block written into every JSON output and every sidecar."""
    import torch

    out: dict[str, Any] = {
        "tool": TOOL,
        "version": __version__,
        "busi_curate_version": curate_version,
        "torch_version": torch.__version__,
        "git_commit": git_commit(),
        "hardware": hardware(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": config or {},
        "inputs": inputs or {},
    }
    out.update(extra)
    return out


def write_sidecar(path: str | Path, prov: dict[str, Any]) -> None:
    """``<path>.meta.json`` beside a CSV / PNG output."""
    path = Path(path)
    write_json(path.with_name(path.name + ".meta.json"), dict(prov, describes=path.name))


def read_checked_json(path: str | Path) -> dict[str, Any]:
    """Read a JSON output and check that busi-bench wrote it.

    Raises:
        BenchError: missing, unparseable, or without a busi-bench provenance block.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BenchError("file not found", path) from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise BenchError(f"cannot read JSON ({exc})", path) from exc
    prov = data.get("provenance") if isinstance(data, dict) else None
    if not isinstance(prov, dict) or prov.get("tool") != TOOL:
        raise BenchError("not written by busi-bench (no provenance block)", path)
    return data
