"""The demo's HTML report: one self-contained file (inline CSS and SVG; no script, no CDN).

It shows the verdict against ground truth, the chains drawn as diagrams (one per distinct path,
with the calls that took it), the campaign summary (calls per originating customer and per point
of entry), each call's chain hop by hop with timings, and the providers with their formats,
zones and clock skews.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from tracehop.chain import Chain
from tracehop.demo.stir import hop_stir
from tracehop.report.diagram import Edge, Node, chain_svg

if TYPE_CHECKING:
    from tracehop.demo.run import DemoRun


#: Short names of record formats for the diagram boxes.
FORMAT_LABELS = {
    "asterisk_cdr_csv": "Asterisk CSV",
    "freeswitch_cdr_csv": "FreeSWITCH CSV",
    "freeswitch_json_cdr": "FreeSWITCH JSON",
    "freeswitch_xml_cdr": "FreeSWITCH XML",
    "cisco_cucm_cdr": "Cisco CUCM CDR",
    "ribbon_sbc_act": "Ribbon SBC .ACT",
    "pcap": "SIP capture (pcap)",
    "pcapng": "SIP capture (pcapng)",
    "hep": "SIP capture (HEP)",
    "kamailio_acc_syslog": "Kamailio acc",
}


@dataclass
class PathGroup:
    key: tuple[Any, ...]
    chains: list[Chain]
    svg: Markup

    @property
    def count(self) -> int:
        return len(self.chains)


def _signed(x: float | None) -> str:
    return "—" if x is None else f"{x:+.1f} s"


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def chain_diagram(chains: list[Chain], kinds: dict[str, str], title: str,
                  slots: int | None = None) -> Markup:
    """One diagram for chains that took the same path (offsets: median; confidence: lowest)."""
    first = chains[0]
    hops = list(reversed(first.hops))  # call order: the earliest provider first
    nodes: list[Node] = []
    edges: list[Edge] = []
    end = first.end
    if end == "originating":
        nodes.append(Node(first.origin_name or first.origin or "customer",
                          f"customer {first.origin}", "origin"))
    elif end == "point_of_entry":
        nodes.append(Node(first.origin or "foreign carrier", "foreign carrier", "origin"))
    else:
        nodes.append(Node("?", "source not identified", "unknown"))
    for depth, hop in enumerate(hops):
        idx = len(hops) - 1 - depth  # index of this hop in each chain
        offsets = [c.hops[idx].offset_s for c in chains if c.hops[idx].offset_s is not None]
        confs = [c.hops[idx].confidence for c in chains if c.hops[idx].confidence is not None]
        edges.append(Edge(hop.status, _signed(_median([o for o in offsets if o is not None])),
                          f"{min(c for c in confs if c is not None):.2f}" if confs else "—"))
        kind = {"no_response": "silent", "unreachable": "silent",
                "not_found": "missing"}.get(hop.status, "provider")
        nodes.append(Node(hop.provider, kinds.get(hop.provider, ""), kind))
    return Markup(chain_svg(nodes, edges, title=title, slots=slots))


def group_paths(chains: list[Chain], kinds: dict[str, str]) -> list[PathGroup]:
    groups: dict[tuple[Any, ...], list[Chain]] = defaultdict(list)
    for c in chains:
        groups[(tuple(c.providers()), c.end, c.origin)].append(c)
    out = []
    slots = 1 + max((len(c.hops) for c in chains), default=0)
    for key, cs in sorted(groups.items(), key=lambda kv: (-len(kv[1]), str(kv[0]))):
        n = len(cs)
        title = f"{n} call{'s' if n != 1 else ''}: " + ", ".join(c.example.ref for c in cs)
        out.append(PathGroup(key, cs, chain_diagram(cs, kinds, title, slots)))
    return out


def render(run: DemoRun) -> str:
    """The report of one demo run, as a complete HTML document."""
    net = run.network
    kinds = {p.name: f"{p.kind} · {FORMAT_LABELS.get(p.format, p.format)}"
             for p in net.providers.values()}
    chains = run.chains
    by_customer: Counter[tuple[str, str, str]] = Counter()
    by_entry: Counter[tuple[str, str]] = Counter()
    untraced: Counter[tuple[str, str]] = Counter()
    for c in chains:
        if c.end == "originating":
            by_customer[(c.origin or "?", c.origin_name or "", c.last_provider or "?")] += 1
        elif c.end == "point_of_entry":
            by_entry[(c.last_provider or "?", c.origin or "?")] += 1
        else:
            untraced[(c.end, c.last_provider or "?")] += 1
    hop_ms = [h.elapsed_s * 1000 for c in chains for h in c.hops if h.answer is not None]
    chain_ms = [c.elapsed_s * 1000 for c in chains]
    hops_n = [len(c.hops) for c in chains]
    correct = sum(v.correct for v in run.verdicts)
    stats = {
        "calls": len(chains),
        "correct": correct,
        "originating": sum(by_customer.values()),
        "point_of_entry": sum(by_entry.values()),
        "untraced": sum(untraced.values()),
        "hops_mean": statistics.fmean(hops_n) if hops_n else 0.0,
        "hops_max": max(hops_n, default=0),
        "hop_ms_p50": _median(hop_ms) or 0.0,
        "hop_ms_max": max(hop_ms, default=0.0),
        "chain_ms_p50": _median(chain_ms) or 0.0,
        "chain_ms_total": sum(chain_ms),
    }
    providers = []
    for b in run.providers.values():
        p = net.providers[b.key]
        providers.append({
            "name": b.name, "kind": p.kind.replace("_", " "), "format": b.format, "tz": b.tz,
            "skew": f"{b.skew_s:+.0f} s", "numbers": p.number_style, "legs": b.legs,
            "stored": b.ingest.get("stored", "—"), "rejected": b.ingest.get("rejected", "—"),
            "ingest_ms": f"{b.ingest_s * 1000:.0f}",
            "responds": "no" if b.key in run.silent else ("HTTP" if run.http else "in process"),
        })
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(
        resources.files("tracehop.report").joinpath("report.html.j2").read_text("utf-8"))
    return template.render(
        run=run,
        stats=stats,
        groups=group_paths(chains, kinds),
        by_customer=sorted(by_customer.items(), key=lambda kv: -kv[1]),
        by_entry=sorted(by_entry.items(), key=lambda kv: -kv[1]),
        untraced=sorted(untraced.items(), key=lambda kv: -kv[1]),
        providers=providers,
        stages=run.stages,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        signed=_signed,
        verdicts=run.verdicts,
        stir=lambda h: hop_stir(h, net),
        formats={b.name: FORMAT_LABELS.get(b.format, b.format) for b in run.providers.values()},
    )


def write_report(run: DemoRun, path: Path | None = None) -> Path:
    path = path or run.out / "report.html"
    path.write_text(render(run), encoding="utf-8")
    return path
