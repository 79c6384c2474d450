"""``busi-curate review``: the duplicate-recognition walk in a local web page, an automatic pass, or a replay."""

from __future__ import annotations

import contextlib
import getpass
from pathlib import Path
from typing import Any

import click

from busi_curate.commands.scan import engine_options
from busi_curate.defaults import SCREEN_THRESHOLD

#: the default of the hidden --assistant option (busi_curate.review.run.DEFAULT_ASSISTANT, without importing it)
DEFAULT_ASSISTANT = "busi_curate.assistant:Assistant"


def _reviewer(name: str | None) -> str:
    from busi_curate.errors import CurateError

    if name is None:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "reviewer"
    from busi_curate.review.journal import check_reviewer

    name = name.strip()
    try:
        return check_reviewer(name)
    except ValueError as exc:
        raise CurateError(str(exc)) from exc


def _show_progress(assistant: object, on: bool) -> None:
    """Let the assistant draw its feature bar (stderr) when it has one."""
    if hasattr(assistant, "progress"):
        assistant.progress = on


@click.command()
@click.argument("scan_dir", type=click.Path(path_type=Path))
@click.option("--reviewer", default=None, help="Name recorded as decided_by (default: the OS user name).")
@click.option(
    "--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="Port on 127.0.0.1 (0: any free port)."
)
@click.option(
    "--threshold",
    default=SCREEN_THRESHOLD,
    show_default=True,
    type=click.FloatRange(-1.0, 1.0),
    help="SSIM below which a candidate is never asked (the paper's screening threshold).",
)
@click.option(
    "--auto",
    "auto",
    is_flag=True,
    help="Let the assistant decide the pairs it is sure about (decided_by=auto); the page shows the rest.",
)
@click.option(
    "--no-browser",
    is_flag=True,
    help="Do not start the page: run the automatic pass (with --auto) and print where the review stands.",
)
@click.option(
    "--decisions",
    "decisions_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Replay this journal against the scan without a browser and print the result.",
)
@click.option("--merge", is_flag=True, help="With --decisions: append its lines to SCAN_DIR/decisions.csv.")
@click.option(
    "--assistant",
    "assistant_factory",
    default=DEFAULT_ASSISTANT,
    hidden=True,
    help="module:Class of the assistant (for tests and alternative assistants).",
)
@click.option(
    "--explain/--no-explain",
    "explain",
    default=True,
    show_default=True,
    help="Without --auto: let the assistant explain each pair (evidence in words, the pair registered by its "
    "fit) while every answer stays the person's. --no-explain starts faster (no features to compute).",
)
@click.option("--verbose", is_flag=True, help="Log every HTTP request.")
@click.option("--quiet", is_flag=True, help="No progress bars on stderr (features, the automatic pass).")
@engine_options
def review(
    scan_dir: Path,
    reviewer: str | None,
    port: int,
    threshold: float,
    auto: bool,
    no_browser: bool,
    decisions_file: Path | None,
    merge: bool,
    assistant_factory: str,
    explain: bool,
    verbose: bool,
    quiet: bool,
    engine_name: str,
    address: str | None,
) -> None:
    """Review the duplicate candidates of a scan, the paper's way (section 4.2).

    Starts a page on http://127.0.0.1:PORT/ (printed; nothing is opened for you). Every answer is
    appended to SCAN_DIR/decisions.csv and fsync'ed before the next pair is shown; stop the server at
    any time and start it again to resume. Keys: s/1 same (same frame), i identical, a adjacent frame,
    o same lesion (other view), d different, k skip, u undo; v/V views (side by side, overlay, flicker,
    difference), +/- zoom, 0 fit, z native size, m/n mask outlines, g the gallery of automatic decisions.
    See docs/review.md.
    """
    from busi_curate.defaults import JOURNAL_NAME
    from busi_curate.engine import DEFAULT_ENGINE, open_engine
    from busi_curate.review.run import load_assistant, prepare, serve, status_lines
    from busi_curate.review.session import load_scan, review_lock

    if merge and decisions_file is None:
        raise click.UsageError("--merge needs --decisions FILE")
    if decisions_file is not None and auto:
        raise click.UsageError("--decisions replays a journal; it cannot be combined with --auto")
    if engine_name != DEFAULT_ENGINE and not auto:
        raise click.UsageError(f"--engine {engine_name} runs the assistant's work: use it with --auto")
    name = _reviewer(reviewer)
    scan = load_scan(scan_dir)
    journal_path = Path(scan.dir) / JOURNAL_NAME
    if decisions_file is not None:
        _replay_journal(scan, decisions_file, journal_path, threshold, merge)
        return

    # one writer per journal: the lock (and the engine) held by the automatic pass and until the server stops
    writes = auto or not no_browser
    with review_lock(scan.dir) if writes else contextlib.nullcontext(), open_engine(engine_name, address) as engine:
        assessments: dict[Any, Any] = {}
        walk, assistant = _open_walk(
            scan, journal_path, threshold, assistant_factory if auto else None, assessments, quiet, engine
        )
        if no_browser:
            click.echo(f"journal {journal_path}: {len(walk.decisions)} lines")
            click.echo("\n".join(status_lines(walk)))
            return
        if assistant is None and explain:
            # a plain review: the assistant explains each pair (evidence in words, registered views), decides nothing
            assistant = load_assistant(assistant_factory, scan)
            _show_progress(assistant, not quiet)
            prepare(assistant, echo=click.echo)
        serve(scan, walk, journal_path, name, assistant, assessments, port, verbose, echo=click.echo, auto=auto)


def _warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def _replay_journal(scan: Any, decisions_file: Path, journal_path: Path, threshold: float, merge: bool) -> None:
    """``--decisions FILE``: replay the journal against the scan, print where it stands, and with ``--merge``
    append its new lines to the scan's journal (under the review lock)."""
    from busi_curate.review.run import status_lines
    from busi_curate.review.session import merge_into, replay, review_lock

    res = replay(scan, decisions_file, threshold)
    for w in res.warnings:
        _warn(w)
    click.echo(f"replayed {len(res.decisions)} journal lines from {decisions_file}")
    click.echo("\n".join(status_lines(res.walk)))
    if merge:
        with review_lock(scan.dir):
            n = merge_into(res.decisions, journal_path)
        click.echo(f"merged: appended {n} new line(s) to {journal_path}")


def _open_walk(
    scan: Any,
    journal_path: Path,
    threshold: float,
    auto_factory: str | None,
    assessments: dict[Any, Any],
    quiet: bool,
    engine: Any = None,
) -> tuple[Any, Any]:
    """The review walk and the assistant deciding it: with ``--auto`` (``auto_factory`` the assistant's
    module:Class) after the automatic pass, which fills ``assessments``; otherwise the journal's walk as it stands
    and no assistant."""
    from busi_curate.review.run import automatic_pass, load_assistant, open_review

    if auto_factory is None:
        walk, warnings = open_review(scan, journal_path, threshold)
        for w in warnings:
            _warn(w)
        return walk, None
    assistant = load_assistant(auto_factory, scan, engine)
    _show_progress(assistant, not quiet)
    walk, summary = automatic_pass(
        scan, journal_path, threshold, assistant, assessments, _warn, source=auto_factory, progress=not quiet
    )
    click.echo(summary.line() + f"; {len(walk.extra_pairs)} extra pairs proposed")
    return walk, assistant
