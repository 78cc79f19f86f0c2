"""Chart geometry for the console's inline SVG: numbers become pixel positions here, and one
template macro (templates/console/_chart.html) draws any Chart. Floats are pixels only."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

WIDTH, HEIGHT = 720, 260
MIN_SPAN_SECONDS = 60.0
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 44
PALETTE: Mapping[str, str] = {
    "settled": "#2e7d32", "failed": "#c62828", "held": "#ef6c00", "received": "#90a4ae",
    "validated": "#42a5f5", "settling": "#7e57c2",
    "HEALTHY": "#2e7d32", "WARNING": "#f9a825", "MARGIN_CALL": "#ef6c00",
    "LIQUIDATION": "#c62828", "UNKNOWN": "#90a4ae",
    "settlement": "#1565c0", "risk": "#ef6c00", "compliance": "#6a1b9a", "alerts": "#00838f",
    "batch": "#558b2f", "outbox lag": "#c62828",
}


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    color: str
    title: str
    series: str
    label: str = ""  # drawn above the bar


@dataclass(frozen=True)
class Tick:
    at: float
    label: str
    anchor: str = "middle"  # SVG text-anchor: the outermost labels stay inside the picture


@dataclass(frozen=True)
class Mark:
    x: float
    y: float
    color: str
    title: str


@dataclass
class Chart:
    title: str
    y_unit: str
    x_unit: str
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Rect] = field(default_factory=list)
    line: str = ""  # an SVG polyline's points
    dots: list[Mark] = field(default_factory=list)  # the line's points, visible when close
    polylines: list[tuple[str, str, str]] = field(default_factory=list)  # color, points, name
    marks: list[Mark] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)

    @property
    def plot(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of the plotting area."""
        return LEFT, TOP, self.width - RIGHT, self.height - BOTTOM

    @property
    def has_data(self) -> bool:
        # Category bars of zero are data (labelled 0); a stacked bar of zero adds no rect.
        return bool(self.bars or self.line or self.polylines)


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    ceiling: float = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= value)
    return ceiling


def _y_scale(chart: Chart, top_value: float, fmt: str = "{:g}") -> float:
    """Fills the y ticks and returns pixels per unit."""
    _, top, _, bottom = chart.plot
    ceiling = _nice_max(top_value)
    chart.y_ticks = [Tick(bottom - (bottom - top) * i / 4, fmt.format(ceiling * i / 4))
                     for i in range(5)]
    return (bottom - top) / ceiling


def stacked_bars(title: str, starts: Sequence[datetime], series: Sequence[str],
                 counts: Sequence[Mapping[str, int]], *, y_unit: str, x_unit: str,
                 label_format: str = "%H:%M") -> Chart:
    """One bar per start time, stacked by series (in `series` order)."""
    chart = Chart(title, y_unit, x_unit)
    left, _, right, bottom = chart.plot
    scale = _y_scale(chart, max((sum(c.values()) for c in counts), default=0))
    slot = (right - left) / max(len(starts), 1)
    every = max(1, len(starts) // 6)
    for i, (start, bucket) in enumerate(zip(starts, counts, strict=True)):
        x, y = left + i * slot + slot * 0.1, float(bottom)
        for name in series:
            height = bucket.get(name, 0) * scale
            if height:
                y -= height
                chart.bars.append(Rect(x, y, slot * 0.8, height, PALETTE.get(name, "#555"),
                                       f"{start:%Y-%m-%d %H:%M} {name}: {bucket[name]}", name))
        if i % every == 0:
            chart.x_ticks.append(Tick(left + i * slot + slot / 2, f"{start:{label_format}}"))
    chart.legend = [(PALETTE.get(s, "#555"), s) for s in series]
    return chart


def bars(title: str, values: Mapping[str, int], *, y_unit: str, x_unit: str) -> Chart:
    """One bar per category."""
    chart = Chart(title, y_unit, x_unit)
    left, _, right, bottom = chart.plot
    scale = _y_scale(chart, max(values.values(), default=0))
    slot = (right - left) / max(len(values), 1)
    for i, (name, value) in enumerate(values.items()):
        height = value * scale
        chart.bars.append(Rect(left + i * slot + slot * 0.15, bottom - height, slot * 0.7,
                               height, PALETTE.get(name, "#555"), f"{name}: {value}", name,
                               label=str(value)))
        chart.x_ticks.append(Tick(left + i * slot + slot / 2, name))
    return chart


def timeline(title: str, points: Sequence[tuple[datetime, Decimal]],
             marks: Sequence[tuple[datetime, str, str]], *, y_unit: str, x_unit: str) -> Chart:
    """A line through (time, value) points, with marks (time, label, series) on the time axis."""
    chart = Chart(title, y_unit, x_unit)
    left, _, right, bottom = chart.plot
    times = [t for t, _ in points] + [t for t, _, _ in marks]
    if not times:
        _y_scale(chart, 0)
        return chart
    first, last = min(times).timestamp(), max(times).timestamp()
    # At least a minute wide, centred: points seconds apart stay apart and off the axes.
    span = max(last - first, MIN_SPAN_SECONDS)
    first -= (span - (last - first)) / 2
    scale = _y_scale(chart, float(max((v for _, v in points), default=Decimal(0))))

    def x_of(at: datetime) -> float:
        return left + (right - left) * (at.timestamp() - first) / span

    chart.dots = [Mark(x_of(t), bottom - float(v) * scale, "#1565c0",
                       f"{t:%Y-%m-%d %H:%M:%S} {v.normalize():f}") for t, v in sorted(points)]
    chart.line = " ".join(f"{d.x:.1f},{d.y:.1f}" for d in chart.dots)
    chart.marks = [Mark(x_of(t), float(bottom), PALETTE.get(series, "#c62828"),
                        f"{t:%Y-%m-%d %H:%M:%S} {label}") for t, label, series in marks]
    for i in range(5):
        at = datetime.fromtimestamp(first + span * i / 4, tz=min(times).tzinfo)
        anchor = {0: "start", 4: "end"}.get(i, "middle")
        chart.x_ticks.append(Tick(left + (right - left) * i / 4, f"{at:%m-%d %H:%M:%S}", anchor))
    return chart


def lines(title: str, series: Mapping[str, Sequence[tuple[datetime, float]]], start: datetime,
          end: datetime, *, y_unit: str, x_unit: str, y_format: str = "{:g}") -> Chart:
    """One line per series over the fixed window [start, end]."""
    chart = Chart(title, y_unit, x_unit)
    left, _, right, bottom = chart.plot
    scale = _y_scale(chart, max((v for pts in series.values() for _, v in pts), default=0.0),
                     y_format)
    span = max((end - start).total_seconds(), 1.0)

    def x_of(at: datetime) -> float:
        return left + (right - left) * (at - start).total_seconds() / span

    for name, points in series.items():
        if points:
            color = PALETTE.get(name, "#555")
            chart.polylines.append((color, " ".join(f"{x_of(t):.1f},{bottom - v * scale:.1f}"
                                                    for t, v in points), name))
    chart.legend = [(PALETTE.get(name, "#555"), name) for name in series]
    for i in range(5):
        at = start + (end - start) * i / 4
        anchor = {0: "start", 4: "end"}.get(i, "middle")
        chart.x_ticks.append(Tick(left + (right - left) * i / 4, f"{at:%H:%M}", anchor))
    return chart
