"""``busi-curate review``: the duplicate-recognition walk in a local web page, an automatic pass, or a replay."""

from __future__ import annotations

import contextlib
import getpass
import importlib
from pathlib import Path
from typing import Any

import click

from busi_curate.defaults import SCREEN_THRESHOLD

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


def _assistant(factory: str, scan: Any) -> Any:
    from busi_curate.errors import CurateError

    module, _, attr = factory.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise CurateError(f"the automatic assistant {factory} is not available ({exc})") from exc
    return cls(scan, cache_dir=Path(scan.dir) / "features")


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
@click.option("--verbose", is_flag=True, help="Log every HTTP request.")
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
    verbose: bool,
) -> None:
    """Review the duplicate candidates of a scan, the paper's way (section 4.2).

    Starts a page on http://127.0.0.1:PORT/ (printed; nothing is opened for you). Every answer is
    appended to SCAN_DIR/decisions.csv and fsync'ed before the next pair is shown; stop the server at
    any time and start it again to resume. Keys: s/1 same (same frame), i identical, a adjacent frame,
    d different, k skip, u undo, m/n mask outlines. See docs/review.md.
    """
    from busi_curate.defaults import JOURNAL_NAME
    from busi_curate.review.session import (
        groups_line,
        load_scan,
        merge_into,
        replay,
        review_lock,
    )

    if merge and decisions_file is None:
        raise click.UsageError("--merge needs --decisions FILE")
    if decisions_file is not None and auto:
        raise click.UsageError("--decisions replays a journal; it cannot be combined with --auto")
    name = _reviewer(reviewer)
    scan: Any = load_scan(scan_dir)
    journal_path = Path(scan.dir) / JOURNAL_NAME

    if decisions_file is not None:
        res = replay(scan, decisions_file, threshold)
        for w in res.warnings:
            click.echo(f"warning: {w}", err=True)
        _summary(
            res.walk, res.decisions, groups_line, f"replayed {len(res.decisions)} journal lines from {decisions_file}"
        )
        if merge:
            with review_lock(scan.dir):
                n = merge_into(res.decisions, journal_path)
            click.echo(f"merged: appended {n} new line(s) to {journal_path}")
        return

    # one writer per journal: the lock is held by the automatic pass and until the server stops
    writes = auto or not no_browser
    with review_lock(scan.dir) if writes else contextlib.nullcontext():
        _review(scan, journal_path, name, port, threshold, auto, no_browser, assistant_factory, verbose)


def _review(
    scan: Any,
    journal_path: Path,
    name: str,
    port: int,
    threshold: float,
    auto: bool,
    no_browser: bool,
    assistant_factory: str,
    verbose: bool,
) -> None:
    from busi_curate.review.journal import Journal
    from busi_curate.review.session import groups_line, load_journal, open_walk, write_extra_pairs

    decisions, warns = load_journal(journal_path, scan)
    for w in warns:
        click.echo(f"warning: {w}", err=True)
    assessments: dict[Any, Any] = {}
    assistant = None
    if auto:
        from busi_curate.review.auto import run_auto

        assistant = _assistant(assistant_factory, scan)
        extra = list(assistant.extra_pairs())
        write_extra_pairs(scan, extra, assistant_factory)
        walk = open_walk(scan, decisions, threshold)
        with Journal(journal_path) as j:
            summary = run_auto(walk, assistant, j.append, assessments)
        click.echo(summary.line() + f"; {len(walk.extra_pairs)} extra pairs proposed")
        decisions = walk.decisions
    else:
        walk = open_walk(scan, decisions, threshold)

    if no_browser:
        _summary(walk, decisions, groups_line, f"journal {journal_path}: {len(decisions)} lines")
        return

    _serve(scan, walk, journal_path, name, assistant, assessments, port, verbose)


def _summary(walk: Any, decisions: Any, groups_line: Any, head: str) -> None:
    left = walk.open_questions()
    click.echo(head)
    click.echo(walk.progress().line())
    click.echo(groups_line(decisions) + " (identical + same-frame)")
    click.echo(f"{len(left)} question(s) left for a person at threshold {walk.threshold:g}")


def _serve(
    scan: Any,
    walk: Any,
    journal_path: Path,
    reviewer: str,
    assistant: Any,
    assessments: dict[Any, Any],
    port: int,
    verbose: bool,
) -> None:
    import signal

    from busi_curate.review.journal import Journal
    from busi_curate.review.server import ReviewApp, make_server, url_of

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    with Journal(journal_path) as journal:
        app = ReviewApp(scan, walk, journal.append, reviewer, assistant=assistant, assessments=assessments)
        server = make_server(app, port, verbose=verbose)
        signal.signal(signal.SIGTERM, stop)
        click.echo(f"review of {scan.n} images by {reviewer}: {walk.progress().line()}")
        click.echo(f"serving on {url_of(server)}  (Ctrl-C to stop; answers are saved to {journal_path})")
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        click.echo(f"stopped. {walk.progress().line()}")
