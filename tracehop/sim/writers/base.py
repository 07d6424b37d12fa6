"""What every simulated switch shares: its skewed clock, its zone, its number style, and the
registry that maps a format name to the writer that produces it.

Writers are pluggable: a new format (Cisco CUCM, Ribbon, Kamailio acc, a SIP capture) registers a
function under the same name the ingest side uses for that format, and the network can give that
format to any provider.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tracehop.sim.network import NumberStyle, Provider
from tracehop.sim.traffic import Leg

#: ``writer(provider, legs, out_dir) -> files written``. ``legs`` are in no particular order;
#: the writer orders them the way its switch would (most CDR writers append at hang-up).
Writer = Callable[[Provider, Sequence[Leg], Path], list[Path]]

WRITERS: dict[str, Writer] = {}


def register(name: str) -> Callable[[Writer], Writer]:
    def deco(fn: Writer) -> Writer:
        WRITERS[name] = fn
        return fn

    return deco


def write_records(provider: Provider, legs: Sequence[Leg], out_dir: Path) -> list[Path]:
    """Write ``legs`` as ``provider``'s switch would, in its format. Returns the files written."""
    # importing the package registers the built-in writers
    import tracehop.sim.writers  # noqa: F401

    try:
        writer = WRITERS[provider.format]
    except KeyError:
        raise KeyError(f"no simulated writer for format {provider.format!r}; "
                       f"known: {', '.join(sorted(WRITERS))}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    return writer(provider, legs, out_dir)


def switch_clock(provider: Provider, t: datetime) -> datetime:
    """The instant the provider's (skewed) clock shows at true instant ``t``, still aware UTC."""
    return t.astimezone(UTC) + timedelta(seconds=provider.skew_s)


def local_stamp(provider: Provider, t: datetime | None) -> str:
    """``%Y-%m-%d %H:%M:%S`` wall-clock time in the provider's zone, on its skewed clock."""
    if t is None:
        return ""
    return switch_clock(provider, t).astimezone(ZoneInfo(provider.tz)).strftime(
        "%Y-%m-%d %H:%M:%S")


def epoch_s(provider: Provider, t: datetime) -> int:
    return int(switch_clock(provider, t).timestamp())


def epoch_us(provider: Provider, t: datetime | None) -> int:
    if t is None:
        return 0
    c = switch_clock(provider, t)
    return int(c.timestamp()) * 1_000_000 + c.microsecond


def styled(e164: str, style: NumberStyle) -> str:
    """A NANP E.164 number as the provider writes it."""
    digits = e164.lstrip("+")
    if style == "e164":
        return "+" + digits
    if style == "nanp11":
        return digits
    return digits[1:] if digits.startswith("1") and len(digits) == 11 else digits


def whole_seconds(a: datetime, b: datetime | None) -> int:
    """Seconds from ``a`` to ``b`` as switches count them (truncated), 0 if ``b`` is None."""
    return 0 if b is None else max(0, int((b - a).total_seconds()))
