"""Fault injection for the hardening tests: a small tmpfs to fill (disk full) or remount read-only.

Mounting needs root (and a kernel that allows it); where it is refused the test is skipped cleanly.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "512k") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``where`` (created); unmounted on exit. Skips the test if not allowed."""
    where.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
            capture_output=True,
            check=False,
        )
    except OSError:
        pytest.skip("no mount command here")
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode(errors='replace').strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def remount_ro(where: Path, ro: bool = True) -> None:
    """Remount the tmpfs at ``where`` read-only (or back to read-write)."""
    subprocess.run(["mount", "-o", f"remount,{'ro' if ro else 'rw'}", str(where)], check=True, capture_output=True)


def fill(fs: Path, name: str = ".filler") -> Path:
    """Write a file on ``fs`` until the disk is full (ENOSPC); returns it (unlink it to free the space)."""
    filler = fs / name
    block = b"\0" * 4096
    with open(filler, "wb", buffering=0) as fh:
        while True:
            try:
                fh.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        with contextlib.suppress(OSError):
            os.fsync(fh.fileno())
    # a last write of a few bytes can still fit in the last page: fill that too
    with open(filler, "ab", buffering=0) as fh:
        for _ in range(4096):
            try:
                fh.write(b"\0")
            except OSError:
                break
    return filler
