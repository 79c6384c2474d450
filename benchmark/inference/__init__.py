"""Stage: inference -- from network outputs to masks and labels (post-processing, refining)."""
