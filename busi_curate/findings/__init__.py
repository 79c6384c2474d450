"""Stage 7 -- findings: what the decisions say about a dataset, as tables, figures and a report.

Computations (plain data in, DataFrames and dataclasses out):

* :mod:`.group_tables` -- groups and their members, class conflicts, counts, class distribution (Table 3);
* :mod:`.registration` -- an upright similarity from one image onto another (scale + shift);
* :mod:`.masks` -- mask IoU of every pair inside every group, after registration (Table 2);
* :mod:`.ssim_stats` -- SSIM of duplicate vs other pairs, Lilliefors, Mann-Whitney, the threshold (Table 1);
* :mod:`.compute` -- all of the above for one scan and journal (:class:`~.compute.Findings`).

The report:

* :mod:`.document` -- the document model (blocks); :mod:`.content` -- what the report says, as blocks;
* :mod:`.render_md`, :mod:`.render_html` -- its Markdown and HTML renderers;
* :mod:`.figures` -- Fig. 5 (300 dpi PNG + SVG) and the thumbnail strip of each group;
* :mod:`.report` -- :func:`make_report`: writes the folder and its ``report.json`` sidecar.
"""

from __future__ import annotations

from busi_curate.findings.report import make_report
from busi_curate.findings.settings import ReportSettings

__all__ = ["ReportSettings", "make_report"]
