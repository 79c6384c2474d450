"""Stage: training -- the loop, checkpoints, augmentation, oversampling, precision."""
