"""Stage 8 -- audit: which test images of a split (or of another dataset) have copies in training.

:func:`audit_split` reuses the scan and the assistant's grades; :func:`relations` is the one
definition of "same-frame" / "adjacent-frame" pairs that the benchmark's leakage study also uses.
See ``docs/audit.md``.
"""

from __future__ import annotations

from busi_curate.audit.leakage import AuditResult, audit_split, read_split, relations, write_audit

__all__ = ["AuditResult", "audit_split", "read_split", "relations", "write_audit"]
