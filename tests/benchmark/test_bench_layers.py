"""``benchmark/``'s folder tree is its pipeline: a stage imports only the stages before it (issue 23).

Every ``import`` in ``benchmark`` is read with :mod:`ast` (including imports inside functions and under
``TYPE_CHECKING``) and checked against :data:`ORDER`, as ``tests/test_layers.py`` does for the curation half.
"""

from __future__ import annotations

import ast
from pathlib import Path

import layering
import pytest

PKG = Path(__file__).resolve().parents[2] / "benchmark"

#: stage -> rank. A module may import modules of its own stage or of a lower rank.
ORDER: dict[str, int] = {
    "errors": 0,
    "profiles": 1,
    "provenance": 1,
    "run_folder": 1,
    "data": 2,
    "models": 3,
    "inference": 4,
    "evaluation": 5,
    "training": 6,
    "experiments": 7,
    "reporting": 8,
    "device": 9,
    "commands": 9,
    "cli": 10,
}


def stage_of(module: str) -> str | None:
    return layering.stage_of(module, "benchmark")


def imports_of(path: Path) -> list[tuple[int, str]]:
    return layering.imports_of(path, "benchmark")


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


def test_the_root_holds_only_the_base_and_the_cli() -> None:
    """Every other module lives in a stage package (the root was 29 side-by-side modules before issue 23)."""
    root = {p.stem for p in PKG.glob("*.py")} - {"__init__"}
    assert root <= {s for s, rank in ORDER.items() if rank <= 1} | {"cli"}, sorted(root)


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


def test_the_curation_half_never_imports_the_benchmark() -> None:
    """``busi_curate`` stays importable without torch: it imports nothing from ``benchmark``."""
    curate = PKG.parent / "busi_curate"
    bad = [f"{p}:{line} {m}" for p in sorted(curate.rglob("*.py")) for line, m in imports_of(p)]
    assert not bad, bad


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The rule can fail: a data module importing the training stage is reported."""
    f = tmp_path / "mod.py"
    f.write_text("def f():\n    from benchmark.training.train import train_fold\n")
    assert imports_of(f) == [(2, "benchmark.training.train")]
    assert ORDER[stage_of("benchmark.training.train") or ""] > ORDER["data"]
