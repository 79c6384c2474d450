"""One contract every dataset layout of :data:`busi_curate.data.dataset.LAYOUTS` passes, on fixtures written here.

Each layout has a :class:`LayoutWriter` that writes the same small dataset (non-square images, several mask
files for one image, ids that sort naturally) and knows how to break it in the same four ways: a tumour image
without its mask, an empty folder, an unknown class, two files claiming one id. :class:`TestLayoutContract`
checks, for every layout: it is detected, it loads, ids are stable (across loads, folders and creation
order), masks pair up with their images, and each bad input raises :class:`DatasetError` naming the file
(and is skipped, named, with ``lenient``). A new layout without a writer fails
:func:`test_every_layout_has_a_writer`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from busi_curate.data.dataset import LAYOUTS, detect_layout, load_dataset
from busi_curate.errors import DatasetError
from busi_curate.fileio import pixel_sha256


@dataclass(frozen=True)
class Item:
    """One image to write: class, id, pixels and its mask files (the normal image has one all-zero mask)."""

    cls: str
    id: str
    image: np.ndarray
    masks: tuple[np.ndarray, ...] = field(default=())

    @property
    def key(self) -> tuple[str, str]:
        return (self.cls, self.id)

    @property
    def union(self) -> np.ndarray:
        out = np.zeros(self.image.shape, bool)
        for m in self.masks:
            out |= m > 0
        return out


def _image(seed: int, h: int, w: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def _box(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[y0:y1, x0:x1] = 255
    return m


#: The dataset every writer writes: ids 1, 2, 10 of one class (natural order), two mask files for one image,
#: non-square images of different sizes, a normal image with an all-zero mask.
ITEMS: tuple[Item, ...] = (
    Item("benign", "1", _image(1, 40, 48), (_box(40, 48, 5, 15, 6, 20),)),
    Item("benign", "2", _image(2, 36, 52), (_box(36, 52, 2, 10, 3, 9), _box(36, 52, 20, 30, 30, 40))),
    Item("benign", "10", _image(3, 40, 48), (_box(40, 48, 10, 30, 10, 30),)),
    Item("malignant", "3", _image(4, 48, 40), (_box(48, 40, 0, 48, 0, 5),)),
    Item("normal", "1", _image(5, 32, 44), (np.zeros((32, 44), np.uint8),)),
)
EXPECTED_KEYS = [("benign", "1"), ("benign", "2"), ("benign", "10"), ("malignant", "3"), ("normal", "1")]


def _save(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


class LayoutWriter:
    """Writes :data:`ITEMS` in one layout and breaks the result in the contract's four ways.

    Every ``break_*`` method returns the paths (or ``file:line`` names) the error must name.
    """

    layout: str
    #: the ways this layout can be broken (a layout with optional masks cannot miss one)
    breaks: tuple[str, ...] = ("missing_mask", "empty_folder", "unknown_class", "colliding_ids")

    def key(self, item: Item) -> tuple[str, str]:
        """How the layout names ``item`` (most layouts: its class and id)."""
        return item.key

    def write(self, root: Path, items: tuple[Item, ...] = ITEMS) -> Path:
        raise NotImplementedError

    def image_path(self, root: Path, item: Item) -> Path:
        raise NotImplementedError

    def mask_paths(self, root: Path, item: Item) -> list[Path]:
        raise NotImplementedError

    def break_missing_mask(self, root: Path) -> list[str]:
        """Delete the mask of the malignant image: the image must be named."""
        item = next(i for i in ITEMS if i.cls == "malignant")
        for p in self.mask_paths(root, item):
            p.unlink()
        return [str(self.image_path(root, item))]

    def break_empty_folder(self, root: Path) -> list[str]:
        raise NotImplementedError

    def break_unknown_class(self, root: Path) -> list[str]:
        raise NotImplementedError

    def break_colliding_ids(self, root: Path) -> list[str]:
        raise NotImplementedError


class BusiWriter(LayoutWriter):
    """``Dataset_BUSI_with_GT/<class>/<class> (<id>).png`` + ``<class> (<id>)_mask[_k].png``."""

    layout = "busi"

    def write(self, root: Path, items: tuple[Item, ...] = ITEMS) -> Path:
        for item in items:
            _save(self.image_path(root, item), item.image)
            for p, m in zip(self.mask_paths(root, item), item.masks):
                _save(p, m)
        return root

    def image_path(self, root: Path, item: Item) -> Path:
        return root / "Dataset_BUSI_with_GT" / item.cls / f"{item.cls} ({item.id}).png"

    def mask_paths(self, root: Path, item: Item) -> list[Path]:
        folder = root / "Dataset_BUSI_with_GT" / item.cls
        return [
            folder / (f"{item.cls} ({item.id})_mask.png" if k == 0 else f"{item.cls} ({item.id})_mask_{k}.png")
            for k in range(len(item.masks))
        ]

    def break_empty_folder(self, root: Path) -> list[str]:
        folder = root / "Dataset_BUSI_with_GT" / "normal"
        for p in folder.iterdir():
            p.unlink()
        return [str(folder)]

    def break_unknown_class(self, root: Path) -> list[str]:
        folder = root / "Dataset_BUSI_with_GT" / "cyst"
        _save(folder / "cyst (1).png", _image(9, 40, 48))
        return [str(folder)]

    def break_colliding_ids(self, root: Path) -> list[str]:
        folder = root / "Dataset_BUSI_with_GT" / "benign"
        copy = _save(folder / "benign (01).png", _image(8, 40, 48))  # natural id 1, as "benign (1).png"
        return [str(folder / "benign (1).png"), str(copy)]


class GenericWriter(LayoutWriter):
    """``images/<file>``, ``masks/<stem>_mask*.png`` (found by stem) and ``labels.csv`` (image, class, id)."""

    layout = "generic"

    def _stem(self, item: Item) -> str:
        return f"{item.cls[0]}{item.id}"

    def write(self, root: Path, items: tuple[Item, ...] = ITEMS) -> Path:
        for item in items:
            _save(self.image_path(root, item), item.image)
            for p, m in zip(self.mask_paths(root, item), item.masks):
                _save(p, m)
        self._labels(root, [(f"{self._stem(i)}.png", i.cls, i.id) for i in items])
        return root

    def _labels(self, root: Path, rows: list[tuple[str, str, str]], mode: str = "w") -> None:
        root.mkdir(parents=True, exist_ok=True)
        with open(root / "labels.csv", mode, newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            if mode == "w":
                w.writerow(["image", "class", "id"])
            w.writerows(rows)

    def image_path(self, root: Path, item: Item) -> Path:
        return root / "images" / f"{self._stem(item)}.png"

    def mask_paths(self, root: Path, item: Item) -> list[Path]:
        stem = self._stem(item)
        return [
            root / "masks" / (f"{stem}_mask.png" if k == 0 else f"{stem}_mask_{k}.png") for k in range(len(item.masks))
        ]

    def break_empty_folder(self, root: Path) -> list[str]:
        for p in (root / "images").iterdir():
            p.unlink()
        self._labels(root, [])
        return [str(root / "labels.csv")]

    def break_unknown_class(self, root: Path) -> list[str]:
        _save(root / "images" / "x1.png", _image(9, 40, 48))
        self._labels(root, [("x1.png", "cyst", "1")], mode="a")
        return [f"{root / 'labels.csv'}:{len(ITEMS) + 2}"]

    def break_colliding_ids(self, root: Path) -> list[str]:
        _save(root / "images" / "b1-again.png", _image(8, 40, 48))
        self._labels(root, [("b1-again.png", "benign", "1")], mode="a")
        return [str(root / "labels.csv"), f"lines 2, {len(ITEMS) + 2}"]


class FolderWriter(LayoutWriter):
    """Any tree: ``<class>/<id>.png`` with ``<id>_mask[_k].png`` beside it (masks and classes optional)."""

    layout = "folder"
    breaks = ("colliding_ids",)

    def write(self, root: Path, items: tuple[Item, ...] = ITEMS) -> Path:
        for item in items:
            _save(self.image_path(root, item), item.image)
            for p, m in zip(self.mask_paths(root, item), item.masks):
                _save(p, m)
        return root

    def image_path(self, root: Path, item: Item) -> Path:
        return root / item.cls / f"{item.id}.png"

    def mask_paths(self, root: Path, item: Item) -> list[Path]:
        return [
            root / item.cls / (f"{item.id}_mask.png" if k == 0 else f"{item.id}_mask_{k}.png")
            for k in range(len(item.masks))
        ]

    def break_colliding_ids(self, root: Path) -> list[str]:
        copy = _save(root / "benign" / "1.bmp", _image(8, 40, 48))  # id 1 as benign/1.png
        return [str(root / "benign" / "1.png"), str(copy)]


def _union_writer_masks(item: Item) -> tuple[np.ndarray, ...]:
    return (item.union.astype(np.uint8) * 255,)


class BusBraWriter(LayoutWriter):
    """BUS-BRA: ``Images/bus_<id>.png``, ``Masks/mask_<id>.png`` (one per image), ``bus_data.csv``."""

    layout = "busbra"

    def key(self, item: Item) -> tuple[str, str]:
        return (item.cls, f"bus_{item.cls[0]}{item.id}")

    def write(self, root: Path, items: tuple[Item, ...] = ITEMS) -> Path:
        for item in items:
            _save(self.image_path(root, item), item.image)
            _save(self.mask_paths(root, item)[0], _union_writer_masks(item)[0])
        rows = [(self.key(i)[1], f"case{i.id}", i.cls, "x") for i in items]
        self._table(root, rows)
        return root

    def _table(self, root: Path, rows: list[tuple[str, str, str, str]], mode: str = "w") -> None:
        with open(root / "bus_data.csv", mode, newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            if mode == "w":
                w.writerow(["ID", "Case", "Pathology", "Histology"])
            w.writerows(rows)

    def image_path(self, root: Path, item: Item) -> Path:
        return root / "Images" / f"{self.key(item)[1]}.png"

    def mask_paths(self, root: Path, item: Item) -> list[Path]:
        return [root / "Masks" / f"mask_{item.cls[0]}{item.id}.png"]

    def break_empty_folder(self, root: Path) -> list[str]:
        for p in (root / "Images").iterdir():
            p.unlink()
        return [str(self.image_path(root, ITEMS[0]))]

    def break_unknown_class(self, root: Path) -> list[str]:
        _save(root / "Images" / "bus_99.png", _image(9, 40, 48))
        self._table(root, [("bus_99", "case99", "cyst", "x")], mode="a")
        return [f"{root / 'bus_data.csv'}:{len(ITEMS) + 2}"]

    def break_colliding_ids(self, root: Path) -> list[str]:
        self._table(root, [("bus_b1", "case1", "benign", "x")], mode="a")
        return [str(root / "bus_data.csv"), f"lines 2, {len(ITEMS) + 2}"]


_UCLM_COLOUR = {"benign": (0, 255, 0), "malignant": (255, 0, 0), "normal": (0, 0, 0)}


class BusUclmWriter(LayoutWriter):
    """BUS-UCLM: ``images/<PATIENT>_<n>.png``, RGB masks of the same name (green benign, red malignant)."""

    layout = "busuclm"
    breaks = ("missing_mask", "empty_folder", "unknown_class")

    def key(self, item: Item) -> tuple[str, str]:
        return (item.cls, f"{item.cls[0].upper()}{'A' if item.id in ('1', '2') else 'B'}_{item.id}")

    def write(self, root: Path, items: tuple[Item, ...] = ITEMS) -> Path:
        for item in items:
            _save(self.image_path(root, item), item.image)
            rgb = np.zeros((*item.image.shape, 3), np.uint8)
            rgb[item.union] = _UCLM_COLOUR[item.cls]
            _save(self.mask_paths(root, item)[0], rgb)
        return root

    def image_path(self, root: Path, item: Item) -> Path:
        return root / "images" / f"{self.key(item)[1]}.png"

    def mask_paths(self, root: Path, item: Item) -> list[Path]:
        return [root / "masks" / f"{self.key(item)[1]}.png"]

    def break_empty_folder(self, root: Path) -> list[str]:
        for p in (root / "images").iterdir():
            p.unlink()
        return [str(root)]

    def break_unknown_class(self, root: Path) -> list[str]:
        item = ITEMS[0]
        rgb = np.zeros((*item.image.shape, 3), np.uint8)
        rgb[item.union] = (0, 0, 255)  # blue: neither benign nor malignant
        return [str(_save(self.mask_paths(root, item)[0], rgb))]


_BREAST_CASE = {"benign": 100, "malignant": 200, "normal": 300}


class BreastWriter(LayoutWriter):
    """BrEaST: ``BrEaST-Lesions_USG-images_and_masks/case<NNN>.png`` + ``_tumor*.png``, a clinical CSV."""

    layout = "breast"
    folder = "BrEaST-Lesions_USG-images_and_masks"

    def key(self, item: Item) -> tuple[str, str]:
        return (item.cls, f"case{_BREAST_CASE[item.cls] + int(item.id):03d}")

    def write(self, root: Path, items: tuple[Item, ...] = ITEMS) -> Path:
        for item in items:
            _save(self.image_path(root, item), item.image)
            for p, m in zip(self.mask_paths(root, item), item.masks):
                _save(p, m)
        # the first tumour mask is named in the table (as the published sheet does), a second one found by name
        rows = [
            (f"{self.key(i)[1]}.png", i.cls, self.mask_paths(root, i)[0].name if i.union.any() else "") for i in items
        ]
        self._table(root, rows)
        return root

    def _table(self, root: Path, rows: list[tuple[str, str, str]], mode: str = "w") -> None:
        with open(root / "BrEaST-Lesions-USG-clinical-data.csv", mode, newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            if mode == "w":
                w.writerow(["CaseID", "Image_filename", "Mask_tumor_filename", "Classification"])
            w.writerows([(r[0][4:7], r[0], r[2], r[1]) for r in rows])

    def image_path(self, root: Path, item: Item) -> Path:
        return root / self.folder / f"{self.key(item)[1]}.png"

    def mask_paths(self, root: Path, item: Item) -> list[Path]:
        stem = self.key(item)[1]
        return [
            root / self.folder / (f"{stem}_tumor.png" if k == 0 else f"{stem}_tumor{k}.png")
            for k in range(len(item.masks))
        ]

    def break_empty_folder(self, root: Path) -> list[str]:
        for p in (root / self.folder).glob("case???.png"):
            p.unlink()
        return [str(self.image_path(root, ITEMS[0]))]

    def break_unknown_class(self, root: Path) -> list[str]:
        _save(root / self.folder / "case099.png", _image(9, 40, 48))
        self._table(root, [("case099.png", "Cyst", "")], mode="a")
        return [f"{root / 'BrEaST-Lesions-USG-clinical-data.csv'}:{len(ITEMS) + 2}"]

    def break_colliding_ids(self, root: Path) -> list[str]:
        self._table(root, [("case101.png", "benign", "")], mode="a")
        return [str(root / "BrEaST-Lesions-USG-clinical-data.csv"), f"lines 2, {len(ITEMS) + 2}"]


WRITERS: dict[str, LayoutWriter] = {
    w.layout: w
    for w in (BusiWriter(), GenericWriter(), FolderWriter(), BusBraWriter(), BusUclmWriter(), BreastWriter())
}
BREAKS = ["missing_mask", "empty_folder", "unknown_class", "colliding_ids"]


def _expected(writer: LayoutWriter) -> list[tuple[str, str]]:
    by_key = {i.key: i for i in ITEMS}
    return [writer.key(by_key[k]) for k in EXPECTED_KEYS]


def _identity(root: Path) -> list[tuple[object, ...]]:
    ds = load_dataset(root)
    return [(r.key, r.pixel_sha256, r.mask_pixel_sha256, r.masks, r.width, r.height) for r in ds.records]


def test_the_cli_offers_every_layout() -> None:
    from busi_curate.defaults import LAYOUT_NAMES

    assert set(LAYOUT_NAMES) == set(LAYOUTS)


def test_every_layout_has_a_writer() -> None:
    assert set(WRITERS) == set(LAYOUTS)
    assert all(w.layout == name for name, w in WRITERS.items())


@pytest.fixture(params=sorted(WRITERS))
def writer(request: pytest.FixtureRequest) -> LayoutWriter:
    return WRITERS[request.param]


class TestLayoutContract:
    """What every layout must do (the ``writer`` fixture runs each)."""

    def test_is_detected(self, writer: LayoutWriter, tmp_path: Path) -> None:
        assert detect_layout(writer.write(tmp_path / "d")) == writer.layout

    def test_loads_every_image_in_the_project_order(self, writer: LayoutWriter, tmp_path: Path) -> None:
        root = writer.write(tmp_path / "d")
        ds = load_dataset(root, thumbnail_size=16)
        assert ds.layout == writer.layout and len(ds) == len(ITEMS) and not ds.skipped
        assert [r.key for r in ds.records] == _expected(writer)
        assert ds.thumbnails is not None and ds.thumbnails.shape == (len(ITEMS), 16, 16)
        by_key = {writer.key(i): i for i in ITEMS}
        for r in ds.records:
            item = by_key[r.key]
            assert (r.height, r.width) == item.image.shape
            assert r.pixel_sha256 == pixel_sha256(item.image)
            assert r.image == writer.image_path(root, item).relative_to(root).as_posix()

    def test_masks_pair_up_with_their_images(self, writer: LayoutWriter, tmp_path: Path) -> None:
        root = writer.write(tmp_path / "d")
        by_key = {writer.key(i): i for i in ITEMS}
        for r in load_dataset(root).records:
            item = by_key[r.key]
            assert r.masks == tuple(p.relative_to(root).as_posix() for p in writer.mask_paths(root, item))
            union = item.union
            assert r.tumour_pixels == int(union.sum())
            assert r.mask_pixel_sha256 == pixel_sha256(union.astype(np.uint8))
            if union.any():
                ys, xs = np.nonzero(union)
                assert r.bbox == (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            else:
                assert r.bbox is None and r.cls == "normal"

    def test_ids_are_stable_across_loads_folders_and_creation_order(self, writer: LayoutWriter, tmp_path: Path) -> None:
        first = _identity(writer.write(tmp_path / "a"))
        assert _identity(tmp_path / "a") == first
        assert _identity(writer.write(tmp_path / "b", tuple(reversed(ITEMS)))) == first

    @pytest.mark.parametrize("kind", BREAKS)
    def test_bad_input_is_a_dataset_error_naming_the_file(
        self, writer: LayoutWriter, tmp_path: Path, kind: str
    ) -> None:
        if kind not in writer.breaks:
            pytest.skip(f"{writer.layout} cannot be broken this way (see test_folder_layout_relaxes)")
        root = writer.write(tmp_path / "d")
        named = getattr(writer, f"break_{kind}")(root)
        with pytest.raises(DatasetError) as info:
            load_dataset(root)
        for name in named:
            assert name in str(info.value), f"{writer.layout}/{kind}: {name} not in {info.value}"

    @pytest.mark.parametrize("kind", ["missing_mask", "unknown_class", "colliding_ids"])
    def test_lenient_skips_the_bad_input_and_names_it(self, writer: LayoutWriter, tmp_path: Path, kind: str) -> None:
        if kind not in writer.breaks:
            pytest.skip(f"{writer.layout} cannot be broken this way (see test_folder_layout_relaxes)")
        root = writer.write(tmp_path / "d")
        named = getattr(writer, f"break_{kind}")(root)
        ds = load_dataset(root, lenient=True)
        skipped = "\n".join(f"{p}: {why}" for p, why in ds.skipped)
        assert named[0] in skipped
        keys = [r.key for r in ds.records]
        expected = _expected(writer)
        assert set(keys) < set(expected) or (kind == "unknown_class" and keys == expected)
        by_key = {i.key: writer.key(i) for i in ITEMS}
        if kind == "missing_mask":
            assert by_key[("malignant", "3")] not in keys
        if kind == "colliding_ids":
            assert by_key[("benign", "1")] not in keys  # neither file of a colliding id is trusted

    def test_an_empty_dataset_folder_is_a_dataset_error(self, writer: LayoutWriter, tmp_path: Path) -> None:
        root = tmp_path / "empty"
        root.mkdir()
        with pytest.raises(DatasetError) as info:
            load_dataset(root, layout=writer.layout, lenient=True)
        assert str(root) in str(info.value)

    def test_a_missing_folder_is_a_dataset_error(self, writer: LayoutWriter, tmp_path: Path) -> None:
        with pytest.raises(DatasetError, match="does not exist"):
            load_dataset(tmp_path / "nope", layout=writer.layout)


def test_unknown_layout_is_a_dataset_error_listing_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="known: " + ", ".join(LAYOUTS)):
        load_dataset(tmp_path, layout="dicom")


def test_generic_images_in_class_subfolders_do_not_share_masks(tmp_path: Path) -> None:
    """Two images of one stem in different folders (``benign/1.png``, ``malignant/1.png``) would both take
    ``masks/1_mask.png`` by stem: refused, naming the mask, rather than paired silently with both."""
    root = tmp_path / "g"
    _save(root / "images" / "benign" / "1.png", _image(1, 40, 48))
    _save(root / "images" / "malignant" / "1.png", _image(2, 40, 48))
    mask = _save(root / "masks" / "1_mask.png", _box(40, 48, 5, 15, 6, 20))
    (root / "labels.csv").write_text("image,class\nbenign/1.png,benign\nmalignant/1.png,malignant\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_dataset(root)
    assert str(mask) in str(info.value) and "benign/1.png" in str(info.value)
