"""Evidence that survives transformations (issue 10): every transformation of the benchmark, applied to real-looking
frames, is graded same-frame with the transformation named; a neighbouring frame (tissue moved, new speckle) is not;
a pair's verdict does not depend on the other images of the dataset."""

from __future__ import annotations

import numpy as np
import pytest

from busi_curate.assistant.features import extract
from busi_curate.assistant.rule import decide
from busi_curate.assistant.verify import verify_pair
from busi_curate.data.imageio import read_gray
from busi_curate.studies.robust_bench import NOT_COPIES, TRANSFORMS

NAMED = {"mirror": "mirrored", "rotate": "rotated"}


@pytest.fixture(scope="module")
def frames(synthetic_dir):
    root = synthetic_dir / "Dataset_BUSI_with_GT"
    return [read_gray(root / cls / f"{cls} ({i}).png") for cls, i in (("benign", 3), ("malignant", 2), ("normal", 4))]


#: heavy speckle noise also makes the tissue look as if it moved (block matching on noisy tiles): such a copy may
#: be graded adjacent-frame (kept apart, not lost); measured limits in docs/assistant.md
MAY_LOOK_MOVED = {"speckle"}


@pytest.mark.parametrize("kind", sorted(TRANSFORMS))
def test_every_transformation_is_a_same_frame_copy(frames, kind):
    for k, img in enumerate(frames):
        copy, params = TRANSFORMS[kind](img, np.random.default_rng([7, k]))
        a = decide(verify_pair(extract(img), extract(copy), seed=1), 0.3)
        allowed = {("same", "same-frame")} | ({("same", "adjacent-frame")} if kind in MAY_LOOK_MOVED else set())
        assert (a.verdict, a.grade) in allowed, (kind, params, a.evidence)
        if kind in NAMED:
            assert NAMED[kind] in a.evidence, a.evidence


def test_rotation_bound_is_at_least_15_degrees(frames):
    from skimage.transform import rotate

    img = frames[0]
    for ang in (-15.0, -10.0, 6.0, 15.0):
        copy = np.clip(np.rint(rotate(img, ang, preserve_range=True, order=1)), 0, 255).astype(np.uint8)
        ev = verify_pair(extract(img), extract(copy), seed=1)
        a = decide(ev, 0.3)
        assert (a.verdict, a.grade) == ("same", "same-frame"), (ang, a.evidence)
        assert abs(abs(ev.rotation_deg) - abs(ang)) < 1.0, (ang, ev.rotation_deg)


def test_a_neighbouring_frame_is_never_same_frame(frames):
    for k, img in enumerate(frames):
        other, params = NOT_COPIES["neighbour"](img, np.random.default_rng([3, k]))
        a = decide(verify_pair(extract(img), extract(other), seed=1), 0.5)
        assert a.grade != "same-frame", (params, a.evidence)


def test_mirror_of_a_different_image_is_not_a_copy(frames):
    a = decide(verify_pair(extract(frames[0]), extract(np.ascontiguousarray(frames[1][:, ::-1])), seed=1), 0.3)
    assert a.verdict == "different", a.evidence
