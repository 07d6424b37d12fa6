"""The engine-neutral query spec: what the matcher asks the store, before any SQL is written.

A :class:`Probe` is one inquiry reduced to validated values only (E.164 digits and integer
epoch microseconds); a :class:`CandidateQuery` asks for the legs of one or many probes in one
search pass; a :class:`RelatedQuery` asks for the other legs of calls whose egress leg matched.
:mod:`tracehop.match.sql` renders these to portable SQL; :mod:`tracehop.engines` runs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from tracehop.errors import InquiryError

US: Final = 1_000_000
HOUR_US: Final = 3600 * US
#: The second widening step (DESIGN.md §5).
WIDE_US: Final = 15 * 60 * US
#: The last whole-hour offset tried (time-zone and DST slips): ±24 h.
MAX_OFFSET_H: Final = 24
#: At most this many candidates per inquiry and pass are scored (nearest first). A call
#: centre's number can have thousands of calls a day; this bounds the work without losing the
#: nearest ones. When it is hit, the answer says so in a warning.
MAX_CANDIDATES: Final = 1000
#: Legs of the same call are looked for this far around the egress leg that matched.
RELATED_SLACK_US: Final = 600 * US

#: The columns the matcher reads (never raw_record: it is the widest column; perf.md §2).
MATCH_COLUMNS: Final[tuple[str, ...]] = (
    "leg_id",
    "source",
    "source_file",
    "source_record",
    "time_ambiguous",
    "called_e164",
    "called_raw",
    "calling_e164",
    "calling_raw",
    "pai_e164",
    "direction",
    "ingress_trunk",
    "ingress_ip",
    "egress_trunk",
    "account",
    "call_id",
    "correlation_id",
    "duration_s",
    "billsec_s",
    "disposition",
    "attest",
    "origid",
    "orig_tn",
    "dest_tn",
    "iat_utc",
    "verstat",
    "stir_verified",
    "signer_spc",
    "x5u",
)

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def checked_e164(value: str) -> str:
    """``value`` if it is E.164 (``+`` and 2-15 digits): only such strings are put into SQL."""
    if not _E164.fullmatch(value):
        raise InquiryError(f"called number {value!r} is not E.164", field="called")
    return value


@dataclass(frozen=True)
class Probe:
    """One inquiry as the store sees it. Construct through :meth:`make` (it validates)."""

    qid: int  # position in the batch
    called_e164: str
    t_us: int  # inquiry instant, epoch µs
    w_us: int  # half-width of the first window, µs

    @classmethod
    def make(cls, qid: int, called_e164: str, t_us: int, w_us: int) -> Probe:
        if w_us <= 0:
            raise InquiryError("the window must be positive", field="window")
        return cls(int(qid), checked_e164(called_e164), int(t_us), int(w_us))

    def range(self, wide: bool) -> tuple[int, int]:
        """[lo, hi] µs searched: the first window, or everything up to the ±24 h offsets."""
        half = self.w_us if not wide else max(self.w_us, MAX_OFFSET_H * HOUR_US + self.w_us)
        return self.t_us - half, self.t_us + half


@dataclass(frozen=True)
class CandidateQuery:
    """Legs to the probes' called numbers, within their windows.

    ``wide=False``: the first pass, each probe's ±window. ``wide=True``: the widening pass,
    rows inside any widening step (±15 min, or ±window around T+k·1h, 1<=|k|<=24).
    ``bucket_us`` (batches only): also join on ``floor(start_us / bucket_us)`` so that a number
    with many calls does not pair every probe with every call (distributed.md, "Scaling the
    range join"); it must be a power of two (exact division in double precision) and at least
    the width of every probe's range, so a probe needs at most two buckets.
    """

    probes: tuple[Probe, ...]
    wide: bool = False
    bucket_us: int | None = None
    limit: int = MAX_CANDIDATES


@dataclass(frozen=True)
class RelatedQuery:
    """Non-egress legs sharing a correlation_id or call_id with a matched egress leg.

    The keys are values read from the store: they are never inlined into SQL, but passed to
    the engine as an Arrow table and joined.
    """

    keys: tuple[tuple[int, str, str, int, int], ...]  # (qid, kind, key, lo_us, hi_us)


def bucket_width(max_range_us: int) -> int:
    """The smallest power of two (µs) at least ``max_range_us``."""
    b = 1
    while b < max_range_us:
        b <<= 1
    return b
