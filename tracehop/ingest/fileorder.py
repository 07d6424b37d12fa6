"""The order files of one directory are read in: by name, numbers by their value.

Rotated captures continue one another (a call's INVITE in one file, its BYE in the next), so
they must be read in the order they were written. ``tcpdump -C 100 -w sip.pcap`` names them
``sip.pcap``, ``sip.pcap1`` ... ``sip.pcap9``, ``sip.pcap10``: in plain name order ``sip.pcap10``
comes before ``sip.pcap2`` and a call that crossed from the 9th file to the 10th would be read
backwards (its 200 and BYE before its INVITE). Strftime names (``-G``: ``sip-20261120-1400``)
and zero-padded counters sort the same either way.
"""

from __future__ import annotations

import re
from pathlib import Path

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key of a file name: its runs of digits compared as numbers, the rest as text."""
    return tuple((1, int(part)) if part.isdigit() else (0, part)
                 for part in _DIGITS.split(name) if part)


def natural_sorted(paths: list[Path]) -> list[Path]:
    """``paths`` in natural order of their names (then of the full path, for ties)."""
    return sorted(paths, key=lambda p: (natural_key(p.name), str(p)))
