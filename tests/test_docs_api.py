"""Every Python example of docs/api.md runs, in order, in one namespace (as a notebook would)."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest
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
    for name in ("load_split", "ManifestDataset", "run_scan", "Assistant", "read_manifest", "read_folds"):
        assert name in text, f"docs/api.md has no example using {name}"


def test_the_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the layout the page assumes: manifests/ here, ../shared/data/BUSI beside
    work = tmp_path / "work"
    work.mkdir()
    (work / "manifests").symlink_to(REPO / "manifests")
    if BUSI_DIR.is_dir():
        (tmp_path / "shared" / "data").mkdir(parents=True)
        (tmp_path / "shared" / "data" / "BUSI").symlink_to(BUSI_DIR)
    monkeypatch.chdir(work)
    have = {"busi": BUSI_DIR.is_dir(), "torch": importlib.util.find_spec("torch") is not None}
    ns: dict[str, object] = {}
    ran = skipped = 0
    for i, block in enumerate(blocks()):
        missing = needs(block) - {k for k, ok in have.items() if ok}
        if missing:
            skipped += 1
            continue
        code = compile(block, f"docs/api.md block {i + 1}", "exec")
        exec(code, ns)  # noqa: S102  (our own documentation)
        ran += 1
    assert ran >= 2
    if os.environ.get("CI") and have["busi"]:
        assert skipped == 0 or not have["torch"], "every example must run in CI"
