"""Property tests of the journal: whatever text reaches it, an acknowledged decision reads back after a
restart, and a line cut anywhere is never read back as a decision."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from busi_curate.review.journal import Decision, Journal, check_id, check_reviewer, read_journal  # noqa: E402

# every character class that str.splitlines treats as a line break, plus arbitrary Unicode
BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
texts = st.text(alphabet=st.characters() | st.sampled_from(list(BREAKS)), min_size=1, max_size=20)


@settings(max_examples=200, deadline=None)
@given(ref_id=texts, cand_id=texts, reviewer=texts)
def test_accepted_decisions_survive_a_restart(
    tmp_path_factory: pytest.TempPathFactory, ref_id: str, cand_id: str, reviewer: str
) -> None:
    path = tmp_path_factory.mktemp("j") / "decisions.csv"
    good = Decision("benign", "1", "benign", "2", "same", "same-frame", "ana", "ssim=0.9", "2026-01-01T00:00:00Z")
    d = Decision("benign", ref_id, "malignant", cand_id, "different", "", reviewer, "", "2026-01-01T00:00:01Z")
    with Journal(path) as j:
        j.append(good)
        try:
            written = j.append(d)
        except ValueError:
            written = None  # refused before anything was written
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no line may be skipped as damaged
        back = read_journal(path)
    assert back[0] == good
    if written is None:
        assert len(back) == 1
        valid = True
        try:
            check_id(ref_id), check_id(cand_id), check_reviewer(reviewer)
        except ValueError:
            valid = False
        assert not valid  # only invalid fields are refused
    else:
        assert back[1] == written  # 0 lost, byte for byte


def test_a_line_cut_anywhere_is_never_read_as_a_decision(tmp_path: Path) -> None:
    path = tmp_path / "decisions.csv"
    ds = [
        Decision(
            "benign",
            str(i),
            "benign",
            str(i + 1),
            "same",
            "same-frame",
            "ana",
            "ssim=0.81 inliers=120",
            f"2026-01-01T00:00:{i:02d}Z",
        )
        for i in range(1, 4)
    ]
    with Journal(path) as j:
        j.extend(ds)
    full = path.read_bytes()
    last_start = full.rstrip(b"\n").rfind(b"\n") + 1
    for cut in range(last_start, len(full) - 1):
        path.write_bytes(full[:cut])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            back = read_journal(path)
        assert back == ds[:2], cut  # the cut line is skipped, never misread (e.g. a truncated time or grade)
