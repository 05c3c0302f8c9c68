"""Statistics as one self-contained HTML page with inline SVG bar charts.

No scripts, no external fonts or stylesheets: the file can be mailed to a board or attached
to a report and opens anywhere. Every piece of text is escaped (category names come from
configuration, organisation names from people).
"""

from __future__ import annotations

from html import escape
from typing import Any

from stopit_mail.cases.durations import format_duration

BAR_HEIGHT = 22
BAR_GAP = 8
LABEL_WIDTH = 230
BAR_WIDTH = 360
VALUE_WIDTH = 110
COLOURS = {"emergency": "#b3261e", "urgent": "#e8a317", "routine": "#3b6ea5"}
DEFAULT_COLOUR = "#3b6ea5"


def bar_chart(title: str, rows: list[dict[str, Any]]) -> str:
    """A horizontal bar chart of `rows` ({name, cases, share}); a full-width bar is 100 %.

    Bars are drawn to an absolute scale, not stretched to the largest share, so two charts (or
    two years) can be compared by eye.
    """
    height = max(1, len(rows)) * (BAR_HEIGHT + BAR_GAP) + 40
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="18" font-weight="bold">{escape(title)}</text>',
    ]
    if not rows:
        parts.append('<text x="0" y="44">No cases in this period.</text>')
    for index, row in enumerate(rows):
        y = 30 + index * (BAR_HEIGHT + BAR_GAP)
        length = BAR_WIDTH * min(1.0, max(0.0, row["share"]))
        colour = COLOURS.get(row["name"], DEFAULT_COLOUR)
        parts += [
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 16}" text-anchor="end">{escape(str(row["name"]))}</text>',
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" fill="{colour}"/>',
            f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{y + 16}">'
            f'{row["share"] * 100:.0f}% ({int(row["cases"])})</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts)


def _monthly_shares(rows: list[dict[str, Any]], last: int = 24) -> list[dict[str, Any]]:
    total = sum(row["cases"] for row in rows[-last:]) or 1
    return [{"name": row["month"], "cases": row["cases"], "share": row["cases"] / total} for row in rows[-last:]]


def render_html(stats: dict[str, Any], heading: str = "stopit statistics") -> str:
    """The whole page: headline figures, then category and urgency charts."""
    period = f"since {stats['since'][:10]}" if stats.get("since") else "all time"
    scope = f"organisation {stats['organisation']}" if stats.get("organisation") else "all visible organisations"
    stop = stats["stop_rate"]
    rate = "n/a" if stop["rate"] is None else f"{stop['rate'] * 100:.0f}%"
    figures = [
        ("Cases", str(stats["cases"])),
        ("Reports", str(stats["reports"])),
        ("Median time to first staff action", format_duration(stats["first_staff_action"]["median_seconds"])),
        ("Median time to acknowledge an emergency",
         format_duration(stats["emergency_acknowledgement"]["median_seconds"])),
        ("Notices sent", str(stats["notices_sent"])),
        (f"Stop rate ({stop['window_days']} days)",
         f"{rate} of {stop['stopped'] + stop['reported_again']} senders; {stop['pending']} pending"),
    ]
    rows = "\n".join(f"<tr><th>{escape(name)}</th><td>{escape(value)}</td></tr>" for name, value in figures)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(heading)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
svg {{ display: block; margin: 1.5em 0; font-size: 14px; }}
th {{ text-align: left; padding-right: 2em; font-weight: normal; color: #555; }}
</style>
</head>
<body>
<h1>{escape(heading)}</h1>
<p>{escape(scope)}, {escape(period)} (until {escape(stats['until'][:10])}).</p>
<table>
{rows}
</table>
{bar_chart("Cases by category", stats["categories"])}
{bar_chart("Cases by urgency", stats["urgency"])}
{bar_chart("Time to first staff action", stats["first_staff_action"]["distribution"])}
{bar_chart("Outcome of closed cases", stats["outcomes"]) if stats["outcomes"] else ""}
{bar_chart("Cases per month (share of the period)", _monthly_shares(stats["by_month"]))}
</body>
</html>
"""
