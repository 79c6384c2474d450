"""Stage: reporting -- the paper's tables and figures from finished run folders."""
