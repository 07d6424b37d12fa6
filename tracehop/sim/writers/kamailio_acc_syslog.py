"""Kamailio ``acc`` module, syslog: the lines ``acc_log_request`` writes through syslog.

Layout (src/modules/acc/acc.c ``acc_log_request``; acc README ``log_flag``, ``log_missed_flag``,
``time_mode``, ``log_extra``; research/cdr_formats.md §6): one line per *transaction*, written
when its final reply passes the proxy, so an answered INVITE is logged at the 200 OK and the
call's BYE at its 200 OK; a failed INVITE is a ``call missed`` line (``failed_transaction_flag``)
with its final status. ``time_mode=0``: ``timestamp`` is Unix seconds (UTC, the proxy's clock).
Values follow the default ``log_extra``-less core set: ``method``, ``from_tag``, ``to_tag``,
``call_id``, ``code``, ``reason``, then ``src_user`` ($fU), ``src_domain`` ($fd), ``src_ip``
($si), ``dst_ouser`` ($tU), ``dst_user`` ($rU), ``dst_domain`` ($rd). The syslog prefix is
rsyslog's traditional format: local time without a year, host, program[pid].

A proxy sees who sent the INVITE only by its source address, so this provider's peer directory
lists addresses (:data:`tracehop.sim.network.RECORDED_MARKS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from tracehop.sim.network import Provider
from tracehop.sim.traffic import Leg
from tracehop.sim.writers.base import epoch_s, register, styled, switch_clock

PID: Final = 2417


def _prefix(provider: Provider, t: datetime) -> str:
    # rsyslog RSYSLOG_TraditionalFileFormat: "Mmm dd HH:MM:SS" (day space-padded), local time
    lt = switch_clock(provider, t).astimezone(ZoneInfo(provider.tz))
    stamp = f"{lt.strftime('%b')} {lt.day:2d} {lt.strftime('%H:%M:%S')}"
    return (f"{stamp} {provider.key}-proxy1 /usr/sbin/kamailio[{PID}]: NOTICE: acc "
            f"[acc.c:281]: ACC: ")


def _acc(provider: Provider, t: datetime, event: str, values: dict[str, str]) -> str:
    body = ";".join(f"{k}={v}" for k, v in values.items())
    return f"{_prefix(provider, t)}{event}: timestamp={epoch_s(provider, t)};{body}"


def lines(provider: Provider, leg: Leg) -> list[tuple[datetime, str]]:
    """(event time, line) of the transactions the proxy accounts for ``leg``."""
    style = provider.number_style
    called, calling = styled(leg.called, style), styled(leg.calling, style)
    src = leg.ingress.ip if leg.ingress is not None and leg.ingress.ip else "10.0.0.21"
    dst = leg.egress_ip or "10.0.0.200"
    ftag, ttag = leg.uuid[:8], leg.bleg_uuid[:8]
    invite = {"method": "INVITE", "from_tag": ftag, "to_tag": ttag, "call_id": leg.call_id}
    who = {"src_user": calling, "src_domain": src, "src_ip": src, "dst_ouser": called,
           "dst_user": called, "dst_domain": dst}
    if leg.answer_utc is None:
        # the caller cancelled: the INVITE's final reply is 487 (RFC 3261 §9.2)
        return [(leg.end_utc, _acc(provider, leg.end_utc, "call missed", {
            **invite, "code": "487", "reason": "Request Terminated", **who}))]
    return [
        (leg.answer_utc, _acc(provider, leg.answer_utc, "transaction answered",
                              {**invite, "code": "200", "reason": "OK", **who})),
        # the caller hangs up: its BYE has the dialog's tags in the INVITE's order
        (leg.end_utc, _acc(provider, leg.end_utc, "transaction answered", {
            "method": "BYE", "from_tag": ftag, "to_tag": ttag, "call_id": leg.call_id,
            "code": "200", "reason": "OK", **who})),
    ]


@register("kamailio_acc_syslog")
def write(provider: Provider, legs: Sequence[Leg], out_dir: Path) -> list[Path]:
    events = [e for lg in legs for e in lines(provider, lg)]
    events.sort(key=lambda e: e[0])
    path = out_dir / "kamailio-acc.log"
    with path.open("w", encoding="utf-8", newline="") as f:
        for _, text in events:
            f.write(text + "\n")
    return [path]
