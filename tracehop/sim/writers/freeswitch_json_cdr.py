"""FreeSWITCH ``mod_json_cdr``: one ``<uuid>.cdr.json`` document per leg (cdr_formats.md §5).

The document is what ``switch_ivr_generate_json_cdr`` builds: ``core-uuid``, ``switchname``,
``channel_data`` (with ``direction``), ``variables`` (all channel variables), ``app_log`` and the
``callflow`` array with ``caller_profile`` and ``times``. ``times.*`` are microseconds since the
epoch (UTC, on the switch's clock; 0 = never); ``variables.*_stamp`` are local wall-clock time.
With the default ``encode-values=true`` only the *variables* are URL-encoded
(``switch_url_encode``), so ``2026-11-20 04:45:12`` is written ``2026-11-20%2004%3A45%3A12`` and
``+13125550100`` is ``%2B13125550100``.

``log-b-leg=true`` here, so the outbound (egress) leg of each bridged call is written too, with
``channel_data.direction = outbound``: a matcher must never answer from it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tracehop.sim.network import Provider
from tracehop.sim.traffic import Leg
from tracehop.sim.writers.base import (
    epoch_s,
    epoch_us,
    local_stamp,
    register,
    styled,
    whole_seconds,
)

#: characters switch_url_encode() leaves alone (RFC 3986 unreserved set)
_SAFE = "-_.~"


def _encode(vars_: dict[str, str], encode: bool) -> dict[str, str]:
    return {k: quote(v, safe=_SAFE) for k, v in vars_.items()} if encode else vars_


def document(provider: Provider, leg: Leg, *, b_leg: bool = False,
             encode_values: bool = True) -> dict[str, Any]:
    """The JSON CDR of ``leg``'s A-leg (inbound) or, with ``b_leg``, of its B-leg (outbound)."""
    style = provider.number_style
    called, calling = styled(leg.called, style), styled(leg.calling, style)
    answered = leg.answer_utc is not None
    uid, other = (leg.bleg_uuid, leg.uuid) if b_leg else (leg.uuid, leg.bleg_uuid)
    direction = "outbound" if b_leg else "inbound"
    ingress = leg.ingress
    peer_ip = ingress.ip if ingress is not None and ingress.ip else "10.20.0.15"
    if b_leg:
        net_ip, gateway_var = leg.egress_ip or "10.20.0.40", {"sip_gateway_name": leg.egress_trunk}
        chan = f"sofia/external/{called}@{net_ip}"
    else:
        net_ip = peer_ip
        gateway_var = {"sip_gateway": ingress.trunk, "sip_acl_authed_by": ingress.trunk} \
            if ingress is not None else {}
        chan = f"sofia/external/{calling}@{provider.ip}"
    t = {
        "created_time": epoch_us(provider, leg.setup_utc),
        "profile_created_time": epoch_us(provider, leg.setup_utc),
        "progress_time": epoch_us(provider, leg.setup_utc) + 180_000,
        "progress_media_time": 0,
        "answered_time": epoch_us(provider, leg.answer_utc),
        "bridged_time": epoch_us(provider, leg.answer_utc),
        "last_hold_time": 0,
        "hold_accum_time": 0,
        "hangup_time": epoch_us(provider, leg.end_utc),
        "resurrect_time": 0,
        "transfer_time": 0,
    }
    variables = {
        "direction": direction,
        "uuid": uid,
        "session_id": str(int(uid.replace("-", "")[:8], 16) % 100000),
        "sip_from_user": calling,
        "sip_from_uri": f"{calling}@{net_ip}",
        "sip_from_host": net_ip,
        "sip_network_ip": net_ip,
        "sip_network_port": "5060",
        "sip_received_ip": net_ip,
        "sip_received_port": "5060",
        "sofia_profile_name": "external",
        **gateway_var,
        "sip_req_user": called,
        "sip_req_uri": f"{called}@{provider.ip}",
        "sip_to_user": called,
        "sip_call_id": leg.call_id if not b_leg else f"b-{leg.call_id}",
        "caller_id_name": calling,
        "caller_id_number": calling,
        "destination_number": called,
        "call_uuid": leg.uuid,
        "bridge_uuid": other if answered else "",
        "start_stamp": local_stamp(provider, leg.setup_utc),
        "answer_stamp": local_stamp(provider, leg.answer_utc),
        "end_stamp": local_stamp(provider, leg.end_utc),
        "start_epoch": str(epoch_s(provider, leg.setup_utc)),
        "start_uepoch": str(t["created_time"]),
        "answer_epoch": str(epoch_s(provider, leg.answer_utc)) if leg.answer_utc else "0",
        "answer_uepoch": str(t["answered_time"]),
        "end_epoch": str(epoch_s(provider, leg.end_utc)),
        "end_uepoch": str(t["hangup_time"]),
        "duration": str(whole_seconds(leg.setup_utc, leg.end_utc)),
        "billsec": str(whole_seconds(leg.answer_utc, leg.end_utc) if leg.answer_utc else 0),
        "hangup_cause": "NORMAL_CLEARING" if answered else "NO_ANSWER",
        "hangup_cause_q850": "16" if answered else "19",
        "sip_hangup_disposition": "recv_bye" if answered else "recv_cancel",
    }
    profile = {
        "username": calling,
        "dialplan": "XML",
        "caller_id_name": calling,
        "ani": calling,
        "aniii": "",
        "caller_id_number": calling,
        "network_addr": net_ip,
        "rdnis": "",
        "destination_number": called,
        "uuid": uid,
        "source": "mod_sofia",
        "context": "public",
        "chan_name": chan,
    }
    return {
        "core-uuid": "3f1c9a52-7d0e-4c1b-9a57-" + provider.key.encode().hex()[:12].ljust(12, "0"),
        "switchname": f"{provider.key}-fs1",
        "channel_data": {"state": "CS_REPORTING", "direction": direction,
                         "state_number": "11", "flags": "0=1;1=1;3=1;20=1;37=1",
                         "caps": "1=1;2=1;3=1;4=1;5=1;6=1"},
        "variables": _encode(variables, encode_values),
        "app_log": {"applications": [
            {"app_name": "bridge",
             "app_data": f"sofia/gateway/{leg.egress_trunk}/{called}"}]},
        "callflow": [{
            "dialplan": "XML",
            "profile_index": "1",
            "extension": {"name": "carrier_route", "number": called,
                          "applications": [{"app_name": "bridge",
                                            "app_data": f"sofia/gateway/{leg.egress_trunk}/"
                                                        f"{called}"}]},
            "caller_profile": profile,
            "times": {k: str(v) for k, v in t.items()},
        }],
    }


@register("freeswitch_json_cdr")
def write(provider: Provider, legs: Sequence[Leg], out_dir: Path) -> list[Path]:
    out: list[Path] = []
    for leg in legs:
        docs = [(leg.uuid, document(provider, leg))]
        if leg.answer_utc is not None:  # a B-leg exists only when the bridge was set up
            docs.append((leg.bleg_uuid, document(provider, leg, b_leg=True)))
        for uid, doc in docs:
            path = out_dir / f"{uid}.cdr.json"
            path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
            out.append(path)
    return sorted(out)
