"""Every module, object and source file the README and the docs name exists: dotted names
(``busi_curate.review.journal.Journal``) import and resolve, ``*.py`` file names and ``busi_curate/`` or
``benchmark/`` paths lie in the repository, and relative Markdown links point at files. A line that calls a name
"former" speaks of history and is not checked."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "benchmark" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOTTED = re.compile(r"\b((?:busi_curate|benchmark)(?:\.[A-Za-z_]\w*)+)")
PY_FILE = re.compile(r"(?<![\w/.-])([A-Za-z_]\w*\.py)\b")
CODE_PATH = re.compile(r"(?<![\w/.-])((?:busi_curate|benchmark)/[\w/.-]*\w)")
LINK = re.compile(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)")


def _lines(doc: Path) -> list[str]:
    return [ln for ln in doc.read_text(encoding="utf-8").splitlines() if "former" not in ln]


def resolve(dotted: str) -> bool:
    """Import the longest importable prefix of ``dotted``; the rest must be attributes."""
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for attr in parts[k:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_the_checks_can_fail():
    assert not resolve("busi_curate.stats") and not resolve("busi_curate.review.journal.NO_SUCH")
    assert resolve("busi_curate.review.journal.Journal") and resolve("busi_curate.data.synthetic")
    assert PY_FILE.findall("`dataset.py (load)`") == ["dataset.py"] and not CODE_PATH.findall("my/busi_curate/x")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_code_exists(doc: Path):
    pytest.importorskip("torch")  # benchmark.* names import torch
    py_files = {p.name for p in ROOT.rglob("*.py") if ".venv" not in p.parts}
    bad = []
    for line in _lines(doc):
        bad += [f"module {d}" for d in DOTTED.findall(line) if not resolve(d)]
        bad += [f"file {n}" for n in PY_FILE.findall(line) if n not in py_files]
        bad += [f"path {p}" for p in CODE_PATH.findall(line) if not (ROOT / p).exists()]
        bad += [f"link {u}" for u in LINK.findall(line) if not (doc.parent / u).exists()]
    assert bad == []
