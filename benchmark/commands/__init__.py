"""The ``busi-bench`` commands, one module per family; :mod:`benchmark.cli` registers them on the group."""
