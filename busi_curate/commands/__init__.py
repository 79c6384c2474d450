"""Click commands, one module per family; each only parses options and calls a stage."""
