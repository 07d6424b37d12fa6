"""The campaign summary printed at the end of a batch (issue: "Campaign summary").

A campaign is many call examples of one robocall operation. What the person answering wants to
see at once: how many calls we found, where they came from (counts by upstream provider or by
our own customer), the statuses, and two red flags:

- every example came through **one** upstream (or from one customer of ours): that hop is the
  campaign's path, and the ITG will ask that provider next;
- every example carries **one** STIR/SHAKEN ``origid``: one originating point signed them all
  (ATIS-1000074 §5.2.3: origid identifies the origination point), which a spoofed campaign
  spreading over many calling numbers cannot otherwise hide.

Counts add up: ``sum(by_status.values()) == inquiries`` (rejected rows count as "rejected").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from tracehop.match.dialed import STEP_LABEL

#: statuses whose answer names a leg we found
FOUND_STATUSES = frozenset({"upstream", "originating", "point_of_entry", "unmapped",
                            "ambiguous"})


@dataclass
class CampaignSummary:
    inquiries: int = 0
    rejected: int = 0
    found: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_upstream: dict[str, int] = field(default_factory=dict)
    by_customer: dict[str, int] = field(default_factory=dict)
    origids: dict[str, int] = field(default_factory=dict)
    single_upstream: str | None = None  # the one source every found example came from
    single_origid: str | None = None  # the one origid every found example carries
    # found only past the first window (widened: ±15 min or a whole-hour offset), and found
    # by the dialed or diverted-from number (tracehop/match/dialed.py)
    widened: int = 0
    by_dialed: int = 0
    late: int = 0
    near_deadline: int = 0
    rmd_unlisted: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    elapsed_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "inquiries": self.inquiries,
            "answered": self.inquiries - self.rejected,
            "rejected": self.rejected,
            "found": self.found,
            "by_status": self.by_status,
            "by_upstream": self.by_upstream,
            "by_customer": self.by_customer,
            "origids": self.origids,
            "single_upstream": self.single_upstream,
            "single_origid": self.single_origid,
            "found_widened": self.widened,
            "found_by_dialed": self.by_dialed,
            "late": self.late,
            "near_deadline": self.near_deadline,
            "rmd_unlisted": self.rmd_unlisted,
            "flags": self.flags,
            "elapsed_s": self.elapsed_s,
        }

    def render(self, console: Console) -> None:
        """A human table (the CLI prints it on stderr, so stdout stays JSON lines)."""
        head = Table(title="Campaign summary", show_header=False, box=None)
        head.add_row("inquiries", str(self.inquiries))
        head.add_row("found", str(self.found))
        head.add_row("not found", str(self.by_status.get("not_found", 0)))
        if self.widened:
            head.add_row("found only by widening", str(self.widened))
        if self.by_dialed:
            head.add_row("found by dialed / diverted-from number", str(self.by_dialed))
        head.add_row("rejected (bad rows)", str(self.rejected))
        head.add_row("late / near deadline", f"{self.late} / {self.near_deadline}")
        if self.elapsed_s is not None:
            head.add_row("elapsed", f"{self.elapsed_s:.2f} s")
        console.print(head)
        for title, counts in (("status", self.by_status), ("upstream provider", self.by_upstream),
                              ("customer", self.by_customer)):
            if not counts:
                continue
            t = Table(title=f"by {title}")
            t.add_column(title)
            t.add_column("calls", justify="right")
            for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
                t.add_row(k, str(v))
            console.print(t)
        for flag in self.flags:
            console.print(f"[bold yellow]FLAG[/] {flag}")


def summarise(answers: list[dict[str, Any]]) -> CampaignSummary:
    """Build the summary from the answers as written (TracebackAnswer JSON + respond keys)."""
    s = CampaignSummary(inquiries=len(answers))
    status: Counter[str] = Counter()
    upstream: Counter[str] = Counter()
    customer: Counter[str] = Counter()
    origid: Counter[str] = Counter()
    sources: list[str] = []
    found_origids: list[str | None] = []
    unlisted: dict[str, None] = {}
    for a in answers:
        if a.get("error") is not None:
            s.rejected += 1
            status["rejected"] += 1
            continue
        st = str(a.get("status"))
        status[st] += 1
        dl = a.get("deadline") or {}
        if dl.get("state") == "late":
            s.late += 1
        elif dl.get("state") == "near":
            s.near_deadline += 1
        rmd = a.get("rmd")
        if rmd and not rmd.get("listed"):
            unlisted[str(rmd.get("provider"))] = None
        if st not in FOUND_STATUSES:
            continue
        s.found += 1
        searched = a.get("searched") or {}
        step, tried = str(searched.get("step") or ""), searched.get("steps_tried") or []
        if step.startswith(STEP_LABEL):
            s.by_dialed += 1
        elif tried and step != tried[0]:
            s.widened += 1
        # An ambiguous answer's best fit is no finding about its source: it is counted by
        # status only, and keeps the campaign from being flagged as from one source.
        key = source_key(a) if st != "ambiguous" else None
        if key is not None:
            sources.append(key)
            if st == "originating":
                customer[key] += 1
            else:
                upstream[key] += 1
        m = a.get("match") or {}
        oid = (m.get("stir") or {}).get("origid")
        found_origids.append(oid)
        if oid:
            origid[str(oid)] += 1
    s.by_status = dict(status)
    s.by_upstream = dict(upstream)
    s.by_customer = dict(customer)
    s.origids = dict(origid)
    s.rmd_unlisted = list(unlisted)
    if s.found >= 2 and len(sources) == s.found and len(set(sources)) == 1:
        s.single_upstream = sources[0]
        s.flags.append(f"all {s.found} calls found came from one source: {sources[0]}")
    if (s.found >= 2 and all(found_origids) and len(set(found_origids)) == 1
            and found_origids[0] is not None):
        s.single_origid = found_origids[0]
        s.flags.append(f"all {s.found} calls found carry one STIR/SHAKEN origid: "
                       f"{found_origids[0]} (one origination point signed them all)")
    for name in s.rmd_unlisted:
        s.flags.append(f"{name} is not listed in the Robocall Mitigation Database: "
                       "refuse its traffic")
    if s.found >= 2 and s.widened * 2 >= s.found:
        s.flags.append(f"{s.widened} of the {s.found} calls found were found only by widening "
                       "the search (clock skew or a time-zone slip): check the zone of the "
                       "inquiries' times and of the records")
    if s.late:
        s.flags.append(f"{s.late} answer(s) are past their 24-hour deadline")
    if s.near_deadline:
        s.flags.append(f"{s.near_deadline} answer(s) are within the warning span of "
                       "their deadline")
    return s


def source_key(a: dict[str, Any]) -> str | None:
    """Who handed us the call: the upstream provider, our customer, or the unmapped ingress."""
    st = a.get("status")
    if st == "originating":
        c = a.get("customer") or {}
        return c.get("name") or (f"account {c['account']}" if c.get("account") else None)
    up = a.get("upstream") or {}
    if up.get("provider"):
        return str(up["provider"])
    parts = [f"trunk {up['trunk']}" if up.get("trunk") else "",
             f"ip {up['ip']}" if up.get("ip") else ""]
    label = ", ".join(p for p in parts if p)
    return f"unmapped ({label})" if label else None
