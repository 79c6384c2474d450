"""The GPU window's bundle: the pure-Python packages a bare GPU machine lacks, and the check run there first.

``build`` copies the installed distributions of :data:`PACKAGES` (the exact versions this repository is
tested with, so no network and no version drift) into ``BUNDLE/site`` and writes ``BUNDLE/requires.json``:
their versions and the smallest torch every one of them accepts (from their ``Requires-Dist``).
``check`` runs on the device before anything else (standard library only until torch is found): the
device's torch against that minimum, the bundle's site appended *after* the device's own site-packages
(so the device's torch and numpy are never shadowed), and every module the window imports; it prints
what is missing and exits 3.

    python -m benchmark.device.bundle build .device-bundle
    python -m benchmark.device.bundle check .device-bundle mt-unetpp
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import sys
from pathlib import Path

#: pure-Python distributions the window needs beyond torch and numpy (never torch, numpy or a compiled one)
PACKAGES: tuple[str, ...] = (
    "monai",
    "einops",
    "segmentation-models-pytorch",
    "timm",
    "huggingface-hub",
    "click",
    "tqdm",
)
#: modules the window imports to train, evaluate, time and summarise (each import may pull in more)
WINDOW_MODULES: tuple[str, ...] = (
    "benchmark.cli",
    "benchmark.data.packed",
    "benchmark.experiments.run",
    "benchmark.experiments.speed",
    "benchmark.reporting.summarize",
)
#: the device's own packages the bundle must never replace
DEVICE_OWN: tuple[str, ...] = ("torch", "numpy")


def _version_tuple(text: str) -> tuple[int, ...]:
    """``"2.8.0+cu126"`` -> ``(2, 8, 0)``."""
    return tuple(int(p) for p in re.findall(r"\d+", text.split("+")[0])[:3])


def torch_minimum(requires: list[str]) -> str:
    """The largest ``torch>=X`` lower bound among ``Requires-Dist`` lines without an extra (``"0"``: none)."""
    best = "0"
    for line in requires:
        if "extra ==" in line:
            continue
        m = re.match(r"torch\s*(?:\(|\s)*>=\s*([0-9][0-9.]*)", line)
        if m and _version_tuple(m.group(1)) > _version_tuple(best):
            best = m.group(1)
    return best


def build(out: Path) -> dict[str, object]:
    """Copy :data:`PACKAGES` as installed here into ``out/site``; write and return ``out/requires.json``."""
    from importlib import metadata

    site = out / "site"
    site.mkdir(parents=True, exist_ok=True)
    versions: dict[str, str] = {}
    mins: list[str] = []
    for name in PACKAGES:
        dist = metadata.distribution(name)
        versions[name] = dist.version
        mins.append(torch_minimum(dist.requires or []))
        for f in dist.files or []:
            rel = Path(str(f))
            if rel.parts[0] == ".." or "__pycache__" in rel.parts:
                continue
            target = site / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(str(dist.locate_file(f)), target)
    need = max(mins, key=_version_tuple)
    info: dict[str, object] = {"packages": versions, "torch_min": need, "built_with_python": sys.version.split()[0]}
    (out / "requires.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return info


def check(bundle: Path) -> list[str]:
    """Problems that would make the window fail on this machine (empty: ready). Appends the bundle's site."""
    import site

    problems: list[str] = []
    req_file = bundle / "requires.json"
    if not req_file.is_file():
        return [f"{req_file}: missing (make device-bundle writes it)"]
    info = json.loads(req_file.read_text(encoding="utf-8"))
    site.addsitedir(str(bundle / "site"))  # after the device's own site-packages
    try:
        import torch
    except ImportError:
        return ["torch: not installed on this machine (the window uses the device's own torch)"]
    need = str(info["torch_min"])
    if _version_tuple(torch.__version__) < _version_tuple(need):
        pins = ", ".join(f"{k} {v}" for k, v in info["packages"].items())
        problems.append(f"torch {torch.__version__} is older than {need}, the minimum of the bundle ({pins})")
    for own in DEVICE_OWN:
        spec = importlib.util.find_spec(own)
        if spec is None:
            problems.append(f"{own}: not installed on this machine")
        elif spec.origin and str(bundle.resolve()) in str(Path(spec.origin).resolve()):
            problems.append(f"{own}: would be loaded from the bundle ({spec.origin}), not the device's own")
    for module in WINDOW_MODULES:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            problems.append(f"{getattr(exc, 'name', None) or exc}: missing (imported by {module})")
    return problems


def main(argv: list[str]) -> int:
    """``build OUT`` or ``check BUNDLE``; check prints one line per problem and returns 3 when there is one."""
    if len(argv) != 2 or argv[0] not in ("build", "check"):
        print("usage: python -m benchmark.device.bundle build|check BUNDLE_DIR", file=sys.stderr)
        return 2
    if argv[0] == "build":
        print(json.dumps(build(Path(argv[1]))))
        return 0
    problems = check(Path(argv[1]))
    for p in problems:
        print(f"device check: {p}")
    return 3 if problems else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
