"""Assistants for the review tests, loaded by ``busi-curate review --assistant unsure_assistant:UnsureAssistant``."""

from __future__ import annotations

from busi_curate.assistant import Assessment, Assistant


class UnsureAssistant(Assistant):
    """The real assistant's evidence and geometric fit, but it decides nothing: every question reaches the page."""

    def assess(self, pairs):  # type: ignore[no-untyped-def]
        return [Assessment("uncertain", "", a.evidence, a.score) for a in super().assess(pairs)]
