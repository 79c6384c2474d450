"""Both oversampling rules at their edges: proportions counted over the whole training split, a class that is an
exact 1/n of it replicated n times by either rule (``ceil`` must not round 49.000000000000014 up to 50)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.training.oversampling import class_proportions, oversample_indices, replication_factors


def test_proportions_are_over_the_whole_split() -> None:
    labels = np.array([0] * 48 + [1] + [2] * 49)
    assert class_proportions(labels) == pytest.approx({0: 48 / 98, 1: 1 / 98, 2: 49 / 98})


@pytest.mark.parametrize("rule", ["round", "ceil"])
def test_a_class_that_is_an_exact_fraction_is_replicated_exactly(rule: str) -> None:
    labels = np.array([0] * 48 + [1])  # class 1 is exactly 1/49 of the split
    assert replication_factors(class_proportions(labels), rule)[1] == 49
    assert np.bincount(labels[oversample_indices(labels, rule)]).tolist() == [48 * 2 if rule == "ceil" else 48, 49]
