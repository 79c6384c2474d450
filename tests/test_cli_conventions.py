"""One name per concept across busi-curate and busi-bench (issue 11; docs/cli.md).

Walks every command of both command lines and checks the conventions, so a new command cannot
drift from them unnoticed.
"""

from __future__ import annotations

import click
import pytest

from busi_curate.cli import COMMANDS
from busi_curate.cli import cli as curate_cli


def _commands() -> list[tuple[str, click.Command]]:
    out = []
    ctx = click.Context(curate_cli)
    for name in COMMANDS:
        cmd = curate_cli.get_command(ctx, name)
        assert cmd is not None, name
        out.append((f"busi-curate {name}", cmd))
    try:
        from benchmark.cli import main as bench_cli
    except ImportError:  # pragma: no cover - the benchmark half always imports (torch is imported lazily)
        return out
    bctx = click.Context(bench_cli)
    for name in bench_cli.list_commands(bctx):
        cmd = bench_cli.get_command(bctx, name)
        assert cmd is not None, name
        out.append((f"busi-bench {name}", cmd))
    return out


COMMANDS_ALL = _commands()
IDS = [name for name, _ in COMMANDS_ALL]


def _options(cmd: click.Command) -> list[click.Option]:
    return [p for p in cmd.params if isinstance(p, click.Option)]


@pytest.mark.parametrize(("name", "cmd"), COMMANDS_ALL, ids=IDS)
def test_outputs_are_named_out(name: str, cmd: click.Command) -> None:
    """Where a command writes a folder or file, it is --out; a positional OUT exists only as a hidden alias."""
    for p in cmd.params:
        if isinstance(p, click.Argument) and p.name and "out" in p.name.split("_"):
            assert p.name.startswith("legacy_") and p.metavar == "", f"{name}: positional {p.name} (use --out)"
        if isinstance(p, click.Option) and p.name in {"out", "output", "out_dir", "outdir"}:
            assert "--out" in p.opts, f"{name}: output option spelled {p.opts}"
    for o in _options(cmd):
        for opt in o.opts:
            assert opt not in {"--output", "--out-dir", "--outdir", "-o"}, f"{name}: {opt} (use --out)"


@pytest.mark.parametrize(("name", "cmd"), COMMANDS_ALL, ids=IDS)
def test_one_spelling_per_concept(name: str, cmd: click.Command) -> None:
    """--k counts folds, --size is the side of a square image, --seed is an integer; old spellings only as aliases."""
    for o in _options(cmd):
        first = o.opts[0]
        assert first not in {"--image-size", "--folds-k", "--n-folds", "--nfolds"}, f"{name}: {first} first"
        if "--image-size" in o.opts:
            assert o.opts[0] == "--size", f"{name}: --image-size must be an alias of --size"
        if o.name == "seed":
            assert isinstance(o.type, click.types.IntParamType), f"{name}: --seed must be an integer"
        if "--folds" in o.opts and isinstance(o.type, click.types.IntParamType):
            assert o.opts[0] == "--k", f"{name}: a fold count is --k (--folds is a file elsewhere)"
        if o.opts[0] == "--folds":
            assert isinstance(o.type, click.Path), f"{name}: --folds names a folds file"


@pytest.mark.parametrize(("name", "cmd"), COMMANDS_ALL, ids=IDS)
def test_every_command_and_option_is_explained(name: str, cmd: click.Command) -> None:
    assert (cmd.help or "").strip(), f"{name} has no help text"
    for o in _options(cmd):
        if not o.hidden and o.name not in {"help"}:
            assert (o.help or "").strip() or o.is_flag is False and o.type.name in {"choice"}, (
                f"{name} {o.opts[0]} has no help"
            )


def test_the_checks_can_fail() -> None:
    """A command with a positional OUT and an --image-size of its own is caught."""

    @click.command()
    @click.argument("out")
    @click.option("--image-size", type=int)
    def bad(out: str, image_size: int) -> None:
        """A badly named command."""

    with pytest.raises(AssertionError, match="positional"):
        test_outputs_are_named_out("bad", bad)
    with pytest.raises(AssertionError, match="--image-size"):
        test_one_spelling_per_concept("bad", bad)
