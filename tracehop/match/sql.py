"""Render the query spec (:mod:`tracehop.match.spec`) to portable SQL.

One SQL text runs unchanged on DuckDB, Spark, Polars SQL, DataFusion and Trino
(research/distributed.md): times are compared as int64 epoch microseconds (``start_us``, which
every engine adds to the store relation; :mod:`tracehop.engines.base`), the range predicate sits
in ``WHERE``, ranking is ``ROW_NUMBER() OVER (...)`` with a total order (``leg_id`` last), and
rounding is ``ROUND`` of a double (half away from zero in every one of those engines).

Two shapes, one set of expressions:

- one probe: its E.164 number and integer bounds are inlined as literals, so the engine can
  prune Parquet pages on them (prepared parameters measured 2-3x slower; perf.md §3). Only
  values validated by :class:`~tracehop.match.spec.Probe` reach the text.
- a batch: the probes are an Arrow table ``probes`` joined on the called number, plus a time
  bucket when ``bucket_us`` is set.

On an engine with only this SQL (Spark), a batch runs in two phases
(:mod:`tracehop.match.matcher`): :func:`keys_sql` (the batch join reading only the keys) and
:func:`fetch_sql` (the matched legs' columns by key); the related pass likewise
(:func:`related_keys_sql`, then :func:`fetch_sql`). DuckDB reads a batch's legs with Polars
instead (:mod:`tracehop.engines.keyfetch`) and ranks them with :func:`tag_and_rank`.
:func:`candidate_sql`'s batch form is the one-query reference the tests compare the steps
against.

In the batch form each row is tagged in SQL with its widening ``step`` (0: the window; 1:
±15 min; 2|k|+(k<0): the whole-hour offset k) and ``dist_us`` (distance to that step's centre),
and ranked per inquiry with ``ROW_NUMBER()``, keeping at most ``limit``. The one-probe form is
only the filter: for a single inquiry the step tags, the ranking and the cap are done by
:func:`tag_and_rank` in Python, with :mod:`.widen` (the twin of the SQL expressions; the
tests check they agree row for row). Measured on the 1M-row store: the filter alone runs in
about the time of the raw baseline query (7.8 vs 7.4 ms p50 under load), the CASE/ROW_NUMBER
stages took it to 16 ms: DuckDB's extra pipelines cost more than the lookup itself.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from tracehop.match import widen
from tracehop.match.spec import (
    HOUR_US,
    MATCH_COLUMNS,
    MAX_OFFSET_H,
    WIDE_US,
    CandidateQuery,
    RelatedQuery,
    checked_e164,
)

PROBES_SCHEMA = pa.schema([
    pa.field("qid", pa.int64()),
    pa.field("called_e164", pa.string()),
    pa.field("t_us", pa.int64()),
    pa.field("w_us", pa.int64()),
    pa.field("lo_us", pa.int64()),
    pa.field("hi_us", pa.int64()),
    pa.field("bucket", pa.int64()),
])

RELATED_SCHEMA = pa.schema([
    pa.field("qid", pa.int64()),
    pa.field("kind", pa.string()),
    pa.field("key", pa.string()),
    pa.field("lo_us", pa.int64()),
    pa.field("hi_us", pa.int64()),
])


def _cols(alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in MATCH_COLUMNS)


def candidate_sql(q: CandidateQuery) -> str:
    """The SQL for one search pass. Batch form when there are several probes or buckets."""
    if not q.probes:
        raise ValueError("a candidate query needs at least one probe")
    if len(q.probes) == 1 and q.bucket_us is None:
        p = q.probes[0]
        lo, hi = p.range(q.wide)
        t, w = int(p.t_us), int(p.w_us)
        return (
            f"SELECT {int(p.qid)} AS qid, {_cols('l')}, l.start_us,\n"
            f"       l.start_us - {t} AS d_us, {w} AS w_us\n"
            f"FROM legs l\n"
            f"WHERE l.called_e164 = '{checked_e164(p.called_e164)}'\n"
            f"  AND l.start_us BETWEEN {int(lo)} AND {int(hi)}"
        )
    else:
        bucket = _bucket_on(q)
        cand = (
            f"SELECT q.qid, {_cols('l')}, l.start_us,\n"
            f"         l.start_us - q.t_us AS d_us, q.w_us,\n"
            f"         CAST(ROUND((l.start_us - q.t_us) / {HOUR_US}.0) AS BIGINT) AS k\n"
            f"  FROM legs l JOIN probes q\n"
            f"    ON l.called_e164 = q.called_e164{bucket}\n"
            f"  WHERE l.start_us BETWEEN q.lo_us AND q.hi_us"
        )
    return (
        f"WITH cand AS (\n  {cand}\n),\n"
        f"{_steps_sql()}"
        f"ranked AS (\n"
        f"  SELECT m.*, ROW_NUMBER() OVER (PARTITION BY qid ORDER BY step, dist_us, leg_id) AS rk\n"
        f"  FROM measured m\n"
        f")\n"
        f"SELECT * FROM ranked WHERE rk <= {int(q.limit)} ORDER BY qid, rk"
    )


def _steps_sql() -> str:
    """CTEs ``stepped`` (each row of ``cand`` tagged with its widening step, rows in no step
    dropped) and ``measured`` (plus ``dist_us``): the SQL twin of :mod:`.widen`."""
    return (
        f"stepped AS (\n"
        f"  SELECT c.*, CASE\n"
        f"      WHEN ABS(d_us) <= w_us THEN 0\n"
        f"      WHEN w_us < {WIDE_US} AND ABS(d_us) <= {WIDE_US} THEN 1\n"
        f"      WHEN ABS(k) BETWEEN 1 AND {MAX_OFFSET_H}"
        f" AND ABS(d_us - {HOUR_US} * k) <= w_us\n"
        f"        THEN 2 * ABS(k) + CASE WHEN d_us < 0 THEN 1 ELSE 0 END\n"
        f"    END AS step\n"
        f"  FROM cand c\n"
        f"),\n"
        f"measured AS (\n"
        f"  SELECT s.*, CASE WHEN step >= 2 THEN ABS(d_us - {HOUR_US} * k)"
        f" ELSE ABS(d_us) END AS dist_us\n"
        f"  FROM stepped s WHERE step IS NOT NULL\n"
        f"),\n"
    )


def _bucket_on(q: CandidateQuery) -> str:
    if q.bucket_us is None:
        return ""
    b = int(q.bucket_us)
    if b & (b - 1):
        raise ValueError("bucket_us must be a power of two")
    return f"\n   AND CAST(FLOOR(l.start_us / {b}.0) AS BIGINT) = q.bucket"


def keys_sql(q: CandidateQuery) -> str:
    """Phase 1 of a batch pass (the key scan): which legs each probe needs, as keys only.

    The same join, steps and cap as :func:`candidate_sql`, but reading only ``called_e164``
    and ``start_us``: a join pass costs about one decode of every projected column over the
    days it touches, and the wide columns (leg_id, call_id, the raw values) were ~90% of it
    (benchmarks/RESULTS.md, bench_batch notes). The rows themselves are then read by key
    (:func:`fetch_sql`, or the engine's own fetch), and ranked in Python by
    :func:`tag_and_rank` exactly as a single lookup ranks them.

    The cap uses ``RANK()`` over (step, dist_us), not the final order (which ends with
    ``leg_id``, a wide column): every leg within the first ``limit`` of the final order has a
    rank <= ``limit``, so the keys kept are a superset of what the final ranking keeps, and
    every leg with a kept key is in the probe's range. Result: distinct (qid, called_e164,
    start_us).
    """
    if not q.probes:
        raise ValueError("a key scan needs at least one probe")
    return (
        f"WITH cand AS (\n"
        f"  SELECT q.qid, l.called_e164, l.start_us,\n"
        f"         l.start_us - q.t_us AS d_us, q.w_us,\n"
        f"         CAST(ROUND((l.start_us - q.t_us) / {HOUR_US}.0) AS BIGINT) AS k\n"
        f"  FROM legs l JOIN probes q\n"
        f"    ON l.called_e164 = q.called_e164{_bucket_on(q)}\n"
        f"  WHERE l.start_us BETWEEN q.lo_us AND q.hi_us\n"
        f"),\n"
        f"{_steps_sql()}"
        f"ranked AS (\n"
        f"  SELECT m.*, RANK() OVER (PARTITION BY qid ORDER BY step, dist_us) AS rk\n"
        f"  FROM measured m\n"
        f")\n"
        f"SELECT DISTINCT qid, called_e164, start_us FROM ranked WHERE rk <= {int(q.limit)}"
    )


def related_keys_sql() -> str:
    """Phase 1 of the related pass: keys of the non-egress legs sharing a correlation_id or
    call_id with a row of ``related_keys`` (the narrow twin of :func:`related_sql`). The
    matcher re-checks the shared key and the direction on the fetched rows."""
    parts = []
    for kind in ("correlation_id", "call_id"):
        parts.append(
            f"SELECT l.called_e164, l.start_us\n"
            f"  FROM legs l JOIN related_keys r ON l.{kind} = r.key\n"
            f"  WHERE r.kind = '{kind}' AND l.start_us BETWEEN r.lo_us AND r.hi_us\n"
            f"    AND COALESCE(l.direction, 'unknown') <> 'outbound'"
        )
    return "SELECT DISTINCT called_e164, start_us FROM (\n" + "\nUNION ALL\n".join(parts) + "\n) x"


def fetch_sql() -> str:
    """Phase 2, portable form: the matcher's columns of the legs whose (called_e164, start_us)
    is in ``wanted``. A null called number matches a null key (COALESCE keeps it an
    equi-join, which every engine hashes or broadcasts). Engines that can read rows by key
    without a full-width scan implement :class:`tracehop.engines.base.KeyFetcher` instead."""
    return (
        f"SELECT {_cols('l')}, l.start_us\n"
        f"FROM legs l JOIN wanted w\n"
        f"  ON l.start_us = w.start_us\n"
        f" AND COALESCE(l.called_e164, '') = COALESCE(w.called_e164, '')"
    )


WANTED_SCHEMA = pa.schema([
    pa.field("called_e164", pa.string()),
    pa.field("start_us", pa.int64()),
])


def wanted_table(keys: set[tuple[str | None, int]]) -> pa.Table:
    """The ``wanted`` table of :func:`fetch_sql`: distinct (called_e164, start_us) keys."""
    ordered = sorted(keys, key=lambda k: (k[0] or "", k[1]))
    return pa.table([[k[0] for k in ordered], [k[1] for k in ordered]], schema=WANTED_SCHEMA)


def tag_and_rank(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """What the batch SQL does after its filter, for the rows of one probe: tag each row with
    ``step``/``dist_us``, drop rows in no step, rank by (step, dist_us, leg_id), keep ``limit``.
    """
    kept = []
    for r in rows:
        step = widen.step_of(int(r["d_us"]), int(r["w_us"]))
        if step is None:
            continue
        r["step"] = step
        r["dist_us"] = widen.dist_of(int(r["d_us"]), step)
        kept.append(r)
    kept.sort(key=lambda r: (r["step"], r["dist_us"], r["leg_id"]))
    for i, r in enumerate(kept[:limit], start=1):
        r["rk"] = i
    return kept[:limit]


def probes_table(q: CandidateQuery) -> pa.Table:
    """The ``probes`` table of a batch: one row per probe and time bucket it touches."""
    qid: list[int] = []
    called: list[str] = []
    t: list[int] = []
    w: list[int] = []
    los: list[int] = []
    his: list[int] = []
    buckets: list[int] = []
    for p in q.probes:
        lo, hi = p.range(q.wide)
        span = [0] if q.bucket_us is None else list(
            range(lo // q.bucket_us, hi // q.bucket_us + 1))
        for b in span:
            qid.append(p.qid)
            called.append(checked_e164(p.called_e164))
            t.append(p.t_us)
            w.append(p.w_us)
            los.append(lo)
            his.append(hi)
            buckets.append(b)
    return pa.table([qid, called, t, w, los, his, buckets], schema=PROBES_SCHEMA)


def related_sql() -> str:
    """Non-egress legs sharing a correlation_id or call_id with a key in ``related_keys``."""
    parts = []
    for kind in ("correlation_id", "call_id"):
        parts.append(
            f"SELECT r.qid, r.kind AS via, r.key AS via_key, {_cols('l')}, l.start_us\n"
            f"  FROM legs l JOIN related_keys r ON l.{kind} = r.key\n"
            f"  WHERE r.kind = '{kind}' AND l.start_us BETWEEN r.lo_us AND r.hi_us\n"
            f"    AND COALESCE(l.direction, 'unknown') <> 'outbound'"
        )
    return "\nUNION ALL\n".join(parts) + "\nORDER BY qid, start_us, leg_id"


def related_table(q: RelatedQuery) -> pa.Table:
    columns: list[list[object]] = [[], [], [], [], []]
    for key in q.keys:
        for i, value in enumerate(key):
            columns[i].append(value)
    return pa.table(columns, schema=RELATED_SCHEMA)
