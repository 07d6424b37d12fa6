"""FreeSWITCH ``mod_cdr_csv`` with the vanilla ``example`` template (research/cdr_formats.md §4).

The template, from ``conf/vanilla/autoload_configs/cdr_csv.conf.xml``::

    "${caller_id_name}","${caller_id_number}","${destination_number}","${context}",
    "${start_stamp}","${answer_stamp}","${end_stamp}","${duration}","${billsec}",
    "${hangup_cause}","${uuid}","${bleg_uuid}","${accountcode}","${read_codec}","${write_codec}"

The quotes come from the template and the values are expanded unescaped; each expanded line is
written with a ``\\n`` at hang-up. ``legs=a`` (the default) logs only A-legs, which on a carrier
switch are the inbound legs. ``*_stamp`` are local wall-clock times (``switch_time_exp_lt``);
``answer_stamp`` is empty for an unanswered call. The template has no peer address or gateway,
so the operator tells peers apart by the ``accountcode`` set on each inbound gateway (and on each
customer), which is what this provider's peer directory lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tracehop.sim.network import Peer, Provider
from tracehop.sim.traffic import Leg
from tracehop.sim.writers.base import local_stamp, register, styled, whole_seconds

TEMPLATE_FIELDS = (
    "caller_id_name", "caller_id_number", "destination_number", "context", "start_stamp",
    "answer_stamp", "end_stamp", "duration", "billsec", "hangup_cause", "uuid", "bleg_uuid",
    "accountcode", "read_codec", "write_codec",
)


def _context(ingress: Peer | None) -> str:
    # vanilla dialplan: calls from carriers land in "public", local phones dial from "default";
    # a carrier puts its SIP-trunk customers in a context of their own
    if ingress is None:
        return "default"
    return "customers" if ingress.role == "customer" else "public"


def variables(provider: Provider, leg: Leg) -> dict[str, str]:
    """The channel variables the template expands, for ``leg``'s A-leg."""
    calling = styled(leg.calling, provider.number_style)
    ingress = leg.ingress
    answered = leg.answer_utc is not None
    return {
        "caller_id_name": calling if leg.call.startswith("C") else "WIRELESS CALLER",
        "caller_id_number": calling,
        "destination_number": styled(leg.called, provider.number_style),
        "context": _context(ingress),
        "start_stamp": local_stamp(provider, leg.setup_utc),
        "answer_stamp": local_stamp(provider, leg.answer_utc),
        "end_stamp": local_stamp(provider, leg.end_utc),
        "duration": str(whole_seconds(leg.setup_utc, leg.end_utc)),
        "billsec": str(whole_seconds(leg.answer_utc, leg.end_utc) if leg.answer_utc else 0),
        "hangup_cause": "NORMAL_CLEARING" if answered else "NO_ANSWER",
        "uuid": leg.uuid,
        "bleg_uuid": leg.bleg_uuid,
        "accountcode": (ingress.account or "") if ingress is not None else "",
        "read_codec": "PCMU",
        "write_codec": "PCMU",
    }


def record(provider: Provider, leg: Leg) -> str:
    v = variables(provider, leg)
    return ",".join(f'"{v[name]}"' for name in TEMPLATE_FIELDS)


@register("freeswitch_cdr_csv")
def write(provider: Provider, legs: Sequence[Leg], out_dir: Path) -> list[Path]:
    path = out_dir / "Master.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        for leg in sorted(legs, key=lambda lg: (lg.end_utc, lg.call)):
            f.write(record(provider, leg) + "\n")
    return [path]
