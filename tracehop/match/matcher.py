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

:meth:`Matcher.lookup_many` runs the same passes for a whole batch, or loops
:meth:`Matcher.lookup` when that is cheaper (:meth:`Matcher.choose`). Both paths give identical
answers (tested, also with an engine that has only the portable SQL). A batch is read in one
of two ways:

- **one read** (engines that are a :class:`~tracehop.engines.base.KeyFetcher`: DuckDB, with
  Polars underneath): each day file is asked once for the legs to the called numbers whose
  widest range (±24 h + window) touches that day, with every column the decision reads
  (:data:`READ_COLUMNS`). The first pass and the widening pass then take each inquiry's legs
  in range from memory and rank them exactly as a single lookup ranks them
  (:func:`.sql.tag_and_rank`); the related pass reads only the days its keys' ±10 min touch.
  Why one read with all the columns rather than a key scan and a fetch of the matched legs:
  a Polars read costs one decode of the key column of every file it asks plus the pages
  that hold a selected row, and the matched legs sit in the same pages as their number's
  other legs; the key scan and the fetch paid the key column twice, a widening scan a third
  time (100M-row bench store, 10,000 inquiries: 25.5 s of CPU before, 19 s after, answers
  identical; benchmarks/RESULTS.md, notes on the batch read).
- **portable SQL** (any other engine, e.g. Spark), two phases per pass, because a join decodes
  every projected column of every row it scans: a **key scan** (:func:`.sql.keys_sql`: the
  join on the called number and time bucket, reading only ``called_e164`` and ``start_us``;
  steps and cap in SQL), then a **fetch** of the matcher's columns of just those legs
  (:func:`.sql.fetch_sql`), ranked per inquiry in Python. The related pass is split the same
  way (:func:`.sql.related_keys_sql`).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from tracehop.answer import (
    EGRESS_ONLY,
    OTHER_CALLING,
    SET_ASIDE,
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
from tracehop.gcpause import paused_gc
from tracehop.match import dialed, widen
from tracehop.match import sql as render
from tracehop.match.score import (
    Candidate,
    Decision,
    Row,
    is_egress,
    rank,
    same_tn,
    score_candidate,
)
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
#: POINT_COST_S; a batch costs about JOIN_ROW_COST_S per stored row (its one read decodes the
#: called numbers of every day file its inquiries touch, then the pages holding their legs).
#: Measured on the 100M-row bench store (LZ4 pages, inquiries spread over all 30 days, load
#: ~1.5): 8.3 ms per lookup; batches of 100 / 300 / 1,000 / 3,000 / 10,000 inquiries in
#: 2.8 / 2.9 / 5.0 / 4.9 / 6.1 s (a floor of ~2.7 s to read the number column of 30 files,
#: then the pages). The join wins from ~300 inquiries there; with the store's whole row count
#: (an upper bound of what a batch reads) the model switches at ~550. It is also the path that
#: scales out (Spark).
#: JOIN_FIXED_S: what a batch pays before reading (Polars' import, the engine's setup).
POINT_COST_S = 0.009
JOIN_ROW_COST_S = 0.05e-6
JOIN_FIXED_S = 0.3
#: Inquiries ranked and decided together while the batch read goes on: each chunk costs one
#: ranking query (a few ms); smaller chunks start deciding sooner.
DECIDE_CHUNK = 1000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US_PER_DAY = 86_400_000_000
_PEER_CACHE_SIZE = 65_536
DAY_US = 86_400 * US
#: The columns a batch read returns: what the decision and the answer read. The SQL paths
#: select all of MATCH_COLUMNS; egress_trunk and billsec_s are never read after that, and
#: leaving them out saves ~6% of what a batch decompresses.
READ_COLUMNS: tuple[str, ...] = tuple(c for c in MATCH_COLUMNS
                                      if c not in ("egress_trunk", "billsec_s"))

#: What the related pass reads first (:meth:`Matcher._related_read`): the keys it looks for.
RELATED_KEY_COLUMNS: tuple[str, ...] = ("correlation_id", "call_id", "direction")

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
    # Formatted by hand from integers, the date text cached per day: strftime cost ~10% of
    # a 10,000-inquiry batch's answer building, and a datetime per call ~5% (four per answer).
    day, rem = divmod(us, _US_PER_DAY)
    sec, micro = divmod(rem, 1_000_000)
    h, sec = divmod(sec, 3600)
    m, sec = divmod(sec, 60)
    base = f"{_day_text(day)}T{h:02d}:{m:02d}:{sec:02d}"
    return f"{base}.{micro:06d}Z" if micro else f"{base}Z"


@functools.lru_cache(maxsize=4096)
def _day_text(day: int) -> str:
    """``YYYY-MM-DD`` of a day counted from 1970-01-01."""
    t = _EPOCH + timedelta(days=day)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}"


@dataclass
class _Work:
    """One inquiry's state through the passes."""

    inq: Inquiry
    probe: Probe
    rows: list[Row] = field(default_factory=list)
    related: list[Row] = field(default_factory=list)
    wide: bool = False
    capped: bool = False
    #: Set when the legs were found by their dialed or diverted-from number (dialed.py): the
    #: column that held the inquiry's number.
    via_number: str | None = None
    #: The snapshot searched: a not_found answer asks it whether the inquiry's day is held.
    snap: Any = None


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
        with paused_gc():  # tracehop/gcpause.py: ~10% of a large batch's time
            return self._answer(list(inquiries), snap, joined=True)

    def choose(self, n: int, rows: int | None) -> Strategy:
        """``point`` or ``join`` for a batch of ``n`` inquiries on a store of ``rows`` rows."""
        if rows is None:
            return "join" if n >= self.batch_threshold else "point"
        return "join" if n * POINT_COST_S > JOIN_FIXED_S + rows * JOIN_ROW_COST_S else "point"

    # -- passes ------------------------------------------------------------------------------

    def _answer(self, inquiries: list[Inquiry], snap: Snapshot,
                *, joined: bool) -> list[TracebackAnswer]:
        work = [
            _Work(q, Probe.make(i, q.called_e164, to_us(q.time_utc), round(q.window_s * US)),
                  snap=snap)
            for i, q in enumerate(inquiries)
        ]
        if joined and isinstance(self.engine, KeyFetcher):
            return self._answer_read(work, snap, self.engine)
        self._pass(work, snap, wide=False, joined=joined)
        pending = [w for w in work if self._needs_wider(w)]
        if pending:
            for w in pending:
                w.rows, w.related, w.wide = [], [], True
            self._pass(pending, snap, wide=True, joined=joined)
            self._dialed_pass(pending, snap, joined=joined)
        return [self._decide(w) for w in work]

    def _answer_read(self, work: list[_Work], snap: Snapshot,
                     engine: KeyFetcher) -> list[TracebackAnswer]:
        """A batch on an engine that reads store files by key. One read gives, from each day
        file, the legs to the numbers whose widest range (±24 h + window) touches that day;
        the first pass and the widening pass both take their legs in range from it, ranked
        as a single lookup ranks them. The related pass then reads only the days its keys'
        ±10 min touch.

        The days are read in order, the next ones read ahead while this thread ranks and
        decides the inquiries whose days are all read (:data:`DECIDE_CHUNK` at a time): an
        inquiry answered by its first window, with no egress leg left to follow, is final
        there. Only the others (an egress leg to follow, or nothing in the first window) wait
        for the related and widening passes after the read. The Python work of deciding thus
        runs while Polars reads (it releases the GIL) instead of after it.

        Why one wide read rather than a narrow read and then a widening read of the pending
        numbers: Polars skips the pages where no row is selected, so a read costs one decode
        of the number column of every file it asks, plus the pages holding selected rows. On
        the 100M-row bench store (10,000 inquiries, 10% not found) the wide read cost 18.4-19.1
        s of CPU in all, the narrow read plus the widening read 21.7-22.0 s (measured back to
        back): the widening read decodes the number column of every day again, which costs
        more than the extra pages of the wide read.
        """
        answers: list[TracebackAnswer | None] = [None] * len(work)
        days_of: list[range] = []
        by_day: dict[int, set[str]] = defaultdict(set)
        for w in work:
            lo, hi = w.probe.range(True)
            days = range(lo // DAY_US, hi // DAY_US + 1)
            days_of.append(days)
            for day in days:
                by_day[day].add(w.probe.called_e164)
        parts: list[tuple[str, dict[str, list[str]]]] = []
        part_days: list[int] = []
        for day, numbers in sorted(by_day.items()):
            for f in snap.files_for(from_us(day * DAY_US), from_us(day * DAY_US)):
                parts.append((f, {"called_e164": sorted(numbers)}))
                part_days.append(day)
        # Every leg of a number on those days comes back, as a single lookup's widening query
        # returns every leg of its number in ±24 h before its cap applies: memory grows with
        # the busiest numbers' traffic over three days, not with the store.
        # Each inquiry waits for the last day it touches; the parts come in day order.
        waiting: dict[int, list[_Work]] = defaultdict(list)
        for w, days in zip(work, days_of, strict=True):
            waiting[days[-1]].append(w)
        last_days = sorted(waiting)
        tables: dict[int, list[pa.Table]] = defaultdict(list)
        deferred: list[_Work] = []

        def legs_of(chunk: list[_Work]) -> pa.Table | None:
            days = sorted({d for w in chunk for d in days_of[w.probe.qid]})
            got = [t for d in days for t in tables.get(d, ()) if t.num_rows]
            if not got:
                return None
            import pyarrow as pa

            return _with_match_columns(pa.concat_tables(got))

        def decide(chunk: list[_Work]) -> None:
            self._rank_read(chunk, legs_of(chunk), wide=False)
            for w in chunk:
                if self._related_keys(w) or self._needs_wider(w):
                    deferred.append(w)
                else:
                    answers[w.probe.qid] = self._decide(w)

        ready: list[_Work] = []
        k = 0
        for day, table in zip(part_days, engine.read_parts(parts, READ_COLUMNS), strict=True):
            # Every part of the days before `day` has been read.
            while k < len(last_days) and last_days[k] < day:
                ready += waiting[last_days[k]]
                k += 1
            if len(ready) >= DECIDE_CHUNK:
                decide(ready)
                ready = []
            tables[day].append(table)
        for d in last_days[k:]:
            ready += waiting[d]
        if ready:
            decide(ready)
        if deferred:
            self._fetch_related(deferred, snap, joined=True)
            pending = [w for w in deferred if self._needs_wider(w)]
            for w in pending:
                w.rows, w.related, w.wide = [], [], True
            if pending:
                self._rank_read(pending, legs_of(pending), wide=True)
                self._fetch_related(pending, snap, joined=True)
                self._dialed_pass(pending, snap, joined=True)
            for w in deferred:
                answers[w.probe.qid] = self._decide(w)
        done = [a for a in answers if a is not None]
        assert len(done) == len(work)
        return done

    def _rank_read(self, work: list[_Work], legs: pa.Table | None, *, wide: bool) -> None:
        """Each probe's legs in range, tagged and ranked as a single lookup ranks them, by the
        batch form of :func:`~tracehop.match.sql.candidate_sql` run over the legs read (an
        Arrow table, in memory). The join, the step tags and the per-probe cap run in the
        engine, so only the ranked rows become Python dicts: turning every leg read into a
        dict first cost ~30% of a 10,000-inquiry batch on the 100M bench store."""
        if legs is None or not legs.num_rows or not work:
            return
        q = CandidateQuery(tuple(w.probe for w in work), wide=wide, limit=MAX_CANDIDATES)
        found = self.engine.run(render.candidate_sql(q),
                                {"legs": legs, "probes": render.probes_table(q)})
        if len(q.probes) == 1:  # candidate_sql's one-probe form is the filter alone
            rows = render.tag_and_rank(self._rows(found), q.limit)
        else:
            rows = self._rows(found.drop_columns(["k"]))
        by_qid = {w.probe.qid: w for w in work}
        for r in rows:
            w = by_qid[r["qid"]]
            w.rows.append(r)
            if r["rk"] >= MAX_CANDIDATES:
                w.capped = True

    def _pass(self, work: list[_Work], snap: Snapshot, *, wide: bool, joined: bool) -> None:
        probes = tuple(w.probe for w in work)
        by_qid = {w.probe.qid: w for w in work}
        lo = min(p.range(wide)[0] for p in probes)
        hi = max(p.range(wide)[1] for p in probes)
        files = snap.files_for(from_us(lo), from_us(hi))
        if not files:
            return
        if joined:
            rows = self._joined_rows(probes, snap, files, wide=wide)
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
                     *, wide: bool) -> list[Row]:
        """One batch pass in portable SQL, in two phases: the key scan (a join reading only
        called_e164 and start_us: which legs each probe needs), then the wide columns of
        those legs only, ranked per probe by :func:`~tracehop.match.sql.tag_and_rank` as a
        single lookup ranks them (so both paths give the same rows)."""
        width = max(p.range(wide)[1] - p.range(wide)[0] for p in probes)
        q = CandidateQuery(probes, wide=wide, bucket_us=bucket_width(width))
        tables: dict[str, TableSource] = {"legs": files, "probes": render.probes_table(q)}
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

    def _dialed_pass(self, work: list[_Work], snap: Snapshot, *, joined: bool) -> None:
        """The last search (:mod:`tracehop.match.dialed`): for the inquiries still without a
        candidate after every widening step, the legs in their first window whose dialed or
        diverted-from number is the number asked about. One query for all of them, over the
        day files where either column holds a value."""
        lost = [w for w in work if not self._candidates(w)[0]]
        if not lost:
            return
        lo = min(w.probe.t_us - w.probe.w_us for w in lost)
        hi = max(w.probe.t_us + w.probe.w_us for w in lost)
        files = [f for f in snap.files_for(from_us(lo), from_us(hi)) if _holds_dialed(f)]
        if not files:
            return
        if len(lost) == 1:
            # One inquiry (a single lookup): its window's legs, keyed here.
            p = lost[0].probe
            needle = dialed.national_digits(p.called_e164)
            found = [dict(r, qid=p.qid) for r in self._rows(self.engine.run(
                dialed.window_sql(lo, hi), {"legs": files})) if dialed.keyed_on(r, needle)]
        else:
            found = self._dialed_join(lost, files, lo, hi)
        by_qid = {w.probe.qid: w for w in lost}
        via: dict[tuple[int, str], str] = {}  # (qid, leg_id) -> the column that matched
        numbers: dict[str, dict[str, Any]] = {}  # leg_id -> its dialed and diversion values
        for r in found:
            w = by_qid[r["qid"]]
            col = dialed.matching_column(r, w.probe.called_e164)
            if col is not None:  # else the digits end it, but it is another number
                via.setdefault((w.probe.qid, str(r["leg_id"])), col)
                numbers[str(r["leg_id"])] = {c: r[c] for c in dialed.DIALED_COLUMNS}
        if not via:
            return
        legs: dict[str, Row] = {}
        wanted = {(r["called_e164"], int(r["start_us"])) for r in found
                  if (r["qid"], str(r["leg_id"])) in via}
        for leg in self._fetch(snap, wanted):
            legs[str(leg["leg_id"])] = leg
        mine: dict[int, list[Row]] = defaultdict(list)
        for (qid, leg_id), col in via.items():
            w = by_qid[qid]
            if leg_id not in legs or any(str(r["leg_id"]) == leg_id for r in w.rows):
                # A leg already held was found under the number itself (an egress leg whose
                # dialed number is its called number, a Ribbon STOP's): held twice, it was
                # counted twice ("2 leg(s)" in the egress-only warning for one call).
                continue
            found_leg = legs[leg_id]
            mine[qid].append(dict(found_leg, **numbers[leg_id], qid=qid, w_us=w.probe.w_us,
                                  d_us=int(found_leg["start_us"]) - w.probe.t_us,
                                  via_column=col))
        hit = []
        for qid, rows in mine.items():
            w = by_qid[qid]
            w.rows += render.tag_and_rank(rows, MAX_CANDIDATES)
            w.via_number = rows[0]["via_column"]
            hit.append(w)
        if hit:
            self._fetch_related(hit, snap, joined=joined)

    def _dialed_join(self, lost: list[_Work], files: list[str], lo: int,
                     hi: int) -> list[Row]:
        """The batch form of the dialed search: one portable join per length of national
        number (nearly always one), keyed in the time buckets the windows touch."""
        by_length: dict[int, list[Probe]] = defaultdict(list)
        for w in lost:
            by_length[len(dialed.national_digits(w.probe.called_e164))].append(w.probe)
        found: list[Row] = []
        for digits, probes in sorted(by_length.items()):
            bucket = bucket_width(2 * max(p.w_us for p in probes))
            found += self._rows(self.engine.run(
                dialed.dialed_sql(lo, hi, digits, bucket),
                {"legs": files, "dialed_probes": dialed.probes_table(probes),
                 "dialed_buckets": dialed.buckets_table(probes, bucket)}))
        return found

    def _fetch(self, snap: Snapshot, keys: set[tuple[str | None, int]]) -> list[Row]:
        """Phase 2: the matcher's columns of the legs with these (called_e164, start_us) keys,
        read from the day files the keys fall in."""
        if not keys:
            return []
        days = sorted({start // DAY_US for _, start in keys})
        files = [f for d in days for f in snap.files_for(from_us(d * DAY_US),
                                                          from_us(d * DAY_US))]
        wanted = render.wanted_table(keys)
        return self._rows(self.engine.run(render.fetch_sql(), {"legs": files, "wanted": wanted}))

    def _egress(self, row: Row) -> bool:
        """Whether ``row`` is an egress leg, which never answers: marked outbound by its
        format's direction rule, unless its ingress (trunk, address or account) is one of our
        customers in the peer directory. A switch's record of a call its own customer placed
        (a CUCM phone, a BroadWorks user's Originating record, a Kamailio INVITE from a
        customer's private address, an SBC realm named for a PBX) is outbound by the format's
        convention, yet it is where that customer handed us the call (DESIGN §6:
        ``originating`` when the ingress or account maps to a customer): the directory, the
        provider's own knowledge, wins over the convention."""
        if not is_egress(row):
            return False
        peer = self._peer(row)
        return peer is None or peer.role != "customer"

    def _related_keys(self, w: _Work) -> list[tuple[int, str, str, int, int]]:
        """(qid, kind, value, lo, hi) of each call whose egress leg ``w`` matched without its
        inbound leg among the rows it has: the keys the related pass looks for."""
        keys: list[tuple[int, str, str, int, int]] = []
        egress = [r for r in w.rows if is_egress(r)]
        if not egress:
            return keys
        have = _call_index(r for r in w.rows if not self._egress(r))
        inbound = _call_index(r for r in w.rows if not is_egress(r))
        seen: set[tuple[str, str]] = set()
        for e in egress:
            # Our customer's own outbound record looks for an inbound leg of the same call
            # too: if there is one, the customer forwarded a call it received (_candidates).
            if _siblings(e, have if self._egress(e) else inbound):
                continue
            for kind in ("correlation_id", "call_id"):
                v = e.get(kind)
                if v and (kind, v) not in seen:
                    seen.add((kind, v))
                    s = int(e["start_us"])
                    keys.append((w.probe.qid, kind, str(v), s - RELATED_SLACK_US,
                                 s + RELATED_SLACK_US))
        return keys

    def _fetch_related(self, work: list[_Work], snap: Snapshot, *, joined: bool) -> None:
        """Fetch the inbound legs of calls whose egress leg matched, when not already read."""
        keys = [k for w in work for k in self._related_keys(w)]
        if not keys:
            return
        by_qid = {w.probe.qid: w for w in work}
        if joined and isinstance(self.engine, KeyFetcher):
            self._related_read(self.engine, by_qid, keys, snap)
            return
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
        # Only the days the keys' ranges touch (a matched egress leg's call is looked for
        # within ±10 min of it), not every day between the first and the last key.
        files = list(dict.fromkeys(f for k in keys for f in snap.files_for(from_us(k[3]),
                                                                              from_us(k[4]))))
        if not files:
            return
        table = render.related_table(RelatedQuery(tuple(keys)))
        found = self.engine.run(render.related_keys_sql(), {"legs": files, "related_keys": table})
        if not found.num_rows:
            return
        wanted = set(zip(found.column("called_e164").to_pylist(),
                         found.column("start_us").to_pylist(), strict=True))
        _attach_related(by_qid, keys, self._fetch(snap, wanted))

    def _related_read(self, engine: KeyFetcher, by_qid: dict[int, _Work],
                      keys: list[tuple[int, str, str, int, int]], snap: Snapshot) -> None:
        """The related pass on an engine that reads store files by key: each day file the
        keys' ranges touch is asked for the legs carrying one of those keys, with all the
        decision's columns in the same read; then each leg is checked as
        :func:`~tracehop.match.sql.related_sql` checks it (:func:`_attach_related`)."""
        wanted: dict[str, dict[str, set[str]]] = {}
        for _, kind, key, lo, hi in keys:
            for f in snap.files_for(from_us(lo), from_us(hi)):
                wanted.setdefault(f, {"correlation_id": set(), "call_id": set()})[kind].add(key)
        if not wanted:
            return
        parts = [(f, {kind: sorted(v) for kind, v in match.items()})
                 for f, match in wanted.items()]
        # First the key columns alone: most keys are those of an egress leg whose call came
        # in on no other leg (its calling customer's, or an orphan), and then no file holds
        # a sibling, only the egress leg itself; reading every decision column from each day
        # file the keys touch cost 0.35 s at the end of a 10,000-inquiry batch on the 100M
        # bench store, for 6 keys and no sibling, the keys alone 0.21 s. Only the files
        # where a leg that is not outbound carries a key are read in full.
        hits = [part for part, got in zip(parts, engine.read_parts(parts, RELATED_KEY_COLUMNS),
                                          strict=True)
                if any(d != "outbound" for d in got.column("direction").to_pylist())]
        if hits:
            _attach_related(by_qid, keys, self._rows(engine.read_in(hits, READ_COLUMNS)))

    @staticmethod
    def _rows(table: pa.Table) -> list[Row]:
        rows: list[Row] = table.to_pylist()
        return rows

    # -- deciding ----------------------------------------------------------------------------

    def _needs_wider(self, w: _Work) -> bool:
        """Whether the search goes on past ±15 min: nothing was found, or the inquiry gives a
        calling number and no leg found agrees with it while one differs. Spoofed caller IDs
        pass through the chain unchanged, so a disagreeing leg is most likely another call to
        the same number; the one asked about may sit at a whole-hour offset (a zone slip) with
        the calling number the inquiry gives (:meth:`_decide` takes it from there)."""
        if w.wide:
            return False
        if w.inq.time_dst == "repeated":
            # The asker's local time happened twice: its second reading is one hour after
            # the first (the +1h step), which only the wide pass reads (_level).
            return True
        cands = self._candidates(w)[0]
        if not cands:
            return True
        calling = w.inq.calling_e164
        if not calling:
            return False
        agree = differ = False
        for c in cands:
            known = _callings(c)
            agree = agree or calling in known
            differ = differ or bool(known and calling not in known)
        return differ and not agree

    def _candidates(self, w: _Work) -> tuple[list[Candidate], list[Row]]:
        """Candidates (inbound legs, direct or through their egress leg) and orphan egress
        legs (no inbound leg of that call anywhere)."""
        inbound = [r for r in w.rows if not is_egress(r)]
        cands = [Candidate(r, r, int(r["step"]), int(r["dist_us"])) for r in inbound]
        orphans: list[Row] = []
        egress = [r for r in w.rows if is_egress(r)]
        if not egress:
            return cands, orphans  # the call indexes below serve egress legs only
        customers = [r for r in egress if not self._egress(r)]
        pool = _call_index(inbound + customers + w.related)
        received = _call_index(inbound + w.related)
        for e in egress:
            customer = not self._egress(e)
            # An outbound record whose ingress is our customer (a CUCM phone, a BroadWorks
            # user's Originating record) is where that customer handed us the call: it
            # answers `originating`, unless the same call also came in from elsewhere (an
            # inbound leg sharing its call key): then the customer only forwarded a call it
            # received (call forwarding, a PBX's tandem leg), and that inbound leg answers.
            sib = _siblings(e, received if customer else pool)
            if not sib:
                if customer:
                    cands.append(Candidate(e, e, int(e["step"]), int(e["dist_us"])))
                else:
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
        trunk, ip = leg.get("ingress_trunk"), leg.get("ingress_ip")
        if trunk and ip and _is_addr_port(str(trunk), str(ip)):
            # A SIP capture's trunk is the source "address:port", and over TCP/TLS every
            # connection has its own ephemeral port: the hand-off is the address. Keyed by
            # the port, two calls from one unmapped peer made each other "ambiguous".
            trunk = None
        return ("unmapped", trunk, ip, leg.get("account"))

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
        if inq.time_dst == "repeated":
            # The asker's local time happened twice: one reading was searched first, the
            # other is the -1h/+1h step, found only if nothing is nearer. Say so either way.
            warnings.append(f"the inquiry's local time {inq.time_raw!r} happened twice (the "
                            f"repeated hour of a DST change); read as the first occurrence "
                            f"(summer time), {iso_z(p.t_us)}: if the call was in the second, "
                            f"it is one hour later; give the UTC offset to decide")
        elif inq.time_dst == "skipped":
            warnings.append(f"the inquiry's local time {inq.time_raw!r} does not exist (the "
                            f"clock skipped that hour for DST); read with the offset before "
                            f"the change, {iso_z(p.t_us)}; give the UTC offset to decide")
        if inq.calling_unusable:
            warnings.append(f"calling number {inq.calling_raw!r} is not a valid phone number: "
                            f"compared with the records as written")
        cands, orphans = self._candidates(w)
        echo = _echo(inq)
        if not cands:
            last = widen.last_index()
            reach = widen.reach_us(last, p.w_us)
            if orphans:
                first = min(orphans, key=lambda r: int(r["start_us"]))
                warnings.append(f"{EGRESS_ONLY} [{len(orphans)} leg(s), the nearest at "
                                f"{iso_z(int(first['start_us']))}]")
            if (uncovered := _uncovered(w.snap, p)) is not None:
                warnings.append(uncovered)
            return TracebackAnswer(
                inquiry=echo, status="not_found", confidence=0.0,
                searched=Searched(iso_z(p.t_us - reach), iso_z(p.t_us + reach),
                                  "not found within ±24h (all steps)",
                                  widen.steps_through(last, p.w_us)),
                warnings=warnings)
        levels = sorted({_level(c, inq) for c in cands})
        decision = self._rank_level(cands, levels[0], inq, p)
        set_aside: Candidate | None = None
        looked_everywhere = False
        if decision.best.parts.get("calling", 0.0) < 0:
            # The nearest leg's calling number differs from the inquiry's: a later level may
            # hold the call asked about, with its calling number (_needs_wider read it).
            for lv in levels[1:]:
                later = self._rank_level(cands, lv, inq, p)
                if later.best.parts.get("calling", 0.0) > 0:
                    set_aside, decision = decision.best, later
                    break
            # Every level to ±24 h was read (the wide pass) and weighed for a call with the
            # inquiry's calling number, and none had it: `searched` must say all of it was
            # searched, or the reader goes to search the hour offsets again.
            looked_everywhere = set_aside is None and w.wide
        best = decision.best
        step_index = best.step
        level_of = _level(best, inq)
        second_reading = level_of == 0 and step_index >= 2
        dst_hint = inq.time_dst == "repeated" or any(
            c.leg.get("time_ambiguous") for c in cands if _level(c, inq) == level_of)
        step = widen.describe(step_index, p.w_us, dst_hint=dst_hint)
        # Both directions of a whole-hour level were searched.
        searched_to = level_of + 1 if level_of >= 2 else level_of
        if inq.time_dst == "repeated" or second_reading:
            # Both readings of the asker's (or the record's) local time were searched: the
            # first window and the ±1h steps (the wide pass ran).
            searched_to = max(searched_to, 3)
        if looked_everywhere:
            searched_to = widen.last_index()
        if w.via_number is not None:
            # Every step was tried on the called number before the dialed numbers.
            searched_to = widen.last_index()
            step = widen.Step(step_index, f"{dialed.STEP_LABEL} {step.label}", 0, p.w_us)
            col = str(best.matched.get("via_column") or w.via_number)
            warnings.append(
                f"no leg to {inq.called_e164} itself within ±24 h; this leg's "
                f"{dialed.WHAT[col]} is that number (recorded "
                f"{best.matched.get(col)!r}), its called number "
                f"{best.matched.get('called_e164') or best.matched.get('called_raw')!r}: the "
                f"call was translated or forwarded")
        if set_aside is not None:
            away = (int(set_aside.matched["start_us"]) - p.t_us) / US
            warnings.append(f"{SET_ASIDE} [{away:+.0f} s from the inquiry time, calling "
                            f"{set_aside.leg.get('calling_e164') or '?'}]")
        status, upstream, customer = self._status(best.leg)
        conflict = self._account_conflict(best.leg) if status == "originating" else None
        if conflict is not None:
            warnings.append(conflict)
        if status == "originating" and is_egress(best.leg):
            warnings.append("the record marks this leg outbound (the format's convention for "
                            "our own side), but its ingress is our customer's: answered as "
                            "the call that customer handed us")
        confidence = decision.confidence
        if decision.ambiguous:
            status = "ambiguous"
            more = ("give the calling number (or the duration) to decide" if not inq.calling_e164
                    else "give the duration to decide, or check the alternatives")
            warnings.append(f"{decision.contenders} other call(s) from a different hand-off "
                            f"match almost as well; {more}")
        elif best.parts.get("calling", 0.0) < 0:
            # Spoofed caller IDs pass through unchanged, so a call whose calling number differs
            # from the inquiry's is most likely another call that happened to hit the same
            # number. Naming its hand-off as certain would accuse an innocent peer or customer:
            # say what was found, and that it does not agree.
            status = "ambiguous"
            confidence = round(confidence * 0.5, 4)
            came = (best.leg.get("calling_e164") or best.leg.get("pai_e164")
                    or best.leg.get("calling_raw") or "an unknown number")
            warnings.append(f"{OTHER_CALLING} [it came from {came}, the inquiry says "
                            f"{inq.calling_e164}]")
        warnings += _stir_warnings(best.leg)
        if upstream is not None and best.leg.get("signer_spc"):
            from tracehop.sip.passport import stir_signer_mismatch

            flag = stir_signer_mismatch(best.leg.get("signer_spc"), upstream.ocn)
            if flag:
                warnings.append(flag)
        offset_s = (int(best.leg["start_us"]) - p.t_us) / US
        if second_reading:
            whose = "inquiry's" if step_index == 2 else "record's"
            warnings.append(f"matched at the second occurrence of the {whose} local time "
                            f"(the repeated hour of a DST change); the record is "
                            f"{offset_s:+.0f} s from the inquiry time as read")
        elif step_index > 0:
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
        if best.leg.get("direction") in (None, "unknown"):
            warnings.append("the matched leg's direction is unknown (the source does not say); "
                            "it is taken as the inbound leg")
        if status == "unmapped" or (status == "ambiguous" and self._peer(best.leg) is None):
            if self.peers is None:
                warnings.append("no peer directory was given: the ingress is reported unmapped")
            else:
                marks = [f"{label} {best.leg.get(col)!r}" for label, col in
                         (("trunk", "ingress_trunk"), ("IP", "ingress_ip"), ("account", "account"))
                         if best.leg.get(col)]
                # A leg with no trunk, address or account (a BroadWorks Terminating record of
                # an on-net call) has nothing to add to the directory: say what is missing.
                warnings.append(
                    f"ingress {' / '.join(marks)} is in no peer entry: add it to the peer "
                    f"directory" if marks else "the matched leg records no ingress (no trunk, "
                    "address or account): the record does not say who handed over the call "
                    "(a call placed inside this switch records its caller on another leg)")
        if w.capped:
            warnings.append(f"more than {MAX_CANDIDATES} records matched; only the nearest "
                            f"{MAX_CANDIDATES} were scored")
        reach = widen.reach_us(searched_to, p.w_us)
        return TracebackAnswer(
            inquiry=echo,
            status=status,
            confidence=confidence,
            searched=Searched(iso_z(p.t_us - reach), iso_z(p.t_us + reach), step.label,
                              widen.steps_through(searched_to, p.w_us)
                              + ([step.label] if w.via_number is not None else [])),
            upstream=upstream,
            customer=customer,
            match=self._match(best, p.t_us),
            alternatives=[self._match(c, p.t_us) for c in decision.others],
            warnings=warnings,
        )

    def _rank_level(self, cands: list[Candidate], lv: int, inq: Inquiry,
                    p: Probe) -> Decision:
        """Score the candidates of one search level (each against the centre of its own
        step: +k h or -k h) and rank them."""
        in_level = [c for c in cands if _level(c, inq) == lv]
        for c in in_level:
            step = widen.describe(c.step, p.w_us)
            score_candidate(c, inq, p.t_us, step.half_us, step.centre_us,
                            inner_us=p.w_us if step.index == 1 else 0)
        return rank(in_level, self._handoff)

    def _status(self, leg: Row) -> tuple[Status, Upstream | None, Customer | None]:
        peer = self._peer(leg)
        trunk, ip = leg.get("ingress_trunk"), leg.get("ingress_ip")
        if peer is None:
            return "unmapped", Upstream(provider=None, trunk=trunk, ip=ip), None
        if peer.role == "customer":
            return "originating", None, Customer(account=leg.get("account"), name=peer.name)
        up = Upstream(provider=peer.name, ocn=peer.ocn, trunk=trunk, ip=ip, contact=peer.contact)
        return ("point_of_entry" if peer.role == "foreign" else "upstream"), up, None

    def _account_conflict(self, leg: Row) -> str | None:
        """A warning when the leg's account names our customer but its trunk or address names
        another peer. The account wins (peer precedence: customers behind a shared trunk are
        told apart by account), but many switches also stamp the called customer's account on
        calls arriving from a carrier, and then the carrier handed the call over: a person
        must see both before the answer goes out."""
        if self.peers is None or not leg.get("account"):
            return None
        other = self.peers.resolve(leg.get("ingress_trunk"), leg.get("ingress_ip"), None)
        if other is None or other.role == "customer":
            return None
        via = " ".join(f"{k} {leg[k]}" for k in ("ingress_trunk", "ingress_ip") if leg.get(k))
        return (f"account {leg['account']} is our customer's, but the call came in on {via}, "
                f"which is {other.role} {other.name}: answered as originating by the account; "
                f"if that account marks the called customer, {other.name} handed the call over")

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


#: How far a PASSporT's iat may be from the INVITE: RFC 8224 §4.1 recommends sixty seconds of
#: freshness for the Date the token is built from.
STIR_FRESH_S = 60


def _level(c: Candidate, inq: Inquiry) -> int:
    """The search level of a candidate for this inquiry. A local time in the repeated hour of
    a fall-back day is read as its first occurrence (fold=0), but may as well have meant the
    second, one hour later. So a leg within the window of the second reading is as near the
    asked time as one within the first window, and is ranked with it (level 0):
    - an inquiry time that happened twice (``time_dst == "repeated"``): a leg at +1h;
    - a record read by that rule (``time_ambiguous``, a CDR without uniqueid under --tz): the
      leg at -1h, whose second reading is the inquiry time.
    Before, any leg within ±15 min of the first reading won over an exact match at the
    second, and the traceback went to that other call's upstream."""
    step = c.step
    if step == 2 and inq.time_dst == "repeated":
        return 0
    if step == 3 and c.matched.get("time_ambiguous"):
        return 0
    return widen.level(step)


def _stir_warnings(leg: Row) -> list[str]:
    """What the matched leg's PASSporT says against itself: a signature that did not verify
    against the certificate directory (RFC 8224 §6.2: an attestation nobody vouches for), a
    token issued more than a minute away from the call, or for another called number (both
    the marks of a replayed token)."""
    out: list[str] = []
    if leg.get("stir_verified") is False:
        out.append(f"the call's PASSporT (attestation {leg.get('attest') or '?'}) did not verify "
                   f"against the certificates: its attestation is not to be relied on")
    iat = leg.get("iat_utc")
    if iat is not None:
        late = (int(leg["start_us"]) - to_us(iat)) / US
        if abs(late) > STIR_FRESH_S:
            out.append(f"the call's PASSporT was issued {abs(late):.0f} s "
                       f"{'before' if late > 0 else 'after'} the call (more than "
                       f"{STIR_FRESH_S} s: replayed?)")
    dest, called = leg.get("dest_tn"), leg.get("called_e164")
    # same_tn: a NANP dest without its country code, or one of several destinations, is
    # this call's number, not the mark of a replayed token.
    if dest and called and same_tn(str(dest), str(called)) is False:
        digits = ",".join("".join(ch for ch in part if ch.isdigit())
                          for part in str(dest).split(","))
        out.append(f"the call's PASSporT was issued for another called number ({digits}): "
                   f"replayed?")
    return out


def _uncovered(snap: Any, p: Probe) -> str | None:
    """For a not_found answer: a warning when the store holds no leg at all on the UTC days
    of the inquiry's window. A provider answers the consortium "no record" on not_found; if
    that day's records were never ingested (a scheduled ingest behind, a file left out), the
    store was not searched where the call would be, and the answer must not pass for it."""
    days_of = getattr(snap, "days", None)
    if days_of is None:
        return None
    held: list[date] = days_of()
    first = from_us(p.t_us - p.w_us).date()
    last = from_us(p.t_us + p.w_us).date()
    wanted = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    if set(wanted) & set(held):
        return None
    fix = ("ingest those records (tracehop ingest FILE --store DIR) before answering that "
           "the call is not in them")
    if not held:
        return f"the store holds no call records at all: {fix}"
    # Not the days it does hold: the HTTP responder passes warnings on to other providers,
    # and the store's extent is none of theirs (DESIGN §7); `tracehop files` lists it.
    days = " and ".join(d.isoformat() for d in wanted)
    whose = "that day's" if len(wanted) == 1 else "those days'"
    return (f"the store holds no call records on {days} (UTC): {whose} records may not "
            f"be ingested yet (tracehop files lists what was); {fix}")


def _is_addr_port(trunk: str, ip: str) -> bool:
    """Whether ``trunk`` is ``ip`` with a port (``192.0.2.4:5060``, ``[2001:db8::4]:5061``),
    as the SIP reader names a capture's trunks."""
    host, sep, port = trunk.rpartition(":")
    return bool(sep) and port.isdigit() and host in (ip, f"[{ip}]")


def _callings(c: Candidate) -> list[str]:
    """The calling numbers a candidate is known by (as :func:`score_candidate` compares)."""
    return [x for x in (c.leg.get("calling_e164"), c.leg.get("pai_e164"),
                        c.matched.get("calling_e164")) if x]


def _attach_related(by_qid: dict[int, _Work], keys: list[tuple[int, str, str, int, int]],
                    legs: list[Row]) -> None:
    """Give each inquiry the legs that share one of its keys (kind, value) within the key's
    time range and are not egress legs: the checks of :func:`~tracehop.match.sql.related_sql`,
    in its order (start_us, leg_id), on legs read by a wider test."""
    asked: dict[tuple[str, str], list[tuple[int, int, int]]] = defaultdict(list)
    for qid, kind, key, k_lo, k_hi in keys:
        asked[(kind, key)].append((qid, k_lo, k_hi))
    for leg in sorted(legs, key=lambda r: (int(r["start_us"]), str(r["leg_id"]))):
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


def _holds_dialed(path: str) -> bool:
    """Whether a store file may hold a dialed or diverted-from number: not when its footer
    statistics count only nulls in both columns (most CDR formats have neither). A file that
    is not local (an engine's remote path) is asked."""
    import os

    if not os.path.isfile(path):
        return True
    from tracehop.engines.keyfetch import all_null_columns

    try:
        empty = all_null_columns(path)
    except (OSError, ValueError):
        return True  # the query names the damaged file
    return not all(c in empty for c in dialed.DIALED_COLUMNS)


def _with_match_columns(legs: pa.Table) -> pa.Table:
    """``legs`` (READ_COLUMNS + start_us) with the MATCH_COLUMNS a batch read leaves out, as
    typed nulls, so that the SQL of :mod:`.sql` (which selects all of MATCH_COLUMNS) runs on
    it; nothing after the ranking reads them."""
    import pyarrow as pa

    from tracehop.schema import LEG_SCHEMA

    for name in MATCH_COLUMNS:
        if name not in legs.column_names:
            field = LEG_SCHEMA.field(name)
            legs = legs.append_column(field, pa.nulls(legs.num_rows, field.type))
    return legs


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
