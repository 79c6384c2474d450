"""Stage 6 -- publish: turn decisions into a versioned manifest, fixed folds and usable copies.

* :mod:`.export` -- :func:`export_manifest`: policies (drop-all / keep-one), the manifest and its README;
* :mod:`.manifest` -- the manifest and folds schema, readers that check every sidecar;
* :mod:`.folds` -- group-aware stratified folds (duplicates never cross train and test);
* :mod:`.verify` -- check a manifest against the images on disk, by decoded pixels;
* :mod:`.materialize` -- write the curated split as PNG folders, a MONAI datalist or an nnU-Net dataset;
* :mod:`.split` -- :func:`load_split`: one fold's train / val / test as a DataFrame.
"""

from __future__ import annotations

from busi_curate.publish.export import ExportSettings, export_manifest
from busi_curate.publish.manifest import read_folds, read_manifest
from busi_curate.publish.split import load_split

__all__ = ["ExportSettings", "export_manifest", "load_split", "read_folds", "read_manifest"]
