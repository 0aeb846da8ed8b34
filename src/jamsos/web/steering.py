"""What the steering pages show, computed once per warehouse state and kept: a national snapshot is never
recomputed per request. The cache is dropped when the warehouse changes (a month added, an import, new
targets)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from cachetools import LRUCache

from jamsos.coverage import service as coverage
from jamsos.fund import projection as fund
from jamsos.infra.compute import Warehouse, connect, open_warehouse
from jamsos.kernel.period import Period
from jamsos.planning import service as planning
from jamsos.planning import targets as tg
from jamsos.planning.forecast import forecast
from jamsos.rules.tree import ParameterTree
from jamsos.warehouse.imports import LEDGER
from jamsos.warehouse.schema import SYNTH_MARKER

T = TypeVar("T")

# The snapshot groupings the pages use; ``warm`` computes them for the latest month.
PAGE_GROUPINGS: tuple[tuple[str, ...], ...] = (
    (),
    ("segment",),
    ("kanwil",),
    ("kanwil", "branch"),
    ("branch", "ecosystem"),
    ("ecosystem",),
    ("ecosystem", "channel"),
    ("province",),
)
FUND_SCENARIOS = fund.SCENARIOS
REFERENCE_DATASETS = ("offices", "regions")


class Steering:
    """The steering figures of one warehouse directory, cached per warehouse state."""

    def __init__(
        self, directory: Path, tree: ParameterTree, *, cache: bool = True, page_bytes: int = 64 * 2**20
    ) -> None:
        self.directory = directory
        self.tree = tree
        self.cache = cache
        self._lock = threading.RLock()
        # Figures per (kind, month, grouping...): a few hundred at most; the bound guards against a flood of
        # distinct valid filters. Pages are bounded by their size in bytes, least recently used out first.
        self._cache: LRUCache[tuple[Any, ...], Any] = LRUCache(maxsize=1024)
        self._pages: LRUCache[tuple[Any, ...], tuple[str, str]] = LRUCache(
            maxsize=page_bytes, getsizeof=lambda v: len(v[0]) + 200
        )
        self._state: tuple[Any, ...] | None = None
        self._w: Warehouse | None = None
        self.hits = 0
        self.misses = 0
        self.warmed = threading.Event()

    # ---- state and cache ----
    def _current_state(self) -> tuple[Any, ...]:
        base = self.directory / "contribution_months"
        months = tuple(sorted(p.name for p in base.glob("period=*"))) if base.exists() else ()

        def mtime(name: str) -> float:
            p = self.directory / name
            if p.is_dir():
                return max([p.stat().st_mtime, *(f.stat().st_mtime for f in p.iterdir())])
            return p.stat().st_mtime if p.exists() else 0.0

        # Offices and regions too: a new office map changes every grouping by Kanwil, branch and province.
        return months, *(mtime(name) for name in (tg.STORE, LEDGER, SYNTH_MARKER, *REFERENCE_DATASETS))

    @property
    def available(self) -> bool:
        return (self.directory / "contribution_months").exists()

    def _get(self, key: tuple[Any, ...], compute: Callable[[Warehouse], T]) -> T:
        with self._lock:
            self._sync()
            assert self._w is not None
            if key in self._cache:
                self.hits += 1
                return self._cache[key]  # type: ignore[no-any-return]
            self.misses += 1
            value = compute(self._w)
            if self.cache:
                self._cache[key] = value
            return value

    def _sync(self) -> None:
        """Drop everything kept when the warehouse changed (call with the lock held)."""
        state = self._current_state()
        if state != self._state or self._w is None:
            self._cache.clear()
            self._pages.clear()
            self._w = open_warehouse(connect("duckdb"), self.directory, "duckdb")
            self._state = state

    def page(self, key: tuple[Any, ...]) -> tuple[str, str] | None:
        """A rendered page body (and its menu entry) kept under ``key`` for the warehouse's current state."""
        with self._lock:
            self._sync()
            found = self._pages.get(key)
            if found is not None:
                self.hits += 1
            return found

    def keep_page(self, key: tuple[Any, ...], body: str, nav: str) -> None:
        if not self.cache:
            return
        with self._lock:
            self._sync()
            if len(body) < self._pages.maxsize:
                self._pages[key] = (body, nav)

    @property
    def page_bytes(self) -> int:
        """What the kept pages take (bounded by the ``page_bytes`` given)."""
        return int(self._pages.currsize)

    # ---- figures ----
    def periods(self) -> list[str]:
        return self._get(("periods",), coverage.available_periods)

    def latest(self) -> Period:
        periods = self.periods()
        if not periods:
            raise coverage.PeriodMissing("the warehouse holds no contribution months")
        return Period.parse(periods[-1])

    def period(self, text: str | None) -> Period:
        """The month asked for, or the latest held; a month not held raises PeriodMissing."""
        if not text:
            return self.latest()
        try:
            p = Period.parse(text)
        except ValueError:
            raise coverage.PeriodMissing(f"{text!r} is not a month YYYY-MM") from None
        if str(p) not in self.periods():
            raise coverage.PeriodMissing(f"the warehouse has no contribution months for {p}")
        return p

    @property
    def scale(self) -> float | None:
        return coverage.warehouse_scale(self.directory)

    def snapshot(self, period: Period, by: Sequence[str] = ()) -> list[dict[str, Any]]:
        by = tuple(by)
        return self._get(
            ("snapshot", str(period), by),
            lambda w: coverage.snapshot_rows(w, period=period, by=by, tree=self.tree),
        )

    def national(self, period: Period) -> dict[str, Any]:
        return self.snapshot(period)[0]

    def series(self, by: Sequence[str] = ()) -> list[dict[str, Any]]:
        by = tuple(by)
        periods = self.periods()

        def compute(w: Warehouse) -> list[dict[str, Any]]:
            first, last = Period.parse(periods[0]), Period.parse(periods[-1])
            return coverage.series_rows(w, first=first, last=last, by=by, tree=self.tree)

        return self._get(("series", by), compute)

    def national_targets(self) -> list[tg.Target]:
        """National targets for all participants, in the warehouse's units."""
        return self._get(
            ("national_targets",),
            lambda w: [
                t
                for t in tg.scaled(tg.load(self.directory), self.scale)
                if t.level == "national" and not t.segment and not t.ecosystem
            ],
        )

    def forecast(self, until: Period) -> dict[str, Any]:
        """The national active series forecast to ``until``, with P(reaching the target of that month)."""
        goal = next((t.value for t in self.national_targets() if t.period == until), None)

        def compute(w: Warehouse) -> dict[str, Any]:
            obs = [(Period.parse(r["period"]), float(r["active"])) for r in self.series()]
            return forecast(obs, until=until, target=goal).to_json()

        return self._get(("forecast", str(until)), compute)

    def attainment(self, with_forecast: bool = False) -> planning.AttainmentReport:
        return self._get(
            ("attainment", with_forecast),
            lambda w: planning.attainment(w, tree=self.tree, with_forecast=with_forecast),
        )

    def funnel(self, by: Sequence[str] = ()) -> list[dict[str, Any]]:
        by = tuple(by)
        periods = self.periods()

        def compute(w: Warehouse) -> list[dict[str, Any]]:
            return coverage.funnel_rows(
                w, first=Period.parse(periods[0]), last=Period.parse(periods[-1]), tree=self.tree, by=by
            )

        return self._get(("funnel", by), compute)

    def pds(self, period: Period, min_workers: int) -> list[dict[str, Any]]:
        return self._get(
            ("pds", str(period), min_workers),
            lambda w: coverage.pds_rows(w, period=period, tree=self.tree, min_workers=min_workers),
        )

    def fund(self, scenario: str, until: Period) -> dict[str, Any]:
        return self._get(
            ("fund", scenario, str(until)),
            lambda w: fund.to_json(fund.project(fund.Scenario.load(scenario), tree=self.tree, until=until)),
        )

    def warm(self) -> None:
        """Compute what every steering page needs for the latest month (used at start-up and by the benchmark)."""
        try:
            if self.available and self.periods():
                self._warm(self.latest())
        finally:
            self.warmed.set()

    def _warm(self, period: Period) -> None:
        for by in PAGE_GROUPINGS:
            self.snapshot(period, by)
        self.series()
        self.series(("branch",))
        self.forecast(Period(period.year + 1, 12))
        self.attainment(with_forecast=True)
        self.funnel()
        self.funnel(("ecosystem",))
        self.pds(period, 20)
        for name in FUND_SCENARIOS:
            self.fund(name, Period(period.year + 1, 12) if name != "hindcast-2023" else Period(2023, 12))
