"""Inline SVG charts for the training report: bars, lines and histograms, no scripts, no external files."""

import html
import json
from collections.abc import Sequence
from typing import Any, Final


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool | int | str):
        return str(value)
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if abs(value) < 1e4 else f"{value:,.0f}"
    return json.dumps(value, ensure_ascii=False)


def escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


_PALETTE: Final = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_TITLE_HEIGHT: Final = 26


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    highlight: str | None = None,
    marker: tuple[str, float] | None = None,
    x_max: float | None = None,
) -> str:
    """Horizontal bars, one group per category, one bar per series; an optional vertical marker line."""
    left, plot_width, row = 190, 330, 12 * len(series) + 10
    top = _TITLE_HEIGHT + (16 if len(series) > 1 else 0)
    values = [v for _, vs in series for v in vs if v is not None]
    scale_max = x_max or max([1e-9, *values, *([marker[1]] if marker else [])])
    body = [_legend([name for name, _ in series], left, _TITLE_HEIGHT + 4)] if len(series) > 1 else []
    for i, category in enumerate(categories):
        y = top + i * row
        weight = ' font-weight="bold"' if category == highlight else ""
        body.append(_text(left - 6, y + row / 2 + 4, category, anchor="end", extra=weight))
        for j, (_, vs) in enumerate(series):
            value = vs[i] if i < len(vs) else None
            width = 0.0 if value is None else max(0.0, value) / scale_max * plot_width
            body.append(_rect(left, y + 5 + 12 * j, width, 10, _colour(j)))
            body.append(_text(left + width + 4, y + 14 + 12 * j, fmt(value), size=10))
    bottom = top + row * len(categories)
    body.append(_line(left, top, left, bottom))
    if marker is not None:
        x = left + marker[1] / scale_max * plot_width
        body.append(_line(x, top - 4, x, bottom, dashed=True))
        body.append(_text(x, bottom + 14, f"{marker[0]} {fmt(marker[1])}", anchor="middle"))
    return _svg(title, left + plot_width + 60, bottom + 24, body)


def line_chart(
    title: str,
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    *,
    x_label: str,
    y_label: str,
    diagonal: bool = False,
    limit: float = 1.0,
) -> str:
    """Lines on square axes from 0 to `limit`, one colour per series, legend underneath."""
    left, top, size = 56, _TITLE_HEIGHT + 4, 280

    def point(x: float, y: float) -> str:
        return f"{left + min(x, limit) / limit * size:.1f},{top + size - min(y, limit) / limit * size:.1f}"

    body = [_rect(left, top, size, size, "none", extra=' stroke="#444"')]
    for k in range(5):
        tick, offset = limit * k / 4, size * k / 4
        body.append(_text(left + offset, top + size + 14, fmt(tick, 2), anchor="middle", size=10))
        body.append(_text(left - 4, top + size - offset + 3, fmt(tick, 2), anchor="end", size=10))
    if diagonal:
        body.append(_line(left, top + size, left + size, top, dashed=True))
    for j, (_, xs, ys) in enumerate(series):
        path = " ".join(point(x, y) for x, y in zip(xs, ys, strict=True))
        if path:
            body.append(f'<polyline points="{path}" fill="none" stroke="{_colour(j)}" stroke-width="1.5"/>')
    middle = top + size / 2
    body.append(_text(left + size / 2, top + size + 30, x_label, anchor="middle"))
    body.append(_text(12, middle, y_label, anchor="middle", extra=f' transform="rotate(-90 12 {middle})"'))
    body.append(_legend([name for name, _, _ in series], left, top + size + 44, columns=2))
    return _svg(title, left + size + 24, top + size + 56 + 14 * ((len(series) + 1) // 2), body)


def histogram(title: str, edges: Sequence[int], groups: Sequence[tuple[str, Sequence[float]]]) -> str:
    """Vertical bars per band (edges[i] to edges[i + 1]), one bar per group side by side."""
    left, top, width, height = 50, _TITLE_HEIGHT + 20, 500, 200
    bins = len(edges) - 1
    peak = max([1e-9, *(v for _, vs in groups for v in vs)])
    slot = width / max(bins, 1)
    bar = slot / max(len(groups), 1) - 1
    body = [_legend([name for name, _ in groups], left, _TITLE_HEIGHT + 4)]
    for j, (_, values) in enumerate(groups):
        for i, value in enumerate(values):
            h = value / peak * height
            body.append(_rect(left + i * slot + j * (bar + 1), top + height - h, bar, h, _colour(j)))
    for i in range(0, bins + 1, 4):
        body.append(_text(left + i * slot, top + height + 14, str(edges[i]), anchor="middle", size=10))
    body.append(_line(left, top + height, left + width, top + height))
    body.append(_text(left + width / 2, top + height + 30, "score", anchor="middle"))
    return _svg(title, left + width + 20, top + height + 40, body)


def _legend(names: Sequence[str], x: float, y: float, *, columns: int = 4) -> str:
    items = []
    for j, name in enumerate(names):
        cx, cy = x + (j % columns) * 150, y + (j // columns) * 14
        items.append(_rect(cx, cy, 10, 10, _colour(j)) + _text(cx + 14, cy + 9, name, size=11))
    return "".join(items)


def _svg(title: str, width: float, height: float, body: Sequence[str]) -> str:
    heading = _text(8, 18, title, extra=' font-weight="bold"')
    return (
        f'<svg viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{heading}{"".join(body)}</svg>'
    )


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 12, extra: str = "") -> str:
    position = f'x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"'
    return f"<text {position}{extra}>{escape(text)}</text>"


def _rect(x: float, y: float, width: float, height: float, fill: str, *, extra: str = "") -> str:
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{fill}"{extra}/>'


def _line(x1: float, y1: float, x2: float, y2: float, *, dashed: bool = False) -> str:
    style = ' stroke="#888" stroke-dasharray="4 3"' if dashed else ' stroke="#444"'
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"{style}/>'


def _colour(index: int) -> str:
    return _PALETTE[index % len(_PALETTE)]
