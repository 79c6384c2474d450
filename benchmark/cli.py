"""``busi-bench``: train and evaluate the multi-task framework fold by fold, summarise, predict, time models.

Only option parsing lives here and in :mod:`benchmark.commands`; torch / MONAI load inside the commands
so ``--help`` is instant.
"""

from __future__ import annotations

import click

from benchmark.commands import results, tools
from benchmark.commands import run as run_cmd
from benchmark.commands.common import EXTRA_HINT, needs_torch, user_errors

__all__ = ["EXTRA_HINT", "main", "needs_torch", "user_errors"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="busi-curate", prog_name="busi-bench")
def main() -> None:
    """Benchmark the prediction-refining multi-task framework (Aumente-Maestro et al. 2025) on a curated manifest."""


#: every command of the group, by module. Adding one is a function in benchmark/commands plus one line here.
for command in (
    run_cmd.run,
    results.summarize,
    results.combine,
    results.report,
    results.leakage,
    results.leakage_arms,
    results.rescore,
    results.provisional,
    tools.predict,
    tools.speed,
    tools.pack,
    tools.grid,
    tools.models,
    tools.profiles,
):
    main.add_command(command)

if __name__ == "__main__":  # pragma: no cover
    main()
