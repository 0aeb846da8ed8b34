"""The parameter tree: dated, cited rule values loaded from YAML, validated, resolved per month."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from jamsos.kernel.errors import DomainError
from jamsos.kernel.period import Period
from jamsos.rules import codes as c

DEFAULT_DIR = Path(__file__).parent / "parameters"

UNITS = frozenset(
    {"rate", "idr", "months", "years", "days", "day_of_month", "count", "flag", "programs", "codes", "rule"}
)
SHAPES = frozenset({"scalar", "mapping", "table"})
STATUSES = frozenset({"verified", "unverified"})
PROGRAM_CODES = frozenset(c.PROGRAMS)
MAX_RATE_DECIMALS = 8
_PARAM_KEYS = frozenset({"description", "unit", "shape", "keys", "columns", "choices", "nullable", "values"})
_VALUE_KEYS = frozenset({"from", "value", "reference", "status", "note"})


class ParameterMissing(DomainError):
    """No value of a parameter applies to a month (never read as zero)."""

    code = "parameter_missing"

    def __init__(self, path: str, period: Period | str, reason: str = "") -> None:
        why = f": {reason}" if reason else ""
        super().__init__(f"parameter {path} has no value for {period}{why}", path=path, period=str(period))
        self.path = path
        self.period = str(period)


class UnknownParameter(DomainError):
    code = "unknown_parameter"

    def __init__(self, path: str) -> None:
        super().__init__(f"no parameter named {path!r} (see `jamsos rules list`)", path=path)


class InvalidParameters(DomainError):
    """The parameter tree failed validation; every problem is listed with its file and path."""

    code = "invalid_parameters"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the parameter tree:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class ParameterValue:
    """One dated value of a parameter, with its legal basis."""

    start: dt.date
    value: Any
    reference: str
    status: str
    note: str | None = None

    @property
    def verified(self) -> bool:
        return self.status == "verified"


@dataclass(frozen=True)
class Parameter:
    """A named rule value with its whole history (values sorted by start date)."""

    path: str
    description: str
    unit: str | None
    shape: str
    keys: tuple[str, ...]
    key_units: Mapping[str, str]
    columns: Mapping[str, str]
    choices: tuple[str, ...]
    nullable: bool
    values: tuple[ParameterValue, ...]
    source: str

    def at(self, day: dt.date) -> ParameterValue | None:
        """The value in force on ``day``, or None before the first value."""
        found: ParameterValue | None = None
        for v in self.values:
            if v.start <= day:
                found = v
            else:
                break
        return found

    def for_period(self, period: Period) -> ParameterValue:
        """The value in force on the first day of ``period`` (jamsos's month-resolution rule)."""
        found = self.at(period.first_day)
        if found is None:
            first = self.values[0].start.isoformat()
            raise ParameterMissing(self.path, period, f"its first value starts {first}")
        return found

    def require(self, period: Period) -> ParameterValue:
        """Like ``for_period`` but a null value (not in force / not recorded) is also missing."""
        found = self.for_period(period)
        if found.value is None:
            raise ParameterMissing(self.path, period, f"not in force or not recorded ({found.reference})")
        return found

    def change_dates(self) -> list[dt.date]:
        return [v.start for v in self.values]


class ParameterTree:
    """All parameters by dotted path (``<file>.<key>...``)."""

    def __init__(self, parameters: dict[str, Parameter], directory: Path) -> None:
        self._params = dict(sorted(parameters.items()))
        self.directory = directory

    def __getitem__(self, path: str) -> Parameter:
        try:
            return self._params[path]
        except KeyError:
            raise UnknownParameter(path) from None

    def __contains__(self, path: object) -> bool:
        return path in self._params

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._params.values())

    def __len__(self) -> int:
        return len(self._params)

    @property
    def fingerprint(self) -> str:
        """A hash of every dated value and its reference: bills record which rules produced them."""
        text = repr([(p.path, [(v.start, v.value, v.reference, v.status) for v in p.values]) for p in self])
        return hashlib.sha256(text.encode()).hexdigest()

    def value(self, path: str, period: Period) -> Any:
        """The value of ``path`` for ``period``; raises ParameterMissing, never returns a silent zero."""
        return self[path].require(period).value

    def optional(self, path: str, period: Period) -> Any:
        """The value or None where the parameter is explicitly not in force (nullable parameters)."""
        return self[path].for_period(period).value


class _DecimalLoader(yaml.SafeLoader):
    """YAML loader reading floats as exact Decimals (a rate of 0.0054 stays 0.0054)."""


def _decimal_constructor(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "")  # type: ignore[arg-type]
    return Decimal(text)


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal_constructor)


def load_parameters(directory: Path | None = None) -> ParameterTree:
    """Load and validate every ``*.yaml`` under ``directory``; raise InvalidParameters listing all problems."""
    root = Path(directory) if directory is not None else DEFAULT_DIR
    if not root.is_dir():
        raise InvalidParameters([f"{root}: not a directory"])
    problems: list[str] = []
    params: dict[str, Parameter] = {}
    files = sorted(root.glob("*.yaml"))
    if not files:
        problems.append(f"{root}: no *.yaml parameter files")
    for file in files:
        try:
            data = yaml.load(file.read_text(encoding="utf-8"), Loader=_DecimalLoader)
        except yaml.YAMLError as exc:
            problems.append(f"{file.name}: not valid YAML: {exc}")
            continue
        if not isinstance(data, dict):
            problems.append(f"{file.name}: top level must be a mapping")
            continue
        _walk(data, file.stem, file.name, params, problems)
    if problems:
        raise InvalidParameters(problems)
    return ParameterTree(params, root)


def _walk(node: dict[str, Any], path: str, source: str, out: dict[str, Parameter], problems: list[str]) -> None:
    for key, child in node.items():
        child_path = f"{path}.{key}"
        if not isinstance(child, dict):
            problems.append(f"{source}: {child_path}: expected a parameter or a group, got {type(child).__name__}")
        elif "values" in child:
            param = _parse_parameter(child, child_path, source, problems)
            if param is not None:
                out[child_path] = param
        else:
            _walk(child, child_path, source, out, problems)


def _parse_parameter(raw: dict[str, Any], path: str, source: str, problems: list[str]) -> Parameter | None:
    where = f"{source}: {path}"
    before = len(problems)
    extra = set(raw) - _PARAM_KEYS
    if extra:
        problems.append(f"{where}: unknown field(s) {sorted(extra)}")
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        problems.append(f"{where}: a description is required")
    shape = raw.get("shape", "scalar")
    if shape not in SHAPES:
        problems.append(f"{where}: shape must be one of {sorted(SHAPES)}, got {shape!r}")
    unit = raw.get("unit")
    raw_keys = raw.get("keys")
    keys: tuple[str, ...] = ()
    key_units: dict[str, str] = {}
    columns: dict[str, str] = {}
    if shape == "mapping":
        if isinstance(raw_keys, list) and raw_keys and all(isinstance(k, str) for k in raw_keys):
            keys = tuple(raw_keys)
            key_units = {k: str(unit) for k in keys}
        elif isinstance(raw_keys, dict) and raw_keys:
            keys = tuple(str(k) for k in raw_keys)
            key_units = {str(k): str(u) for k, u in raw_keys.items()}
        else:
            problems.append(f"{where}: a mapping parameter needs keys (a list, or a mapping of key to unit)")
    elif raw_keys is not None:
        problems.append(f"{where}: keys are only for shape: mapping")
    if shape == "table":
        raw_cols = raw.get("columns")
        if isinstance(raw_cols, dict) and raw_cols:
            columns = {str(k): str(u) for k, u in raw_cols.items()}
        else:
            problems.append(f"{where}: a table parameter needs columns (a mapping of column to unit)")
    needed_units = set(key_units.values()) | set(columns.values()) | ({unit} if shape == "scalar" else set())
    if shape == "scalar" and unit is None:
        problems.append(f"{where}: a unit is required")
    for u in needed_units:
        if u not in UNITS:
            problems.append(f"{where}: unknown unit {u!r}; known units: {sorted(UNITS)}")
    choices = tuple(raw.get("choices") or ())
    if "rule" in needed_units and not choices:
        problems.append(f"{where}: a rule parameter must list its choices")
    nullable = raw.get("nullable", False)
    if not isinstance(nullable, bool):
        problems.append(f"{where}: nullable must be true or false")
        nullable = False
    raw_values = raw.get("values")
    if not isinstance(raw_values, list) or not raw_values:
        problems.append(f"{where}: values must be a non-empty list")
        return None
    if len(problems) > before:
        return None
    values: list[ParameterValue] = []
    for i, item in enumerate(raw_values, start=1):
        vwhere = f"{where}: value {i}"
        if not isinstance(item, dict):
            problems.append(f"{vwhere}: must be a mapping with from, value, reference, status")
            continue
        extra = set(item) - _VALUE_KEYS
        if extra:
            problems.append(f"{vwhere}: unknown field(s) {sorted(extra)}")
        start = item.get("from")
        if isinstance(start, dt.datetime) or not isinstance(start, dt.date):
            problems.append(f"{vwhere}: 'from' must be a full ISO date (YYYY-MM-DD), got {start!r}")
            continue
        reference = item.get("reference")
        if not isinstance(reference, str) or not reference.strip():
            problems.append(f"{vwhere} (from {start}): a legal reference is required")
        status = item.get("status")
        if status not in STATUSES:
            problems.append(f"{vwhere} (from {start}): status must be one of {sorted(STATUSES)}, got {status!r}")
        note = item.get("note")
        if note is not None and not isinstance(note, str):
            problems.append(f"{vwhere}: note must be text")
        if "value" not in item:
            problems.append(f"{vwhere} (from {start}): value is missing")
            continue
        value = item["value"]
        if value is None:
            if not nullable:
                problems.append(f"{vwhere} (from {start}): null value but the parameter is not nullable")
        else:
            value = _check_value(value, shape, unit, key_units, columns, choices, f"{vwhere} (from {start})", problems)
        values.append(ParameterValue(start, value, str(reference), str(status), note))
    starts = [v.start for v in values]
    for a, b in itertools.pairwise(starts):
        if b <= a:
            problems.append(f"{where}: dates must be strictly increasing; {b} follows {a} (ambiguous)")
    if len(problems) > before:
        return None
    return Parameter(
        path=path,
        description=str(description).strip(),
        unit=str(unit) if unit is not None else None,
        shape=str(shape),
        keys=keys,
        key_units=key_units,
        columns=columns,
        choices=choices,
        nullable=nullable,
        values=tuple(values),
        source=source,
    )


def _check_value(
    value: Any,
    shape: str,
    unit: str | None,
    key_units: Mapping[str, str],
    columns: Mapping[str, str],
    choices: tuple[str, ...],
    where: str,
    problems: list[str],
) -> Any:
    if shape == "scalar":
        return _check_leaf(value, str(unit), choices, where, problems)
    if shape == "mapping":
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a mapping with keys {list(key_units)}")
            return value
        if set(value) != set(key_units):
            problems.append(f"{where}: keys {sorted(value)} differ from the declared {sorted(key_units)}")
            return value
        return {k: _check_leaf(value[k], key_units[k], choices, f"{where}.{k}", problems) for k in key_units}
    if not isinstance(value, list) or not value:
        problems.append(f"{where}: expected a non-empty list of rows with columns {list(columns)}")
        return value
    rows: list[dict[str, Any]] = []
    for r, row in enumerate(value, start=1):
        if not isinstance(row, dict) or set(row) != set(columns):
            problems.append(f"{where}: row {r} must have exactly the columns {list(columns)}")
            continue
        rows.append(
            {
                c: None
                if row[c] is None
                else _check_leaf(row[c], columns[c], choices, f"{where} row {r}.{c}", problems)
                for c in columns
            }
        )
    return rows


def _check_leaf(value: Any, unit: str, choices: tuple[str, ...], where: str, problems: list[str]) -> Any:
    if unit == "rate":
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            problems.append(f"{where}: a rate must be a number, got {value!r}")
            return value
        rate = Decimal(value)
        if not Decimal(0) <= rate <= Decimal(1):
            problems.append(f"{where}: a rate must be between 0 and 1, got {rate}")
        exponent = rate.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > MAX_RATE_DECIMALS:
            problems.append(f"{where}: a rate may have at most {MAX_RATE_DECIMALS} decimals, got {rate}")
        return rate
    if unit in {"idr", "months", "years", "days", "count", "day_of_month"}:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(f"{where}: {unit} must be a whole non-negative number, got {value!r}")
        elif unit == "day_of_month" and not 1 <= value <= 28:
            problems.append(f"{where}: a due day must be 1..28 so it exists in every month, got {value}")
        return value
    if unit == "flag":
        if not isinstance(value, bool):
            problems.append(f"{where}: a flag must be true or false, got {value!r}")
        return value
    if unit in {"programs", "codes"}:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(f"{where}: expected a list of codes, got {value!r}")
            return value
        if unit == "programs" and not set(value) <= PROGRAM_CODES:
            problems.append(f"{where}: unknown program(s) {sorted(set(value) - PROGRAM_CODES)}")
        return tuple(value)
    if unit == "rule":
        if value not in choices:
            problems.append(f"{where}: {value!r} is not one of the declared choices {list(choices)}")
        return value
    return value
