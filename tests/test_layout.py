"""The house keeps rooms of a size one can see across (issue 15): no module under ``src`` is longer than 500 lines
(migrations aside: they are history, written once)."""

from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "jamsos"
LIMIT = 500


def test_no_module_is_longer_than_500_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if "migrations" not in p.parts and (n := len(p.read_text().splitlines())) > LIMIT
    }
    assert not long, f"split these along their seams (CONTRIBUTING.md): {long}"


def test_every_jamsos_name_the_benchmarks_import_exists() -> None:
    """The benchmarks import jamsos inside their phases (each phase a process of its own), where nothing checks the
    names until a benchmark runs: a renamed or moved function is found here instead."""
    import ast
    import importlib
    import importlib.util

    missing = []
    for path in sorted((SRC.parents[1] / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jamsos"):
                module = importlib.import_module(node.module)
                for a in node.names:
                    submodule = hasattr(module, "__path__") and importlib.util.find_spec(f"{node.module}.{a.name}")
                    if not hasattr(module, a.name) and not submodule:
                        missing.append(f"{path.name}: {node.module}.{a.name}")
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("jamsos"):
                        importlib.import_module(a.name)
    assert not missing, missing
