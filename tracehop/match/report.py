"""A TracebackAnswer as a short block of text for a person at a terminal (``tracehop lookup``).

The JSON form (``--json``) is the contract; this is for reading: status and who first, then the
record it rests on, then how sure and where else it looked.
"""

from __future__ import annotations

from tracehop.answer import Match, TracebackAnswer

_STATUS_TEXT = {
    "upstream": "upstream: another provider handed us this call",
    "originating": "originating: the call started with our own customer",
    "point_of_entry": "point of entry: a foreign carrier handed us this call",
    "unmapped": "unmapped: found the call, but its ingress is in no peer entry",
    "not_found": "not found: no inbound leg for this number in the windows searched",
    "ambiguous": "ambiguous: more than one call fits; the best guess is shown",
}


def _who(m: Match) -> str:
    parts = [m.provider or "(no peer entry)"]
    if m.ingress_trunk:
        parts.append(f"trunk {m.ingress_trunk}")
    if m.ingress_ip:
        parts.append(f"ip {m.ingress_ip}")
    if m.account:
        parts.append(f"account {m.account}")
    return ", ".join(parts)


def render_text(a: TracebackAnswer) -> str:
    """The human-readable block for one answer."""
    q = a.inquiry
    lines = [f"Inquiry     {q.called} at {q.time_utc}"
             + (f" from {q.calling}" if q.calling else "")]
    status = _STATUS_TEXT.get(a.status, a.status)
    if a.status == "ambiguous" and not a.alternatives:
        # Ambiguous with one call found: its calling number differs from the inquiry's
        # (docs/decisions.md, "Ambiguity and disagreeing evidence"), not a second call.
        status = ("ambiguous: the one call found has another calling number than asked; "
                  "shown, but it may be another call to this number")
    lines.append(f"Status      {status}")
    if a.upstream is not None:
        up = a.upstream
        bits = [up.provider or "(unknown provider)"]
        if up.ocn:
            bits.append(f"OCN {up.ocn}")
        if up.trunk:
            bits.append(f"trunk {up.trunk}")
        if up.ip:
            bits.append(f"ip {up.ip}")
        if up.contact:
            bits.append(f"contact {up.contact}")
        lines.append(f"Upstream    {', '.join(bits)}")
    if a.customer is not None:
        lines.append(f"Customer    {a.customer.name or '?'}"
                     + (f" (account {a.customer.account})" if a.customer.account else ""))
    m = a.match
    if m is not None:
        lines.append(f"Record      {m.start_utc} ({m.offset_s:+.1f} s)  leg {m.leg_id}")
        # A record without a calling number (withheld, or a format without one) says so.
        lines.append(f"            called {m.called_raw or '(none)'}  "
                     f"calling {m.calling_raw or '(none)'}  "
                     f"{m.direction or 'unknown'}  {m.disposition or ''}".rstrip())
        if m.call_id:
            lines.append(f"            call-id {m.call_id}")
        if m.stir:
            lines.append("            STIR " + ", ".join(f"{k}={v}" for k, v in m.stir.items()))
        ev = m.evidence
        where = ev.file or "?"
        if ev.record is not None:
            where += f":{ev.record}"
        lines.append(f"Evidence    {where}" + (f"  (source {ev.source})" if ev.source else ""))
    lines.append(f"Confidence  {a.confidence:.2f}")
    for i, alt in enumerate(a.alternatives):
        head = "Runners-up" if i == 0 else ""
        lines.append(f"{head:<12}{alt.start_utc} ({alt.offset_s:+.1f} s)  {_who(alt)}  "
                     f"score {alt.score if alt.score is not None else '?'}")
    lines += _searched_lines(a)
    for w in a.warnings:
        lines.append(f"Warning     {w}")
    return "\n".join(lines)


def _searched_lines(a: TracebackAnswer) -> list[str]:
    """Where it looked. Past ±15 min only separate windows were searched (±window around each
    whole-hour offset), so the outer reach is not shown as if it had been searched whole."""
    s = a.searched
    if s.continuous:
        return [f"Searched    {s.from_utc} .. {s.to_utc}  (step {s.step})"]
    found = s.found_window() if a.match is not None else None
    lines = [f"Searched    only these windows around {a.inquiry.time_utc}:"]
    for w in s.windows():
        lines.append(f"              {w}" + ("  <- found here" if w == found else ""))
    if a.match is None:
        lines.append("            not found in any of them; the time between them was not "
                     "searched")
    return lines
