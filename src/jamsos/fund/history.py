"""The fund's published totals (actual) and roadmap targets, which a projection is compared with."""

from __future__ import annotations

import csv
import io
from importlib import resources
from typing import Any


def history() -> list[dict[str, Any]]:
    """The published fund totals (actual) and roadmap targets."""
    text = resources.files("jamsos.fund").joinpath("data/history.csv").read_text(encoding="utf-8")
    return [
        {"period": r["period"], "kind": r["kind"], "total_idr": int(r["total_idr"]), "source": r["source"]}
        for r in csv.DictReader(io.StringIO(text))
    ]
