"""Scenarios of the fund projection: the funds and counts it projects, and dated, cited assumptions (returns, wage
growth, coverage paths, reforms) read from YAML, merged over the base scenario and resolved to numbers."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from jamsos.kernel.errors import DomainError
from jamsos.kernel.period import Period

FUNDS = ("jht", "jp", "jkk", "jkm", "jkp", "badan")


PROGRAM_FUNDS = FUNDS[:-1]


COUNTS = ("pu", "bpu", "jakon", "jht_pu", "jht_bpu", "jp", "jkp")


STATUSES = ("sourced", "derived", "unverified", "given")


SCENARIOS = ("base", "base-2024", "optimistic", "pessimistic", "hindcast-2023")


class ScenarioInvalid(DomainError):
    code = "scenario_invalid"


def merged(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge; ``null`` deletes a key, and a benefit method (``benefits.<fund>``) is replaced whole."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, Mapping) and isinstance(out.get(k), dict) and k not in PROGRAM_FUNDS:
            out[k] = merged(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def read_scenario_file(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path in seen:
        raise ScenarioInvalid(f"{path.name}: 'extends' goes round in a circle")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioInvalid(f"{path}: cannot be read as YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioInvalid(f"{path.name}: a scenario is a mapping")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    return merged(read_scenario_file(resolved(str(parent), path.parent), (*seen, path)), data)


def resolved(name: str, directory: Path | None) -> Path:
    if directory is not None and (directory / name).exists():
        return directory / name
    shipped = resources.files("jamsos.fund").joinpath("data")
    stem = name.removesuffix(".yaml")
    candidate = Path(str(shipped.joinpath(f"{stem}.yaml")))
    if candidate.exists():
        return candidate
    raise ScenarioInvalid(f"no scenario {name!r}; give a file or one of {', '.join(SCENARIOS)}")


@dataclass(frozen=True)
class Assumption:
    path: str
    value: Any
    status: str
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "value": self.value, "status": self.status, "source": self.source}


class Scenario:
    """A scenario file, merged with what it extends, read through typed accessors that record every
    assumption used (and fail with the path of anything missing or malformed)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.used: dict[str, Assumption] = {}
        self.name = str(data.get("name", "unnamed"))
        self.description = str(data.get("description", "")).strip()

    @classmethod
    def load(cls, name_or_path: str | Path) -> Scenario:
        path = Path(name_or_path)
        return cls(read_scenario_file(path if path.exists() else resolved(str(name_or_path), None)))

    def has(self, dotted: str) -> bool:
        try:
            self._node(dotted)
        except ScenarioInvalid:
            return False
        return True

    def _node(self, dotted: str) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node or node[part] is None:
                raise ScenarioInvalid(f"scenario {self.name!r}: {dotted} is missing")
            node = node[part]
        return node

    def item(self, dotted: str) -> dict[str, Any]:
        node = self._node(dotted)
        if not isinstance(node, dict) or "value" not in node:
            node = {"value": node, "status": "given", "source": ""}
        status = str(node.get("status", "given"))
        if status not in STATUSES:
            raise ScenarioInvalid(f"scenario {self.name!r}: {dotted}.status must be one of {', '.join(STATUSES)}")
        self.used[dotted] = Assumption(dotted, node["value"], status, str(node.get("source", "")))
        return node

    def number(self, dotted: str, *, minimum: float = 0.0) -> float:
        value = self.item(dotted)["value"]
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise ScenarioInvalid(f"scenario {self.name!r}: {dotted} must be a number (got {value!r})") from None
        if not math.isfinite(x) or x < minimum:
            raise ScenarioInvalid(f"scenario {self.name!r}: {dotted} must be a finite number ≥ {minimum}")
        return x

    def numbers(self, dotted: str, keys: tuple[str, ...], *, minimum: float = 0.0) -> dict[str, float]:
        value = self.item(dotted)["value"]
        if not isinstance(value, dict) or set(value) != set(keys):
            raise ScenarioInvalid(f"scenario {self.name!r}: {dotted} must give exactly {', '.join(keys)}")
        out = {}
        for k in keys:
            try:
                out[k] = float(value[k])
            except (TypeError, ValueError):
                raise ScenarioInvalid(f"scenario {self.name!r}: {dotted}.{k} must be a number") from None
            if not math.isfinite(out[k]) or out[k] < minimum:
                raise ScenarioInvalid(f"scenario {self.name!r}: {dotted}.{k} must be finite and ≥ {minimum}")
        return out

    def period(self, dotted: str) -> Period:
        try:
            return Period.parse(str(self._node(dotted)))
        except ValueError:
            raise ScenarioInvalid(f"scenario {self.name!r}: {dotted} must be a month YYYY-MM") from None
