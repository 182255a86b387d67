"""The benchmark's figures: what is measured, the plans (quick and full), and the table."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Figure:
    name: str
    unit: str
    lilqueue: float | None
    huey: float | None = None
    target: str = ""
    lower_is_better: bool = False

    @property
    def ratio(self) -> float | None:
        if not self.lilqueue or not self.huey:
            return None
        return self.huey / self.lilqueue if self.lower_is_better else self.lilqueue / self.huey


@dataclass
class Plan:
    repeats: int
    enqueue: int
    enqueue_threads: tuple[int, ...]  # the enqueue figure once per number of starting threads
    bulk: int
    drain: int
    drain_threads: tuple[int, ...]
    pickups: int
    idle_before_pickup: float
    long_idle: float
    idle_window: float
    hot_loop: int
    latency_updates: int
    watched_jobs: int
    watchers_per_job: int
    watch_seconds: float
    history_rows: int
    growth_rows: int  # the finished jobs under the "flat costs as the table grows" figures
    batch_items: int  # one batch's children (flows.py), and the clients long-polling its parent
    batch_watchers: int
    batch_seconds: float
    asgi_streams: int  # the ASGI figures (asgi.py): event streams, then long-poll clients, on 100 jobs
    asgi_polls: int
    asgi_seconds: float
    asgi_ramp: float  # seconds over which the clients open their connections

    @classmethod
    def quick(cls) -> Plan:
        return cls(repeats=1, enqueue=800, enqueue_threads=(1, 8), bulk=10_000, drain=1000, drain_threads=(1,),
                   pickups=6,
                   idle_before_pickup=0.3, long_idle=0.0, idle_window=1.5, hot_loop=200_000,
                   latency_updates=16, watched_jobs=20, watchers_per_job=10, watch_seconds=2.0,
                   history_rows=100_000, growth_rows=50_000, batch_items=10_000, batch_watchers=100,
                   batch_seconds=3.0, asgi_streams=200, asgi_polls=50, asgi_seconds=2.0, asgi_ramp=1.0)

    @classmethod
    def full(cls) -> Plan:
        return cls(repeats=5, enqueue=2000, enqueue_threads=(1, 8), bulk=50_000, drain=5000, drain_threads=(1, 4),
                   pickups=30,
                   idle_before_pickup=2.0, long_idle=60.0, idle_window=20.0, hot_loop=1_000_000,
                   latency_updates=200, watched_jobs=100, watchers_per_job=10, watch_seconds=30.0,
                   history_rows=1_000_000, growth_rows=1_000_000, batch_items=50_000, batch_watchers=100,
                   batch_seconds=10.0, asgi_streams=10_000, asgi_polls=1000, asgi_seconds=30.0,
                   asgi_ramp=10.0)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def median_of(runs: int, measure: Callable[[int], float]) -> float:
    return statistics.median(measure(i) for i in range(runs))


def render(figures: list[Figure], peer: str = "raw huey", ours: str = "lilqueue") -> str:
    rows = [("figure", "unit", ours, peer, "ratio", "target")]
    for f in figures:
        rows.append((f.name, f.unit, _fmt(f.lilqueue), _fmt(f.huey),
                     "" if f.ratio is None else f"{f.ratio:.2f}x", f.target))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"
