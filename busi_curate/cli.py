"""The ``busi-curate`` command line: parses options and calls the stages; nothing else.

Commands are registered by name in :data:`COMMANDS` (``"module:attribute"``) and imported only
when used, so ``busi-curate --help`` stays instant.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from busi_curate import __version__
from busi_curate.errors import CurateError

#: command name -> "module:click command". Adding a command is one module plus one line here.
COMMANDS: dict[str, str] = {
    "demo": "busi_curate.commands.demo:demo",
    "scan": "busi_curate.commands.scan:scan",
    "bench-ssim": "busi_curate.commands.bench:bench_ssim",
    "size-study": "busi_curate.commands.bench:size_study",
    "bench-scale": "busi_curate.commands.bench:bench_scale",
    "review": "busi_curate.commands.review:review",
    "bench-auto": "busi_curate.commands.assist:bench_auto",
    "bench-robust": "busi_curate.commands.robust:bench_robust",
    "report": "busi_curate.commands.report:report",
    "export": "busi_curate.commands.export:export",
    "folds": "busi_curate.commands.export:folds",
    "verify": "busi_curate.commands.export:verify",
    "materialize": "busi_curate.commands.export:materialize",
    "audit": "busi_curate.commands.audit:audit",
    "query": "busi_curate.commands.query:query",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, target in COMMANDS.items() if importlib.util.find_spec(target.split(":")[0])]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        if importlib.util.find_spec(module) is None:
            return None
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="busi-curate")
def cli() -> None:
    """Find duplicated and mislabelled images in breast-ultrasound datasets (BUSI and alike).

    Typical flow: scan -> review [--auto] -> report -> export -> verify.
    Start with `busi-curate demo` to see it on a built-in synthetic dataset.
    """


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user mistakes become one line on stderr and exit status 2."""
    try:
        cli.main(args=argv, prog_name="busi-curate", standalone_mode=False)
    except CurateError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (OSError, RuntimeError) as exc:  # disk full, read-only folder: one line, not a traceback
        from busi_curate.fileio import write_error_line

        line = write_error_line(exc)
        if line is None:
            raise
        click.echo(f"error: {line}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
