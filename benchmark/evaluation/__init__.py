"""Stage: evaluation -- metrics of one fold, and of two runs combined."""
