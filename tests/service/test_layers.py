"""The service sits on top: it may use plans, benches and instrument classes, never the
simulators, SCPI sessions or HDF5 directly."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[2] / "benchbot" / "service"
FORBIDDEN = {"simulators", "pyvisa", "h5py"}


def test_service_imports_only_downward() -> None:
    offences = {}
    for path in sorted(SERVICE.rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        if names & FORBIDDEN:
            offences[path.name] = sorted(names & FORBIDDEN)
    assert offences == {}
