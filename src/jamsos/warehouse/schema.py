"""The steering datasets of the warehouse: their Arrow schemas, codes, and row-level validation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from jamsos.kernel.errors import FieldProblem
from jamsos.rules import codes as c

ECOSYSTEM_CHOICES = ("", *c.ECOSYSTEMS)  # a membership may come through no ecosystem

_PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"
_DATE = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
_INT = r"^-?\d{1,18}$"


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    required: bool = True
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    minimum: int | None = None


@dataclass(frozen=True)
class Dataset:
    """A directory of the warehouse: its columns, and how it is partitioned and keyed."""

    name: str
    columns: tuple[Column, ...]
    partition: str | None = None
    key: tuple[str, ...] = ()
    dictionary: tuple[str, ...] = field(default=())

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=not c.required) for c in self.columns])


def _c(name: str, type_: pa.DataType, **kw: object) -> Column:
    return Column(name, type_, **kw)  # type: ignore[arg-type]


# A synthetic warehouse carries this file with its generation report (scale, seed, calibration).
SYNTH_MARKER = "_jamsos_synth.json"

STEERING: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "contribution_months",
            (
                _c("period", pa.string(), pattern=_PERIOD),
                _c("person_id", pa.int64(), minimum=1),
                _c("membership_id", pa.int64(), minimum=1),
                _c("employer_id", pa.int64(), required=False, minimum=1),
                _c("segment", pa.string(), choices=c.SEGMENTS),
                _c("regency_code", pa.string(), pattern=r"^\d{4}$"),
                _c("ecosystem", pa.string(), choices=ECOSYSTEM_CHOICES, required=False),
                _c("channel", pa.string(), required=False),
                _c("payer_source", pa.string(), choices=c.PAYER_SOURCES),
                _c("programs", pa.int16(), minimum=1),
                _c("wage", pa.int64(), minimum=0),
                _c("amount", pa.int64(), minimum=0),
                _c("paid_on", pa.date32(), required=False),
                _c("person_since", pa.string(), pattern=_PERIOD),
                _c("employer_since", pa.string(), pattern=_PERIOD, required=False),
                *(
                    _c(f"{side}_{name}", pa.int16() if name == "programs" else pa.string(), required=False)
                    for side in ("prev", "yoy")
                    for name in ("programs", "segment", "regency_code", "ecosystem", "channel", "payer_source")
                ),
            ),
            partition="period",
            key=("person_id", "period"),
            dictionary=(
                "segment",
                "regency_code",
                "ecosystem",
                "channel",
                "payer_source",
                *(
                    f"{side}_{name}"
                    for side in ("prev", "yoy")
                    for name in ("segment", "regency_code", "ecosystem", "channel", "payer_source")
                ),
            ),
        ),
        Dataset(
            "registrations",
            (
                _c("person_id", pa.int64(), minimum=1),
                _c("membership_id", pa.int64(), minimum=1),
                _c("segment", pa.string(), choices=c.SEGMENTS),
                _c("regency_code", pa.string(), pattern=r"^\d{4}$"),
                _c("ecosystem", pa.string(), choices=ECOSYSTEM_CHOICES, required=False),
                _c("channel", pa.string(), required=False),
                _c("registered", pa.string(), pattern=_PERIOD),
                _c("ended", pa.string(), pattern=_PERIOD, required=False),
                _c("first_of_person", pa.bool_()),
            ),
            key=("membership_id",),
            dictionary=("segment", "regency_code", "ecosystem", "channel"),
        ),
        Dataset(
            "regions",
            (
                _c("province_code", pa.string(), pattern=r"^\d{2}$"),
                _c("period", pa.string(), pattern=_PERIOD),
                _c("employed", pa.int64(), minimum=0),
                _c("source", pa.string()),
                _c("status", pa.string(), choices=("verified", "unverified")),
            ),
            key=("province_code", "period"),
        ),
        Dataset(
            "offices",
            (
                _c("regency_code", pa.string(), pattern=r"^\d{4}$"),
                _c("regency_name", pa.string()),
                _c("province_code", pa.string(), pattern=r"^\d{2}$"),
                _c("province_name", pa.string()),
                _c("branch_code", pa.string()),
                _c("branch_name", pa.string()),
                _c("kanwil_code", pa.string()),
                _c("kanwil_name", pa.string()),
            ),
            key=("regency_code",),
        ),
    )
}


def conform(dataset: Dataset, table: pa.Table, *, first_row: int = 1) -> tuple[pa.Table, list[FieldProblem]]:
    """Cast ``table`` (text or typed columns) to the dataset's schema; every bad value becomes a problem
    naming its row (``first_row`` is the number of the table's first row) and column."""
    problems: list[FieldProblem] = []
    missing = [c.name for c in dataset.columns if c.required and c.name not in table.column_names]
    if missing:
        return table, [FieldProblem(name, "required column is missing") for name in missing]
    out: dict[str, pa.Array] = {}
    n = table.num_rows
    for col in dataset.columns:
        if col.name not in table.column_names:
            out[col.name] = pa.nulls(n, col.type)
            continue
        raw = table[col.name].combine_chunks()
        if isinstance(raw, pa.DictionaryArray):
            raw = raw.dictionary_decode()
        values, bad = _convert(raw, col)
        for index, reason in bad:
            value = raw[index].as_py()
            problems.append(
                FieldProblem(col.name, reason, row=index + first_row, value=None if value is None else str(value))
            )
        out[col.name] = values
    if problems:
        return table, problems
    result = pa.table(out, schema=dataset.schema)
    problems.extend(_duplicates(dataset, result, first_row))
    return result, problems


_MAX_REPORTED = 1000


def _convert(raw: pa.Array, col: Column) -> tuple[pa.Array, list[tuple[int, str]]]:
    bad: list[tuple[int, str]] = []
    text = pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type)
    if text:
        raw = pc.utf8_trim_whitespace(raw)
        empty = pc.equal(raw, "")
        raw = pc.if_else(empty, pa.scalar(None, raw.type), raw)
    nulls = pc.is_null(raw)
    if col.required:
        bad += [(int(i), "must not be empty") for i in _where(nulls)]
    if pa.types.is_boolean(col.type):
        if not text:
            return pc.cast(raw, pa.bool_()), bad
        lowered = pc.utf8_lower(raw)
        truth = pc.is_in(lowered, value_set=pa.array(["true", "1", "yes", "t", "y"]))
        known = pc.or_(truth, pc.is_in(lowered, value_set=pa.array(["false", "0", "no", "f", "n"])))
        wrong = pc.and_not(pc.invert(known), nulls)
        bad += [(int(i), "must be true or false") for i in _where(wrong)]
        return pc.if_else(nulls, pa.scalar(None, pa.bool_()), truth), bad[:_MAX_REPORTED]
    if pa.types.is_integer(col.type) or pa.types.is_date(col.type):
        shape = _INT if pa.types.is_integer(col.type) else _DATE
        if text:
            wrong = pc.and_not(pc.invert(pc.match_substring_regex(raw, shape)), nulls)
            what = "must be a whole number" if pa.types.is_integer(col.type) else "must be a date YYYY-MM-DD"
            bad += [(int(i), what) for i in _where(wrong)]
            if pa.types.is_date(col.type):
                shaped = pc.if_else(wrong, pa.scalar(None, raw.type), raw)
                try:
                    values = pc.cast(shaped, col.type)  # strict: 2023-02-30 is refused
                except pa.ArrowInvalid:
                    bad += [(int(i), "is not a real date") for i in range(len(raw)) if _bad_date(shaped[i].as_py())]
                if bad:
                    return raw, sorted(bad)[:_MAX_REPORTED]
            elif bad:
                return raw, bad
            else:
                values = pc.cast(raw, pa.int64())
        else:
            try:
                values = pc.cast(raw, col.type if pa.types.is_date(col.type) else pa.int64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return raw, [(0, f"has type {raw.type}, expected {col.type}")]
        if col.minimum is not None:
            below = pc.fill_null(pc.less(values, col.minimum), False)
            bad += [(int(i), f"must be at least {col.minimum}") for i in _where(below)]
        if pa.types.is_integer(col.type) and not bad:
            try:
                values = pc.cast(values, col.type)
            except pa.ArrowInvalid:
                bad.append((0, f"does not fit {col.type}"))
        return values, bad[:_MAX_REPORTED]
    values = raw if text else pc.cast(raw, pa.string())
    if col.choices:
        allowed = pa.array([c for c in col.choices if c] or [""])
        wrong = pc.and_not(pc.invert(pc.is_in(values, value_set=allowed)), pc.is_null(values))
        bad += [(int(i), "must be one of " + ", ".join(c for c in col.choices if c)) for i in _where(wrong)]
    if col.pattern:
        wrong = pc.and_not(pc.invert(pc.match_substring_regex(values, col.pattern)), pc.is_null(values))
        bad += [(int(i), f"must match {_readable(col.pattern)}") for i in _where(wrong)]
    if not col.required and col.choices and "" in col.choices:
        values = pc.fill_null(values, "")
    return values, bad[:_MAX_REPORTED]


def _bad_date(text: str | None) -> bool:
    if text is None:
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return True
    return False


def _where(mask: pa.Array) -> list[int]:
    found: list[int] = pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist()
    return found[:_MAX_REPORTED]


def _readable(pattern: str) -> str:
    return {_PERIOD: "YYYY-MM", r"^\d{4}$": "4 digits (PPKK)", r"^\d{2}$": "2 digits"}.get(pattern, pattern)


def _duplicates(dataset: Dataset, table: pa.Table, first_row: int) -> list[FieldProblem]:
    if not dataset.key or table.num_rows == 0:
        return []
    keys = table.select(list(dataset.key)).append_column("_row", pa.array(range(table.num_rows), pa.int64()))
    counted = keys.group_by(list(dataset.key)).aggregate([("_row", "count"), ("_row", "max")])
    dup = counted.filter(pc.greater(counted["_row_count"], 1))
    return [
        FieldProblem(
            ",".join(dataset.key),
            "appears more than once in the file",
            row=int(row) + first_row,
            value="/".join(str(dup[k][i].as_py()) for k in dataset.key),
        )
        for i, row in enumerate(dup["_row_max"].to_pylist()[:_MAX_REPORTED])
    ]


def encode(dataset: Dataset, table: pa.Table) -> pa.Table:
    """The table as written: low-cardinality text columns dictionary-encoded."""
    cols = []
    for name in table.column_names:
        col = table[name]
        cols.append(pc.dictionary_encode(col) if name in dataset.dictionary else col)
    return pa.table(cols, names=table.column_names)


def default_regions(scale: float = 1.0) -> pa.Table:
    """The bundled employed population by province (``data/employed_population.csv``; see its
    ``source`` and ``status`` columns), times ``scale``."""
    import csv
    from importlib import resources

    text = resources.files("jamsos.warehouse").joinpath("data", "employed_population.csv").read_text(encoding="utf-8")
    rows = [{**r, "employed": round(int(r["employed"]) * scale)} for r in csv.DictReader(text.splitlines())]
    return pa.Table.from_pylist(rows, schema=STEERING["regions"].schema)
