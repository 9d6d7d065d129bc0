"""The bench agent knows the service only through its HTTP API, and the service never runs a
plan itself: neither imports the other (checked on the source)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "benchbot"


def _imports(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
        found[path.name] = names
    return found


def test_agent_and_service_do_not_import_each_other() -> None:
    agent = {f: sorted(n for n in names if n.startswith("benchbot.service"))
             for f, names in _imports(PACKAGE / "agent").items()}
    service = {f: sorted(n for n in names if n.startswith(("benchbot.agent", "benchbot.runner",
                                                            "benchbot.engine")))
               for f, names in _imports(PACKAGE / "service").items()}
    assert {f: bad for f, bad in agent.items() if bad} == {}
    assert {f: bad for f, bad in service.items() if bad} == {}
    assert "client.py" in _imports(PACKAGE / "agent")  # the walk found the agent's modules
