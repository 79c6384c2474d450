"""Issue 22: grid names never leave --out (FAIL 4: combine names), and every value of a grid file is checked,
with short one-line errors (names with NUL / newline / 300 characters, fold -1 / 99, cpus -4 / abc, alias bombs)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

from benchmark.data.provisional import build_provisional  # noqa: E402
from benchmark.errors import ConfigError  # noqa: E402
from benchmark.experiments.grid import jobs, load_grid  # noqa: E402


@pytest.fixture(scope="module")
def k2(synthetic_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    m, f = build_provisional(synthetic_dir, tmp_path_factory.mktemp("k2"), k=2)
    return m, f, synthetic_dir


def _grid(tmp_path: Path, k2, body: str) -> Path:
    m, f, d = k2
    path = tmp_path / "grid.yaml"
    path.write_text(
        f"name: t\ndefaults:\n  profile: smoke\n  manifest: {m}\n  folds: {f}\n  data: {d}\n{body}", encoding="utf-8"
    )
    return path


RUNS = "runs:\n  - {name: seg, task: seg}\n  - {name: cls, task: cls}\n"


@pytest.mark.parametrize(
    "combine_name",
    ["../../x", "/tmp/other-run", "..", "a/b", ".hidden", "x\u0000y", "x\ny", "a" * 300],
    ids=["dotdot", "absolute", "parent", "slash", "dot", "nul", "newline", "long"],
)
def test_a_combine_name_cannot_leave_out(tmp_path: Path, k2, combine_name: str) -> None:
    import json

    body = RUNS + f"combine:\n  - {{name: {json.dumps(combine_name)}, seg: seg, cls: cls}}\n"
    with pytest.raises(ConfigError, match="plain folder name") as exc:
        load_grid(_grid(tmp_path, k2, body))
    assert "\n" not in str(exc.value) and len(str(exc.value)) < 400


@pytest.mark.parametrize(
    "entry,match",
    [
        ('{name: "a\\0b"}', "plain folder name"),
        ('{name: "a\\nb"}', "plain folder name"),
        ("{name: " + "a" * 300 + "}", "plain folder name"),
        ("{name: a, fold: -1}", "'fold' must be"),
        ("{name: a, fold: [0, 0]}", "'fold' must be"),
        ("{name: a, cpus: -4}", "'cpus' must be"),
        ("{name: a, cpus: abc}", "'cpus' must be"),
        ("{name: a, cpus: true}", "'cpus' must be"),
        ("{name: a, gpus: -1}", "'gpus' must be"),
        ("{name: a, profile: [x]}", "'profile' must be"),
    ],
)
def test_grid_values_are_checked(tmp_path: Path, k2, entry: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as exc:
        load_grid(_grid(tmp_path, k2, f"runs:\n  - {entry}\n"))
    assert "\n" not in str(exc.value) and len(str(exc.value)) < 400


def test_a_fold_the_folds_file_lacks_is_refused(tmp_path: Path, k2) -> None:
    g = load_grid(_grid(tmp_path, k2, "runs:\n  - {name: a, fold: 99}\n"))
    with pytest.raises(ConfigError, match=r"fold\(s\) \[99\] are not in the folds file"):
        jobs(g)


@pytest.mark.parametrize("where", ["name", "setting", "fold"])
def test_an_alias_bomb_gives_a_short_line(tmp_path: Path, k2, where: str) -> None:
    levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 7):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        levels.append(f"{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]")
    bomb = "\n".join(levels)
    path = tmp_path / "bomb.yaml"
    m, f, d = k2
    path.write_text(
        f"{bomb}\nname: t\ndefaults: {{manifest: {m}, folds: {f}, data: {d}}}\nruns:\n  - "
        + {"name": "{name: *g}", "setting": "{name: a, lambda_seg: *g}", "fold": "{name: a, fold: *g}"}[where]
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as exc:
        load_grid(path)
    assert len(str(exc.value)) < 400 and "\n" not in str(exc.value)


def test_grid_cli_reports_one_line(tmp_path: Path, k2, capsys) -> None:
    from click.testing import CliRunner

    from benchmark.cli import main

    path = _grid(tmp_path, k2, RUNS + "combine:\n  - {name: ../../escape, seg: seg, cls: cls}\n")
    r = CliRunner().invoke(main, ["grid", str(path), "--out", str(tmp_path / "runs"), "--status"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert not (tmp_path.parent / "escape").exists()
