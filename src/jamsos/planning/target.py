"""Targets for active participants: the target value, reading and validating target files (each bad row named
by row and column), the target store, and scaling. Everything here is arithmetic on plain rows;
``planning.service`` fetches the rows from the warehouse.

The entrance is ``planning.targets`` (``from jamsos.planning import targets as tg``), which adds attainment
(``planning.attainment``) and the split of a national target (``planning.decomposition``).
"""

from __future__ import annotations

import csv
import io
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from jamsos.infra.files import read_path
from jamsos.kernel.errors import DomainError, FieldProblem, InvalidInput
from jamsos.kernel.period import Period
from jamsos.rules import codes as c

LEVELS = ("national", "kanwil", "branch")


COLUMNS = ("period", "level", "office", "segment", "ecosystem", "value", "source")


STORE = "targets.csv"


class TargetMissing(DomainError):
    code = "target_missing"


@dataclass(frozen=True)
class Target:
    """A level of active participants to reach by the end of ``period``, for one office (empty for the nation),
    one segment and one ecosystem (empty = all)."""

    period: Period
    level: str
    office: str
    segment: str
    ecosystem: str
    value: float
    source: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (str(self.period), self.level, self.office, self.segment, self.ecosystem)

    def to_row(self) -> dict[str, str]:
        return {
            "period": str(self.period),
            "level": self.level,
            "office": self.office,
            "segment": self.segment,
            "ecosystem": self.ecosystem,
            "value": repr(self.value) if self.value != int(self.value) else str(int(self.value)),
            "source": self.source,
        }


def parse_targets(
    rows: Iterable[tuple[int, Mapping[str, Any]]], *, offices: Mapping[str, set[str]] | None = None, source: str = ""
) -> list[Target]:
    """Validate target rows; every bad cell is reported with its row. ``offices`` maps a level to its known
    office codes (checked when given). A key given twice is refused."""
    problems: list[FieldProblem] = []
    seen: dict[tuple[str, ...], int] = {}
    out: list[Target] = []
    for number, row in rows:
        cell = {c: ("" if row.get(c) is None else str(row.get(c)).strip()) for c in COLUMNS}
        before = len(problems)
        period = period_of(cell["period"], number, problems)
        level = cell["level"].lower()
        if level not in LEVELS:
            problems.append(
                FieldProblem("level", f"must be one of {', '.join(LEVELS)}", row=number, value=cell["level"])
            )
        office = cell["office"]
        if level == "national" and office:
            problems.append(FieldProblem("office", "must be empty for a national target", row=number, value=office))
        if level in ("kanwil", "branch"):
            if not office:
                problems.append(FieldProblem("office", f"a {level} target names its office code", row=number))
            elif offices is not None and office not in offices.get(level, set()):
                problems.append(
                    FieldProblem("office", f"no {level} with this code in the office map", row=number, value=office)
                )
        segment, ecosystem = cell["segment"].lower(), cell["ecosystem"].lower()
        if segment and segment not in c.SEGMENTS:
            problems.append(
                FieldProblem("segment", f"must be empty or one of {', '.join(c.SEGMENTS)}", row=number, value=segment)
            )
        if ecosystem and ecosystem not in c.ECOSYSTEMS:
            problems.append(
                FieldProblem(
                    "ecosystem", f"must be empty or one of {', '.join(c.ECOSYSTEMS)}", row=number, value=ecosystem
                )
            )
        value = value_of(cell["value"], number, problems)
        if len(problems) > before or period is None or value is None:
            continue
        t = Target(period, level, office, segment, ecosystem, value, cell["source"] or source)
        if t.key in seen:
            problems.append(
                FieldProblem("period", f"the same target is already given in row {seen[t.key]}", row=number)
            )
            continue
        seen[t.key] = number
        out.append(t)
    if problems:
        raise InvalidInput(problems)
    return out


def period_of(text: str, row: int, problems: list[FieldProblem]) -> Period | None:
    try:
        if text.isdigit() and len(text) == 4:
            return Period(int(text), 12)  # a year means its December
        return Period.parse(text)
    except ValueError:
        problems.append(FieldProblem("period", "must be a month YYYY-MM or a year YYYY", row=row, value=text))
        return None


def value_of(text: str, row: int, problems: list[FieldProblem]) -> float | None:
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        problems.append(FieldProblem("value", "must be a number of participants", row=row, value=text))
        return None
    if not math.isfinite(value) or value <= 0:
        problems.append(FieldProblem("value", "must be a positive number of participants", row=row, value=text))
        return None
    return value


def read_targets(path: Path, *, offices: Mapping[str, set[str]] | None = None) -> list[Target]:
    """Targets from CSV, XLSX or YAML (a list of mappings, or ``{"targets": [...]}``)."""
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InvalidInput([FieldProblem("file", f"not valid YAML: {exc}")]) from None
        items = data.get("targets") if isinstance(data, dict) else data
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InvalidInput([FieldProblem("file", "YAML must be a list of targets or a mapping with 'targets'")])
        return parse_targets(enumerate(items, start=1), offices=offices, source=path.name)
    table = read_path(path)
    table.require(("period", "level", "value"))
    return parse_targets(table.rows, offices=offices, source=path.name)


def default_targets() -> list[Target]:
    """The agency's published national targets (``planning/data/targets.csv``)."""
    text = resources.files("jamsos.planning").joinpath("data/targets.csv").read_text(encoding="utf-8")
    return parse_targets(enumerate(csv.DictReader(io.StringIO(text)), start=2))


def load(directory: Path) -> list[Target]:
    """The defaults, overridden key by key by the targets stored with the warehouse."""
    merged = {t.key: t for t in default_targets()}
    stored = directory / STORE
    if stored.exists():
        merged.update({t.key: t for t in read_targets(stored)})
    return sorted(merged.values(), key=lambda t: t.key)


@dataclass(frozen=True)
class StoreResult:
    added: int
    changed: int
    unchanged: int

    def to_json(self) -> dict[str, int]:
        return {"added": self.added, "changed": self.changed, "unchanged": self.unchanged}


def store(directory: Path, targets: Sequence[Target]) -> StoreResult:
    """Add or replace targets by key in the warehouse's target file, written whole and atomically, so a
    repeated import changes nothing and a failed one leaves the file as it was."""
    path = directory / STORE
    held = {t.key: t for t in read_targets(path)} if path.exists() else {}
    added = changed = unchanged = 0
    for t in targets:
        old = held.get(t.key)
        if old is None:
            added += 1
        elif (old.value, old.source) == (t.value, t.source):
            unchanged += 1
        else:
            changed += 1
        held[t.key] = t
    if added or changed:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for t in sorted(held.values(), key=lambda t: t.key):
            writer.writerow(t.to_row())
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".targets-", suffix=".csv")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(buf.getvalue())
        os.replace(tmp, path)
    return StoreResult(added, changed, unchanged)


def scaled(targets: Sequence[Target], scale: float | None) -> list[Target]:
    """Targets in the warehouse's units: a synthetic warehouse at scale s holds s times the nation."""
    if scale is None or scale == 1.0:
        return list(targets)
    return [replace(t, value=t.value * scale) for t in targets]
