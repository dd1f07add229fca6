"""Prometheus histogram and counter for the audio path: a list index and an add per observation.

Why not `prometheus_client.Histogram`: its `observe` takes a mutex per bucket and walks the bucket
list, a few microseconds on every 20 ms frame of every call. The relay writes these from its one
event loop only (the `/metrics` handler reads them on the same loop), so no lock is needed. They
register as ordinary collectors and expose the same text format.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

__all__ = ["LoopCounter", "LoopHistogram"]


class _HistogramChild:
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


class LoopHistogram:
    """A labelled histogram written from one thread (the event loop's)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        labelnames: Sequence[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        bounds = tuple(sorted(float(b) for b in buckets))
        if not bounds or len(set(bounds)) != len(bounds):
            raise ValueError("buckets must be distinct and not empty")
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._bounds = bounds
        self._children: dict[tuple[str, ...], _HistogramChild] = {}
        if not self.labelnames:
            self._children[()] = _HistogramChild(bounds)
        if registry is not None:
            registry.register(self)

    def labels(self, *values: str) -> _HistogramChild:
        if len(values) != len(self.labelnames):
            raise ValueError(f"expected labels {self.labelnames}, got {values}")
        key = tuple(str(v) for v in values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = _HistogramChild(self._bounds)
        return child

    def observe(self, value: float) -> None:
        self._children[()].observe(value)

    def describe(self) -> list[Metric]:
        return [HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, child in self._children.items():
            running, buckets = 0, []
            for bound, count in zip((*child.bounds, float("inf")), child.counts, strict=True):
                running += count
                buckets.append((_le(bound), running))
            family.add_metric(list(key), buckets, child.sum)
        yield family


class LoopCounter:
    """A labelled counter written from one thread (the event loop's)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.values: dict[tuple[str, ...], float] = {}
        if registry is not None:
            registry.register(self)

    def inc(self, key: tuple[str, ...], amount: float = 1.0) -> None:
        """Add `amount` (≥ 0) to the series with label values `key`."""
        if amount < 0:
            raise ValueError("counters only go up")
        self.values[key] = self.values.get(key, 0.0) + amount

    def describe(self) -> list[Metric]:
        return [CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, value in self.values.items():
            family.add_metric(list(key), value)
        yield family


def _le(bound: float) -> str:
    return floatToGoString(bound)
