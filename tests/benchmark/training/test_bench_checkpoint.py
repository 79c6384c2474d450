"""Checkpoints are data, never code: a crafted pickle is refused before anything in it runs."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from benchmark.errors import BenchError  # noqa: E402
from benchmark.training.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint  # noqa: E402


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204 - the attack
        return (Path.write_text, (self.marker, "pwned"))


def _crafted(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "marker.txt"
    path = tmp_path / "evil.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "model": {}, "config": {}, "payload": _Evil(marker)}, path)
    assert not marker.exists()
    return path, marker


def test_a_crafted_pickle_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    path, marker = _crafted(tmp_path)
    with pytest.raises(BenchError, match="not a busi-bench checkpoint"):
        load_checkpoint(path)
    assert not marker.exists()


def test_predict_refuses_a_crafted_checkpoint_with_exit_2(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from PIL import Image

    from benchmark.cli import main

    path, marker = _crafted(tmp_path)
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(img)
    r = CliRunner().invoke(main, ["predict", str(path), str(img), "--out", str(tmp_path / "pred")])
    assert r.exit_code == 2 and "not a busi-bench checkpoint" in r.output and str(path) in r.output
    assert not marker.exists() and not (tmp_path / "pred").exists()


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04truncated"])
def test_damaged_checkpoints_are_one_line_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(BenchError, match="not a busi-bench checkpoint"):
        load_checkpoint(path)


def test_a_plain_state_dict_without_the_tag_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.pt"
    torch.save({"model": {"w": torch.zeros(2)}}, path)
    with pytest.raises(BenchError, match="tag"):
        load_checkpoint(path)


def test_a_symlinked_checkpoint_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.pt"
    save_checkpoint(real, {"model": {"w": torch.zeros(2)}, "config": {}})
    link = tmp_path / "link.pt"
    link.symlink_to(real)
    assert load_checkpoint(real)["format"] == CHECKPOINT_FORMAT
    with pytest.raises(BenchError, match="regular file"):
        load_checkpoint(link)


def test_saved_checkpoints_load_with_weights_only(tmp_path: Path) -> None:
    import random

    from benchmark.training.train import _rng_states, _set_rng_states

    path = tmp_path / "ok.pt"
    st = _rng_states()
    a = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    save_checkpoint(
        path,
        {
            "model": {"w": torch.ones(3)},
            "config": {"x": 1},
            "rng": st,
            "provenance": {"torch_version": torch.__version__},
        },
    )
    ck = torch.load(path, weights_only=True)  # no custom classes anywhere in the file
    assert pickle.dumps(ck["provenance"])  # plain types
    _set_rng_states(ck["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == a
