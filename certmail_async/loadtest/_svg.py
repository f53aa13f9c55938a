"""A small SVG writer: latency against offered load, from a run's time series."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from ._result import TimePoint

__all__ = ["latency_chart"]

_W, _H = 720, 420
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 150, 40, 50
_SERIES = (
    ("total p50", "total_p50_ms", "#1f77b4"),
    ("total p99", "total_p99_ms", "#d62728"),
    ("gate wait p99", "gate_p99_ms", "#ff7f0e"),
    ("server p99", "server_p99_ms", "#2ca02c"),
)


def _nice_step(span: float) -> float:
    raw = span / 6 if span > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def latency_chart(
    series: Sequence[TimePoint], path: str | Path | None = None, *, title: str = ""
) -> str:
    """An SVG chart of latency (log scale, ms) against offered load (requests/s).

    Each second of the run is one point per line (total p50 and p99, gate wait p99, server
    p99), ordered by the load offered in that second. Returns the SVG text and writes it
    to ``path`` when given.

    Examples:
        >>> from certmail_async.loadtest import TimePoint
        >>> base = dict(target_rate=0, started=0, completed=0, ok=0, errors=0,
        ...             rate_limited=0, gate_refused=0, server_5xx=0, timeouts=0,
        ...             unknown_send=0, in_flight=0, gate_p99_ms=None,
        ...             server_p99_ms=None, start_lag_p99_ms=None, fake_cpu=None,
        ...             generator_cpu=None)
        >>> points = [TimePoint(t=i, offered=10 * i, total_p50_ms=i,
        ...                     total_p99_ms=3 * i, **base) for i in range(1, 6)]
        >>> svg = latency_chart(points, title="ramp")
        >>> svg.startswith("<svg") and "total p99" in svg
        True
    """
    points = sorted(
        (p for p in series if p.total_p50_ms is not None and p.offered > 0),
        key=lambda p: p.offered,
    )
    values = [
        v for p in points for _, attr, _ in _SERIES if (v := getattr(p, attr)) is not None and v > 0
    ]
    lo = 10 ** math.floor(math.log10(min(values))) if values else 0.1
    hi = 10 ** math.ceil(math.log10(max(values))) if values else 10.0
    if hi <= lo:
        hi = lo * 10
    x_max = max((p.offered for p in points), default=1)
    step = _nice_step(x_max)
    x_top = math.ceil(x_max / step) * step or step
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def sx(x: float) -> float:
        return _LEFT + plot_w * x / x_top

    def sy(ms: float) -> float:
        frac = (math.log10(ms) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        return _TOP + plot_h * (1 - frac)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" font-family="sans-serif" font-size="12">',
        f'<rect width="{_W}" height="{_H}" fill="white"/>',
        f'<text x="{_W / 2 - _RIGHT / 2:.0f}" y="22" text-anchor="middle" font-size="14">'
        f"{escape(title or 'Latency vs offered load')}</text>",
    ]
    decade = lo
    while decade <= hi * 1.0001:
        y = sy(decade)
        out.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + plot_w}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        label = f"{decade:g}"
        out.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
        decade *= 10
    x = 0.0
    while x <= x_top + 1e-9:
        px = sx(x)
        out.append(
            f'<line x1="{px:.1f}" y1="{_TOP}" x2="{px:.1f}" y2="{_TOP + plot_h}" stroke="#eee"/>'
        )
        out.append(f'<text x="{px:.1f}" y="{_TOP + plot_h + 18}" text-anchor="middle">{x:g}</text>')
        x += step
    out.append(
        f'<rect x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#333"/>'
    )
    out.append(
        f'<text x="{_LEFT + plot_w / 2:.0f}" y="{_H - 10}" text-anchor="middle">'
        "offered load (requests/s, per second of the run)</text>"
    )
    out.append(
        f'<text x="16" y="{_TOP + plot_h / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {_TOP + plot_h / 2:.0f})">latency (ms, log scale)</text>'
    )
    for index, (name, attr, colour) in enumerate(_SERIES):
        coords = [
            (sx(p.offered), sy(v)) for p in points if (v := getattr(p, attr)) is not None and v > 0
        ]
        if not coords:
            continue
        line = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
        out.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        out.extend(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2" fill="{colour}"/>' for cx, cy in coords
        )
        ly = _TOP + 10 + 20 * index
        lx = _LEFT + plot_w + 12
        out.append(
            f'<line x1="{lx}" y1="{ly}" x2="{lx + 20}" y2="{ly}" stroke="{colour}" '
            'stroke-width="2"/>'
        )
        out.append(f'<text x="{lx + 26}" y="{ly + 4}">{escape(name)}</text>')
    out.append("</svg>")
    svg = "\n".join(out) + "\n"
    if path is not None:
        Path(path).write_text(svg, encoding="utf-8")
    return svg
