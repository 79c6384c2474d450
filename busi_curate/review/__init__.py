"""Stage 4 -- review: the paper's duplicate-recognition walk, its automatic pass and a local web page.

* :mod:`.journal` -- the append-only, fsync'ed journal of decisions (and the one undo rule);
* :mod:`.groups` -- duplicate groups and fold links from the standing decisions;
* :mod:`.walk` -- the walk itself (pure logic, resumable from the journal);
* :mod:`.auto` -- the automatic pass (the assistant answers what it is sure about);
* :mod:`.session` -- opening a scan + journal, replaying and merging journals, the one-writer lock;
* :mod:`.run` -- a whole session as library calls (:func:`automatic_pass`, :func:`serve`, :func:`status_lines`);
* :mod:`.server` -- the loopback-only web server and its page (``static/``).

See ``docs/review.md``.
"""

from __future__ import annotations

from busi_curate.review.journal import Decision, Journal, read_journal
from busi_curate.review.run import automatic_pass, load_assistant, open_review, serve, status_lines
from busi_curate.review.session import load_scan, replay, review_lock
from busi_curate.review.walk import Progress, Question, Walk

__all__ = [
    "Decision",
    "Journal",
    "Progress",
    "Question",
    "Walk",
    "automatic_pass",
    "load_assistant",
    "load_scan",
    "open_review",
    "read_journal",
    "replay",
    "review_lock",
    "serve",
    "status_lines",
]
