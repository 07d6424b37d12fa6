"""Asterisk ``cdr_csv``: ``Master.csv`` exactly as ``cdr/cdr_csv.c`` writes it.

Layout (research/cdr_formats.md §1): no header; 18 columns, because the shipped
``cdr.conf.sample`` sets ``loguniqueid=yes`` and ``loguserfield=yes``; here ``usegmtime=no``, so
times are the server's local wall clock. Quoting follows ``append_string`` / ``append_int`` /
``append_date``: strings in double quotes with inner quotes doubled, integers bare, and a zero
time (an unanswered call's ``answer``) as an empty *unquoted* field. One record per line, ``\\n``,
appended at hang-up, so the file is in end-time order. ``uniqueid`` is ``<epoch>.<sequence>``: the
channel's creation time in UTC seconds on the switch's own clock.

One row per bridge: ``channel`` is party A (the inbound trunk ``PJSIP/<endpoint>-<seq>``, or a
subscriber's phone for an outbound call) and ``dstchannel`` party B.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from tracehop.sim.network import Provider
from tracehop.sim.traffic import Leg
from tracehop.sim.writers.base import epoch_s, local_stamp, register, styled, whole_seconds

_DISPOSITION = {True: "ANSWERED", False: "NO ANSWER"}


def _q(value: str) -> str:
    # append_string(): wrap in quotes, double any quote inside
    return '"' + value.replace('"', '""') + '"'


def _date(provider: Provider, t: datetime | None) -> str:
    # append_date(): a zero timeval becomes an empty, unquoted field
    return "" if t is None else _q(local_stamp(provider, t))


def _clid(name: str, number: str) -> str:
    # ast_callerid_merge(): "name" <number>, or the number alone when there is no name
    return f'"{name}" <{number}>' if name else number


def record(provider: Provider, leg: Leg, seq: int) -> str:
    """One Master.csv line (without the trailing newline)."""
    style = provider.number_style
    called = styled(leg.called, style)
    calling = styled(leg.calling, style)
    if leg.ingress is not None:
        # a call handed to us by a peer: party A is the peer's trunk endpoint
        account = (leg.ingress.account or "") if leg.ingress.role == "customer" else ""
        channel = f"PJSIP/{leg.ingress.trunk}-{seq * 2:08x}"
        # carriers arrive in FreePBX's "from-trunk"; SIP-trunk customers in a context of theirs
        dcontext = "from-trunk" if leg.ingress.role != "customer" else "from-customers"
        name = "" if leg.call.startswith("C") else "WIRELESS CALLER"
    else:
        account, channel, dcontext, name = "", f"PJSIP/{calling[-4:]}-{seq * 2:08x}", \
            "from-internal", ""
    dstchannel = f"PJSIP/{leg.egress_trunk}-{seq * 2 + 1:08x}"
    lastdata = (f"PJSIP/{leg.egress_trunk},30,tT" if leg.subscriber
                else f"PJSIP/{called}@{leg.egress_trunk},60,T")
    answered = leg.answer_utc is not None
    fields = [
        _q(account),
        _q(calling),
        _q(called),
        _q(dcontext),
        _q(_clid(name, calling)),
        _q(channel),
        _q(dstchannel),
        _q("Dial"),
        _q(lastdata),
        _date(provider, leg.setup_utc),
        _date(provider, leg.answer_utc),
        _date(provider, leg.end_utc),
        str(whole_seconds(leg.setup_utc, leg.end_utc)),
        str(whole_seconds(leg.answer_utc, leg.end_utc) if leg.answer_utc else 0),
        _q(_DISPOSITION[answered]),
        _q("DOCUMENTATION"),
        _q(f"{epoch_s(provider, leg.setup_utc)}.{seq}"),
        _q(""),
    ]
    return ",".join(fields)


@register("asterisk_cdr_csv")
def write(provider: Provider, legs: Sequence[Leg], out_dir: Path) -> list[Path]:
    # uniqueid sequence numbers follow channel creation; lines follow hang-up
    by_setup = sorted(legs, key=lambda lg: (lg.setup_utc, lg.call))
    lines = [(lg.end_utc, record(provider, lg, i)) for i, lg in enumerate(by_setup)]
    lines.sort(key=lambda x: x[0])
    path = out_dir / "Master.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        for _, line in lines:
            f.write(line + "\n")
    return [path]
