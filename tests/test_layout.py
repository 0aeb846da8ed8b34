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
