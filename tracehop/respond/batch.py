"""``tracehop respond``: answer a file of inquiries in one pass (DESIGN.md §6).

    parse the file (bad rows are kept, with their reason)
      -> refuse an evidence directory that already holds packs (before anything is written)
      -> Matcher.lookup_many(valid inquiries)   the whole batch in one call
      -> per answer: 24-hour clock, RMD check, evidence pack
      -> answers in input order, audit entries (one locked, fsync-ed append), campaign summary

The matching itself belongs to :mod:`tracehop.match`; this module hands it the whole batch and
never loops over single lookups itself. The matcher picks the cheaper plan for the batch's size
against the store's: one point lookup per inquiry for a small batch, one join of the batch
against the store for a large one (:meth:`tracehop.match.Matcher.choose`).

A rejected row (missing column, unparseable time, invalid number) is answered in its place
with ``status: "not_found"``, ``searched: null``, ``match: null``, a warning starting with
``rejected:`` and an ``error`` object {file, line, field, reason, hint}: a consumer that reads
only ``status`` sees "no answer", one that checks ``error`` knows nothing was searched
(docs/decisions.md, "Per-row errors in respond").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final, Protocol

from tracehop.answer import TracebackAnswer
from tracehop.gcpause import paused_gc
from tracehop.inquiry import Inquiry
from tracehop.respond.audit import AuditLog, AuditRecord, answered_summary, asked_echo
from tracehop.respond.deadline import Clock
from tracehop.respond.evidence import (
    SnapshotSource,
    check_evidence_dir,
    fetch_legs,
    pack_name,
    write_pack,
)
from tracehop.respond.inquiries import InquiryFile, InquiryRow
from tracehop.respond.rmd import RmdCheck, RmdListing
from tracehop.respond.summary import CampaignSummary, summarise


class BatchMatcher(Protocol):
    """What respond needs from :class:`tracehop.match.Matcher`."""

    def lookup_many(self, inquiries: list[Inquiry]) -> list[TracebackAnswer]: ...


#: How far ahead of our clock a received time may be (clock skew) before it is set aside.
FUTURE_SLACK: Final = timedelta(minutes=5)


@dataclass
class RespondOptions:
    requester: str = "cli"
    clock: Clock = field(default_factory=Clock)
    rmd: RmdListing | None = None
    audit: AuditLog | None = None
    evidence_dir: Path | None = None
    evidence_zip: bool = False
    store: SnapshotSource | None = None  # for evidence packs (the raw records)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class RespondResult:
    answers: list[dict[str, Any]]  # in input order, as written
    summary: CampaignSummary
    packs: list[str] = field(default_factory=list)
    audit_head: str | None = None


def respond(inquiries: InquiryFile, matcher: BatchMatcher,
            options: RespondOptions | None = None) -> RespondResult:
    """Answer every record of ``inquiries``; see the module docstring."""
    with paused_gc():  # a batch's answers are many live objects and no garbage cycles
        return _respond(inquiries, matcher, options)


def _respond(inquiries: InquiryFile, matcher: BatchMatcher,
             options: RespondOptions | None) -> RespondResult:
    opts = options or RespondOptions()
    if opts.evidence_dir is not None:
        check_evidence_dir(opts.evidence_dir)
    t0 = time.perf_counter()
    read_at = opts.now()
    rows = inquiries.rows
    valid = [r for r in rows if r.inquiry is not None]
    matched = matcher.lookup_many([r.inquiry for r in valid if r.inquiry is not None])
    if len(matched) != len(valid):
        raise RuntimeError(f"matcher returned {len(matched)} answers for {len(valid)} "
                           "inquiries")
    by_row = {id(r): a for r, a in zip(valid, matched, strict=True)}
    answered_at = opts.now()
    # Peer roles by name: an ambiguous answer's candidates are checked against the RMD too.
    peers = getattr(getattr(matcher, "peers", None), "peers", None) or ()
    roles = {p.name: p.role for p in peers}

    answers: list[dict[str, Any]] = []
    audit_records: list[AuditRecord] = []
    clockless = 0  # rows whose received time could not be used: their clock starts now
    clocks: dict[datetime, tuple[dict[str, Any], str | None]] = {}
    for row in rows:
        received = row.received
        late_note = None
        if received is not None and received > read_at + FUTURE_SLACK:
            # A receipt time ahead of our clock is a typo or a wrong zone: counting from it
            # would hide how long the inquiry has really waited.
            late_note = (f"received time {received.isoformat()} is in the future: the 24-hour "
                         "clock counts from when the file was read")
            received = None
        unreadable = received is None and str(row.raw.get("received") or "").strip()
        if late_note or unreadable:
            clockless += 1
        # A campaign's inquiries mostly share one received time: each distinct one's deadline
        # (business hours, DST) is worked out once.
        when = received or read_at
        if when not in clocks:
            deadline = opts.clock.deadline_for(when)
            clocks[when] = (deadline.to_dict(answered_at), deadline.warning(answered_at))
        deadline_out, deadline_warning = clocks[when]
        ans = by_row.get(id(row))
        if ans is None:
            out = _rejected(inquiries.path, row)
        else:
            out = _answered(row, ans, deadline_warning, answered_at, opts.rmd, roles)
        if late_note is not None:
            out["warnings"] = [*out.get("warnings", []), late_note]
        out["deadline"] = dict(deadline_out)
        answers.append(out)
        audit_records.append(_audit_record(inquiries.path, row, out, opts.requester,
                                           answered_at))

    packs: list[str] = []
    if opts.evidence_dir is not None:
        packs = _write_packs(answers, opts)
    head = None
    if opts.audit is not None:
        written = opts.audit.append_many(audit_records)
        head = written[-1]["hash"] if written else None
    summary = summarise(answers)
    if clockless:
        summary.flags.append(
            f"{clockless} inquiry(ies) have no usable received time (unreadable or in the "
            "future): their 24-hour clock counts from when the file was read, which may hide "
            "a deadline already past")
    summary.elapsed_s = round(time.perf_counter() - t0, 3)
    return RespondResult(answers=answers, summary=summary, packs=packs, audit_head=head)


def write_jsonl(answers: Iterable[dict[str, Any]], out: IO[str]) -> int:
    import json

    n = 0
    for a in answers:
        out.write(json.dumps(a, ensure_ascii=False) + "\n")
        n += 1
    return n


def _answered(row: InquiryRow, ans: TracebackAnswer, dl_warning: str | None,
              answered_at: datetime, rmd: RmdListing | None,
              roles: dict[str, str] | None = None) -> dict[str, Any]:
    warnings = list(ans.warnings) + list(row.warnings)
    check: RmdCheck | None = None
    if rmd is not None and ans.status in ("upstream", "point_of_entry") and ans.upstream:
        role = "foreign" if ans.status == "point_of_entry" else "upstream"
        check = rmd.check(ans.upstream.provider, ans.upstream.ocn, role=role)
        if not check.listed:
            warnings.append(check.message)
    elif rmd is not None and ans.status == "ambiguous":
        # Any of the providers that may have handed the call over could be the one whose
        # traffic must be refused: each is checked; ``rmd`` is the best fit's check.
        best = ans.match.provider if ans.match is not None else None
        names = [best, *(m.provider for m in ans.alternatives)]
        seen: set[str] = set()
        for name in names:
            peer_role = (roles or {}).get(name or "")
            if not name or name in seen or peer_role not in ("upstream", "foreign"):
                continue
            seen.add(name)
            ocn = ans.upstream.ocn if ans.upstream is not None and name == best else None
            found = rmd.check(name, ocn, role=str(peer_role))
            if name == best:
                check = found
            if not found.listed:
                warnings.append(f"{found.message} (one of the candidates of this ambiguous "
                                f"answer)")
    if dl_warning:  # late, or near its deadline (Deadline.warning)
        warnings.append(dl_warning)
    out = answer_dict(ans)
    out["warnings"] = warnings
    if check is not None:
        out["rmd"] = check.to_dict()
    return out


def answer_dict(ans: TracebackAnswer) -> dict[str, Any]:
    """``ans.to_dict()``, built field by field (:meth:`TracebackAnswer.to_plain`): a batch
    turns every answer into JSON, and ``dataclasses.asdict`` deep-copies every leaf."""
    return ans.to_plain()


def _rejected(path: str, row: InquiryRow) -> dict[str, Any]:
    assert row.error is not None
    err = row.error.to_dict(path, row.line)
    echo: dict[str, Any] = {"line": row.line}
    for k in ("called", "calling", "time", "id"):
        v = row.raw.get(k)
        if v is not None:
            echo[f"{k}_raw" if k != "id" else "id"] = str(v)
    reason = f"rejected: line {row.line}: {row.error.reason}"
    if row.error.hint:
        reason += f" ({row.error.hint})"
    return {
        "inquiry": echo,
        "status": "not_found",
        "upstream": None,
        "customer": None,
        "confidence": 0.0,
        "match": None,
        "alternatives": [],
        "searched": None,
        "warnings": [reason, *row.warnings],
        "error": err,
    }


def _audit_record(path: str, row: InquiryRow, out: dict[str, Any], who: str,
                  at: datetime) -> AuditRecord:
    asked = {"file": path, "line": row.line, **asked_echo(out),
             "received_utc": (out.get("deadline") or {}).get("received_utc")}
    answered = answered_summary(out) | {"error": (out.get("error") or {}).get("reason")}
    return AuditRecord(who=who, asked=asked, searched=out.get("searched"), answered=answered,
                       time=at)


def _write_packs(answers: Sequence[dict[str, Any]], opts: RespondOptions) -> list[str]:
    assert opts.evidence_dir is not None
    refs = [(m["leg_id"], m["start_utc"]) for a in answers if (m := a.get("match"))]
    legs = fetch_legs(opts.store, refs) if (opts.store is not None and refs) else {}
    paths = []
    for i, a in enumerate(answers, start=1):
        m = a.get("match")
        leg = legs.get(m["leg_id"]) if m else None
        pack = write_pack(opts.evidence_dir, pack_name(i, a), a, leg, zip_pack=opts.evidence_zip)
        paths.append(str(pack.path))
    return paths
