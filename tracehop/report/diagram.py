"""The chain of a traceback drawn as inline SVG: providers as boxes, hops as arrows.

The call travels left to right, from whoever placed it (a customer, or a foreign carrier) through
each provider to the terminating one; the traceback walked it right to left, so each arrow
carries what the provider at its head answered about it: the status, the offset of the matched
leg from the time it was asked about (clock skew shows here), and the confidence. A provider that
gave no answer, or had no record, is drawn in the colour of that outcome with no arrow into it.

Plain SVG with presentation attributes and no scripts or external references, so the report works
offline and prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

BOX_W, BOX_H, GAP, PAD, TOP = 178, 58, 92, 8, 30

COLOURS = {
    "upstream": "#2563eb",
    "originating": "#15803d",
    "point_of_entry": "#b45309",
    "not_found": "#b91c1c",
    "no_response": "#6b7280",
    "unreachable": "#6b7280",
    "ambiguous": "#7c3aed",
    "unmapped": "#7c3aed",
    "loop": "#b91c1c",
    "max_hops": "#b91c1c",
}


@dataclass(frozen=True)
class Node:
    label: str
    sub: str  # second line: role, format, zone...
    kind: str  # origin | unknown | provider | missing | silent


@dataclass(frozen=True)
class Edge:
    status: str
    offset: str  # e.g. "+38.2 s"
    confidence: str  # e.g. "0.97"


def _text(x: float, y: float, s: str, *, size: float = 12, weight: str = "normal",
          fill: str = "#111827", anchor: str = "middle") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" '
            f'fill="{fill}" text-anchor="{anchor}">{escape(s)}</text>')


def _fit(s: str, n: int = 22) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def chain_svg(nodes: list[Node], edges: list[Edge], *, title: str = "",
              slots: int | None = None) -> str:
    """``nodes`` in call order (origin first); ``edges[i]`` joins ``nodes[i]`` to ``nodes[i+1]``
    (``len(edges) == len(nodes) - 1``). With ``slots`` (>= len(nodes)), diagrams of different
    lengths share one width and are right-aligned, so the terminating provider lines up."""
    if len(edges) != len(nodes) - 1:
        raise ValueError("a chain diagram needs one edge between each pair of nodes")
    slots = max(slots or len(nodes), len(nodes))
    shift = (slots - len(nodes)) * (BOX_W + GAP)
    width = PAD * 2 + slots * BOX_W + (slots - 1) * GAP
    height = TOP + BOX_H + 26
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title or "traceback chain")}" '
             'font-family="system-ui, -apple-system, Segoe UI, sans-serif">',
             '<defs><marker id="ah" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
             'fill="context-stroke"/></marker></defs>']
    y = TOP
    for i, n in enumerate(nodes):
        x = shift + PAD + i * (BOX_W + GAP)
        if n.kind == "origin":
            stroke, fill, dash = "#15803d", "#f0fdf4", ' stroke-dasharray="5 3"'
        elif n.kind == "unknown":
            stroke, fill, dash = "#9ca3af", "#ffffff", ' stroke-dasharray="5 3"'
        elif n.kind == "silent":
            stroke, fill, dash = "#6b7280", "#f3f4f6", ' stroke-dasharray="2 3"'
        elif n.kind == "missing":
            stroke, fill, dash = "#b91c1c", "#fef2f2", ""
        else:
            stroke, fill, dash = "#1f2937", "#ffffff", ""
        parts.append(f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" '
                     f'fill="{fill}" stroke="{stroke}" stroke-width="1.6"{dash}/>')
        parts.append(_text(x + BOX_W / 2, y + 24, _fit(n.label, 24), size=13, weight="600"))
        parts.append(_text(x + BOX_W / 2, y + 42, _fit(n.sub, 30), size=11, fill="#4b5563"))
    for i, e in enumerate(edges):
        x1 = shift + PAD + i * (BOX_W + GAP) + BOX_W
        x2 = x1 + GAP
        ym = y + BOX_H / 2
        colour = COLOURS.get(e.status, "#111827")
        parts.append(f'<line x1="{x1 + 4}" y1="{ym}" x2="{x2 - 4}" y2="{ym}" stroke="{colour}" '
                     f'stroke-width="2.2" marker-end="url(#ah)"/>')
        parts.append(_text((x1 + x2) / 2, ym - 9, e.status.replace("_", " "), size=11,
                           weight="600", fill=colour))
        parts.append(_text((x1 + x2) / 2, ym + 17, e.offset, size=10.5, fill="#374151"))
        parts.append(_text((x1 + x2) / 2, ym + 30, f"conf {e.confidence}", size=10.5,
                           fill="#374151"))
    if title:
        parts.append(_text(PAD, 16, title, size=12, weight="600", anchor="start",
                           fill="#374151"))
    parts.append("</svg>")
    return "".join(parts)
