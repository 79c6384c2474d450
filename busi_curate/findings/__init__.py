"""Stage 7 -- findings: what the decisions say about a dataset, as tables, figures and a report.

* :mod:`.stats` -- groups and class conflicts, mask IoU after registration, SSIM statistics
  (Lilliefors, Mann-Whitney);
* :mod:`.report` -- :func:`make_report`: the report's document, rendered to Markdown and HTML.
"""

from __future__ import annotations

from busi_curate.findings.report import ReportSettings, make_report

__all__ = ["ReportSettings", "make_report"]
