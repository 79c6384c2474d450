"""Every row of every shipped grid builds (issue 23, CI time): the cheap half of the smoke grid's old end-to-end test.

For EVERY run of ``grids/smoke.yaml``, ``grids/paper.yaml`` and the ``grids/cpu*.yaml`` grids, the config a grid
job trains (the entry YAML ``busi-bench grid`` writes for its ``busi-bench run`` child, resolved against the
run's profile) builds its network through the one :func:`benchmark.models.build_network`, and one eval-mode
forward pass of a tiny batch at the row's own ``image_size`` has the row's task shapes. No training: a row that
cannot be built still fails CI, while the training path itself is run through Ray on a few representative rows
in ``test_bench_grid.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from benchmark.experiments.grid import Grid, Job, job_command, load_grid  # noqa: E402
from benchmark.models import build_network  # noqa: E402
from benchmark.profiles import RunConfig, resolve_config  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
GRIDS = sorted({"smoke.yaml", "paper.yaml"} | {p.name for p in (REPO / "grids").glob("cpu*.yaml")})
BATCH = 2


@cache
def _grid(name: str) -> Grid:
    return load_grid(REPO / "grids" / name, base=REPO)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: on the shared 2-core CI machine two threads spin against each other and the other
    xdist worker (measured: a 128 px mt-unetpp forward pass took 3.2 CPU-s with 2 threads, 0.5 with 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


ROWS = [(g, r.name) for g in GRIDS for r in _grid(g).runs]


def test_every_shipped_grid_is_covered() -> None:
    """The row table is not empty and names every grid file of the folder (a new grid file joins by itself)."""
    assert {"smoke.yaml", "paper.yaml", "cpu.yaml", "cpu_table4.yaml", "cpu_tables.yaml"} <= set(GRIDS)
    assert {g for g, _ in ROWS} == set(GRIDS)
    assert len(ROWS) >= 2 * 34  # smoke and paper alone have 34 rows each


def test_the_smoke_grid_has_a_tiny_version_of_every_paper_row() -> None:
    smoke, paper = _grid("smoke.yaml"), _grid("paper.yaml")
    assert {r.name for r in smoke.runs} == {r.name for r in paper.runs}
    assert {(c.name, c.seg, c.cls) for c in smoke.combines} == {(c.name, c.seg, c.cls) for c in paper.combines}


def _job_config(grid: str, run: str, tmp_path: Path) -> RunConfig:
    """The config the grid's ``busi-bench run`` child of this row would train (its entry YAML, its profile)."""
    child = job_command(Job(_grid(grid).run(run), 0), tmp_path, threads=1)
    return resolve_config(child.profile, child.config, None)


#: (module tree, every setting build_network reads) -> the task shapes one forward pass gave
_FORWARD_SEEN: dict[tuple[object, ...], tuple[object, ...]] = {}


def _forward_shapes(net: torch.nn.Module, cfg: RunConfig) -> tuple[object, ...]:
    """``(top seg shape or None, cls shape or None, all finite)`` of one eval-mode pass of a tiny batch.

    Rows whose built networks have the same module tree (``repr``) and the same network settings share one pass
    (the task is an attribute, not a module, so it is in the key): 108 rows are 30 distinct networks, and the
    pass is what costs (the build, done for every row, is cheap).
    """
    s = cfg.image_size
    key = (repr(net), s, cfg.model, cfg.task, cfg.cls_head, cfg.head_norm, cfg.baseline_config)
    if key not in _FORWARD_SEEN:
        with torch.no_grad():
            out = net(torch.rand(BATCH, 1, s, s, generator=torch.Generator().manual_seed(0)))
        tensors = [*out.seg[:1], *([out.cls] if out.cls is not None else [])]
        _FORWARD_SEEN[key] = (
            tuple(out.seg[0].shape) if out.seg else None,
            tuple(out.cls.shape) if out.cls is not None else None,
            all(bool(torch.isfinite(t).all()) for t in tensors),
        )
    return _FORWARD_SEEN[key]


@pytest.mark.parametrize(("grid", "run"), ROWS, ids=[f"{g.removesuffix('.yaml')}-{r}" for g, r in ROWS])
def test_every_grid_row_builds_its_network_and_runs_one_forward_pass(grid: str, run: str, tmp_path: Path) -> None:
    cfg = _job_config(grid, run, tmp_path)
    s = cfg.image_size
    seg, cls, finite = _forward_shapes(build_network(cfg).eval(), cfg)
    assert finite, (grid, run, cfg.model)
    assert seg == (None if cfg.task == "cls" else (BATCH, 1, s, s)), (grid, run, cfg.model, cfg.task)
    assert cls == (None if cfg.task == "seg" else (BATCH, 3)), (grid, run, cfg.model, cfg.task)


@pytest.mark.parametrize("grid", GRIDS)
def test_every_combine_joins_a_segmentation_run_and_a_classification_run(grid: str, tmp_path: Path) -> None:
    g = _grid(grid)
    for c in g.combines:
        assert _job_config(grid, c.seg, tmp_path).task in ("seg", "mt"), (grid, c.name)
        assert _job_config(grid, c.cls, tmp_path).task in ("cls", "mt"), (grid, c.name)
