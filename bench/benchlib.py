"""What the benchmarks share: percentiles and the child processes they measure.

Each bench runs the system under test in its own processes (`liveguard emulate`, `liveguard
serve`, an echo relay), which print one JSON line when ready; these helpers start them, read that
line, and stop them (bounded) whatever happens.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import signal
import subprocess
from collections.abc import Iterator

from liveguard import eventloop


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


@contextlib.contextmanager
def no_gc_pauses() -> Iterator[None]:
    """A load generator must not stall itself: a full collection over hundreds of connections
    pauses every sender for tens of ms, and the system under test would be blamed for the bunched
    frames. Freeze what exists and collect nothing inside (a bounded step), whatever happens."""
    eventloop.freeze_startup_heap()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def start_ready(cmd: list[str], env: dict | None = None) -> tuple[subprocess.Popen, dict]:
    """Start `cmd` and return it with the JSON line it prints when ready."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        proc.kill()
        raise SystemExit(f"{cmd[2:4]} did not start")
    return proc, json.loads(line)


def stop(proc: subprocess.Popen, timeout: float = 40.0) -> None:
    """SIGTERM (a graceful shutdown), then kill if it takes longer than `timeout`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def line_chart_svg(
    title: str,
    x_label: str,
    y_label: str,
    series: dict[str, list[tuple[float, float]]],
    *,
    limit: tuple[float, str] | None = None,
    log_y: bool = False,
    width: int = 520,
    height: int = 300,
) -> str:
    """One small SVG line chart (no dependencies): `series` name -> [(x, y)], an optional
    horizontal limit line (value, label), a linear or logarithmic y axis. For a bench's figures
    at a glance; NaN points are left out."""
    colours = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
    left, right, top, bottom = 56, 16, 30, 44
    pts = [p for s in series.values() for p in s if p[1] == p[1] and (p[1] > 0 or not log_y)]
    xs = [p[0] for p in pts] or [1.0]
    ys = [p[1] for p in pts] + ([limit[0]] if limit else [])
    x1 = max(xs) * 1.05
    if log_y:
        lo = 10 ** math.floor(math.log10(min(ys or [1.0])))
        hi = 10 ** math.ceil(math.log10(max(ys or [10.0])))
        hi = max(hi, lo * 10)
        ticks = [lo * 10**k for k in range(round(math.log10(hi / lo)) + 1)]

        def fy(y: float) -> float:
            return (math.log10(max(y, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    else:
        top_y = max([*ys, 1e-9])
        raw = top_y / 4
        step = 10 ** math.floor(math.log10(raw))
        step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)  # a round tick step
        ticks = [step * k for k in range(math.ceil(top_y / step) + 1)]
        hi = ticks[-1] * 1.05

        def fy(y: float) -> float:
            return y / hi

    def sx(x: float) -> float:
        return left + x / x1 * (width - left - right)

    def sy(y: float) -> float:
        return height - bottom - fy(y) * (height - top - bottom)

    base = height - bottom
    mid = (top + base) / 2
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="11">',
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{title}</text>',
        f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#333"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#333"/>',
        f'<text x="{(left + width - right) / 2}" y="{height - 8}" text-anchor="middle">'
        f"{x_label}</text>",
        f'<text x="14" y="{mid}" text-anchor="middle" transform="rotate(-90 14 {mid})">'
        f"{y_label}</text>",
    ]
    for y in ticks:
        out.append(
            f'<text x="{left - 4}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:g}</text>'
            f'<line x1="{left}" y1="{sy(y):.1f}" x2="{width - right}" y2="{sy(y):.1f}" '
            'stroke="#ddd"/>'
        )
    for x in sorted({p[0] for p in pts}):
        out.append(f'<text x="{sx(x):.1f}" y="{base + 14}" text-anchor="middle">{x:g}</text>')
    if limit is not None:
        out.append(
            f'<line x1="{left}" y1="{sy(limit[0]):.1f}" x2="{width - right}" '
            f'y2="{sy(limit[0]):.1f}" stroke="#888" stroke-dasharray="4 3"/>'
            f'<text x="{width - right}" y="{sy(limit[0]) - 4:.1f}" text-anchor="end" '
            f'fill="#555">{limit[1]}</text>'
        )
    for i, (name, s) in enumerate(series.items()):
        colour = colours[i % len(colours)]
        good = [(x, y) for x, y in s if y == y and (y > 0 or not log_y)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in good)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out += [
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}"/>' for x, y in good
        ]
        out.append(f'<text x="{left + 8}" y="{top + 14 + 14 * i}" fill="{colour}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out)
