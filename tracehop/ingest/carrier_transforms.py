"""Named transforms for the carrier formats (CUCM, Ribbon, Acme, CGRateS profiles).

They join :data:`tracehop.ingest.transforms.TRANSFORMS` (merged there), so a profile names
them like any other: ``ingress_ip = { columns = ["origIpv4v6Addr", "origIpAddr"], transform =
"cucm_ip" }``. Each is a vectorised Polars expression from String to String (the engine casts
``duration_s``/``billsec_s`` to numbers afterwards).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import polars as pl


def _int_ip_le(n: pl.Expr) -> pl.Expr:
    u = pl.when(n < 0).then(n + (1 << 32)).otherwise(n)
    parts = [((u // (1 << (8 * i))) % 256).cast(pl.String) for i in range(4)]
    return pl.concat_str(parts, separator=".")


def cucm_ip(e: pl.Expr) -> pl.Expr:
    """CUCM address columns: ``origIpv4v6Addr`` holds dotted text (12.x and later) while
    ``origIpAddr`` holds a signed 32-bit little-endian integer (CUCM CDR Administration Guide,
    "IP addresses"; research/cdr_formats.md §8: -1006518518 is 10.191.1.196). Text with a dot
    or a colon is kept; an integer is converted; 0 and empty mean "none"."""
    text = e.str.strip_chars()
    n = text.cast(pl.Int64, strict=False)
    return (
        pl.when(text.str.contains(r"[.:]"))
        .then(text)
        .when(n.is_null() | (n == 0))
        .then(None)
        .otherwise(_int_ip_le(n))
    )


def ticks_10ms(e: pl.Expr) -> pl.Expr:
    """Ribbon SBC Core durations ("Call Service Duration", "Ticks ...") are counts of 10 ms
    ticks (SBC Core CDR Field Descriptions): 6500 is 65.00 s."""
    n = e.str.strip_chars().cast(pl.Float64, strict=False)
    return (n / 100.0).cast(pl.String)


#: Go's time.ParseDuration units (src/time/format.go), in seconds.
_GO_UNITS: Final = (("h", 3600.0), ("ms", 1e-3), ("us", 1e-6), ("µs", 1e-6), ("ns", 1e-9),
                    ("m", 60.0), ("s", 1.0))


def go_duration(e: pl.Expr) -> pl.Expr:
    """CGRateS ``Usage``: a Go duration string (``10s``, ``1m30s``, ``1h2m3.5s``, ``250ms``;
    time.Duration.String) or, in CDRE exports, a bare number of seconds. Returns seconds."""
    text = e.str.strip_chars()
    bare = text.cast(pl.Float64, strict=False)
    total: pl.Expr = pl.lit(0.0)
    any_unit: pl.Expr = pl.lit(False)
    # ``ms``/``us``/``ns`` are matched before ``m``/``s`` by requiring the unit to be followed
    # by a digit or the end, and a plain ``m`` not to be followed by ``s``.
    patterns = {
        "h": r"([0-9.]+)h",
        "ms": r"([0-9.]+)ms",
        "us": r"([0-9.]+)(?:us|µs)",
        "ns": r"([0-9.]+)ns",
        "m": r"([0-9.]+)m(?:[0-9]|$)",
        "s": r"(?:^-?|[hm])([0-9.]+)s$",
    }
    scale = dict(_GO_UNITS)
    for unit, rx in patterns.items():
        v = text.str.extract(rx, 1).cast(pl.Float64, strict=False)
        total = total + v.fill_null(0.0) * scale[unit]
        any_unit = any_unit | v.is_not_null()
    sign = pl.when(text.str.starts_with("-")).then(-1.0).otherwise(1.0)
    seconds = pl.when(bare.is_not_null()).then(bare).when(any_unit).then(total * sign)
    return seconds.cast(pl.String)


def host_of(e: pl.Expr) -> pl.Expr:
    """``198.51.100.7:5060`` / ``[2001:db8::1]:5060`` / ``sip:198.51.100.7`` -> the host
    (Acme-Ingress-Remote-Addr and similar address:port values)."""
    text = e.str.strip_chars().str.replace(r"^sips?:", "")
    v6 = text.str.extract(r"^\[([0-9A-Fa-f:.]+)\]", 1)
    v4 = text.str.extract(r"^([^:;>]+)(?::\d+)?$", 1)
    return pl.coalesce(v6, v4, text)


CARRIER_TRANSFORMS: Final[dict[str, Callable[[pl.Expr], pl.Expr]]] = {
    "cucm_ip": cucm_ip,
    "ticks_10ms": ticks_10ms,
    "go_duration": go_duration,
    "host_of": host_of,
}
