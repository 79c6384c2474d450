"""The finder's calibration script reports every step, and on a set smaller than its neighbour list holds all."""

from __future__ import annotations

from pathlib import Path

import pytest

from busi_curate.studies import recall_calibration, scale_data


def test_calibration_reports_each_step_and_holds_everything_when_lists_cover_the_set(tmp_path: Path) -> None:
    scale_data.write_scale_dataset(tmp_path, 60, seed=3, workers=1)
    lines = recall_calibration.calibrate(tmp_path, seed=0)
    assert lines[0].startswith("60 images, 100 rows")
    assert "IndexFlatIP" in lines[2]
    finder = lines[-1]
    assert finder.startswith("the finder's pairs")
    top = finder.split("top-10 ")[1].split(",")[0]
    assert top.split("/")[0] == top.split("/")[1]  # 500 neighbours per image hold all 59 others


def test_calibration_refuses_a_folder_without_images(tmp_path: Path) -> None:
    from busi_curate.errors import DatasetError

    with pytest.raises(DatasetError):
        recall_calibration.calibrate(tmp_path, seed=0)
