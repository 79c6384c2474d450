"""Numbers and names that several stages share, each defined once.

Importable without numpy or pandas, so the command line's option defaults can use them while
``busi-curate --help`` stays instant.
"""

from __future__ import annotations

#: SSIM below which a candidate is never asked about: the paper's screening threshold (section 4.3,
#: Fig. 5). The walk, the assistant, export, the report and the CLI defaults all use this one.
SCREEN_THRESHOLD = 0.23

#: File name of the review journal inside a scan folder.
JOURNAL_NAME = "decisions.csv"

#: Names of the dataset layouts (``busi_curate.data.dataset.LAYOUTS`` registers one finder per name; a contract
#: test keeps the two equal), for ``--layout`` choices without importing the loader.
LAYOUT_NAMES: tuple[str, ...] = ("busi", "generic", "folder", "busbra", "busuclm", "breast")
