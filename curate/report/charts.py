"""Bar charts as inline SVG: no plotting library, crisp at any zoom, embeddable as text.

One chart = categories (classes) on the x axis; for each category one bar per
group (e.g. "v1" and "v2"), each bar a stack of segments (e.g. original /
augmented / synthetic).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Segment:
    label: str
    color: str
    values: list[int]  # one per category


@dataclass(frozen=True)
class Group:
    name: str
    segments: list[Segment]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        top = step * magnitude
        if top >= value:
            return float(top)
    return float(value)


def bar_chart(title: str, categories: list[str], groups: list[Group], *, height: int = 260) -> str:
    """An SVG document (as text) of grouped, stacked bars with a legend and value labels."""
    n_groups = len(groups)
    bar_w = 16 if len(categories) <= 12 else 10
    inner_gap = 2
    cat_w = n_groups * bar_w + (n_groups - 1) * inner_gap + 14
    left, right, top, bottom = 44, 12, 34, 44
    width = left + right + max(1, len(categories)) * cat_w
    plot_h = height - top - bottom
    totals = [
        sum(seg.values[i] for seg in g.segments) for g in groups for i in range(len(categories))
    ]
    ymax = _nice_max(max(totals, default=0))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for k in range(5):
        v = ymax * k / 4
        y = top + plot_h - plot_h * k / 4
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            f'stroke="#e2e8f0" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#4a5568">{v:g}</text>'
        )
    for ci, cat in enumerate(categories):
        x0 = left + ci * cat_w + 7
        for gi, g in enumerate(groups):
            x = x0 + gi * (bar_w + inner_gap)
            y = top + plot_h
            total = 0
            for seg in g.segments:
                v = seg.values[ci]
                if v <= 0:
                    continue
                h = plot_h * v / ymax
                y -= h
                total += v
                out.append(
                    f'<rect x="{x}" y="{y:.1f}" width="{bar_w}" height="{h:.1f}" '
                    f'fill="{seg.color}"><title>{escape(g.name)} / {escape(cat)} / '
                    f"{escape(seg.label)}: {v}</title></rect>"
                )
            out.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                f'font-size="9" fill="#2d3748">{total}</text>'
            )
        out.append(
            f'<text x="{x0 + (cat_w - 14) / 2:.1f}" y="{top + plot_h + 14}" '
            f'text-anchor="middle">{escape(cat)}</text>'
        )
    # legend: one entry per distinct (group, segment) label
    lx = left
    ly = height - 12
    seen: set[tuple[str, str]] = set()
    for g in groups:
        for seg in g.segments:
            label = f"{g.name} {seg.label}".strip() if len(g.segments) > 1 else g.name
            if (label, seg.color) in seen:
                continue
            seen.add((label, seg.color))
            out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{seg.color}"/>')
            out.append(f'<text x="{lx + 14}" y="{ly}">{escape(label)}</text>')
            lx += 24 + 7 * len(label)
    out.append("</svg>")
    return "\n".join(out)
