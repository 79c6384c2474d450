"""Stage: data -- reading a run's inputs (manifest, folds, images), packed datasets, exclusions."""
