"""The review stage: the paper's duplicate-recognition walk, its automatic pass and a local web UI.

* :mod:`.walk` -- the walk itself (pure logic, resumable from the journal);
* :mod:`.auto` -- the automatic pass (the assistant answers what it is sure about);
* :mod:`.session` -- opening a scan + journal, replaying and merging journals;
* :mod:`.server` -- the loopback-only web server and its page (``static/``).

See ``docs/review.md``.
"""

from __future__ import annotations

from busi_curate.review.walk import Progress, Question, Walk

__all__ = ["Progress", "Question", "Walk"]
