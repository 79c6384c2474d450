"""The review page draws the candidate registered onto the reference with the real assistant's fit: on the
synthetic planted copies (known crops, shifts and rescales) the fit the server hands the page maps the candidate's
pixels onto the reference's."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage

from busi_curate.data.imageio import read_gray
from busi_curate.review.server import ReviewApp
from busi_curate.review.session import open_walk
from busi_curate.scan.run import read_scan


@pytest.fixture(scope="module")
def app(synthetic_scan_dir, synthetic_dir):
    from busi_curate.assistant import Assistant

    scan = read_scan(synthetic_scan_dir)
    return ReviewApp(scan, open_walk(scan, []), lambda d: d, "tester", assistant=Assistant(scan))


def planted_rows(app, synthetic_dir, kind):
    p = pd.read_csv(synthetic_dir / "planted.csv", dtype=str)
    r = p[p["kind"] == kind].iloc[0]
    return app.scan.row_of(r.source_class, r.source_id), app.scan.row_of(r.copy_class, r.copy_id)


def registered_ncc(app, r, c, matrix):
    """NCC of the reference and the candidate resampled into the reference's frame, where both have pixels."""
    # smoothed a little: a fit good to a pixel aligns the anatomy, not necessarily every speckle grain
    ref = ndimage.gaussian_filter(read_gray(app.scan.image_path(r)).astype(float), 2.0)
    cand = ndimage.gaussian_filter(read_gray(app.scan.image_path(c)).astype(float), 2.0)
    a, b, cc, d, e, f = matrix
    yy, xx = np.mgrid[0 : ref.shape[0], 0 : ref.shape[1]].astype(float)
    xc, yc = a * xx + cc * yy + e, b * xx + d * yy + f
    inside = (xc >= 0) & (xc <= cand.shape[1] - 1) & (yc >= 0) & (yc <= cand.shape[0] - 1)
    warped = ndimage.map_coordinates(cand, [yc[inside], xc[inside]], order=1)
    x, y = ref[inside] - ref[inside].mean(), warped - warped.mean()
    return float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum())), inside.mean()


@pytest.mark.parametrize(
    "kind,expected",
    [
        ("shift", lambda w, h: (1.0, -4.0, -3.0)),
        ("crop", lambda w, h: (1.0, -int(0.08 * w), -int(0.06 * h))),
        ("rescale", lambda w, h: (0.8, 0.0, 0.0)),
    ],
)
def test_registration_of_planted_copies(app, synthetic_dir, kind, expected):
    r, c = planted_rows(app, synthetic_dir, kind)
    w, h = int(app.scan.index.at[r, "width"]), int(app.scan.index.at[r, "height"])
    s, ex, ey = expected(w, h)
    for a_, b_, sign in ((r, c, 1), (c, r, -1)):
        reg = app.registration(a_, b_, identical=False)
        assert reg is not None and reg["source"] == "assistant's fit"
        assert reg["scale"] == pytest.approx(s if sign == 1 else 1 / s, rel=0.02)
        assert abs(reg["rotation_deg"]) < 0.5
        if sign == 1:
            assert reg["shift"] == pytest.approx([ex, ey], abs=2.0)
        ncc, covered = registered_ncc(app, a_, b_, reg["matrix"])
        plain, _ = registered_ncc(app, a_, b_, [1, 0, 0, 1, 0, 0])
        assert ncc > 0.97 and covered > 0.5
        assert plain < ncc - 0.05  # the identity would not do: the fit is what aligns them


def test_no_fit_for_unrelated_images(app, synthetic_dir):
    planted = set(planted_rows(app, synthetic_dir, k) for k in ("shift", "crop", "rescale"))
    r, c = 1, 2
    assert (r, c) not in planted and (c, r) not in planted
    assert app.registration(r, c, identical=False) is None


def test_registration_of_a_mirrored_copy(synthetic_dir, tmp_path):
    """A copy flipped left-right: the fit the page draws has a negative determinant and aligns the pixels."""
    from busi_curate.assistant import Assistant
    from busi_curate.scan.run import ScanSettings, run_scan

    data = tmp_path / "data"
    shutil.copytree(synthetic_dir, data)
    folder = data / "Dataset_BUSI_with_GT" / "benign"
    n = len([p for p in folder.iterdir() if "_mask" not in p.name])
    for src, dst in (
        ("benign (5).png", f"benign ({n + 1}).png"),
        ("benign (5)_mask.png", f"benign ({n + 1})_mask.png"),
    ):
        Image.fromarray(np.asarray(Image.open(folder / src))[:, ::-1]).save(folder / dst)
    run_scan(data, tmp_path / "scan", ScanSettings(size=64))
    scan = read_scan(tmp_path / "scan")
    app = ReviewApp(scan, open_walk(scan, []), lambda d: d, "tester", assistant=Assistant(scan))
    r, c = scan.row_of("benign", "5"), scan.row_of("benign", str(n + 1))
    for a_, b_ in ((r, c), (c, r)):
        reg = app.registration(a_, b_, identical=False)
        assert reg is not None and reg["mirrored"] and reg["scale"] == pytest.approx(1.0, rel=0.02)
        ncc, covered = registered_ncc(app, a_, b_, reg["matrix"])
        assert ncc > 0.97 and covered > 0.8
