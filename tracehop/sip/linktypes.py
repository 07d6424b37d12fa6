"""Link layers the fast path knows: where the IP packet starts inside a captured frame.

Link-type numbers are the tcpdump.org LINKTYPE_ registry. Known here: Ethernet (1) with any
stack of 802.1Q / 802.1ad / QinQ tags, BSD loopback (0 host order, 108 network order), raw IP
(101, 12, 14, 228, 229), Linux cooked capture v1 (113, 16-byte header, protocol at offset 14) and
v2 (276, 20-byte header, protocol at offset 0), both with 802.1Q tags after the header.

Anything else (PPPoE, MPLS, 802.11, ...) is "foreign": the reader hands such frames to tshark.
"""

from __future__ import annotations

from typing import Final

#: Results of :func:`network_offset` besides 4 and 6 (IP versions).
NOT_IP: Final = 0  # ARP, LLDP, ...: no SIP can be in it
FOREIGN: Final = -1  # an encapsulation the fast path does not decode: tshark's job

ETH_IPV4: Final = 0x0800
ETH_IPV6: Final = 0x86DD
#: 802.1Q, 802.1ad (QinQ outer tag), and the pre-standard 0x9100 QinQ tag.
VLAN_TYPES: Final = frozenset({0x8100, 0x88A8, 0x9100})
#: Ethertypes that may carry SIP inside something the fast path does not unwrap.
FOREIGN_ETHERTYPES: Final = frozenset({0x8863, 0x8864, 0x8847, 0x8848, 0x88BE, 0x22EB})

LINKTYPE_NAMES: Final[dict[int, str]] = {
    0: "BSD loopback",
    1: "Ethernet",
    12: "raw IP",
    14: "raw IP",
    101: "raw IP",
    108: "OpenBSD loopback",
    113: "Linux cooked v1",
    228: "raw IPv4",
    229: "raw IPv6",
    276: "Linux cooked v2",
}
KNOWN_LINKTYPES: Final = frozenset(LINKTYPE_NAMES)

#: Names of some link types the fast path does not read, for messages only.
OTHER_LINKTYPE_NAMES: Final[dict[int, str]] = {
    9: "PPP", 10: "FDDI", 50: "PPP in HDLC", 104: "Cisco HDLC", 105: "IEEE 802.11",
    119: "Prism 802.11", 127: "802.11 radiotap", 143: "DOCSIS", 163: "AVS 802.11",
    192: "PPI", 195: "IEEE 802.15.4", 220: "USB", 249: "Netlink", 252: "Wireshark upper PDU",
    263: "Linux vsock", **{lt: f"USER{lt - 147}" for lt in range(147, 163)},
}


def linktype_name(linktype: int) -> str:
    """``147 (USER0)``: a link type as the tcpdump.org LINKTYPE_ registry numbers it."""
    name = LINKTYPE_NAMES.get(linktype) or OTHER_LINKTYPE_NAMES.get(linktype)
    return f"{linktype} ({name})" if name else f"{linktype} (not in tracehop's list)"

# BSD loopback address families that mean IPv6 (NetBSD/OpenBSD 24, FreeBSD 28, macOS 30).
_AF_INET6: Final = frozenset({24, 28, 30})


def _from_ethertype(etype: int, off: int) -> tuple[int, int]:
    if etype == ETH_IPV4:
        return 4, off
    if etype == ETH_IPV6:
        return 6, off
    if etype in FOREIGN_ETHERTYPES:
        return FOREIGN, off
    return NOT_IP, off


def network_offset(linktype: int, data: bytes) -> tuple[int, int]:
    """(4 | 6 | NOT_IP | FOREIGN, offset of the network header) for one frame."""
    if linktype == 1:
        if len(data) < 14:
            return NOT_IP, 0
        etype = (data[12] << 8) | data[13]
        off = 14
        while etype in VLAN_TYPES and len(data) >= off + 4:  # stacked tags: QinQ
            etype = (data[off + 2] << 8) | data[off + 3]
            off += 4
        if etype < 0x0600:  # 802.3 length field: LLC/SNAP, never IP here
            return NOT_IP, off
        return _from_ethertype(etype, off)
    if linktype == 113:
        if len(data) < 16:
            return NOT_IP, 0
        etype = (data[14] << 8) | data[15]
        off = 16
        while etype in VLAN_TYPES and len(data) >= off + 4:
            etype = (data[off + 2] << 8) | data[off + 3]
            off += 4
        return _from_ethertype(etype, off)
    if linktype == 276:
        if len(data) < 20:
            return NOT_IP, 0
        etype = (data[0] << 8) | data[1]
        off = 20
        while etype in VLAN_TYPES and len(data) >= off + 4:  # an in-band 802.1Q tag, as v1
            etype = (data[off + 2] << 8) | data[off + 3]
            off += 4
        return _from_ethertype(etype, off)
    if linktype in (101, 12, 14, 228, 229):
        if not data:
            return NOT_IP, 0
        v = data[0] >> 4
        return (v, 0) if v in (4, 6) else (NOT_IP, 0)
    if linktype in (0, 108):
        if len(data) < 4:
            return NOT_IP, 0
        fam = int.from_bytes(data[:4], "big" if linktype == 108 else "little")
        if fam > 0xFFFF:  # written by a host of the other byte order
            fam = int.from_bytes(data[:4], "little" if linktype == 108 else "big")
        if fam == 2:
            return 4, 4
        if fam in _AF_INET6:
            return 6, 4
        return NOT_IP, 4
    return FOREIGN, 0
