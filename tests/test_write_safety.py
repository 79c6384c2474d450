"""Writes honour the user's umask, never go through a link, and never overwrite another output."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from busi_curate.errors import UnsafePathError
from busi_curate.fileio import FILE_MODE, atomic_open, open_append, write_text


def test_atomic_writes_get_the_umask_mode_not_0600(tmp_path: Path) -> None:
    write_text(tmp_path / "a.txt", "x")
    mode = stat.S_IMODE((tmp_path / "a.txt").stat().st_mode)
    assert mode == FILE_MODE and mode & stat.S_IRGRP  # a lab's shared folder can read it (umask 022 here)


def test_no_write_through_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    link = tmp_path / "out.csv"
    link.symlink_to(victim)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        with atomic_open(link) as fh:
            fh.write("overwritten")
    with pytest.raises(UnsafePathError):
        open_append(link)
    assert victim.read_text() == "keep" and link.is_symlink()


def test_scan_force_moves_the_old_journal_aside(synthetic_dir: Path, tmp_path: Path) -> None:
    from conftest import run_cli

    out = tmp_path / "scan"
    out.mkdir()
    (out / "decisions.csv").write_text("old decisions\n")
    assert run_cli(["scan", str(synthetic_dir), "--out", str(out), "--size", "32", "--quiet"]) == 2
    assert run_cli(["scan", str(synthetic_dir), "--out", str(out), "--size", "32", "--quiet", "--force"]) == 0
    aside = list(out.glob("decisions.before-scan-*.csv"))
    assert len(aside) == 1 and aside[0].read_text() == "old decisions\n" and not (out / "decisions.csv").exists()


def test_predict_outputs_never_overwrite_each_other(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from benchmark.experiments.predict import expand_images, output_stems

    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / d / "x.png")
    names = output_stems([tmp_path / "a" / "x.png", tmp_path / "b" / "x.png", tmp_path / "a" / "x.png"])
    assert len(set(names)) == 3
    assert expand_images([tmp_path / "a"]) == [tmp_path / "a" / "x.png"]


def test_umask_is_read_not_changed() -> None:
    before = os.umask(0o022)
    os.umask(before)
    from busi_curate import fileio

    assert fileio.FILE_MODE == 0o666 & ~before
