"""Checks of a grid file's values: run and combine names, fold numbers, resources; short error lines.

Every name becomes a folder under ``--out``, so it is held to one plain, portable form; no value of the
file is ever echoed at length (an alias bomb expands to megabytes).
"""

from __future__ import annotations

import re
from typing import Any

from benchmark.errors import ConfigError

#: Run and combine names: a plain folder name, 1-100 of ASCII letters, digits and ``. _ + -``, not starting
#: with a dot or a dash (no ``/``, ``..``, absolute paths, NUL, line breaks or spaces).
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,99}", re.ASCII)
#: The most characters of a value an error message shows.
SHOW_CHARS = 80


def show(value: Any) -> str:
    """``repr(value)`` cut to :data:`SHOW_CHARS` characters (an error line stays one short line)."""
    import reprlib

    r = reprlib.Repr()
    r.maxstring = r.maxother = SHOW_CHARS
    text = r.repr(value).replace("\n", "\\n")
    return text if len(text) <= SHOW_CHARS else text[: SHOW_CHARS - 3] + "..."


def cap(message: str, limit: int = 400) -> str:
    """One line of at most ``limit`` characters."""
    line = message.replace("\r", " ").replace("\n", " ")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def check_name(value: Any, where: str) -> str:
    """``value`` when it is a valid run or combine name (:data:`NAME_RE`).

    Raises:
        ConfigError: anything else, shown cut short.
    """
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise ConfigError(
            f"{where}: 'name' must be a plain folder name (1-100 letters, digits, . _ + -, not starting "
            f"with a dot), got {show(value)}"
        )
    return value


def check_fold_numbers(value: Any, where: str) -> tuple[int, ...] | None:
    """``None`` for ``all`` (or no value), else a tuple of distinct fold numbers >= 0.

    Raises:
        ConfigError: any other value.
    """
    if value in (None, "all"):
        return None
    items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        isinstance(items, list)
        and items
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in items)
        and len(set(items)) == len(items)
    ):
        return tuple(items)
    raise ConfigError(
        f"{where}: 'fold' must be 'all', a fold number >= 0 or a list of distinct ones, got {show(value)}"
    )


def check_resources(cpus: Any, gpus: Any, where: str) -> tuple[int, float]:
    """``(cpus, gpus)``: cpus an integer >= 1, gpus a number >= 0.

    Raises:
        ConfigError: any other value.
    """
    if isinstance(cpus, bool) or not isinstance(cpus, int) or cpus < 1:
        raise ConfigError(f"{where}: 'cpus' must be an integer >= 1, got {show(cpus)}")
    if isinstance(gpus, bool) or not isinstance(gpus, (int, float)) or not 0 <= gpus < float("inf"):
        raise ConfigError(f"{where}: 'gpus' must be a number >= 0, got {show(gpus)}")
    return cpus, float(gpus)


def check_folds_present(wanted: tuple[int, ...], present: list[int], where: str) -> None:
    """Every fold a run names must be in its folds file.

    Raises:
        ConfigError: a fold number the folds file does not hold.
    """
    missing = [k for k in wanted if k not in present]
    if missing:
        raise ConfigError(f"{where}: fold(s) {missing[:5]} are not in the folds file (folds: {present})")
