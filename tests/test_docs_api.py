"""Every Python example of docs/api.md runs, in order, as one script (``python examples.py``: no ``__main__``
guard, as a notebook exported to a script has none), so a process pool that re-runs ``__main__`` fails here."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import BUSI_DIR

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "api.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text(encoding="utf-8"))


def needs(block: str) -> set[str]:
    first = block.splitlines()[0] if block.strip() else ""
    return set(first.removeprefix("# needs:").split()) if first.startswith("# needs:") else set()


def test_the_page_has_examples_of_every_entry_point() -> None:
    text = "\n".join(blocks())
    for name in (
        "find_duplicates",
        "plot_duplicates",
        "load_split",
        "ManifestDataset",
        "run_scan",
        "Assistant",
        "read_manifest",
        "read_folds",
    ):
        assert name in text, f"docs/api.md has no example using {name}"


def test_the_examples_run_as_a_script(tmp_path: Path) -> None:
    # the layout the page assumes: manifests/ here, ../shared/data/BUSI beside
    work = tmp_path / "work"
    work.mkdir()
    (work / "manifests").symlink_to(REPO / "manifests")
    if BUSI_DIR.is_dir():
        (tmp_path / "shared" / "data").mkdir(parents=True)
        (tmp_path / "shared" / "data" / "BUSI").symlink_to(BUSI_DIR)
    have = {"busi": BUSI_DIR.is_dir(), "torch": importlib.util.find_spec("torch") is not None}
    ran, skipped = [], 0
    for i, block in enumerate(blocks()):
        if needs(block) - {k for k, ok in have.items() if ok}:
            skipped += 1
            continue
        ran.append(f"# --- docs/api.md block {i + 1}\n{block}")
    (work / "examples.py").write_text("\n".join(ran), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "examples.py"], cwd=work, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"docs/api.md as a script failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    assert "BrokenProcessPool" not in proc.stderr
    assert len(ran) >= 4
    if os.environ.get("CI") and have["busi"]:
        assert skipped == 0 or not have["torch"], "every example must run in CI"
