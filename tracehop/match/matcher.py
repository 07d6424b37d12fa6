"""The matcher: inquiries in, TracebackAnswers out (DESIGN.md §5, §6).

Flow for a set of inquiries (one, or a batch):

1. **First pass**: the legs to each called number within ±window (one portable SQL query;
   :mod:`.sql`). Most inquiries are answered here, from one or two day files.
2. **Egress legs**: a leg with direction ``outbound`` is never the answer. When one matched,
   the inbound leg of the same call (same ``correlation_id`` or ``call_id``, within
   ±10 min) answers instead; if it was not among the rows already read, one more query
   fetches it by those keys.
3. **Widening pass**, only for inquiries still without an inbound leg: one query over the
   whole ±24 h range, keeping only rows inside a widening step (±15 min, or ±window around
   T+k·1h); the first step with an inbound leg wins. On the sorted layout (called number,
   then time) this costs about the same as the narrow query (perf.md §3: ±14 h 3.2 ms vs
   ±120 s 3.0 ms), and it is only run when the narrow pass found nothing.
4. **Scoring** (:mod:`.score`) and the peer directory (:mod:`tracehop.peers`) decide the
   status, confidence and alternatives.

Direction policy: ``inbound`` legs are candidates; ``outbound`` legs never are (they only lead
to the inbound leg of their call); ``unknown`` (or null) legs are candidates too, because some
sources cannot tell (a SIP capture of one side, a CDR without channel names), but an inbound
leg of the same call is preferred, the confidence is lowered (x0.9) and the answer warns.

Why narrow first, then wide: on the 1M-row bench store the ±24 h query (three day files) cost
12.2 ms p50 against 8.7 ms for ±120 s (one file), so one wide query for every inquiry would
slow down the common case by 40 % to speed up the rare not-found case.

:meth:`Matcher.lookup_many` runs the same passes for a whole batch as joins against the
inquiries (an Arrow table), bucketed by time, or loops :meth:`Matcher.lookup` when that is
cheaper (:meth:`Matcher.choose`). Both paths give identical answers (tested, also with an
engine that has only the portable SQL). A batch pass has two phases, because a join decodes
every projected column of every row it scans and the wide columns (leg_id, call_id, the raw
numbers) were ~90% of that (10,000 inquiries on 10M rows: 48 s before, 8 s after):

- **key scan**: the join on the called number and time bucket, reading only ``called_e164``
  and ``start_us`` (:func:`.sql.keys_sql`; steps and cap in SQL), gives the (called number,
  start) keys each inquiry needs. An engine that is a
  :class:`~tracehop.engines.base.KeyFetcher` (DuckDB) first narrows the ``legs`` relation to
  the batch's numbers with Polars (``is_in`` decoded on the sorted key column);
- **fetch**: the matcher's columns of just those legs (the engine's ``fetch_by_key``, or
  :func:`.sql.fetch_sql`), ranked per inquiry in Python exactly as a single lookup ranks them.

The related pass (inbound legs of a matched egress leg's call) is split the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from tracehop.answer import (
    Customer,
    Evidence,
    InquiryEcho,
    Match,
    Searched,
    Status,
    TracebackAnswer,
    Upstream,
)
from tracehop.engines.base import KeyFetcher
from tracehop.match import sql as render
from tracehop.match import widen
from tracehop.match.score import Candidate, Decision, Row, is_egress, rank, score_candidate
from tracehop.match.spec import (
    MATCH_COLUMNS,
    MAX_CANDIDATES,
    RELATED_SLACK_US,
    US,
    CandidateQuery,
    Probe,
    RelatedQuery,
    bucket_width,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from tracehop.engines.base import Engine, TableSource
    from tracehop.inquiry import Inquiry
    from tracehop.peers import PeerDirectory

#: When the store's row count is unknown, lookup_many joins from this many inquiries on
#: (perf.md §4: ~500-1,000).
BATCH_THRESHOLD = 500
#: Cost model when the snapshot knows its row count: a warm point lookup costs about
#: POINT_COST_S; a batch costs about JOIN_ROW_COST_S per stored row (the key scan reads the
#: called numbers of every day the batch touches; the fetch then decodes the pages holding the
#: legs found). Measured on the 10M-row bench store (machine shared, load 8-13): 9-14 ms per
#: lookup; two-phase batches of 300 / 1,000 / 10,000 inquiries 2.6 / 5.2 / 8.2 s. The join
#: wins on a 10M-row store from ~300 inquiries, on 100M from ~3,000; it is the path that
#: scales out (Spark).
POINT_COST_S = 0.009
JOIN_ROW_COST_S = 0.3e-6

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PEER_CACHE_SIZE = 65_536
DAY_US = 86_400 * US

Strategy = Literal["auto", "point", "join"]


class Snapshot(Protocol):
    def files_for(self, from_utc: datetime, to_utc: datetime) -> list[str]: ...


class StoreLike(Protocol):
    def snapshot(self) -> Any: ...


def to_us(t: datetime) -> int:
    """Epoch microseconds of an aware datetime, exactly."""
    return (t - _EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def iso_z(us: int) -> str:
    """ISO 8601 UTC with ``Z``; microseconds only when there are any."""
    t = from_us(us)
    # Formatted by hand: strftime cost ~10% of a 10,000-inquiry batch's answer building.
    base = (f"{t.year:04d}-{t.month:02d}-{t.day:02d}T"
            f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}")
    return f"{base}.{t.microsecond:06d}Z" if t.microsecond else f"{base}Z"


@dataclass
class _Work:
    """One inquiry's state through the passes."""

    inq: Inquiry
    probe: Probe
    rows: list[Row] = field(default_factory=list)
    related: list[Row] = field(default_factory=list)
    wide: bool = False
    capped: bool = False


@dataclass
class _Scan:
    """What the first pass of a batch read in its key scan, for the widening pass to reuse."""

    files: set[str] = field(default_factory=set)
    legs: pa.Table | None = None


class Matcher:
    """Answers inquiries from a store, with an optional peer directory."""

    def __init__(
        self,
        store: StoreLike,
        peers: PeerDirectory | None = None,
        engine: Engine | None = None,
        *,
        batch_threshold: int = BATCH_THRESHOLD,
    ) -> None:
        self.store = store
        self.peers = peers
        if engine is None:
            from tracehop.engines.duckdb import DuckDBEngine

            engine = DuckDBEngine()
        self.engine: Engine = engine
        self.batch_threshold = batch_threshold
        self._peer_cache: dict[tuple[Any, Any, Any], Any] = {}

    # -- public ------------------------------------------------------------------------------

    def lookup(self, inquiry: Inquiry) -> TracebackAnswer:
        """Answer one inquiry."""
        return self._answer([inquiry], self.store.snapshot(), joined=False)[0]

    def lookup_many(
        self, inquiries: Sequence[Inquiry], *, strategy: Strategy = "auto"
    ) -> list[TracebackAnswer]:
        """Answer a batch, in input order. ``strategy``: ``point`` loops lookups, ``join``
        matches the batch as one join per pass, ``auto`` picks by batch size."""
        if not inquiries:
            return []
        snap = self.store.snapshot()
        if strategy == "auto":
            strategy = self.choose(len(inquiries), getattr(snap, "rows", None))
        if strategy == "point":
            return [self._answer([q], snap, joined=False)[0] for q in inquiries]
        return self._answer(list(inquiries), snap, joined=True)

    def choose(self, n: int, rows: int | None) -> Strategy:
        """``point`` or ``join`` for a batch of ``n`` inquiries on a store of ``rows`` rows."""
        if rows is None:
            return "join" if n >= self.batch_threshold else "point"
        return "join" if n * POINT_COST_S > rows * JOIN_ROW_COST_S else "point"

    # -- passes ------------------------------------------------------------------------------

    def _answer(self, inquiries: list[Inquiry], snap: Snapshot,
                *, joined: bool) -> list[TracebackAnswer]:
        work = [
            _Work(q, Probe.make(i, q.called_e164, to_us(q.time_utc), round(q.window_s * US)))
            for i, q in enumerate(inquiries)
        ]
        scan = _Scan()
        self._pass(work, snap, wide=False, joined=joined, scan=scan)
        pending = [w for w in work if not self._candidates(w)[0]]
        if pending:
            for w in pending:
                w.rows, w.related, w.wide = [], [], True
            self._pass(pending, snap, wide=True, joined=joined, scan=scan)
        return [self._decide(w) for w in work]

    def _pass(self, work: list[_Work], snap: Snapshot, *, wide: bool, joined: bool,
              scan: _Scan) -> None:
        probes = tuple(w.probe for w in work)
        by_qid = {w.probe.qid: w for w in work}
        lo = min(p.range(wide)[0] for p in probes)
        hi = max(p.range(wide)[1] for p in probes)
        files = snap.files_for(from_us(lo), from_us(hi))
        if not files:
            return
        if joined:
            rows = self._joined_rows(probes, snap, files, wide=wide, scan=scan)
        else:
            rows = []
            for p in probes:
                q = CandidateQuery((p,), wide=wide)
                found = self._rows(self.engine.run(render.candidate_sql(q), {"legs": files}))
                rows += render.tag_and_rank(found, q.limit)
        for r in rows:
            w = by_qid[r["qid"]]
            w.rows.append(r)
            if r["rk"] >= MAX_CANDIDATES:
                w.capped = True
        self._fetch_related(work, snap, joined=joined)

    def _joined_rows(self, probes: tuple[Probe, ...], snap: Snapshot, files: list[str],
                     *, wide: bool, scan: _Scan) -> list[Row]:
        """One batch pass in two phases: the key scan (a join reading only called_e164 and
        start_us: which legs each probe needs), then the wide columns of those legs only,
        ranked per probe by :func:`~tracehop.match.sql.tag_and_rank` as a single lookup
        ranks them (so both paths give the same rows)."""
        width = max(p.range(wide)[1] - p.range(wide)[0] for p in probes)
        q = CandidateQuery(probes, wide=wide, bucket_us=bucket_width(width))
        legs: TableSource = files
        if isinstance(self.engine, KeyFetcher):
            legs = self._narrowed(self.engine, files, sorted({p.called_e164 for p in probes}),
                                  scan)
        tables: dict[str, TableSource] = {"legs": legs, "probes": render.probes_table(q)}
        found = self.engine.run(render.keys_sql(q), tables)
        if not found.num_rows:
            return []
        keys_of: dict[int, list[tuple[str | None, int]]] = defaultdict(list)
        for qid, called, start in zip(found.column("qid").to_pylist(),
                                      found.column("called_e164").to_pylist(),
                                      found.column("start_us").to_pylist(), strict=True):
            keys_of[qid].append((called, start))
        by_key: dict[tuple[str | None, int], list[Row]] = defaultdict(list)
        for leg in self._fetch(snap, {k for ks in keys_of.values() for k in ks}):
            by_key[(leg["called_e164"], int(leg["start_us"]))].append(leg)
        rows: list[Row] = []
        for p in probes:
            mine = [dict(leg, qid=p.qid, d_us=int(leg["start_us"]) - p.t_us, w_us=p.w_us)
                    for k in keys_of.get(p.qid, ()) for leg in by_key.get(k, ())]
            rows += render.tag_and_rank(mine, q.limit)
        return rows

    @staticmethod
    def _narrowed(engine: KeyFetcher, files: list[str], numbers: list[str],
                  scan: _Scan) -> pa.Table:
        """The key scan's ``legs``: the legs to ``numbers`` in ``files``. The widening pass
        asks for a subset of the first pass's numbers, so the files the first pass read are
        filtered in memory and only the days the widening adds are read (the first pass's
        scan of the called numbers is most of a key scan's cost)."""
        if scan.legs is None:
            scan.legs = engine.prefilter(files, {"called_e164": numbers}, ["called_e164"])
            scan.files = set(files)
            return scan.legs
        import pyarrow as pa
        import pyarrow.compute as pc

        known = scan.legs.filter(pc.is_in(scan.legs.column("called_e164"),
                                          value_set=pa.array(numbers, pa.string())))
        new = [f for f in files if f not in scan.files]
        if not new:
            return known
        more = engine.prefilter(new, {"called_e164": numbers}, ["called_e164"])
        return pa.concat_tables([known, more])

    def _fetch(self, snap: Snapshot, keys: set[tuple[str | None, int]]) -> list[Row]:
        """Phase 2: the matcher's columns of the legs with these (called_e164, start_us) keys,
        read from the day files the keys fall in."""
        if not keys:
            return []
        days = sorted({start // DAY_US for _, start in keys})
        files = [f for d in days for f in snap.files_for(from_us(d * DAY_US),
                                                          from_us(d * DAY_US))]
        wanted = render.wanted_table(keys)
        if isinstance(self.engine, KeyFetcher):
            table = self.engine.fetch_by_key(files, wanted, MATCH_COLUMNS)
        else:
            table = self.engine.run(render.fetch_sql(), {"legs": files, "wanted": wanted})
        return self._rows(table)

    def _fetch_related(self, work: list[_Work], snap: Snapshot, *, joined: bool) -> None:
        """Fetch the inbound legs of calls whose egress leg matched, when not already read."""
        keys: list[tuple[int, str, str, int, int]] = []
        for w in work:
            have = _call_index(r for r in w.rows if not is_egress(r))
            seen: set[tuple[str, str]] = set()
            for e in w.rows:
                if not is_egress(e) or _siblings(e, have):
                    continue
                for kind in ("correlation_id", "call_id"):
                    v = e.get(kind)
                    if v and (kind, v) not in seen:
                        seen.add((kind, v))
                        s = int(e["start_us"])
                        keys.append((w.probe.qid, kind, str(v), s - RELATED_SLACK_US,
                                     s + RELATED_SLACK_US))
        if not keys:
            return
        by_qid = {w.probe.qid: w for w in work}
        if joined:
            self._related_joined(by_qid, keys, snap)
            return
        groups = _split_by_qid(keys)
        for group in groups:
            lo = min(k[3] for k in group)
            hi = max(k[4] for k in group)
            files = snap.files_for(from_us(lo), from_us(hi))
            if not files:
                continue
            table = render.related_table(RelatedQuery(tuple(group)))
            result = self.engine.run(render.related_sql(),
                                     {"legs": files, "related_keys": table})
            for r in self._rows(result):
                by_qid[r["qid"]].related.append(r)

    def _related_joined(self, by_qid: dict[int, _Work],
                        keys: list[tuple[int, str, str, int, int]], snap: Snapshot) -> None:
        """The related pass for a batch, in two phases like :meth:`_joined_rows`: the keys of
        the legs sharing a correlation_id or call_id, then those legs; each is re-checked
        here against the keys (kind, value, time range) and the direction, as
        :func:`~tracehop.match.sql.related_sql` checks them."""
        lo = min(k[3] for k in keys)
        hi = max(k[4] for k in keys)
        files = snap.files_for(from_us(lo), from_us(hi))
        if not files:
            return
        table = render.related_table(RelatedQuery(tuple(keys)))
        legs: TableSource = files
        if isinstance(self.engine, KeyFetcher):
            match = {kind: sorted({k[2] for k in keys if k[1] == kind})
                     for kind in ("correlation_id", "call_id")}
            legs = self.engine.prefilter(files, match, ["called_e164", "direction",
                                                        "correlation_id", "call_id"])
        found = self.engine.run(render.related_keys_sql(), {"legs": legs, "related_keys": table})
        if not found.num_rows:
            return
        wanted = set(zip(found.column("called_e164").to_pylist(),
                         found.column("start_us").to_pylist(), strict=True))
        asked: dict[tuple[str, str], list[tuple[int, int, int]]] = defaultdict(list)
        for qid, kind, key, k_lo, k_hi in keys:
            asked[(kind, key)].append((qid, k_lo, k_hi))
        for leg in sorted(self._fetch(snap, wanted),
                          key=lambda r: (int(r["start_us"]), str(r["leg_id"]))):
            if (leg.get("direction") or "unknown") == "outbound":
                continue
            start = int(leg["start_us"])
            for kind in ("correlation_id", "call_id"):
                value = leg.get(kind)
                if value is None:
                    continue
                for qid, k_lo, k_hi in asked.get((kind, str(value)), ()):
                    if k_lo <= start <= k_hi:
                        by_qid[qid].related.append(dict(leg, qid=qid, via=kind, via_key=value))

    @staticmethod
    def _rows(table: pa.Table) -> list[Row]:
        rows: list[Row] = table.to_pylist()
        return rows

    # -- deciding ----------------------------------------------------------------------------

    def _candidates(self, w: _Work) -> tuple[list[Candidate], list[Row]]:
        """Candidates (inbound legs, direct or through their egress leg) and orphan egress
        legs (no inbound leg of that call anywhere)."""
        direct = [r for r in w.rows if not is_egress(r)]
        pool = _call_index(direct + w.related)
        cands = [Candidate(r, r, int(r["step"]), int(r["dist_us"])) for r in direct]
        orphans: list[Row] = []
        for e in w.rows:
            if not is_egress(e):
                continue
            sib = _siblings(e, pool)
            if not sib:
                orphans.append(e)
                continue
            s = int(e["start_us"])
            leg = min(sib, key=lambda r: (abs(int(r["start_us"]) - s), str(r["leg_id"])))
            cands.append(Candidate(leg, e, int(e["step"]), int(e["dist_us"])))
        return cands, orphans

    def _handoff(self, leg: Row) -> Hashable:
        peer = self._peer(leg)
        if peer is not None:
            return ("peer", peer.name)
        return ("unmapped", leg.get("ingress_trunk"), leg.get("ingress_ip"), leg.get("account"))

    def _peer(self, leg: Row) -> Any:
        if self.peers is None:
            return None
        # An answer resolves its leg's hand-off three times, and a batch sees the same few
        # trunks over and over; the directory is immutable once loaded.
        key = (leg.get("ingress_trunk"), leg.get("ingress_ip"), leg.get("account"))
        try:
            return self._peer_cache[key]
        except KeyError:
            pass
        if len(self._peer_cache) >= _PEER_CACHE_SIZE:
            self._peer_cache.clear()
        peer = self._peer_cache[key] = self.peers.resolve(*key)
        return peer

    def _decide(self, w: _Work) -> TracebackAnswer:
        inq, p = w.inq, w.probe
        warnings: list[str] = []
        if inq.naive_time:
            warnings.append("time had no zone; read as UTC")
        cands, orphans = self._candidates(w)
        echo = _echo(inq)
        if not cands:
            last = widen.last_index()
            reach = widen.reach_us(last, p.w_us)
            if orphans:
                first = min(orphans, key=lambda r: int(r["start_us"]))
                warnings.append(
                    f"found {len(orphans)} egress (outbound) leg(s) to this number, the nearest "
                    f"at {iso_z(int(first['start_us']))}, but no inbound leg of those calls: "
                    f"the records of the inbound side may be missing from the store")
            return TracebackAnswer(
                inquiry=echo, status="not_found", confidence=0.0,
                searched=Searched(iso_z(p.t_us - reach), iso_z(p.t_us + reach),
                                  "not found within ±24h (all steps)",
                                  widen.steps_through(last, p.w_us)),
                warnings=warnings)
        step_index = min(c.step for c in cands)
        dst_hint = any(c.leg.get("time_ambiguous") for c in cands if c.step == step_index)
        step = widen.describe(step_index, p.w_us, dst_hint=dst_hint)
        in_step = [c for c in cands if c.step == step_index]
        for c in in_step:
            score_candidate(c, inq, p.t_us, step.half_us, step.centre_us)
        decision = rank(in_step, self._handoff)
        best = decision.best
        status, upstream, customer = self._status(best.leg)
        confidence = decision.confidence
        if decision.ambiguous:
            status = "ambiguous"
            warnings.append(
                f"{decision.contenders} other call(s) from a different hand-off match almost as "
                f"well; give the calling number (or the duration) to decide")
        elif best.parts.get("calling", 0.0) < 0:
            # Spoofed caller IDs pass through unchanged, so a call whose calling number differs
            # from the inquiry's is most likely another call that happened to hit the same
            # number. Naming its hand-off as certain would accuse an innocent peer or customer:
            # say what was found, and that it does not agree.
            status = "ambiguous"
            confidence = round(confidence * 0.5, 4)
            warnings.append(
                f"the call found came from calling number {best.leg.get('calling_e164') or '?'}, "
                f"not {inq.calling_e164} as the inquiry says: it may be another call; check "
                f"before naming this hand-off")
        if upstream is not None and best.leg.get("signer_spc"):
            from tracehop.sip.passport import stir_signer_mismatch

            flag = stir_signer_mismatch(best.leg.get("signer_spc"), upstream.ocn)
            if flag:
                warnings.append(flag)
        offset_s = (int(best.leg["start_us"]) - p.t_us) / US
        if step_index > 0:
            hint = (" - check the time zone of the inquiry and of the records"
                    if step_index >= 2 else "")
            warnings.append(f"found only by widening the search: {step.label}; the record is "
                            f"{offset_s:+.0f} s from the inquiry time{hint}")
        if best.leg.get("time_ambiguous"):
            warnings.append("the record's local time fell in the repeated hour of a DST change; "
                            "it was read as the first occurrence (summer time)")
        if best.via_egress:
            via = next((k for k in ("correlation_id", "call_id")
                        if best.matched.get(k) and best.matched.get(k) == best.leg.get(k)),
                       "correlation_id")
            warnings.append(
                f"the called number matched egress leg {best.matched['leg_id']}; answered from "
                f"the inbound leg of the same call ({via} {best.leg.get(via)})")
        if (best.leg.get("direction") or "unknown") != "inbound":
            warnings.append("the matched leg's direction is unknown (the source does not say); "
                            "it is taken as the inbound leg")
        if status == "unmapped" or (status == "ambiguous" and self._peer(best.leg) is None):
            if self.peers is None:
                warnings.append("no peer directory was given: the ingress is reported unmapped")
            else:
                marks = [f"{label} {best.leg.get(col)!r}" for label, col in
                         (("trunk", "ingress_trunk"), ("IP", "ingress_ip"), ("account", "account"))
                         if best.leg.get(col)]
                warnings.append(
                    f"ingress {' / '.join(marks) or '(none recorded)'} is in no peer entry: add "
                    f"it to the peer directory")
        if w.capped:
            warnings.append(f"more than {MAX_CANDIDATES} records matched; only the nearest "
                            f"{MAX_CANDIDATES} were scored")
        reach = widen.reach_us(step_index, p.w_us)
        return TracebackAnswer(
            inquiry=echo,
            status=status,
            confidence=confidence,
            searched=Searched(iso_z(p.t_us - reach), iso_z(p.t_us + reach), step.label,
                              widen.steps_through(step_index, p.w_us)),
            upstream=upstream,
            customer=customer,
            match=self._match(best, p.t_us),
            alternatives=[self._match(c, p.t_us) for c in decision.others],
            warnings=warnings,
        )

    def _status(self, leg: Row) -> tuple[Status, Upstream | None, Customer | None]:
        peer = self._peer(leg)
        trunk, ip = leg.get("ingress_trunk"), leg.get("ingress_ip")
        if peer is None:
            return "unmapped", Upstream(provider=None, trunk=trunk, ip=ip), None
        if peer.role == "customer":
            return "originating", None, Customer(account=leg.get("account"), name=peer.name)
        up = Upstream(provider=peer.name, ocn=peer.ocn, trunk=trunk, ip=ip, contact=peer.contact)
        return ("point_of_entry" if peer.role == "foreign" else "upstream"), up, None

    def _match(self, c: Candidate, t_us: int) -> Match:
        leg = c.leg
        start = int(leg["start_us"])
        stir: dict[str, Any] = {}
        for col, key in (("attest", "attest"), ("origid", "origid"), ("orig_tn", "orig_tn"),
                         ("dest_tn", "dest_tn"), ("verstat", "verstat"),
                         ("stir_verified", "verified"), ("signer_spc", "signer_spc"),
                         ("x5u", "x5u")):
            if leg.get(col) is not None:
                stir[key] = leg[col]
        if leg.get("iat_utc") is not None:
            stir["iat_utc"] = iso_z(to_us(leg["iat_utc"]))
        peer = self._peer(leg)
        return Match(
            leg_id=str(leg["leg_id"]),
            start_utc=iso_z(start),
            offset_s=(start - t_us) / US,
            called_raw=leg.get("called_raw"),
            calling_raw=leg.get("calling_raw"),
            call_id=leg.get("call_id"),
            evidence=Evidence(leg.get("source"), leg.get("source_file"),
                              leg.get("source_record")),
            stir=stir,
            score=c.score,
            direction=leg.get("direction"),
            ingress_trunk=leg.get("ingress_trunk"),
            ingress_ip=leg.get("ingress_ip"),
            account=leg.get("account"),
            disposition=leg.get("disposition"),
            duration_s=leg.get("duration_s"),
            provider=peer.name if peer is not None else None,
        )


def _echo(inq: Inquiry) -> InquiryEcho:
    return InquiryEcho(
        called=inq.called_e164,
        time_utc=iso_z(to_us(inq.time_utc)),
        calling=inq.calling_e164,
        called_raw=inq.called_raw,
        calling_raw=inq.calling_raw,
        time_raw=inq.time_raw,
        window_s=inq.window_s,
        id=inq.id,
        extra=dict(inq.extra),
    )


def _call_index(rows: Any) -> dict[tuple[str, str], list[Row]]:
    idx: dict[tuple[str, str], list[Row]] = defaultdict(list)
    seen: set[str] = set()
    for r in rows:
        if r["leg_id"] in seen:
            continue
        seen.add(r["leg_id"])
        for kind in ("correlation_id", "call_id"):
            v = r.get(kind)
            if v:
                idx[(kind, str(v))].append(r)
    return idx


def _siblings(e: Row, idx: dict[tuple[str, str], list[Row]]) -> list[Row]:
    out: list[Row] = []
    for kind in ("correlation_id", "call_id"):
        v = e.get(kind)
        if v:
            out += [r for r in idx.get((kind, str(v)), []) if r["leg_id"] != e["leg_id"]]
    return out


def _split_by_qid(keys: list[tuple[int, str, str, int, int]]
                  ) -> list[list[tuple[int, str, str, int, int]]]:
    groups: dict[int, list[tuple[int, str, str, int, int]]] = defaultdict(list)
    for k in keys:
        groups[k[0]].append(k)
    return list(groups.values())


__all__ = ["BATCH_THRESHOLD", "Decision", "Matcher"]
