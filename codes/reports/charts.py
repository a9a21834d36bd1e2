"""Where the bars and lines of a report's charts go. The SVG itself is written
by templates/reports/_bar_chart.html and _line_chart.html; this computes the
geometry so the templates only place what is given (and tests can read it)."""

from dataclasses import dataclass, field
from math import ceil, floor, log10

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 44, 14, 22, 34
MAX_AXIS_LABELS = 10
SERIES_CLASSES = 6


def nice_scale(largest, ticks=4):
    """The top of the value axis and its step: round numbers (1, 2 or 5 times a
    power of ten, at least 1 since counts are whole) with the largest value
    under the top."""
    if largest <= 0:
        return ticks, 1
    raw = largest / ticks
    magnitude = 10 ** floor(log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(1, int(step))
    return step * ceil(largest / step), step


@dataclass
class Tick:
    value: int
    y: float


@dataclass
class Frame:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    baseline: int = HEIGHT - BOTTOM
    ticks: list[Tick] = field(default_factory=list)
    top_value: int = 0

    @property
    def plot_height(self):
        return self.baseline - self.top

    def y(self, value):
        return round(self.baseline - value * self.plot_height / self.top_value, 1)

    @property
    def label_y(self):
        return self.baseline + 18


def _frame(largest):
    top_value, step = nice_scale(largest)
    frame = Frame(top_value=top_value)
    frame.ticks = [Tick(v, frame.y(v)) for v in range(0, top_value + 1, step)]
    return frame


def _labelled(count):
    """Which of `count` slots carry an axis label: at most MAX_AXIS_LABELS,
    evenly spaced and always the last (today's)."""
    every = max(1, ceil(count / MAX_AXIS_LABELS))
    return {i for i in range(count) if (count - 1 - i) % every == 0}


@dataclass
class Bar:
    bucket: object
    x: float
    width: float
    center: float
    new_y: float
    new_height: float
    existing_y: float
    existing_height: float
    show_label: bool
    value_y: float


@dataclass
class BarChart:
    frame: Frame
    bars: list[Bar]
    show_values: bool


def bar_chart(buckets):
    """Stacked bars, one per bucket: new members at the bottom, people who were
    already members above them; the bar's full height is the redemptions."""
    frame = _frame(max((b.total for b in buckets), default=0))
    slot = (frame.right - frame.left) / max(len(buckets), 1)
    width = min(slot * 0.72, 42)
    labelled = _labelled(len(buckets))
    bars = []
    for i, bucket in enumerate(buckets):
        x = frame.left + slot * i + (slot - width) / 2
        new_top = frame.y(bucket.new)
        total_top = frame.y(bucket.total)
        bars.append(
            Bar(
                bucket=bucket,
                x=round(x, 1),
                width=round(width, 1),
                center=round(x + width / 2, 1),
                new_y=new_top,
                new_height=round(frame.baseline - new_top, 1),
                existing_y=total_top,
                existing_height=round(new_top - total_top, 1),
                show_label=i in labelled,
                value_y=round(total_top - 5, 1),
            )
        )
    return BarChart(frame, bars, show_values=len(buckets) <= 16)


@dataclass
class Point:
    x: float
    y: float
    value: int
    label: str


@dataclass
class Line:
    name: str
    css_class: str
    points: list[Point]
    # The earlier line this one has the very same figures as, and how many lines
    # before it do: drawn dashed and a little aside, so that both show.
    coincides_with: str = ""
    coincides_rank: int = 0

    @property
    def classes(self):
        if not self.coincides_with:
            return self.css_class
        return f"{self.css_class} coincides coincides-{min(self.coincides_rank, MAX_OFFSET)}"

    @property
    def path(self):
        return " ".join(f"{p.x},{p.y}" for p in self.points)


@dataclass
class LineChart:
    frame: Frame
    lines: list[Line]
    axis: list[tuple[float, str]]


MAX_OFFSET = 5


def line_chart(buckets, series):
    """One line per (name, values) over the same buckets, for comparisons."""
    frame = _frame(max((v for _, values in series for v in values), default=0))
    slot = (frame.right - frame.left) / max(len(buckets), 1)
    xs = [round(frame.left + slot * i + slot / 2, 1) for i in range(len(buckets))]
    lines = [
        Line(
            name,
            f"series-{n % SERIES_CLASSES}",
            [Point(x, frame.y(v), v, b.label) for x, v, b in zip(xs, values, buckets, strict=True)],
        )
        for n, (name, values) in enumerate(series)
    ]
    # Lines with the same figures would hide each other: each after the first of
    # its kind names the first and is drawn dashed and offset (app.css).
    first_of: dict[tuple[int, ...], Line] = {}
    seen: dict[tuple[int, ...], int] = {}
    for line, (_, values) in zip(lines, series, strict=True):
        figures = tuple(values)
        if figures in first_of:
            seen[figures] += 1
            line.coincides_with, line.coincides_rank = first_of[figures].name, seen[figures]
        else:
            first_of[figures], seen[figures] = line, 0
    labelled = _labelled(len(buckets))
    axis = [(x, b.short) for i, (x, b) in enumerate(zip(xs, buckets, strict=True)) if i in labelled]
    return LineChart(frame, lines, axis)
