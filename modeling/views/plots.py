"""Small server-rendered SVG plots for the intensity pages: an interval bar per item, a histogram of intensities and
line charts over the fit history. No JavaScript and no chart library: each function returns markup safe to embed,
with a <title> and an aria-label saying in words what the plot shows. Only numbers computed here and escaped text
reach the markup."""

from collections.abc import Sequence
from datetime import datetime

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

LIMIT = 10.0  # intensities live in [−10, 10]
_INK = "var(--ink, #1d2429)"
_MUTED = "var(--muted, #66707a)"
_ACCENT = "var(--accent, #2357c6)"
_LINE = "var(--line, #dde2e6)"


def _x(intensity: float, width: float, margin: float = 0.0) -> float:
    """Position of an intensity on a [−10, 10] axis `width` wide (plus a left margin)."""
    clipped = max(-LIMIT, min(LIMIT, intensity))
    return round(margin + (clipped + LIMIT) / (2 * LIMIT) * width, 2)


def interval_bar(
    intensity: float | None, ci_low: float | None, ci_high: float | None, *, width: int = 140
) -> SafeString:
    """A one-line plot of an item's intensity (dot) and 95 % interval (bar) on the [−10, 10] axis, 0 marked."""
    if intensity is None or ci_low is None or ci_high is None:
        return mark_safe('<span class="muted">—</span>')
    height, mid = 14, 7
    label = f"intensity {intensity:.1f}, 95 % interval {ci_low:.1f} to {ci_high:.1f}"
    return format_html(
        '<svg class="interval-bar" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{label}">'
        "<title>{label}</title>"
        '<line x1="{zero}" y1="1" x2="{zero}" y2="{h1}" style="stroke:{line}" stroke-width="1"/>'
        '<line x1="{lo}" y1="{mid}" x2="{hi}" y2="{mid}" style="stroke:{accent}" stroke-width="3" '
        'stroke-linecap="round" opacity=".45"/>'
        '<circle cx="{point}" cy="{mid}" r="3.5" style="fill:{accent}"/>'
        "</svg>",
        w=width, h=height, h1=height - 1, mid=mid, label=label, line=_LINE, accent=_ACCENT,
        zero=_x(0.0, width), lo=_x(ci_low, width), hi=_x(ci_high, width), point=_x(intensity, width),
    )


def histogram(counts: Sequence[int], edges: Sequence[float], *, width: int = 420, height: int = 160) -> SafeString:
    """Bars of how many items fall in each intensity bin over [−10, 10], with the axis labelled at −10, 0 and 10."""
    total = sum(counts)
    if total == 0:
        return mark_safe('<p class="muted">No published intensities yet.</p>')
    left, bottom, top = 28, 22, 8
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max(counts)
    bars = []
    for count, low, high in zip(counts, edges[:-1], edges[1:], strict=True):
        if not count:
            continue
        bar_h = count / peak * plot_h
        x0, x1 = _x(low, plot_w, left), _x(high, plot_w, left)
        bars.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" style="fill:{}" opacity=".8"><title>{}</title></rect>',
                x0 + 0.5, round(top + plot_h - bar_h, 2), max(0.5, round(x1 - x0 - 1, 2)), round(bar_h, 2), _ACCENT,
                f"{count} items between {low:.0f} and {high:.0f}",
            )
        )
    ticks = "".join(
        format_html(
            '<text x="{}" y="{}" text-anchor="middle" font-size="11" style="fill:{}">{}</text>',
            _x(tick, plot_w, left), height - 6, _MUTED, f"{tick:g}",
        )
        for tick in (-10, -5, 0, 5, 10)
    )
    label = f"Histogram of {total} published intensities from −10 to 10; the fullest bin holds {peak} items."
    return format_html(
        '<svg class="plot" width="100%" viewBox="0 0 {w} {h}" role="img" aria-label="{label}" '
        'preserveAspectRatio="xMidYMid meet" style="max-width:{w}px">'
        "<title>{label}</title>"
        '<line x1="{left}" y1="{base}" x2="{right}" y2="{base}" style="stroke:{line}"/>'
        '<text x="4" y="{top_text}" font-size="11" style="fill:{muted}">{peak}</text>'
        "{bars}{ticks}</svg>",
        w=width, h=height, label=label, left=left, right=left + plot_w, base=top + plot_h, line=_LINE,
        muted=_MUTED, top_text=top + 9, peak=peak, bars=mark_safe("".join(bars)), ticks=mark_safe(ticks),
    )


def line_chart(
    points: Sequence[tuple[datetime | None, float | None]], *, title: str, unit: str = "", width: int = 420,
    height: int = 140,
) -> SafeString:
    """A line over time (e.g. median interval width per fit), first and last values labelled; points without a time
    or a value are left out."""
    drawn = [(when, value) for when, value in points if when is not None and value is not None]
    if len(drawn) < 2:
        return format_html('<p class="muted">{}: too few fits to draw yet.</p>', title)
    left, right, top, bottom = 36, 10, 10, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    t0, t1 = drawn[0][0].timestamp(), drawn[-1][0].timestamp()
    values = [value for _, value in drawn]
    low, high = min(values), max(values)
    span_t, span_v = (t1 - t0) or 1.0, (high - low) or 1.0
    coords = [
        (round(left + (when.timestamp() - t0) / span_t * plot_w, 2), round(top + (high - value) / span_v * plot_h, 2))
        for when, value in drawn
    ]
    polyline = " ".join(f"{x},{y}" for x, y in coords)
    first, last = values[0], values[-1]
    label = f"{title}: from {first:.4g}{unit} to {last:.4g}{unit} over {len(drawn)} fits."
    return format_html(
        '<svg class="plot" width="100%" viewBox="0 0 {w} {h}" role="img" aria-label="{label}" '
        'preserveAspectRatio="xMidYMid meet" style="max-width:{w}px">'
        "<title>{label}</title>"
        '<line x1="{left}" y1="{base}" x2="{right_x}" y2="{base}" style="stroke:{line}"/>'
        '<text x="2" y="{top_text}" font-size="11" style="fill:{muted}">{high}</text>'
        '<text x="2" y="{base}" font-size="11" style="fill:{muted}">{low}</text>'
        '<text x="{left}" y="{h_text}" font-size="11" style="fill:{muted}">{start}</text>'
        '<text x="{right_x}" y="{h_text}" font-size="11" text-anchor="end" style="fill:{muted}">{end}</text>'
        '<polyline points="{polyline}" fill="none" style="stroke:{accent}" stroke-width="2"/>'
        '<circle cx="{last_x}" cy="{last_y}" r="3" style="fill:{accent}"/>'
        "</svg>",
        w=width, h=height, label=label, left=left, right_x=left + plot_w, base=top + plot_h, line=_LINE,
        muted=_MUTED, accent=_ACCENT, top_text=top + 9, high=f"{high:.3g}", low=f"{low:.3g}", h_text=height - 6,
        start=drawn[0][0].strftime("%m-%d %H:%M"), end=drawn[-1][0].strftime("%m-%d %H:%M"), polyline=polyline,
        last_x=coords[-1][0], last_y=coords[-1][1],
    )


def excerpt(text: str, length: int = 160) -> str:
    """The start of a text, cut at a word boundary, for tables."""
    text = " ".join(text.split())
    if len(text) <= length:
        return text
    cut = text.rfind(" ", 0, length)
    return text[: cut if cut > 0 else length] + "…"
