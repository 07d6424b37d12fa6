"""Applying a profile to a batch of raw columns: call-leg rows (LEG_SCHEMA) and rejects.

Everything here is a vectorised Polars expression over the whole batch: no Python per row.
The steps follow the profile's sections (docs/profiles.md): null spellings, ``[fields]``
(column copy, named transform, regex group), ``[time]`` (formats, zone), numbers to E.164
(:func:`tracehop.numbers.normalise`), ``[direction]`` and ``[disposition]`` rules.

A row whose start time is missing or unparseable, or whose answer/end time is present but
unparseable, is rejected with a reason naming the column, the value and the expected format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

import polars as pl

from tracehop import numbers
from tracehop.errors import ZoneError
from tracehop.ingest.profile import (
    OFFSET_DIRECTIVE,
    FieldSpec,
    Profile,
    Rule,
    RuleSet,
    TimeSpec,
)
from tracehop.ingest.readers import LINE, NOA_SUFFIX, RAW, REASON, WARNING
from tracehop.ingest.transforms import LINKABLE, TRANSFORMS
from tracehop.timezones import local_to_utc, resolve_zone, zones_at

UTC_DT: Final = pl.Datetime("us", "UTC")
FLOAT_COLUMNS: Final = frozenset({"duration_s", "billsec_s"})
BOOL_COLUMNS: Final = frozenset({"stir_verified"})
TIME_COLUMNS: Final = frozenset({"iat_utc"})
#: Optional input column, carried through to legs and rejects: which file of a batch of
#: documents a row came from (``run.parse_documents`` applies a profile to many files at once).
FILE: Final = "_file"
#: Offsets beyond these are not time zones: a uniqueid that is not an epoch, or a clock error.
MAX_OFFSET_S: Final = 14 * 3600
OFFSET_STEP_S: Final = 900  # UTC offsets are whole quarter hours
INFER_SAMPLE: Final = 20_000  # records per batch sampled for the uniqueid offset mode
#: A second uniqueid offset on one date is a DST change only when it is this far from the first
#: (_is_dst_shift) and holds half of some local hour by at least DST_MIN_ROWS records.
DST_SHIFT_MIN_S: Final = 1800
DST_SHIFT_MAX_S: Final = 7200
DST_MIN_ROWS: Final = 2
#: A record whose start is this many seconds or less after a quarter-hour offset from its
#: uniqueid epoch started with its channel (the first CDR of a channel is opened when the
#: channel is created): its own difference is its writer's offset, not offset + a delay.
EXACT_S: Final = 10


@dataclass
class FileContext:
    """What apply needs to know about the file being read."""

    path: str  # as recorded in source_file
    format: str
    source: str | None
    tz: str | None
    keep_raw: bool = True
    warnings: list[str] = field(default_factory=list)
    #: The ``referenced_by`` pairs of the whole file (:func:`reference_pairs`), keyed by
    #: (column, referenced_by), when it is read in several batches: a B-leg and the A-leg
    #: naming it may fall in different batches. None: each batch is a whole file.
    references: dict[tuple[str, str], pl.DataFrame] | None = None
    #: A ``chain`` field's links found in the file's previous batch (``c``: a value, ``p``:
    #: the value that stands for its chain), by field name: the next batch's rows take them.
    chains: dict[str, pl.DataFrame] = field(default_factory=dict)

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)


def _col(df: pl.DataFrame, name: str) -> pl.Expr:
    if name in df.columns:
        return pl.col(name)
    return pl.lit(None, dtype=pl.String)


#: At most this many characters of a field's value are quoted in a reject's reason.
REASON_VALUE_CHARS: Final = 60

#: The row's direction (the ``[direction]`` rules), computed before the fields so that a field
#: can take its columns by direction (``by_direction``).
DIRECTION: Final = "_direction"
#: With ``[time] otherwise``: each record's start text (its start column, else the other one)
#: and the basis that goes with it.
START_EITHER: Final = "_start_either"
BASIS: Final = "_basis"


def _template_expr(df: pl.DataFrame, template: str) -> pl.Expr:
    """``template`` with each ``{column}`` replaced by the row's value; null when any of the
    columns is empty (half a number is no number)."""
    pieces: list[pl.Expr] = []
    for i, piece in enumerate(re.split(r"\{([^{}]*)\}", template)):
        if i % 2:  # a column name
            v = _col(df, piece).str.strip_chars()
            pieces.append(pl.when(v.str.len_bytes() > 0).then(v))
        elif piece:
            pieces.append(pl.lit(piece, dtype=pl.String))
    return pl.concat_str(pieces, ignore_nulls=False)


def _columns_expr(df: pl.DataFrame, spec: FieldSpec, columns: tuple[str, ...]) -> pl.Expr:
    if not columns:
        return pl.lit(None, dtype=pl.String)
    if spec.template is not None:
        # One value made of several columns; transform and regex then apply to it.
        made = _template_expr(df, spec.template)
        if spec.transform:
            made = TRANSFORMS[spec.transform](made)
        return made.str.extract(spec.regex, 1) if spec.regex else made
    # Each column is transformed and matched on its own, then the first non-null wins: the
    # regex picks out a value from whichever column holds one in the expected shape.
    parts = [_col(df, c) for c in columns]
    if spec.transform:
        parts = [TRANSFORMS[spec.transform](p) for p in parts]
    if spec.regex:
        groups = re.compile(spec.regex).groups  # alternatives: the first group that matched
        parts = [
            pl.coalesce([p.str.extract(spec.regex, g) for g in range(1, groups + 1)])
            if groups > 1 else p.str.extract(spec.regex, 1)
            for p in parts
        ]
    prefer = spec.prefer
    if prefer:
        # The first value in the preferred shape; only when no column has one, the first value.
        parts = [pl.when(p.str.contains(prefer)).then(p) for p in parts] + parts
    return parts[0] if len(parts) == 1 else pl.coalesce(parts)


def _companion_expr(df: pl.DataFrame, spec: FieldSpec, suffix: str) -> pl.Expr | None:
    """The companion column (``<column><suffix>``, e.g. a number's Nature of Address written
    by a reader beside it) of the column :func:`_field_expr` takes its value from, row by row;
    None when the frame has no companion of any of the spec's columns."""
    every = (*spec.columns, *(c for _, cols in spec.by_direction for c in cols))
    if spec.template is not None:  # a value made of several columns has no one companion
        return None
    if not any(f"{c}{suffix}" in df.columns for c in every):
        return None

    def pick(columns: tuple[str, ...]) -> pl.Expr:
        parts = [_col(df, c) for c in columns]
        if spec.transform:
            parts = [TRANSFORMS[spec.transform](p) for p in parts]
        if spec.regex:
            parts = [p.str.extract(spec.regex, 1) for p in parts]
        comps = [_col(df, f"{c}{suffix}") for c in columns]
        pairs = list(zip(parts, comps, strict=True))
        if spec.prefer:
            pairs = [(pl.when(p.str.contains(spec.prefer)).then(p), c) for p, c in pairs] + pairs
        e: pl.Expr = pl.lit(None, dtype=pl.String)
        for p, c in reversed(pairs):  # the first column with a value, as _columns_expr
            e = pl.when(p.is_not_null()).then(c).otherwise(e)
        return e

    e = pick(spec.columns)
    for direction, columns in reversed(spec.by_direction):
        e = pl.when(pl.col(DIRECTION) == direction).then(pick(columns)).otherwise(e)
    return e


def _field_expr(df: pl.DataFrame, spec: FieldSpec) -> pl.Expr:
    if spec.value is not None and not spec.columns and not spec.by_direction:
        return pl.lit(spec.value, dtype=pl.String)
    e = _columns_expr(df, spec, spec.columns)
    for direction, columns in reversed(spec.by_direction):
        e = pl.when(pl.col(DIRECTION) == direction).then(
            _columns_expr(df, spec, columns)).otherwise(e)
    if spec.value is not None:
        e = e.fill_null(pl.lit(spec.value))
    return e


#: A rule column with at most this many distinct values is matched once per distinct value.
LOW_CARDINALITY: Final = 4096


def _matches(df: pl.DataFrame, column: str, regex: str) -> pl.Expr:
    """``column`` matches ``regex`` (searched), as a boolean with no nulls.

    Rule columns (contexts, dispositions, directions) hold a handful of distinct values in
    millions of rows: run the regex on the distinct values and look rows up in the result,
    which costs a hash probe per row instead of a regex search."""
    if column not in df.columns:
        return pl.lit(False)
    s = df.get_column(column)
    if s.head(10_000).n_unique() <= LOW_CARDINALITY // 4:
        uniq = s.unique().drop_nulls()
        if uniq.len() <= LOW_CARDINALITY:
            hits = uniq.filter(uniq.str.contains(regex)).to_list()
            return pl.col(column).is_in(hits).fill_null(False)
    return pl.col(column).str.contains(regex).fill_null(False)


#: Columns of the pairs a ``referenced_by`` rule looks up: the value a record names (its
#: ``referenced_by`` column), and that record's own ``column`` value.
REF: Final = "_ref"
SRC: Final = "_src"


def _nonempty(e: pl.Expr, null_values: tuple[str, ...]) -> pl.Expr:
    empty = e.str.len_bytes() == 0
    if null_values:
        empty = empty | e.is_in(list(null_values))
    return pl.when(~empty).then(e)


def reference_pairs(rows: pl.DataFrame, rule: Rule, null_values: tuple[str, ...] = ()
                    ) -> pl.DataFrame:
    """For a ``referenced_by`` rule: (``_ref`` = the value a record names, ``_src`` = its own
    ``column`` value[, ``_file``]) of each record of ``rows`` that names one."""
    assert rule.referenced_by
    carry = [FILE] if FILE in rows.columns else []
    return rows.select(
        *carry,
        _nonempty(_col(rows, rule.referenced_by), null_values).alias(REF),
        _nonempty(_col(rows, rule.column), null_values).alias(SRC),
    ).drop_nulls(REF).unique()


def _referenced(df: pl.DataFrame, rule: Rule, pairs: pl.DataFrame) -> pl.Expr:
    """Rows whose ``column`` value another record names in its ``referenced_by`` column,
    without this row naming that record back. A pair of records naming each other says
    nothing about which one is the referenced leg (FreeSWITCH sets ``bridge_uuid`` on both
    legs of a bridge), so it matches neither."""
    assert rule.referenced_by
    keys = [FILE] if FILE in df.columns and FILE in pairs.columns else []
    me = df.select(
        *keys,
        _col(df, rule.column).alias(REF),
        _col(df, rule.referenced_by).alias("_back"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_i"),
    )
    hits = (
        me.join(pairs, on=[*keys, REF], how="inner")
        .filter((pl.col(SRC).is_null() | (pl.col(SRC) != pl.col(REF)))
                & (pl.col("_back").is_null() | pl.col(SRC).is_null()
                   | (pl.col("_back") != pl.col(SRC))))
        .get_column("_i").unique()
    )
    mask = pl.Series("_hit", [False] * df.height, dtype=pl.Boolean)
    if hits.len():
        mask = mask.scatter(hits, True)
    return pl.lit(mask)


def _rules_expr(df: pl.DataFrame, rs: RuleSet,
                refs: dict[tuple[str, str], pl.DataFrame] | None = None) -> pl.Expr:
    if rs.column and rs.mapping:
        base: pl.Expr = _col(df, rs.column).replace_strict(
            dict(rs.mapping), default=pl.lit(rs.default), return_dtype=pl.String
        )
    else:
        base = pl.lit(rs.default, dtype=pl.String)
    if not rs.rules:
        return base
    chain: pl.Expr | None = None
    for r in reversed(rs.rules):
        if r.referenced_by:
            pairs = (refs or {}).get((r.column, r.referenced_by))
            cond = (_referenced(df, r, pairs) if pairs is not None and df.height
                    else pl.lit(False))
        else:
            assert r.regex is not None
            cond = _matches(df, r.column, r.regex)
        chain = pl.when(cond).then(pl.lit(r.value)).otherwise(base if chain is None else chain)
    assert chain is not None
    return chain


def _seconds(e: pl.Expr, df: pl.DataFrame) -> pl.Expr:
    """A duration column of ``df`` as seconds: a number (``65``, ``65.5``), or a clock duration
    ``H:MM:SS`` / ``M:SS`` (``0:01:05``, billing exports; hours may exceed 24, seconds may
    have a fraction). Anything else is null, as a non-number always was. The clock reading (a
    regular expression on every value, as much again as the cast) only when ``df`` holds one:
    switches write plain seconds, and this runs on millions of rows an ingest."""
    v = e.str.strip_chars()
    number = v.cast(pl.Float64, strict=False)
    if not df.select(e.str.contains(":", literal=True).any()).item():
        return number
    parts = v.str.extract_groups(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$")
    h = parts.struct.field("1").cast(pl.Float64, strict=False).fill_null(0.0)
    m = parts.struct.field("2").cast(pl.Float64, strict=False)
    sec = parts.struct.field("3").cast(pl.Float64, strict=False)
    clock = h * 3600 + m * 60 + sec
    return pl.when(v.str.contains(":", literal=True)).then(clock).otherwise(number)


def _parse_time(e: pl.Expr, profile: Profile) -> pl.Expr:
    mode = profile.time.zone
    if mode.startswith("epoch"):
        scale = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1}[mode]
        n = e.cast(pl.Float64, strict=False)
        # FreeSWITCH writes 0 for "never" (times.answered_time of an unanswered leg).
        us = pl.when(n > 0).then((n * scale).round(0).cast(pl.Int64))
        return pl.from_epoch(us, time_unit="us")
    # A format with an offset (%z) gives UTC-aware values; keep every format's result naive
    # UTC-or-wall-time alike, so that formats with and without an offset can be coalesced
    # (profile.py allows %z only with zone = "utc", where naive means UTC).
    parsed = [
        e.str.strptime(pl.Datetime("us"), fmt, strict=False, exact=True)
        for fmt in profile.time.formats
    ]
    parsed = [p.dt.replace_time_zone(None) if OFFSET_DIRECTIVE.search(fmt) else p
              for p, fmt in zip(parsed, profile.time.formats, strict=True)]
    return parsed[0] if len(parsed) == 1 else pl.coalesce(parsed)


def _swapped(fmt: str) -> str | None:
    """``fmt`` with day and month exchanged when it writes them before the year (D/M/Y or
    M/D/Y: a spreadsheet's locale, the two readings of 3/7/2026), else None (an ISO date has
    one reading)."""
    year = max(fmt.find("%Y"), fmt.find("%y"))
    d, m = fmt.find("%d"), fmt.find("%m")
    if d < 0 or m < 0 or year < max(d, m):
        return None
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def _uniqueid_column(df: pl.DataFrame, t: TimeSpec) -> str | None:
    """The column whose epoch is the channel's creation (uniqueid, or the layout's fallback,
    linkedid, where the file has no uniqueid), if the batch has one."""
    column = t.infer_offset_column
    if column not in df.columns and t.infer_offset_fallback in df.columns:
        column = t.infer_offset_fallback
    return column if column is not None and column in df.columns else None


def _month_first_formats(t: TimeSpec) -> list[str]:
    """The other reading of each of the profile's D/M/Y or M/D/Y formats that the profile
    does not list itself."""
    return [s for f in t.formats if (s := _swapped(f)) is not None and s not in t.formats]


def _day_month_by_uniqueid(df: pl.DataFrame, profile: Profile,
                           time_cols: list[tuple[str, str | None]]) -> pl.DataFrame:
    """Read a record's dates the other way round (month-first for a day-first format, or
    the reverse) when its uniqueid says so.

    A FreePBX cdr table re-saved by a spreadsheet writes calldate in the spreadsheet's locale:
    3/7/2026 is 3 July in Portugal and 7 March in the US. Read with the profile's day-first
    format, a US file was stored months off, without a word (its 7/3, 3/3 ... records even
    gave the uniqueid inference a normal offset). The uniqueid is the channel's creation, UTC,
    so a start more than any UTC offset away from it is a misread date: the record takes the
    other reading when that one is within an offset of its uniqueid. Only the two readings of
    a day and month that differ (never the same date: day = month reads the same) can be told
    apart, and one of them is then months away, so the choice is per record and safe."""
    t = profile.time
    column = _uniqueid_column(df, t)
    if column is None:
        return df
    others = _month_first_formats(t)
    uid = _col(df, column).str.extract(t.infer_offset_regex, 1).cast(pl.Int64, strict=False)

    def other(src: str) -> pl.Expr:
        parsed = [_col(df, src).str.strptime(pl.Datetime("us"), f, strict=False, exact=True)
                  for f in others]
        return parsed[0] if len(parsed) == 1 else pl.coalesce(parsed)

    def near(ts: pl.Expr) -> pl.Expr:
        return ((ts.dt.epoch("s") - uid).abs() <= MAX_OFFSET_S + OFFSET_STEP_S).fill_null(False)

    start_src = next(src for key, src in time_cols if key == "start")
    assert start_src is not None
    swap = ~near(pl.col("_t_start")) & near(other(start_src))
    return df.with_columns(
        pl.when(swap).then(other(src)).otherwise(pl.col(f"_t_{key}")).alias(f"_t_{key}")
        for key, src in time_cols if src
    )


def _day_month_by_parsing(df: pl.DataFrame, profile: Profile,
                          time_cols: list[tuple[str, str | None]],
                          ctx: FileContext) -> pl.DataFrame:
    """Without a uniqueid to ask (FreePBX's short report as a spreadsheet saved it), the
    batch's dates are read month-first when more of its start times read that way than the
    profile's day-first way: a US file's 3/15/26 is no date day-first, and its 3/7/26 was
    then stored as 3 July, without a word, beside the rejects. A file whose every date reads
    both ways (all days 12 or less) keeps the profile's order."""
    t = profile.time
    start_src = next(src for key, src in time_cols if key == "start")
    assert start_src is not None
    both = [_swapped(f) or f for f in t.formats]

    def other(src: str) -> pl.Expr:
        parsed = [_col(df, src).str.strptime(pl.Datetime("us"), f, strict=False, exact=True)
                  for f in both]
        return parsed[0] if len(parsed) == 1 else pl.coalesce(parsed)

    failed = df.select((_col(df, start_src).is_not_null() & pl.col("_t_start").is_null()).sum())
    if not failed.item():
        return df  # every start read as the profile says: the other order cannot read more
    counts = df.select(pl.col("_t_start").is_not_null().sum().alias("as_is"),
                       other(start_src).is_not_null().sum().alias("other")).row(0)
    if counts[1] <= counts[0]:
        return df
    ctx.warn(f"{ctx.path}: dates read month-first ({', '.join(_month_first_formats(t))}): "
             f"{counts[1] - counts[0]} start time(s) are no date in the profile's day-first "
             f"order ({', '.join(f for f in t.formats if _swapped(f))})")
    return df.with_columns(other(src).alias(f"_t_{key}") for key, src in time_cols if src)


def _fmt_offset(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    s = abs(seconds)
    return f"UTC{sign}{s // 3600:02d}:{(s % 3600) // 60:02d}"


def apply_profile(
    rows: pl.DataFrame, profile: Profile, ctx: FileContext
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Map one batch of raw rows to (legs, rejects). Legs carry LEG_SCHEMA column names
    (``leg_id`` is added by the caller, who knows the file's content id)."""
    if WARNING in rows.columns:  # a document reader's notes on doubtful readings
        for text in rows.get_column(WARNING).drop_nulls().unique(maintain_order=True).to_list():
            ctx.warn(str(text))
        rows = rows.drop(WARNING)
    used = [c for c in profile.columns_used() if c in rows.columns]

    def _null(c: str) -> pl.Expr:
        # Empty (or a profile's NULL spelling) means "no value"; a length test is far cheaper
        # than string comparison on millions of rows.
        empty = pl.col(c).str.len_bytes() == 0
        if profile.dialect.null_values:
            empty = empty | pl.col(c).is_in(list(profile.dialect.null_values))
        return pl.when(empty).then(None).otherwise(pl.col(c)).alias(c)

    df = rows.with_columns([_null(c) for c in used])
    # Rules that look at other records: the whole file's pairs, or this batch's (taken
    # before rejects are set aside: a rejected A-leg still names its B-leg).
    refs = {
        (r.column, r.referenced_by): (
            ctx.references[(r.column, r.referenced_by)]
            if ctx.references is not None and (r.column, r.referenced_by) in ctx.references
            else reference_pairs(df, r)
        )
        for r in profile.reference_rules() if r.referenced_by
    }

    # -- times ---------------------------------------------------------------------------
    t = profile.time
    if t.zone.startswith("epoch"):
        # FreeSWITCH writes 0 for an instant that never happened (answered_time, unanswered),
        # and Asterisk "0.000000": main/cdr.c cdr_get_tv() in raw mode (a cdr_custom mapping's
        # ${CDR(answer,u)}) prints "%ld.%06ld" even for a zero timeval. Any numeric zero.
        zero = [c for c in (t.start, t.answer, t.end) if c and c in df.columns]
        df = df.with_columns(
            [pl.when(pl.col(c).str.strip_chars().cast(pl.Float64, strict=False) == 0)
             .then(None).otherwise(pl.col(c)).alias(c)
             for c in zero]
        )
    start = t.start
    basis: pl.Expr = pl.lit(t.basis, dtype=pl.String)
    if t.start_else:
        # A record without its start column takes its start from another (TimeSpec.start_else),
        # and says so in its time_basis.
        given = _col(df, t.start).is_not_null()
        df = df.with_columns(
            pl.when(given).then(_col(df, t.start)).otherwise(_col(df, t.start_else))
            .alias(START_EITHER),
            pl.when(given).then(pl.lit(t.basis)).otherwise(pl.lit(t.basis_else))
            .alias(BASIS))
        start, basis = START_EITHER, pl.col(BASIS)
    time_cols = [("start", start), ("answer", t.answer), ("end", t.end)]
    exprs = []
    for key, src in time_cols:
        if src:
            exprs.append(_parse_time(_col(df, src), profile).alias(f"_t_{key}"))
        else:
            exprs.append(pl.lit(None, dtype=pl.Datetime("us")).alias(f"_t_{key}"))
    df = df.with_columns(exprs)
    if not t.zone.startswith("epoch") and _month_first_formats(t):
        if t.infer_offset_column:
            df = _day_month_by_uniqueid(df, profile, time_cols)
        else:
            df = _day_month_by_parsing(df, profile, time_cols, ctx)
    fmt_hint = " or ".join(t.formats) if not t.zone.startswith("epoch") else t.zone
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    for key, src in reversed(time_cols):
        if not src:
            continue
        raw = _col(df, src)
        bad = raw.is_not_null() & pl.col(f"_t_{key}").is_null()
        # The value cut to REASON_VALUE_CHARS: a field of garbage (binary junk, a record run
        # into the next) made reasons of thousands of characters, one line each in the
        # ingest summary and `tracehop rejects` (the raw text keeps the record whole).
        shown = pl.concat_str([
            raw.str.slice(0, REASON_VALUE_CHARS),
            pl.when(raw.str.len_chars() > REASON_VALUE_CHARS).then(pl.lit("..."))
            .otherwise(pl.lit("")),
        ])
        msg = pl.format(
            "unparseable {} time '{}' in column '{}' (expected {})",
            pl.lit(key),
            shown,
            pl.lit(src),
            pl.lit(fmt_hint),
        )
        reason = pl.when(bad).then(msg).otherwise(reason)
    either = f"columns '{t.start}' and '{t.start_else}' are" if t.start_else else (
        f"column '{t.start}' is")
    # An epoch column's 0 was made empty above ("never happened"): say so, or a CUCM record
    # with dateTimeOrigination 0 is reported empty while the line shows a value.
    empty = f"{either} empty or 0" if t.zone.startswith("epoch") else f"{either} empty"
    reason = (
        pl.when(_col(df, start).is_null())
        .then(pl.lit(f"no start time: {empty}"))
        .otherwise(reason)
    )
    if t.zone == "column" and t.zone_column:
        reason = _bad_zone_reason(df, t.zone_column, reason)
    df = df.with_columns(reason.alias(REASON))
    carry = [FILE] if FILE in df.columns else []  # documents of several files in one batch
    rejects = df.filter(pl.col(REASON).is_not_null()).select(LINE, REASON, RAW, *carry)
    if rejects.height:  # filtering copies every column: only when something was rejected
        df = df.filter(pl.col(REASON).is_null())

    df = _to_utc(df, profile, ctx)
    if t.duration and not t.end:
        secs = _seconds(_col(df, t.duration), df)
        df = df.with_columns(
            (pl.col("_u_start") + pl.duration(microseconds=(secs * 1e6).round(0).cast(pl.Int64)))
            .alias("_u_end")
        )
    if t.billsec and not t.answer:
        bill = _seconds(_col(df, t.billsec), df)
        df = df.with_columns(
            pl.when(bill > 0)
            .then(pl.col("_u_end") - pl.duration(microseconds=(bill * 1e6).round(0).cast(pl.Int64)))
            .alias("_u_answer")
        )

    # -- fields --------------------------------------------------------------------------
    df = df.with_columns(_rules_expr(df, profile.direction, refs).alias(DIRECTION))
    out: dict[str, pl.Expr] = {}
    for name, spec in profile.fields:
        e = _field_expr(df, spec)
        if name in FLOAT_COLUMNS:
            e = _seconds(e, df)
        elif name in BOOL_COLUMNS:
            e = e.str.to_lowercase().is_in(["1", "true", "yes", "y"])
        elif name in TIME_COLUMNS:
            e = pl.from_epoch(e.cast(pl.Int64, strict=False), time_unit="s").dt.replace_time_zone(
                "UTC"
            )
        out[name] = e.alias(name)
        noa = _companion_expr(df, spec, NOA_SUFFIX) if name in NUMBER_RAWS else None
        if noa is not None:
            out[f"_noa_{name}"] = noa.alias(f"_noa_{name}")
    legs = df.select(
        pl.lit(ctx.source, dtype=pl.String).alias("source"),
        pl.lit(ctx.format, dtype=pl.String).alias("format"),
        pl.lit(ctx.path, dtype=pl.String).alias("source_file"),
        pl.col(LINE).alias("source_record"),
        pl.col("_u_start").alias("start_utc"),
        pl.col("_u_answer").alias("answer_utc"),
        pl.col("_u_end").alias("end_utc"),
        basis.alias("time_basis"),
        pl.col("_source_tz").alias("source_tz"),
        pl.col("_ambiguous").alias("time_ambiguous"),
        pl.col(DIRECTION).alias("direction"),
        _rules_expr(df, profile.disposition, refs).alias("disposition"),
        *out.values(),
        (pl.col(RAW) if ctx.keep_raw else pl.lit(None, dtype=pl.String)).alias("raw_record"),
        *carry,
    )
    # Layouts that carry only a talk time (CUCM `duration` = connect to disconnect) or no
    # duration at all: derive the DESIGN §3 meanings from the times (setup to end; answer to
    # end, 0 when never answered). A start that is not the setup (time_basis answer or end)
    # gives no duration: end minus it would be the talk time, or nothing.
    derived = []
    if "duration_s" not in out:
        derived.append(
            pl.when(pl.col("time_basis") == "setup")
            .then((pl.col("end_utc") - pl.col("start_utc")).dt.total_microseconds() / 1e6)
            .alias("duration_s")
        )
    if "billsec_s" not in out:
        derived.append(
            pl.when(pl.col("answer_utc").is_null() & pl.col("end_utc").is_not_null())
            .then(pl.lit(0.0))
            .otherwise((pl.col("end_utc") - pl.col("answer_utc")).dt.total_microseconds() / 1e6)
            .alias("billsec_s")
        )
    if derived:
        legs = legs.with_columns(derived)
    for name, spec in profile.fields:
        if spec.chain and name in legs.columns:
            legs = legs.with_columns(
                chained(df, spec, legs.get_column(name), ctx, name))
    region = profile.numbers_region
    e164 = []
    for raw_name, e164_name in (
        ("called_raw", "called_e164"),
        ("calling_raw", "calling_e164"),
        ("pai_raw", "pai_e164"),
    ):
        if raw_name in legs.columns:
            e164.append(numbers.normalise(_as_meant(legs, raw_name), region).alias(e164_name))
    if e164:
        legs = legs.with_columns(e164)
    noas = [c for c in legs.columns if c.startswith("_noa_")]
    return (legs.drop(noas) if noas else legs), rejects


def _root(x: str, up: dict[str, str]) -> str:
    """The value that stands for ``x``'s chain: follow ``up`` (value -> its parent) to a
    value without a parent; in a cycle (names that came round again) its least value."""
    seen: list[str] = []
    at: dict[str, int] = {}
    while x in up and x not in at:
        at[x] = len(seen)
        seen.append(x)
        x = up[x]
    return min(seen[at[x]:]) if x in at else x


#: Steps up a chain resolved by joins before the rest is left to :func:`_root` (only a cycle
#: takes more: a real chain of Local channels is two or three deep).
CHAIN_STEPS: Final = 16


def _roots(up: pl.DataFrame) -> pl.DataFrame:
    """(``c``, ``r``): each child of ``up`` (``c`` -> its parent ``p``, one parent per child)
    and its chain's root, by joins (a step up per join, all children at once)."""
    parents = up.rename({"c": "r", "p": "_up"})
    r = up.select("c", pl.col("p").alias("r"))
    for _ in range(CHAIN_STEPS):
        step = r.join(parents, on="r", how="left")
        if step.get_column("_up").null_count() == step.height:
            return r
        r = step.select("c", pl.coalesce("_up", "r").alias("r"))
    d = dict(zip(up.get_column("c").to_list(), up.get_column("p").to_list(), strict=True))
    return r.with_columns(pl.col("c").map_elements(lambda x: _root(x, d), return_dtype=pl.String)
                          .alias("r"))


def _present(e: pl.Expr) -> pl.Expr:
    return e.is_not_null()


def _same(e: pl.Expr) -> pl.Expr:
    return e


def chained(df: pl.DataFrame, spec: FieldSpec, values: pl.Series, ctx: FileContext,
            name: str) -> pl.Series:
    """``values`` (the field's, row by row) with every value that ``spec.chain`` links to a
    parent replaced by its chain's root: the value no row names as a child.

    A row whose parent column and child column both give a value (through the spec's
    transform, and only values the transform's :data:`LINKABLE` test accepts) links them: an
    Asterisk row whose channel is ``Local/X;2`` and whose dstchannel is ``Local/Y;1`` says that
    Y's rows are X's call. So in a nested follow-me (trunk -> Local/X;1, Local/X;2 ->
    Local/Y;1, Local/Y;2 -> the mobile's trunk) all three rows are keyed X, and the matcher
    follows the mobile's row to the trunk's. Links are found among the rows applied together
    (a batch: the whole file up to readers.CHUNK_BYTES) and carried to the file's next batch
    (``ctx.chains``): a chain's rows are written together, as its channels end, so a chain
    cut by a batch boundary still ends in one key when its linking row comes first; when its
    innermost row comes in the batch before it, that row keeps its own pair (the lookup of
    the forwarded-to number is then not_found, as before chains were linked). A value linked
    to two parents (a Local channel's sequence that came round again after a restart) keeps
    the first one. Values no link touches (a linkedid, a uniqueid, a one-hop pair) are
    unchanged."""
    assert spec.chain
    parent, child = spec.chain
    carried = ctx.chains.pop(name, None)
    if parent not in df.columns or child not in df.columns:
        return values
    linkable = LINKABLE.get(spec.transform or "", _present)
    both = df.select((linkable(pl.col(parent)) & linkable(pl.col(child))).fill_null(False)
                     ).to_series()
    if carried is None and not bool(both.any()):  # most files: no Local channel dials another
        return values
    t = TRANSFORMS[spec.transform] if spec.transform else _same
    links = (df.filter(both).select(t(pl.col(child)).alias("c"), t(pl.col(parent)).alias("p"))
             .drop_nulls().filter(pl.col("p") != pl.col("c")))
    up = pl.concat([carried, links]) if carried is not None else links
    up = up.unique(subset="c", keep="first", maintain_order=True)
    if up.height == 0:
        return values
    roots = _roots(up).filter(pl.col("c") != pl.col("r"))
    # The links of this batch go on to the next one (not the whole file's: a batch's worth).
    ctx.chains[name] = roots.join(links.select("c").unique(), on="c", how="semi").select(
        "c", pl.col("r").alias("p"))
    return values.replace(roots.get_column("c"), roots.get_column("r"))


#: Leg number columns whose reader may say their Nature of Address (readers.NOA_SUFFIX).
NUMBER_RAWS: Final = ("called_raw", "calling_raw", "pai_raw")


def _as_meant(legs: pl.DataFrame, raw_name: str) -> pl.Series:
    """The number to normalise: the raw value, with ``+`` before it when the reader says its
    Nature of Address is international (ITU-T Q.763 §3.9/§3.10: the digits then begin with
    the country code, ``442079460958``), so that it is not read as a national number of the
    profile's region. A number that already has ``+`` is left as it is."""
    raw = legs.get_column(raw_name)
    if f"_noa_{raw_name}" not in legs.columns:
        return raw
    intl = (pl.col(f"_noa_{raw_name}") == "international") & ~pl.col(raw_name).str.contains(
        r"^\s*\+")
    return legs.select(pl.when(intl).then(pl.lit("+") + pl.col(raw_name).str.strip_chars())
                       .otherwise(pl.col(raw_name)).alias(raw_name)).to_series()


def _to_utc(df: pl.DataFrame, profile: Profile, ctx: FileContext) -> pl.DataFrame:
    """Add _u_start/_u_answer/_u_end (UTC), _source_tz and _ambiguous."""
    t = profile.time
    keys = ("start", "answer", "end")
    if t.zone in ("utc", "epoch_s", "epoch_ms", "epoch_us"):
        return df.with_columns(
            *[pl.col(f"_t_{k}").dt.replace_time_zone("UTC").alias(f"_u_{k}") for k in keys],
            pl.lit("UTC").alias("_source_tz"),
            pl.lit(False).alias("_ambiguous"),
        )
    if t.zone == "column":
        return _per_record_zone(df, profile, ctx)

    inferred = _inferred_offsets(df, profile) if t.infer_offset_column else None
    if ctx.tz:
        # ZoneError naming the bad zone before any work. source_tz gets the zone's IANA name,
        # not --tz as typed (" america/new_york ", "Z"): schema.py promises a name ZoneInfo opens.
        zone_name = resolve_zone(ctx.tz).key
        cols: dict[str, pl.Series] = {}
        repeated: dict[str, pl.Series] = {}
        for k in keys:
            utc, repeated[k] = local_to_utc(df[f"_t_{k}"], ctx.tz)
            cols[f"_u_{k}"] = utc.alias(f"_u_{k}")
        out = df.with_columns(
            *cols.values(),
            pl.lit(zone_name).alias("_source_tz"),
            repeated["start"].alias("_ambiguous"),
        )
        if t.infer_offset_column:
            out = _repeated_start_by_uniqueid(out, profile, zone_name)
        out = _second_pass_after_start(out, profile, ctx.tz, repeated)
        if inferred is not None and df.height:
            _check_tz_against_uniqueid(out, inferred, ctx)
        return out
    if not t.infer_offset_column:
        raise ZoneError(
            f"{ctx.path}: the {profile.name} format writes local times without a zone",
            hint="Pass the zone the switch was set to, e.g. --tz America/New_York",
        )
    if inferred is None:
        if not df.height:
            inferred = 0  # nothing to convert
        else:
            raise ZoneError(
                f"{ctx.path}: the {profile.name} format writes local times without a zone, and "
                f"the UTC offset cannot be inferred from column '{t.infer_offset_column}'"
                + (f" or '{t.infer_offset_fallback}'" if t.infer_offset_fallback else ""),
                hint="Pass the zone the switch was set to, e.g. --tz America/New_York",
            )
    if isinstance(inferred, int):
        # One offset for the whole batch (the usual case): a constant shift and a literal
        # label, with no per-row offset or label column.
        shift = pl.duration(seconds=inferred)
        return df.with_columns(
            *[(pl.col(f"_t_{k}") - shift).dt.replace_time_zone("UTC").alias(f"_u_{k}")
              for k in keys],
            pl.lit(_inferred_label(inferred), dtype=pl.String).alias("_source_tz"),
            pl.lit(False).alias("_ambiguous"),
        )
    offsets = inferred.unique().drop_nulls()
    labels = {int(o): _inferred_label(int(o)) for o in offsets.to_list()}
    spans = _spans(df, profile)

    def offset_of(k: str) -> pl.Expr:
        # The batch holds a DST change (a per-record offset). Asterisk writes each of start,
        # answer and end with the offset in force at that instant, so a call in progress at the
        # change has an answer or end on the other offset: read with its start's, a 01:50 EDT
        # to 01:05 EST call ended before it started, and a 01:55 EST to 03:05 EDT one an hour
        # late. Its durations tell: (end - start as written) - duration is the end's offset
        # minus the start's. Taken only when that is a DST shift to another offset the batch
        # holds; otherwise (a late or odd duration, none written) the start's offset as before.
        own = pl.col("_offset")
        span = spans.get(k)
        if k == "start" or span is None:
            return own
        written = (pl.col(f"_t_{k}") - pl.col("_t_start")).dt.total_seconds()
        step = ((written - span + OFFSET_STEP_S // 2) // OFFSET_STEP_S) * OFFSET_STEP_S
        other = own + step.cast(pl.Int64, strict=False)
        use = _is_dst_shift(step, pl.lit(0)) & other.is_in(offsets.implode())
        return pl.when(use.fill_null(False)).then(other).otherwise(own)

    return df.with_columns(inferred.alias("_offset")).with_columns(
        *[
            (pl.col(f"_t_{k}") - pl.duration(seconds=offset_of(k)))
            .dt.replace_time_zone("UTC").alias(f"_u_{k}")
            for k in keys
        ],
        pl.col("_offset")
        .replace_strict(labels, return_dtype=pl.String)
        .alias("_source_tz"),
        pl.lit(False).alias("_ambiguous"),
    ).drop("_offset")


def _spans(df: pl.DataFrame, profile: Profile) -> dict[str, pl.Expr]:
    """How long after the start the answer and the end came, in seconds, from the record's
    own durations (the ``duration_s`` and ``billsec_s`` fields when each is one plain column:
    Asterisk's duration = end - start, billsec = end - answer), for the keys they give. Empty
    when the start is not the setup (time_basis answer or end): the durations count from it."""
    if profile.time.basis != "setup" or profile.time.start_else:
        return {}
    specs = dict(profile.fields)

    def plain(name: str) -> pl.Expr | None:
        spec = specs.get(name)
        if (spec is None or len(spec.columns) != 1 or spec.transform or spec.regex
                or spec.by_direction or spec.columns[0] not in df.columns):
            return None
        return _seconds(pl.col(spec.columns[0]), df)

    duration, billsec = plain("duration_s"), plain("billsec_s")
    spans: dict[str, pl.Expr] = {}
    if duration is not None:
        spans["end"] = duration
        if billsec is not None:
            spans["answer"] = duration - billsec
    return spans


def _repeated_start_by_uniqueid(df: pl.DataFrame, profile: Profile, zone: str) -> pl.DataFrame:
    """With ``--tz``: a start in a repeated hour whose uniqueid tells which pass it was.

    fold=0 (docs/decisions.md) is the rule for a wall time nothing else tells about. An
    Asterisk record that started with its channel (within EXACT_S seconds of a whole
    quarter-hour offset from its uniqueid's epoch, :func:`_rounded_offset`) says its own
    instant: on the fall-back day a 01:30 whose uniqueid is 06:30Z is the second pass, EST, and
    was stored an hour early under the rule. Such a start takes the pass its uniqueid names,
    and is no longer flagged ambiguous (the matcher would otherwise warn that it was read as
    the first occurrence); a record whose uniqueid names neither pass keeps the rule and its
    flag. Only the few flagged rows are looked at."""
    t = profile.time
    column = _uniqueid_column(df, t)
    if column is None:
        return df
    idx = df.get_column("_ambiguous").arg_true()
    if not idx.len():
        return df
    part = df[idx]
    rounded, exact = _rounded_offset(part, profile, column)
    sub = part.select(
        (pl.col("_t_start") - pl.duration(seconds=rounded)).dt.replace_time_zone("UTC")
        .alias("_by_uid"),
        exact.alias("_x"),
        pl.col("_u_start").alias("_early"),
        # The second pass: the wall time's later reading (zoneinfo fold=1).
        pl.col("_t_start").dt.replace_time_zone(zone, ambiguous="latest", non_existent="null")
        .dt.convert_time_zone("UTC").alias("_later"),
    )
    flags = sub.select(
        (pl.col("_x") & ((pl.col("_by_uid") == pl.col("_early"))
                         | (pl.col("_by_uid") == pl.col("_later")))).fill_null(False)
        .alias("decided"),
        (pl.col("_x") & (pl.col("_by_uid") == pl.col("_later"))
         & (pl.col("_later") != pl.col("_early"))).fill_null(False).alias("second"),
    )
    decided, second = flags.get_column("decided"), flags.get_column("second")
    if not decided.any():
        return df
    later = sub.get_column("_later").filter(second)
    return df.with_columns(
        df.get_column("_u_start").scatter(idx.filter(second), later),
        df.get_column("_ambiguous").scatter(idx.filter(decided), False),
    )


def _second_pass_after_start(df: pl.DataFrame, profile: Profile, zone: str,
                             repeated: dict[str, pl.Series]) -> pl.DataFrame:
    """An answer or end time in a repeated hour (``repeated[k]``, from :func:`local_to_utc`)
    read as its second pass where the first pass cannot be the one: it is before the start (a
    call from 01:50 EDT to 01:05 EST, the end read as 01:05 EDT: a negative call), or the
    record's durations fit the second pass better.

    The fold=0 rule (docs/decisions.md) is for a wall time nothing else tells about; an answer
    or end comes after its start, which the record itself tells. The start keeps the rule and
    its ``time_ambiguous`` flag. Only the few repeated wall times are looked at again."""
    key = resolve_zone(zone).key
    spans = _spans(df, profile)
    for k in ("answer", "end"):
        idx = repeated[k].arg_true()
        if not idx.len():
            continue
        # The second pass: the wall time's later reading (zoneinfo fold=1).
        later = (df.get_column(f"_t_{k}").gather(idx)
                 .dt.replace_time_zone(key, ambiguous="latest", non_existent="null")
                 .dt.convert_time_zone("UTC"))
        sub = df[idx].select(
            pl.col("_u_start"),
            pl.col(f"_u_{k}").alias("_early"),
            pl.lit(later).alias("_later"),
            (spans[k] if k in spans else pl.lit(None, dtype=pl.Float64)).alias("_span"),
        )
        start = pl.col("_u_start")
        miss_early = ((pl.col("_early") - start).dt.total_seconds() - pl.col("_span")).abs()
        miss_later = ((pl.col("_later") - start).dt.total_seconds() - pl.col("_span")).abs()
        take = sub.select(
            ((pl.col("_early") < start) | (miss_later < miss_early)).fill_null(False)
        ).to_series()
        if take.any():
            df = df.with_columns(
                df.get_column(f"_u_{k}").scatter(idx.filter(take), later.filter(take)))
    return df


def _inferred_label(offset_s: int) -> str:
    return f"{_fmt_offset(offset_s)} (inferred from uniqueid)"


def _inferred_offsets(df: pl.DataFrame, profile: Profile) -> pl.Series | int | None:
    """The writer's UTC offset in seconds: Asterisk's uniqueid is ``[systemname-]<epoch>.<seq>``
    (main/channel.c), the UTC creation time of the channel, so start - epoch(uniqueid) is the
    offset the CDR writer used (research/cdr_formats.md §0.2). Transferred or forked legs
    start later than their uniqueid, so one record's difference is not trusted on its own: each
    local date takes the most common offset, rounded to a quarter hour; a date with no usable
    uniqueid takes the batch's most common offset.

    A date on which the switch changed its clock (DST) holds two offsets. Where a second one is
    well supported (:func:`_date_offsets`), each record of that date takes the one of the two
    its own difference supports (:func:`_pick_between`), so the records on either side of the
    change, and both passes of a repeated hour, get the offset they were written with.

    Returns one int when every record of the batch gets the same offset (the usual case: no
    per-row column is built), else the offset of each record (Int64), or None when no record
    has a usable uniqueid."""
    t = profile.time
    assert t.infer_offset_column
    column = t.infer_offset_column
    if column not in df.columns and t.infer_offset_fallback in df.columns:
        column = t.infer_offset_fallback  # this file's layout has no uniqueid: its linkedid

    def own_offsets(part: pl.DataFrame) -> pl.DataFrame:
        # One row per record: its local date and hour, its own rounded difference, whether
        # that difference is exact (_exact_second), and its wall time as epoch seconds.
        rounded, exact = _rounded_offset(part, profile, column)
        return part.select(
            pl.col("_t_start").dt.date().alias("_d"),
            pl.col("_t_start").dt.hour().alias("_h"),
            rounded.alias("_o"),
            exact.alias("_x"),
            pl.col("_t_start").dt.epoch("s").alias("_s"),
        )

    def offset_counts(own: pl.DataFrame) -> pl.DataFrame:
        return own.select("_d", "_h", "_o").drop_nulls().group_by("_d", "_h", "_o").len()

    # The mode needs a sample, not every row: regex captures cost more than the rest of the
    # inference. Dates the sample misses are counted from all their rows, and so are dates the
    # sample shows may hold a DST change (_dates_to_recount): the far side of a change can be
    # a few night-time records that a sample thins below what _date_offsets asks for.
    # Only the two columns it reads are sampled (sampling the whole batch copies every column).
    needed = df.select("_t_start", *[c for c in (column,) if c in df.columns])
    stride = max(1, df.height // INFER_SAMPLE)
    date = df.get_column("_t_start").dt.date()
    # Records whose own difference was computed from all their rows (every record when the
    # batch is not sampled), kept so that a DST date does not pay a second regex pass.
    own: pl.DataFrame | None = None
    if stride > 1:
        sample = own_offsets(needed.gather_every(stride))
        counts = offset_counts(sample)
        # The batch's own offset (for dates with no usable uniqueid) is the sample's mode: a
        # date recounted below would weigh `stride` times its share.
        sampled = counts
        modes, majors = _hour_majorities(counts)
        dates = date.unique().drop_nulls()
        recount = pl.concat([
            dates.filter(~dates.is_in(modes.get_column("_d").implode())),
            _dates_to_recount(modes, majors),
            _exact_shift_dates(sample, modes),
        ])
        if recount.len():
            own = own_offsets(needed.filter(date.is_in(recount.implode())))
            counts = pl.concat([counts.filter(~pl.col("_d").is_in(recount.implode())),
                                offset_counts(own)])
            modes, majors = _hour_majorities(counts)
    else:
        own = own_offsets(needed)
        sampled = counts = offset_counts(own)
        modes, majors = _hour_majorities(counts)
    if not counts.height:
        return None
    per_day = _date_offsets(counts, modes, majors)
    if own is not None:
        per_day = _exact_second(own, per_day, modes)
    overall = (
        (sampled if sampled.height else counts)
        .group_by("_o").agg(pl.col("len").sum()).sort(["len", "_o"], descending=[True, False])
    )
    fallback = int(overall["_o"][0])
    per_day = _late_leg_dates(per_day, fallback)
    if per_day.get_column("_o2").is_null().all() and per_day.get_column("_o").eq(fallback).all():
        # Every date counted takes the batch's offset and none holds a second one, and a date
        # not counted (no usable uniqueid) falls back to it: one offset for all.
        return fallback
    # Few distinct days: map each row's date through a small table rather than join.
    offsets = date.replace_strict(
        per_day["_d"], per_day["_o"], default=fallback, return_dtype=pl.Int64
    )
    two = per_day.drop_nulls("_o2")
    if not two.height:
        return offsets
    # Only the records of dates with two offsets need their own difference; the rest keep
    # their date's offset. A date counted from all its rows has it already.
    in_two = date.is_in(two["_d"].implode())
    if own is not None and two["_d"].is_in(own["_d"].unique().implode()).all():
        rows = own.filter(pl.col("_d").is_in(two["_d"].implode()))
    else:
        rows = own_offsets(needed.filter(in_two))
    return offsets.scatter(in_two.arg_true(), _pick_between(rows, two))


def _late_leg_dates(per_day: pl.DataFrame, fallback: int) -> pl.DataFrame:
    """``per_day`` with the offset of a date that only late legs made: a most common offset
    less than DST_SHIFT_MIN_S above the batch's (``fallback``) or a neighbouring date's is
    replaced by the highest such one.

    A record's difference is its offset plus a delay of zero or more (a leg starts when its
    channel is created or later: a queue's agent leg, a transfer, a fork; main/cdr.c starts a
    new CDR when party A's bridge changes), never less. A date with a handful of records (the
    hour after midnight at the end of a rotated Master.csv) whose records are late legs had
    their delay as its offset: UTC-04:45 in a New York file, its records stored 15 minutes
    off. No clock change is smaller than DST_SHIFT_MIN_S (_is_dst_shift), so such a date is on
    the other offset, late; a date whose offset is below the others', or a DST shift or more
    above them, keeps it (a DST change, or the switch's zone changed). Dates with a second
    offset (a DST change that day) are left as they are."""
    o = pl.col("_o")
    near = [
        pl.when((o - c > 0) & (o - c < DST_SHIFT_MIN_S)).then(c)
        for c in (pl.lit(fallback, dtype=pl.Int64), o.shift(1), o.shift(-1))
    ]
    return per_day.sort("_d").with_columns(
        pl.when(pl.col("_o2").is_null())
        .then(pl.coalesce(pl.max_horizontal(near), o))
        .otherwise(o)
        .alias("_o")
    )


def _rounded_offset(part: pl.DataFrame, profile: Profile, column: str
                    ) -> tuple[pl.Expr, pl.Expr]:
    """start - epoch(uniqueid) per record, rounded to a quarter hour (null when the uniqueid is
    not an epoch or the difference is too large to be a UTC offset), and whether the record
    started within EXACT_S seconds after that offset (never before: a leg does not start
    before its channel is created)."""
    uid = _col(part, column).str.extract(profile.time.infer_offset_regex, 1).cast(
        pl.Int64, strict=False
    )
    diff = pl.col("_t_start").dt.epoch("s") - uid
    rounded = ((diff + OFFSET_STEP_S // 2) // OFFSET_STEP_S) * OFFSET_STEP_S
    usable = rounded.abs() <= MAX_OFFSET_S
    late = diff - rounded
    return (pl.when(usable).then(rounded),
            (usable & (late >= 0) & (late <= EXACT_S)).fill_null(False))


def _hour_majorities(counts: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """From per (date ``_d``, local hour ``_h``, offset ``_o``) counts: each date's most common
    offset (``_d``, ``_o``, sorted by date), and the counts of offsets that hold at least half
    of their local hour (at most two per hour)."""
    modes = (
        counts.group_by("_d", "_o").agg(pl.col("len").sum())
        .sort(["_d", "len", "_o"], descending=[False, True, False])
        .group_by("_d", maintain_order=True).first()
        .select("_d", "_o")
    )
    majors = counts.filter(pl.col("len") * 2 >= pl.col("len").sum().over("_d", "_h"))
    return modes, majors


def _one_offset(modes: pl.DataFrame, majors: pl.DataFrame) -> bool:
    # The usual batch, settled without a join: every date and every hour has the same offset.
    return bool(modes["_o"].n_unique() <= 1 and majors["_o"].n_unique() <= 1)


def _is_dst_shift(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    # Daylight-saving shifts in the tz database are 30 minutes (Lord Howe), one hour or two
    # (Troll). A second offset nearer or farther than that is late legs, not a clock change:
    # a quarter hour off is the commonest transfer delay, hours off a long-lived channel.
    shift = (a - b).abs()
    return (shift >= DST_SHIFT_MIN_S) & (shift <= DST_SHIFT_MAX_S)


def _date_offsets(counts: pl.DataFrame, modes: pl.DataFrame, majors: pl.DataFrame
                  ) -> pl.DataFrame:
    """Each date's offsets: ``_o`` the most common, ``_o2`` a second one where the date
    changed its clock, else null.

    Late legs make stray offsets on every busy date, so a second offset needs the shape a DST
    change has: on one side of the change every record has it, so it holds at least half of
    some local hour (the repeated hour of a fall-back splits about evenly), and by at least
    DST_MIN_ROWS records, so that one stray record never makes it. It must also be a DST shift
    away from the first (_is_dst_shift). And a clock change moves the offset for good, so a date
    whose previous and next dates in the batch share one offset holds none: on a quiet PBX a
    night hour can be two or three late legs alone. A day has at most one change, so at most
    two offsets; of several candidates the one with most records that day is taken."""
    if _one_offset(modes, majors):
        return modes.with_columns(pl.lit(None, dtype=pl.Int64).alias("_o2"))
    day_len = counts.group_by("_d", "_o").agg(pl.col("len").sum().alias("_day_len"))
    steady = modes.filter(pl.col("_o").shift(1) == pl.col("_o").shift(-1)).select("_d")
    second = (
        majors.filter(pl.col("len") >= DST_MIN_ROWS)
        .select("_d", "_o").unique()
        .join(steady, on="_d", how="anti")
        .join(modes.rename({"_o": "_mode"}), on="_d")
        .filter(_is_dst_shift(pl.col("_o"), pl.col("_mode")))
        .join(day_len, on=["_d", "_o"])
        .sort(["_d", "_day_len", "_o"], descending=[False, True, False])
        .group_by("_d", maintain_order=True).first()
        .select("_d", pl.col("_o").alias("_o2"))
    )
    return modes.join(second, on="_d", how="left")


def _dates_to_recount(modes: pl.DataFrame, majors: pl.DataFrame) -> pl.Series:
    """Dates of a sample's counts that may hold a DST change the sample is too thin to show
    well: a local hour held by an offset a DST shift from its date's, or a date whose most
    common offset differs from the previous or next date's (the change is on one of the two;
    the sample may hold none of the few records on its far side)."""
    if _one_offset(modes, majors):
        return pl.Series("_d", [], dtype=pl.Date)
    in_hours = (
        majors.join(modes.rename({"_o": "_mode"}), on="_d")
        .filter(_is_dst_shift(pl.col("_o"), pl.col("_mode")))
        .get_column("_d")
    )
    changed = (pl.col("_o") != pl.col("_o").shift(1)).fill_null(False)
    around = modes.filter(changed | changed.shift(-1).fill_null(False)).get_column("_d")
    return pl.concat([in_hours, around]).unique()


def _exact_shift_dates(own: pl.DataFrame, modes: pl.DataFrame) -> pl.Series:
    """Dates of ``own`` (a sample of records) holding a record whose exact difference
    (_rounded_offset) is a DST shift from its date's most common offset: the date is counted
    again from all its rows so that _exact_second can look at every record of it."""
    return (
        own.filter(pl.col("_x"))
        .join(modes.rename({"_o": "_mode"}), on="_d")
        .filter(_is_dst_shift(pl.col("_o"), pl.col("_mode")))
        .get_column("_d").unique()
    )


def _exact_second(own: pl.DataFrame, per_day: pl.DataFrame, modes: pl.DataFrame
                  ) -> pl.DataFrame:
    """``per_day`` with a second offset ``_o2`` for dates that records with an exact
    difference show changed their clock, though too few to hold half of a local hour.

    A sparse night (two calls before a fall-back, one in the hour after a spring-forward) or an
    appended file resumed inside the repeated hour can never give the far side of a change the
    support _date_offsets asks for. But a record whose start is within EXACT_S seconds after a
    quarter-hour offset from its uniqueid started with its channel: a late leg (transfer, fork,
    long-lived channel) lands that close to a whole DST shift only by chance. Such records
    make an offset ``B`` a DST shift from the date's most common ``A`` the date's second
    when, besides, a clock change is the one reading that fits them:

    - the date is not between dates that share one offset (as in _date_offsets);
    - read with B they are all before, or all after, every record that reads as A: one side of
      a change. A late leg in the middle of a plain day (the records around it on A) is not.

    ``own`` holds every record of the dates it covers (``_d``, ``_o``, ``_x``, ``_s`` the wall
    time as epoch seconds); dates that have a second offset already keep it."""
    steady = modes.filter(pl.col("_o").shift(1) == pl.col("_o").shift(-1)).select("_d")
    open_dates = per_day.filter(pl.col("_o2").is_null()).select(
        "_d", pl.col("_o").alias("_mode"))
    cand = (
        own.filter(pl.col("_x"))
        .join(open_dates, on="_d")
        .join(steady, on="_d", how="anti")
        .filter(_is_dst_shift(pl.col("_o"), pl.col("_mode")))
        .group_by("_d", "_o", "_mode")
        .agg(pl.len(), (pl.col("_s") - pl.col("_o")).min().alias("_bmin"),
             (pl.col("_s") - pl.col("_o")).max().alias("_bmax"))
        .sort(["_d", "len", "_o"], descending=[False, True, False])
        .group_by("_d", maintain_order=True).first()
    )
    if not cand.height:
        return per_day
    # Every record reading as A gives its true instant whatever its delay: the A side.
    a_side = (
        own.join(cand.select("_d", "_mode"), on="_d")
        .filter(pl.col("_o") == pl.col("_mode"))
        .group_by("_d")
        .agg((pl.col("_s") - pl.col("_o")).min().alias("_amin"),
             (pl.col("_s") - pl.col("_o")).max().alias("_amax"))
    )
    sides = cand.join(a_side, on="_d").filter(
        (pl.col("_bmax") < pl.col("_amin")) | (pl.col("_bmin") > pl.col("_amax"))
    ).select("_d", pl.col("_o").alias("_ox"))
    if not sides.height:
        return per_day
    return (
        per_day.join(sides, on="_d", how="left", maintain_order="left")
        .with_columns(pl.coalesce("_o2", "_ox").alias("_o2"))
        .drop("_ox")
    )


def _pick_between(rows: pl.DataFrame, two: pl.DataFrame) -> pl.Series:
    """The offset of each record of ``rows`` (records of dates with two offsets: ``_d``, and
    ``_o`` its own rounded difference): the larger of its date's two offsets when its
    difference reaches it, else the smaller.

    A leg starts when its channel is created or later (a transfer, a fork, a long-lived Local
    channel), never before, so a record's difference is its offset plus a delay of zero or
    more: the true offset is at or below it. Taking the nearest of the two instead would move
    a record of the smaller offset whose leg started half the shift late to the larger; this
    moves it only once its delay nears the whole shift. A record with no usable uniqueid takes
    its date's most common offset."""
    d = pl.col("_d")
    mode = d.replace_strict(two["_d"], two["_o"], return_dtype=pl.Int64)
    lo = d.replace_strict(two["_d"], two.select(pl.min_horizontal("_o", "_o2")).to_series(),
                          return_dtype=pl.Int64)
    hi = d.replace_strict(two["_d"], two.select(pl.max_horizontal("_o", "_o2")).to_series(),
                          return_dtype=pl.Int64)
    own = pl.col("_o")
    return rows.select(
        pl.when(own.is_null()).then(mode).when(own >= hi).then(hi).otherwise(lo)
    ).to_series()


def _check_tz_against_uniqueid(out: pl.DataFrame, inferred: pl.Series | int,
                               ctx: FileContext) -> None:
    """Warn when --tz reads most records at another offset than their uniqueid says.

    Compared record by record with the offset inference gives each (both sides of a DST
    change), so a zone that follows the switch's DST never disagrees. A record whose wall time
    the zone repeats (``_ambiguous``: the zone took the first pass, the uniqueid may say the
    second) is left out: that is the zone's fold, not a disagreement about the zone."""
    tz_off = (out["_t_start"].dt.epoch("s") - out["_u_start"].dt.epoch("s")).alias("tz")
    uid = (pl.Series("uid", [inferred], dtype=pl.Int64).new_from_index(0, out.height)
           if isinstance(inferred, int) else inferred.alias("uid"))
    both = (
        pl.DataFrame({"tz": tz_off, "uid": uid, "amb": out["_ambiguous"]})
        .filter(~pl.col("amb").fill_null(False))
        .drop_nulls()
    )
    if not both.height:
        return
    disagree = both.filter(pl.col("tz") != pl.col("uid"))
    if disagree.height * 2 <= both.height:
        return
    # The commonest disagreement names the offsets (ties broken by offset, so that the text
    # does not depend on group order: across a DST change each side can disagree as often).
    top = (disagree.group_by("tz", "uid").len()
           .sort(["len", "tz", "uid"], descending=[True, False, False]).row(0))
    written = int(top[1])
    # The fix depends on what the uniqueid says: UTC (usegmtime=yes) wants --tz UTC; a local
    # offset wants the switch's zone. Telling a user who passed --tz UTC to pass --tz UTC
    # (the one fix text there was) sent them round in a circle.
    if written == 0:
        fix = ("If the switch writes UTC (cdr.conf usegmtime=yes), these times are off by the "
               "difference: `tracehop forget FILE --store DIR`, then ingest it again with "
               "--tz UTC or without --tz")
    else:
        zones = zones_at(timedelta(seconds=written))
        fix = ("If the switch's clock is on that offset, these times are off by the difference: "
               "`tracehop forget FILE --store DIR`, then ingest it again without --tz (the "
               "offset each uniqueid gives) or with the switch's zone"
               + (f" (at {_fmt_offset(written)}: {', '.join(zones)})" if zones else ""))
    ctx.warn(
        f"{ctx.path}: --tz {ctx.tz} reads these records as {_fmt_offset(int(top[0]))}, but their "
        f"uniqueid says the switch wrote {_fmt_offset(written)} (for most records); "
        f"using --tz as given. {fix}"
    )


def _bad_zone_reason(df: pl.DataFrame, zcol: str, reason: pl.Expr) -> pl.Expr:
    """``reason``, with the records whose zone column names no IANA zone (a typo, "EST")
    rejected, the value and the fix in the reason. Each distinct zone is checked once.

    Such a record is a malformed record (DESIGN §7: rejected, never stopping the ingest); its
    ZoneError used to fail the whole file, with no file or line named."""
    zones = _col(df, zcol)
    bad: dict[str, str] = {}
    for z in df.select(zones.unique()).to_series().to_list():
        if z is None:
            continue
        try:
            resolve_zone(str(z))
        except ZoneError as e:
            bad[str(z)] = f"column '{zcol}': {e}"
    if not bad:
        return reason
    msg = zones.replace_strict(bad, default=None, return_dtype=pl.String)
    return pl.when(reason.is_null() & msg.is_not_null()).then(msg).otherwise(reason)


def _per_record_zone(df: pl.DataFrame, profile: Profile, ctx: FileContext) -> pl.DataFrame:
    """zone = "column": each record names its IANA zone; convert one distinct zone at a time."""
    zcol = profile.time.zone_column
    assert zcol
    zones = _col(df, zcol)
    df = df.with_columns(zones.fill_null(pl.lit(ctx.tz)).alias("_zone"), pl.int_range(
        pl.len(), dtype=pl.Int64).alias("_i"))
    parts = []
    for (zone,), part in df.group_by("_zone"):
        if zone is None:
            # Name the first such record and the time column a user can see (the zone column
            # may be one the reader derived, as CGRateS' from each stamp's offset).
            line = part.get_column(LINE).min() if LINE in part.columns else None
            first = f":{line}" if isinstance(line, int) else ""
            raise ZoneError(
                f"{ctx.path}{first}: {part.height} record(s) give no zone for their times "
                f"(column '{profile.time.start}' has no offset, and '{zcol}' names none)",
                hint="Pass the zone those local times are in, e.g. --tz America/New_York",
            )
        conv = {}
        repeated: dict[str, pl.Series] = {}
        for k in ("start", "answer", "end"):
            utc, repeated[k] = local_to_utc(part[f"_t_{k}"], str(zone))
            conv[f"_u_{k}"] = utc.alias(f"_u_{k}")
        # The zone's IANA name, not the record's spelling of it ("asia/kolkata").
        part = part.with_columns(*conv.values(),
                                 pl.lit(resolve_zone(str(zone)).key).alias("_source_tz"),
                                 repeated["start"].alias("_ambiguous"))
        parts.append(_second_pass_after_start(part, profile, str(zone), repeated))
    if not parts:
        return df.with_columns(
            *[pl.lit(None, dtype=UTC_DT).alias(f"_u_{k}") for k in ("start", "answer", "end")],
            pl.lit(None, dtype=pl.String).alias("_source_tz"),
            pl.lit(None, dtype=pl.Boolean).alias("_ambiguous"),
        )
    return pl.concat(parts).sort("_i").drop("_i", "_zone")
