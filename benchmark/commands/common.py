"""What every ``busi-bench`` command shares: the [bench] extra check, user errors as one line, the ``--out``
folder option, the data root."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from busi_curate.errors import CurateError

F = TypeVar("F", bound=Callable[..., Any])
EXTRA_HINT = "busi-bench needs the [bench] extra: pip install -e .[bench]"


def needs_torch() -> None:
    """Exit with status 2 and the install hint when torch or MONAI is missing."""
    try:
        import monai  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        click.echo(EXTRA_HINT, err=True)
        sys.exit(2)


def user_errors(fn: F) -> F:
    """Turn a :class:`CurateError` into one line on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CurateError as exc:
            click.echo(f"busi-bench: error: {exc}", err=True)
            sys.exit(2)
        except (OSError, RuntimeError) as exc:  # disk full, read-only folder: one line, not a traceback
            from busi_curate.fileio import write_error_line

            line = write_error_line(exc)
            if line is None:
                raise
            click.echo(f"busi-bench: error: {line}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def out_folder(help: str) -> Callable[[F], F]:
    """The required ``--out FOLDER`` option of a command that writes a folder."""
    return click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help=help)


def data_root(data_dir: Path, manifest: Path) -> Path:
    """The folder the manifest's paths are relative to: ``data_dir``, or its parent when ``data_dir`` is the
    ``Dataset_BUSI_with_GT`` folder itself (as ``busi-curate`` accepts)."""
    from busi_curate.publish.manifest import read_manifest

    try:
        first = read_manifest(manifest).rows[0].image
    except CurateError:
        return data_dir
    if not (data_dir / first).exists() and (data_dir.parent / first).exists():
        return data_dir.parent
    return data_dir
