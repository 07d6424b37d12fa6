"""Cisco Unified CM CDR flat files (``cdr_<cluster>_<node>_<YYYYMMDDhhmm>_<seq>``).

Layout: Cisco "Call Detail Records Administration Guide for Cisco Unified CM" (field
descriptions) and research/cdr_formats.md §8, release 12.5/14 (133 columns). What the CDR
Repository Manager pushes:

* two header lines: the quoted column names, then each column's SQL type (``INTEGER``,
  ``VARCHAR(50)``, ``UNIQUEIDENTIFIER``);
* one record per call leg pair, written at disconnect: integers bare, text in double quotes;
* times are Unix seconds **UTC** (on the node's clock), ``dateTimeConnect`` 0 when the call was
  never answered, ``duration`` = connect to disconnect;
* IP addresses twice: ``origIpAddr``/``destIpAddr`` as a *signed 32-bit little-endian* integer
  (198.51.100.40 is 677655494: its octets c6 33 64 28 read as a little-endian int32) and, since
  11.x, ``origIpv4v6Addr``/``destIpv4v6Addr`` as text;
* a call from a SIP trunk has ``origSpan`` = its leg id, ``IncomingProtocolID`` 1 (SIP) and
  ``IncomingProtocolCallRef`` = the SIP Call-ID; ``origDeviceName`` is the SIP trunk device;
* a new file per minute of disconnect time (the default CDR file interval), named with that
  minute in UTC and a running sequence number.

The network gives the gateway's peers as SIP trunk devices, so its peer directory lists the
trunk device name and the peer's signalling address (:data:`RECORDED_MARKS`).
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import Final

from tracehop.sim.network import Provider
from tracehop.sim.traffic import Leg
from tracehop.sim.writers.base import epoch_s, register, styled, switch_clock, whole_seconds

#: the first header line of release 12.5/14, in order (as in the Cisco guide's field table)
COLUMNS: Final = (
    "cdrRecordType", "globalCallID_callManagerId", "globalCallID_callId", "origLegCallIdentifier",
    "dateTimeOrigination", "origNodeId", "origSpan", "origIpAddr", "callingPartyNumber",
    "callingPartyUnicodeLoginUserID", "origCause_location", "origCause_value",
    "origPrecedenceLevel", "origMediaTransportAddress_IP", "origMediaTransportAddress_Port",
    "origMediaCap_payloadCapability", "origMediaCap_maxFramesPerPacket",
    "origMediaCap_g723BitRate", "origVideoCap_Codec", "origVideoCap_Bandwidth",
    "origVideoCap_Resolution", "origVideoTransportAddress_IP", "origVideoTransportAddress_Port",
    "origRSVPAudioStat", "origRSVPVideoStat", "destLegIdentifier", "destNodeId", "destSpan",
    "destIpAddr", "originalCalledPartyNumber", "finalCalledPartyNumber",
    "finalCalledPartyUnicodeLoginUserID", "destCause_location", "destCause_value",
    "destPrecedenceLevel", "destMediaTransportAddress_IP", "destMediaTransportAddress_Port",
    "destMediaCap_payloadCapability", "destMediaCap_maxFramesPerPacket",
    "destMediaCap_g723BitRate", "destVideoCap_Codec", "destVideoCap_Bandwidth",
    "destVideoCap_Resolution", "destVideoTransportAddress_IP", "destVideoTransportAddress_Port",
    "destRSVPAudioStat", "destRSVPVideoStat", "dateTimeConnect", "dateTimeDisconnect",
    "lastRedirectDn", "pkid", "originalCalledPartyNumberPartition", "callingPartyNumberPartition",
    "finalCalledPartyNumberPartition", "lastRedirectDnPartition", "duration", "origDeviceName",
    "destDeviceName", "origCallTerminationOnBehalfOf", "destCallTerminationOnBehalfOf",
    "origCalledPartyRedirectOnBehalfOf", "lastRedirectRedirectOnBehalfOf",
    "origCalledPartyRedirectReason", "lastRedirectRedirectReason", "destConversationId",
    "globalCallId_ClusterID", "joinOnBehalfOf", "comment", "authCodeDescription",
    "authorizationLevel", "clientMatterCode", "origDTMFMethod", "destDTMFMethod",
    "callSecuredStatus", "origConversationId", "origMediaCap_Bandwidth", "destMediaCap_Bandwidth",
    "authorizationCodeValue", "outpulsedCallingPartyNumber", "outpulsedCalledPartyNumber",
    "origIpv4v6Addr", "destIpv4v6Addr", "origVideoCap_Codec_Channel2",
    "origVideoCap_Bandwidth_Channel2", "origVideoCap_Resolution_Channel2",
    "origVideoTransportAddress_IP_Channel2", "origVideoTransportAddress_Port_Channel2",
    "origVideoChannel_Role_Channel2", "destVideoCap_Codec_Channel2",
    "destVideoCap_Bandwidth_Channel2", "destVideoCap_Resolution_Channel2",
    "destVideoTransportAddress_IP_Channel2", "destVideoTransportAddress_Port_Channel2",
    "destVideoChannel_Role_Channel2", "IncomingProtocolID", "IncomingProtocolCallRef",
    "OutgoingProtocolID", "OutgoingProtocolCallRef", "currentRoutingReason", "origRoutingReason",
    "lastRedirectingRoutingReason", "huntPilotPartition", "huntPilotDN", "calledPartyPatternUsage",
    "IncomingICID", "IncomingOrigIOI", "IncomingTermIOI", "OutgoingICID", "OutgoingOrigIOI",
    "OutgoingTermIOI", "outpulsedOriginalCalledPartyNumber", "outpulsedLastRedirectingNumber",
    "wasCallQueued", "totalWaitTimeInQueue", "callingPartyNumber_uri",
    "originalCalledPartyNumber_uri", "finalCalledPartyNumber_uri", "lastRedirectDn_uri",
    "mobileCallingPartyNumber", "finalMobileCalledPartyNumber", "origMobileDeviceName",
    "destMobileDeviceName", "origMobileCallDuration", "destMobileCallDuration", "mobileCallType",
    "originalCalledPartyPattern", "finalCalledPartyPattern", "lastRedirectingPartyPattern",
    "huntPilotPattern", "origDeviceType", "destDeviceType", "origDeviceSessionID",
    "destDeviceSessionID"
)
#: I INTEGER, V VARCHAR(50), U UNIQUEIDENTIFIER, per column (the second header line)
_TYPE_CODES: Final = (
    "IIIIIIIIVVIIIIIIIIIIIIIVVIIIIVVVIIIIIIIIIIIIIVVIIVUVVVVIVVIIIIIIIVIVVIVIIIIIIVVV"
    "VVIIIIIVIIIIIVIVIVIIIVVIVVVVVVVVIIVVVVVVVVIIIVVVVIIVV"
)
TYPES: Final = tuple({"I": "INTEGER", "V": "VARCHAR(50)", "U": "UNIQUEIDENTIFIER"}[c]
                     for c in _TYPE_CODES)
assert len(COLUMNS) == len(TYPES) == 133

CLUSTER: Final = "StandAloneCluster"
_PKID_NS: Final = uuid.UUID("0b5e7a3c-1f2d-4e6a-9c8b-7d6e5f4a3b2c")


def int_ip(address: str) -> int:
    """A dotted IPv4 address as CUCM's signed little-endian 32-bit integer (CDR Admin Guide,
    "IP addresses"): the four octets read as a little-endian int32; 0 for no address."""
    if not address:
        return 0
    return int.from_bytes(ipaddress.IPv4Address(address).packed, "little", signed=True)


def _quote(value: str) -> str:
    # CUCM never writes a double quote inside a text column; doubling keeps the CSV sound anyway
    return '"' + value.replace('"', '""') + '"'


def record(provider: Provider, leg: Leg, call_id: int) -> list[str]:
    """One CDR as column values (already quoted per their SQL type)."""
    style = provider.number_style
    called, calling = styled(leg.called, style), styled(leg.calling, style)
    orig_leg, dest_leg = 31_000_000 + 2 * call_id, 31_000_001 + 2 * call_id
    ingress = leg.ingress
    from_trunk = ingress is not None
    in_ip = ingress.ip if ingress is not None else ""
    v: dict[str, str | int] = {
        "cdrRecordType": 1,
        "globalCallID_callManagerId": 1,
        "globalCallID_callId": call_id,
        "origLegCallIdentifier": orig_leg,
        "dateTimeOrigination": epoch_s(provider, leg.setup_utc),
        "origNodeId": 1,
        # a trunk call carries its leg id in origSpan; a phone has 0
        "origSpan": orig_leg if from_trunk else 0,
        "origIpAddr": int_ip(in_ip),
        "callingPartyNumber": calling,
        # Q.850 cause 16 (normal clearing) on the side that hung up: the caller, here
        "origCause_value": 16,
        "destLegIdentifier": dest_leg,
        "destNodeId": 1,
        "destSpan": dest_leg if not leg.subscriber else 0,
        "destIpAddr": int_ip(leg.egress_ip),
        "originalCalledPartyNumber": called,
        "finalCalledPartyNumber": called,
        "dateTimeConnect": epoch_s(provider, leg.answer_utc) if leg.answer_utc else 0,
        "dateTimeDisconnect": epoch_s(provider, leg.end_utc),
        "pkid": str(uuid.uuid5(_PKID_NS, f"{provider.key}/{leg.call}")),
        "originalCalledPartyNumberPartition": "PSTN_IN_PT" if from_trunk else "INTERNAL_PT",
        "callingPartyNumberPartition": "PSTN_IN_PT" if from_trunk else "INTERNAL_PT",
        "finalCalledPartyNumberPartition": "PSTN_OUT_PT",
        "duration": whole_seconds(leg.answer_utc, leg.end_utc) if leg.answer_utc else 0,
        "origDeviceName": ingress.trunk if ingress is not None else f"SEP{calling[-4:]:0>12}",
        "destDeviceName": leg.egress_trunk,
        "globalCallId_ClusterID": CLUSTER,
        "origIpv4v6Addr": in_ip,
        "destIpv4v6Addr": leg.egress_ip,
        "IncomingProtocolID": 1 if from_trunk else 0,
        "IncomingProtocolCallRef": leg.call_id if from_trunk else "",
        "OutgoingProtocolID": 1,
        "OutgoingProtocolCallRef": f"b-{leg.call_id}",
        "origDeviceType": 0,
        "destDeviceType": 0,
    }
    out: list[str] = []
    for name, typ in zip(COLUMNS, TYPES, strict=True):
        val = v.get(name)
        if typ == "INTEGER":
            out.append(str(val if val is not None else 0))
        else:
            out.append(_quote(str(val if val is not None else "")))
    return out


def header_lines() -> list[str]:
    return [",".join(_quote(c) for c in COLUMNS), ",".join(TYPES)]


@register("cisco_cucm_cdr")
def write(provider: Provider, legs: Sequence[Leg], out_dir: Path) -> list[Path]:
    # records are written at disconnect; callIds follow call setup
    by_setup = sorted(legs, key=lambda lg: (lg.setup_utc, lg.call))
    rows = [(lg.end_utc, record(provider, lg, 700_000 + i)) for i, lg in enumerate(by_setup)]
    rows.sort(key=lambda r: r[0])
    files: dict[str, list[list[str]]] = {}
    for end, row in rows:
        minute = switch_clock(provider, end).astimezone(UTC).strftime("%Y%m%d%H%M")
        files.setdefault(minute, []).append(row)
    out: list[Path] = []
    for seq, (minute, recs) in enumerate(sorted(files.items()), start=1):
        path = out_dir / f"cdr_{CLUSTER}_01_{minute}_{seq:06d}"
        lines = header_lines() + [",".join(r) for r in recs]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out.append(path)
    return out
