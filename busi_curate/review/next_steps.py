"""What to run once the review page has no question left: exact shell commands for one scan."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path


def cli_prefix() -> str:
    """How to call the command line from the shell that started this server: ``busi-curate`` when it is on
    PATH, else the script beside this Python (``.venv/bin/busi-curate``), else ``python -m busi_curate``."""
    here = Path(sys.executable).parent / "busi-curate"
    found = shutil.which("busi-curate")
    if found and Path(found).resolve() == here.resolve():
        return "busi-curate"
    if here.is_file():
        return shlex.quote(shown_path(here))
    return f"{shlex.quote(sys.executable)} -m busi_curate"


def shown_path(p: Path) -> str:
    """``p`` relative to the current folder when it is inside it, else absolute."""
    p = Path(os.path.abspath(p))
    try:
        return str(p.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(p)


def next_steps(scan_dir: Path, data_dir: Path, reviewer: str, open_count: int) -> list[dict[str, str]]:
    """The commands to run after the review of the scan in ``scan_dir`` (of the data in ``data_dir``), each as
    ``{"what": ..., "command": ...}``; first, when ``open_count`` questions were skipped, how to answer them."""
    cli = cli_prefix()
    scan = shlex.quote(shown_path(scan_dir))
    data = shlex.quote(shown_path(data_dir))
    name = scan_dir.name
    report = shlex.quote(shown_path(scan_dir.parent / f"{name}-report"))
    manifest = shlex.quote(shown_path(scan_dir.parent / f"{name}-manifest"))
    steps = []
    if open_count:
        steps.append(
            {
                "what": f"answer the {open_count} skipped question(s): stop this server (Ctrl-C) and start it again",
                "command": f"{cli} review {scan} --reviewer {shlex.quote(reviewer)}",
            }
        )
    steps += [
        {
            "what": "print where the review stands and its duplicate groups",
            "command": f"{cli} review {scan} --no-browser",
        },
        {
            "what": "write the findings (groups, class conflicts, SSIM figures)",
            "command": f"{cli} report {scan} --out {report}",
        },
        {
            "what": "write the curated manifest and its folds (refused while a question is open)",
            "command": f"{cli} export {scan} --policy drop-all --out {manifest}",
        },
        {"what": "check a copy of the data against the manifest", "command": f"{cli} verify {manifest} {data}"},
    ]
    return steps
