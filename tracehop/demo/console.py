"""A demo run in the terminal: each chain hop by hop, then the verdict (fits 100 columns)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from tracehop.chain import Hop
from tracehop.demo.run import DemoRun
from tracehop.demo.stir import hop_stir

_STYLE = {"upstream": "blue", "originating": "green", "point_of_entry": "yellow",
          "not_found": "red", "no_response": "bright_black", "unreachable": "bright_black",
          "ambiguous": "magenta", "unmapped": "magenta", "loop": "red",
          "max_hops": "red"}


def chains_table(run: DemoRun) -> Table:
    # no outer border: with the STIR column the table still fits 100 columns
    t = Table(title="Campaign calls traced hop by hop", title_justify="left", expand=False,
              show_lines=False, pad_edge=False, show_edge=False, collapse_padding=True)
    t.add_column("call", no_wrap=True)
    t.add_column("hop", justify="right", no_wrap=True)
    t.add_column("provider asked", no_wrap=True, max_width=18)
    t.add_column("answer", no_wrap=True)
    t.add_column("names", no_wrap=True, max_width=18)
    t.add_column("offset", justify="right", no_wrap=True)
    t.add_column("conf", justify="right", no_wrap=True)
    t.add_column("ms", justify="right", no_wrap=True)
    t.add_column("STIR", no_wrap=True)
    t.add_column("ok", no_wrap=True)
    for v in run.verdicts:
        c = v.chain
        for i, h in enumerate(c.hops):
            a = h.answer
            if h.status == "originating" and a is not None and a.customer is not None:
                names = a.customer.account or a.customer.name or ""
            elif a is not None and a.upstream is not None:
                names = a.upstream.provider or (a.upstream.trunk or "?")
            else:
                names = (h.reason or "").split(":")[0]
            last = i == len(c.hops) - 1
            t.add_row(
                c.example.ref if i == 0 else "",
                str(i + 1),
                h.provider,
                f"[{_STYLE.get(h.status, 'white')}]{h.status}[/]",
                names,
                "" if h.offset_s is None else f"{h.offset_s:+.1f}s",
                "" if h.confidence is None else f"{h.confidence:.2f}",
                f"{h.elapsed_s * 1000:.1f}",
                _stir_cell(run, h),
                ("[green]✔[/]" if v.correct else "[red]✘[/]") if last else "",
                end_section=last,
            )
    return t


def _stir_cell(run: DemoRun, hop: Hop) -> str:
    st = hop_stir(hop, run.network)
    return "" if st is None else st.short()


def providers_table(run: DemoRun) -> Table:
    """Who keeps which records: each provider's format, zone and clock, and what it ingested."""
    t = Table(title="Providers and their records", title_justify="left", pad_edge=False)
    for name, just in (("provider", "left"), ("role", "left"), ("records format", "left"),
                       ("zone", "left"), ("skew", "right"), ("legs", "right"),
                       ("stored", "right")):
        t.add_column(name, justify=just, no_wrap=True)  # type: ignore[arg-type]
    for b in run.providers.values():
        p = run.network.providers[b.key]
        t.add_row(b.name, p.kind, b.format, b.tz, f"{b.skew_s:+.0f}s", str(b.legs),
                  str(b.ingest.get("stored", "?")))
    return t


def verdict_lines(run: DemoRun) -> list[str]:
    """The verdict against ground truth, one line per origin, then any wrong chains."""
    n = len(run.verdicts)
    good = sum(v.correct for v in run.verdicts)
    origins: Counter[tuple[str, str, str]] = Counter()
    for v in run.verdicts:
        c = v.chain
        origins[(c.end, c.origin or "", c.last_provider or "?")] += 1
    parts = []
    for (end, origin, via), k in sorted(origins.items(), key=lambda kv: -kv[1]):
        if end == "originating":
            parts.append(f"{k} to originating customer {origin} via {via}")
        elif end == "point_of_entry":
            parts.append(f"{k} to point of entry {via} (from {origin})")
        else:
            parts.append(f"{k} ended {end.replace('_', ' ')} at {via}")
    lines = [f"{good}/{n} campaign calls traced as the ground truth says: " + "; ".join(parts)
             + ("; all correct." if good == n else ".")]
    for v in run.verdicts:
        if not v.correct:
            lines.append(f"  WRONG {v.chain.example.ref}: " + "; ".join(v.problems))
    return lines


def print_run(run: DemoRun, console: Console | None = None) -> None:
    console = console or Console(width=100)
    console.print(providers_table(run))
    console.print(chains_table(run))
    hop_ms = sorted(h.elapsed_s * 1000 for c in run.chains for h in c.hops)
    timing = " · ".join(f"{k} {s:.2f}s" for k, s in run.stages.items())
    if hop_ms:
        timing += f" · per hop p50 {hop_ms[len(hop_ms) // 2]:.1f} ms"
    console.print(f"[bright_black]{timing}[/]")
    ok = run.all_correct
    for i, line in enumerate(verdict_lines(run)):
        console.print(f"[{'green' if ok else 'red'}]{line}[/]" if i == 0 else f"[red]{line}[/]",
                      highlight=False)


def summary_dict(run: DemoRun) -> dict[str, Any]:
    """``tracehop demo --json``: the whole run for machines."""
    return {
        "out": str(run.out),
        "calls": len(run.verdicts),
        "correct": sum(v.correct for v in run.verdicts),
        "all_correct": run.all_correct,
        "stages_s": {k: round(s, 4) for k, s in run.stages.items()},
        "providers": {b.name: {"format": b.format, "role": run.network.providers[b.key].kind,
                               "tz": b.tz, "skew_s": b.skew_s,
                               "legs": b.legs, "ingest": b.ingest,
                               "ingest_s": round(b.ingest_s, 4)}
                      for b in run.providers.values()},
        "chains": [{
            "call": v.chain.example.ref,
            "called": v.chain.example.called,
            "calling": v.chain.example.calling,
            "end": v.chain.end,
            "origin": v.chain.origin,
            "correct": v.correct,
            "problems": v.problems,
            "elapsed_ms": round(v.chain.elapsed_s * 1000, 2),
            "hops": [{"provider": h.provider, "status": h.status,
                      "upstream": h.next_provider,
                      "customer": (h.answer.customer.account
                                   if h.answer and h.answer.customer else None),
                      "offset_s": h.offset_s, "confidence": h.confidence,
                      "elapsed_ms": round(h.elapsed_s * 1000, 2), "reason": h.reason,
                      "stir": _stir_dict(run, h)}
                     for h in v.chain.hops],
        } for v in run.verdicts],
    }


def _stir_dict(run: DemoRun, hop: Hop) -> dict[str, Any] | None:
    st = hop_stir(hop, run.network)
    return None if st is None else st.to_dict()
