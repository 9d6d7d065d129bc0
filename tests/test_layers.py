"""Imports go downward only (docs/design.md): checked on the source, not by convention."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent

# package (or sub-package) -> top-level packages it must never import
FORBIDDEN = {
    "simulators": {"benchbot", "instruments"},
    "instruments": {"benchbot", "simulators"},
    "benchbot/analysis": {"instruments", "simulators", "h5py"},
    "benchbot/plots": {"instruments", "simulators", "pyvisa"},
    "benchbot/waveforms": {"instruments", "simulators", "h5py"},
    "benchbot/results": {"instruments", "simulators"},
    "benchbot/measurements": {"simulators", "h5py", "pyvisa"},
    "benchbot/engine.py": {"simulators", "h5py", "pyvisa"},
    "benchbot/plan.py": {"instruments", "simulators"},
    "benchbot/yamlfile.py": {"instruments", "simulators"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_downward(layer: str) -> None:
    target = ROOT / layer
    files = [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))
    assert files
    offences = {f.relative_to(ROOT).as_posix(): sorted(imported_packages(f) & FORBIDDEN[layer])
                for f in files}
    assert not {f: bad for f, bad in offences.items() if bad}
