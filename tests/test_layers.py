"""The folder tree is the pipeline: a stage imports only the stages before it (issue 9).

Every ``import`` in ``busi_curate`` is read with :mod:`ast` (including imports inside functions and
under ``TYPE_CHECKING``) and checked against :data:`ORDER`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import layering
import pytest

PKG = Path(__file__).resolve().parents[1] / "busi_curate"

#: stage -> rank. A module may import modules of its own stage or of a lower rank. ``studies`` and
#: ``commands`` sit on top; nothing below them may import them.
ORDER: dict[str, int] = {
    "errors": 0,
    "defaults": 0,
    "fileio": 1,
    "engine": 1,
    "data": 2,
    "ssim": 3,
    "scan": 4,
    "review": 5,
    "assistant": 6,
    "publish": 7,
    "findings": 8,
    "audit": 9,
    "api": 10,
    "studies": 10,
    "commands": 11,
    "cli": 12,
    "__main__": 13,
}


def stage_of(module: str) -> str | None:
    return layering.stage_of(module, "busi_curate")


def imports_of(path: Path) -> list[tuple[int, str]]:
    return layering.imports_of(path, "busi_curate")


def modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if p.name != "__init__.py" or p.parent != PKG)


def test_every_stage_is_ranked() -> None:
    stages = {p.relative_to(PKG).parts[0].removesuffix(".py") for p in modules()}
    assert stages <= set(ORDER), f"rank these stages in ORDER: {sorted(stages - set(ORDER))}"


def test_no_relative_imports() -> None:
    """Absolute imports only, so that a module's stage can be read off every import line."""
    rel = [
        f"{p.relative_to(PKG.parent)}:{n.lineno}"
        for p in modules()
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(n, ast.ImportFrom) and n.level > 0
    ]
    assert not rel, rel


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_lower_stages_never_import_higher_ones(path: Path) -> None:
    own = path.relative_to(PKG).parts[0].removesuffix(".py")
    bad = []
    for line, module in imports_of(path):
        stage = stage_of(module)
        if stage is None or stage == own:
            continue
        if ORDER.get(stage, 99) > ORDER[own]:
            bad.append(f"line {line}: {own} imports {module} ({stage} is a later stage)")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The rule can fail: a data module importing the review stage is reported."""
    f = tmp_path / "mod.py"
    f.write_text("def f():\n    from busi_curate.review.journal import Journal\n")
    assert imports_of(f) == [(2, "busi_curate.review.journal")]
    assert ORDER[stage_of("busi_curate.review.journal") or ""] > ORDER["data"]
