"""A whole review session as library calls: the automatic pass, the page, where the review stands.

``busi-curate review`` and ``busi-curate audit`` only parse options and call these; a notebook can too::

    from busi_curate.review.run import automatic_pass, status_lines
    from busi_curate.review.session import load_scan

    scan = load_scan("scans/busi")
    walk, summary = automatic_pass(scan, scan.dir / "decisions.csv")
    print(summary.line(), *status_lines(walk), sep="\n")

Every function writes only through :class:`~busi_curate.review.journal.Journal` (append + fsync, one
writer: hold :func:`~busi_curate.review.session.review_lock` around them), so no answer is ever lost.
"""

from __future__ import annotations

import importlib
import inspect
import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from busi_curate.defaults import SCREEN_THRESHOLD
from busi_curate.engine import Engine, LocalEngine
from busi_curate.errors import CurateError
from busi_curate.review.assess_cache import AssessmentStore, CachedAssistant
from busi_curate.review.auto import AssistantLike, AutoSummary, run_auto
from busi_curate.review.journal import Journal
from busi_curate.review.session import groups_line, load_journal, open_walk, write_extra_pairs
from busi_curate.review.walk import RowPair, Walk
from busi_curate.scan.run import ScanResult

#: ``module:Class`` of the assistant the review uses unless told otherwise.
DEFAULT_ASSISTANT = "busi_curate.assistant:Assistant"

Echo = Callable[[str], None]


class ReviewAssistant(AssistantLike, Protocol):
    """What the review needs of an assistant: assessments, and pairs the SSIM ranking would not reach."""

    def extra_pairs(self) -> Iterable[RowPair]: ...


def load_assistant(factory: str, scan: ScanResult, engine: Engine | None = None) -> ReviewAssistant:
    """Instantiate ``module:Class`` for ``scan`` (features cached in ``SCAN/features``; its features and
    verifications run on ``engine`` when given); CurateError if unavailable."""
    module, _, attr = factory.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise CurateError(f"the automatic assistant {factory} is not available ({exc})") from exc
    extra = {} if engine is None or isinstance(engine, LocalEngine) else {"engine": engine}
    if extra and "engine" not in inspect.signature(cls).parameters:
        raise CurateError(f"the automatic assistant {factory} runs here only, not on --engine {extra['engine'].name}")
    assistant: ReviewAssistant = cls(scan, cache_dir=Path(scan.dir) / "features", **extra)
    return assistant


def open_review(scan: ScanResult, journal_path: Path, threshold: float = SCREEN_THRESHOLD) -> tuple[Walk, list[str]]:
    """The walk resumed from ``journal_path`` and the warnings about lines it skipped."""
    decisions, warnings = load_journal(journal_path, scan)
    return open_walk(scan, decisions, threshold), warnings


def automatic_pass(
    scan: ScanResult,
    journal_path: Path,
    threshold: float = SCREEN_THRESHOLD,
    assistant: ReviewAssistant | str = DEFAULT_ASSISTANT,
    assessments: dict[Any, Any] | None = None,
    warn: Echo | None = None,
    source: str | None = None,
    progress: bool = False,
    cache: bool = True,
    engine: Engine | None = None,
) -> tuple[Walk, AutoSummary]:
    """Resume the walk from the journal and let the assistant answer what it is sure about.

    Each automatic answer is appended to ``journal_path`` (``decided_by=auto``) before the next is taken;
    the assistant's extra pairs (candidates the SSIM ranking misses) are written beside the scan.
    ``assessments`` is filled with the assistant's evidence, for the page to show on the questions left;
    ``source`` names the assistant in the extra pairs' sidecar (default: its ``module:Class`` or class name).
    ``progress``: a bar on stderr (pairs assessed of those found so far, rate, ETA); ``cache``: keep the assessments
    in ``SCAN/features/assessments.json`` (:mod:`~busi_curate.review.assess_cache`), so a restart with nothing new
    to decide asks the assistant nothing it has answered before. ``engine``: where a named assistant computes its
    features and verifies pairs (:mod:`busi_curate.engine`); the journal is the same whichever engine ran it.
    """
    helper = load_assistant(assistant, scan, engine) if isinstance(assistant, str) else assistant
    source = source or (assistant if isinstance(assistant, str) else type(assistant).__name__)
    decisions, warnings = load_journal(journal_path, scan)
    for w in warnings:
        if warn is not None:
            warn(w)
    write_extra_pairs(scan, list(helper.extra_pairs()), source)
    walk = open_walk(scan, decisions, threshold)
    store = AssessmentStore.for_assistant(Path(scan.dir) / "features", helper, warn) if cache else None
    asker: AssistantLike = (
        helper if store is None else CachedAssistant(helper, scan.index["pixel_sha256"], scan.pair_ssim, store)
    )
    bar = _bar(progress)
    try:
        with Journal(journal_path) as journal:
            summary = run_auto(walk, asker, journal.append, assessments, progress=bar)
    finally:
        if bar is not None:
            bar.close()
        if store is not None:
            store.save()
    summary.cached = 0 if store is None else store.hits
    return walk, summary


def _bar(on: bool) -> Any:
    """A tqdm bar on stderr for the automatic pass (None when off)."""
    if not on:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=0, desc="automatic pass", unit="pair", file=sys.stderr, dynamic_ncols=True)


def prepare(assistant: AssistantLike, echo: Echo = print) -> None:
    """Compute (or load from the cache) the assistant's per-image features now, not on the first page load."""
    features = getattr(assistant, "features", None)
    if callable(features):
        echo("preparing the assistant's evidence (per-image features, cached in SCAN/features) ...")
        features()


def status_lines(walk: Walk) -> list[str]:
    """Where the review stands: progress, groups so far, questions left for a person."""
    return [
        walk.progress().line(),
        groups_line(walk.decisions) + " (identical + same-frame)",
        f"{len(walk.open_questions())} question(s) left for a person at threshold {walk.threshold:g}",
    ]


def serve(
    scan: ScanResult,
    walk: Walk,
    journal_path: Path,
    reviewer: str,
    assistant: AssistantLike | None = None,
    assessments: dict[Any, Any] | None = None,
    port: int = 0,
    verbose: bool = False,
    echo: Echo = print,
    auto: bool = True,
) -> None:
    """Serve the review page on 127.0.0.1 until Ctrl-C or SIGTERM; every answer is journalled as it is given.

    With ``auto=False`` the assistant only explains (evidence in words, the pair drawn registered with its
    fit): every question goes to the person.
    """
    from busi_curate.review.http import make_server, url_of
    from busi_curate.review.server import ReviewApp

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    with Journal(journal_path) as journal:
        app = ReviewApp(
            scan, walk, journal.append, reviewer, assistant=assistant, assessments=assessments or {}, auto=auto
        )
        server = make_server(app, port, verbose=verbose)
        signal.signal(signal.SIGTERM, stop)
        echo(f"review of {scan.n} images by {reviewer}: {walk.progress().line()}")
        echo(f"serving on {url_of(server)}  (Ctrl-C to stop; answers are saved to {journal_path})")
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        echo(f"stopped. {walk.progress().line()}")
