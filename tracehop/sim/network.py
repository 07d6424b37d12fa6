"""The synthetic provider network: who hands calls to whom, and how each one names its peers.

A traceback follows a call backwards through providers that each keep their own records in their
own switch's format, clock and time zone (research/domain.md §1.2). This module holds only the
*shape* of such a network: the providers, the links between them (with the trunk name and peer
address as they appear in the downstream provider's records), the customers of the originating
provider, and the foreign carrier behind the US gateway. :mod:`tracehop.sim.traffic` puts calls on
it; :mod:`tracehop.sim.writers` writes each provider's records.

Each provider's peer directory (DESIGN.md §6) is generated from the same links, so it names the
peers exactly as that provider's own records show them: a trunk name for Asterisk (the peer part
of ``PJSIP/<peer>-<seq>``), a dialplan context and account code for FreeSWITCH's CSV ``example``
template (it has no IP column), a gateway name and source IP for FreeSWITCH JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

ProviderKind = Literal["terminating", "transit", "gateway", "originating"]
PeerRole = Literal["upstream", "customer", "foreign"]
#: How a provider writes phone numbers in its records: ``national`` 3125550100,
#: ``nanp11`` 13125550100, ``e164`` +13125550100.
NumberStyle = Literal["national", "nanp11", "e164"]


@dataclass(frozen=True)
class Provider:
    """One voice service provider in the network, with its switch and its clock."""

    key: str  # short id used in file and directory names
    name: str  # the name its peers use for it in their directories (and in answers)
    ocn: str
    kind: ProviderKind
    format: str  # writer name, also the ingest format name (see tracehop.sim.writers)
    tz: str  # IANA zone the switch writes local times in
    skew_s: float  # the switch clock minus true time, seconds
    number_style: NumberStyle
    ip: str  # the address its SIP traffic leaves from, as its downstream peers see it
    contact: str = ""


@dataclass(frozen=True)
class Peer:
    """A party that hands calls to ``provider``, as ``provider``'s own records identify it.

    ``source`` is the key of the simulated provider behind the peer, or None for a party that is
    outside the simulation (another carrier's ordinary traffic, a customer, a foreign carrier).
    """

    provider: str  # key of the provider whose records / directory this entry belongs to
    name: str
    role: PeerRole
    trunk: str  # trunk / gateway / context name as it appears in provider's records
    ip: str
    account: str | None = None  # account code stamped on the call (customers, FS accountcode)
    ocn: str | None = None
    source: str | None = None
    contact: str = ""


@dataclass
class Network:
    """Providers and the peers each of them receives calls from."""

    providers: dict[str, Provider]
    peers: list[Peer]
    #: campaign account at the originating provider, and the foreign carrier behind the gateway
    campaign_account: str
    foreign_carrier: str
    window_s: float = 120.0
    #: ordinary customers of the originating provider (account -> business name)
    customers: dict[str, str] = field(default_factory=dict)

    def provider(self, key: str) -> Provider:
        return self.providers[key]

    def by_name(self, name: str) -> Provider | None:
        for p in self.providers.values():
            if p.name == name:
                return p
        return None

    def peers_of(self, key: str) -> list[Peer]:
        return [p for p in self.peers if p.provider == key]

    def link(self, upstream: str, downstream: str) -> Peer:
        """The peer entry through which ``downstream`` receives calls from provider ``upstream``."""
        for p in self.peers:
            if p.provider == downstream and p.source == upstream:
                return p
        raise KeyError(f"{downstream} has no link from {upstream}")

    def peer_named(self, key: str, name: str) -> Peer:
        for p in self.peers:
            if p.provider == key and p.name == name:
                return p
        raise KeyError(f"{key} has no peer {name!r}")

    def with_provider(self, key: str, **changes: object) -> Network:
        """A copy with one provider changed (clock skew, zone, number style, format...)."""
        providers = dict(self.providers)
        providers[key] = replace(providers[key], **changes)  # type: ignore[arg-type]
        return Network(providers, list(self.peers), self.campaign_account, self.foreign_carrier,
                       self.window_s, dict(self.customers))

    def peer_directory_toml(self, key: str) -> str:
        """``key``'s peer directory in the DESIGN.md §6 TOML form."""
        lines = [f"# Peer directory of {self.providers[key].name}: who hands us calls, named as",
                 "# our own records show them (trunk / context, peer address, account code).", ""]
        marks = RECORDED_MARKS.get(self.providers[key].format, ("trunk", "ip", "account"))
        for p in self.peers_of(key):
            trunks = [p.trunk] if "trunk" in marks and p.trunk else []
            ips = [p.ip] if "ip" in marks and p.ip else []
            accounts = [p.account] if "account" in marks and p.account else []
            lines.append("[[peer]]")
            lines.append(f"name = {_toml_str(p.name)}")
            lines.append(f"role = {_toml_str(p.role)}")
            if p.ocn:
                lines.append(f"ocn = {_toml_str(p.ocn)}")
            for k, vals in (("trunks", trunks), ("ips", ips), ("accounts", accounts)):
                lines.append(f"{k} = [{', '.join(_toml_str(v) for v in vals)}]")
            if p.contact:
                lines.append(f"contact = {_toml_str(p.contact)}")
            lines.append("")
        return "\n".join(lines)

    def write_peer_directory(self, key: str, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.peer_directory_toml(key), encoding="utf-8")
        return path


#: Which marks of a peer each format records (the rest cannot be in the peer directory, because
#: the provider would never see them): Asterisk cdr_csv has the channel's peer name and the
#: account code but no address; FreeSWITCH's CSV ``example`` template only the account code;
#: FreeSWITCH JSON has everything; CUCM the trunk device name and its address; Ribbon the
#: ingress trunk group and the remote signalling address; a SIP capture only the peer's address
#: (its ``ingress_trunk`` is ``addr:port``, which no trunk name in a directory would match);
#: Kamailio acc the INVITE's source address.
RECORDED_MARKS: dict[str, tuple[str, ...]] = {
    "asterisk_cdr_csv": ("trunk", "account"),
    "freeswitch_cdr_csv": ("account",),
    "freeswitch_json_cdr": ("trunk", "ip", "account"),
    "cisco_cucm_cdr": ("trunk", "ip"),
    "ribbon_sbc_act": ("trunk", "ip"),
    "pcap": ("ip",),
    "kamailio_acc_syslog": ("ip",),
}


def _toml_str(s: str) -> str:
    # TOML basic string: backslash and double quote are the only characters our names need escaped
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def demo_network(*, skew: dict[str, float] | None = None, window_s: float = 120.0) -> Network:
    """The network ``tracehop demo`` traces a campaign across.

    ::

        BlueSky Outreach (customer ROBO-7781) ─► Summit Voice ─┬─► Keystone Transit ─┐
                                                (originating)   └─► Harbor Carrier ───┤
        Danube Telecom (RO) ─► Atlas Gateway ─┬─► Harbor Carrier ─────────────────────┼─► Lakeside
                           (point of entry)   └─► Keystone Transit ─► Harbor Carrier ─┘   Telephone
        Metro Fiber, Prairie Wireless ─► (ordinary traffic into Lakeside and the transits)

    Clocks are skewed per provider (default within ±45 s so that neighbours stay inside the
    window); ``skew`` overrides them by provider key.
    """
    providers = {
        "lakeside": Provider("lakeside", "Lakeside Telephone", "4410", "terminating",
                             "asterisk_cdr_csv", "America/Chicago", 7.0, "national",
                             "192.0.2.10", "traceback@lakeside.example"),
        "keystone": Provider("keystone", "Keystone Transit", "5120", "transit",
                             "ribbon_sbc_act", "America/New_York", -31.0, "nanp11",
                             "198.51.100.20", "noc@keystone.example"),
        "harbor": Provider("harbor", "Harbor Carrier", "6231", "transit",
                           "pcap", "UTC", 18.0, "e164", "203.0.113.30",
                           "abuse@harbor.example"),
        "atlas": Provider("atlas", "Atlas Gateway", "7342", "gateway", "cisco_cucm_cdr",
                          "America/Los_Angeles", -12.0, "nanp11", "198.51.100.40",
                          "traceback@atlas.example"),
        "summit": Provider("summit", "Summit Voice", "8453", "originating",
                           "freeswitch_cdr_csv", "America/Denver", 42.0, "national",
                           "203.0.113.50", "legal@summit.example"),
    }
    for k, s in (skew or {}).items():
        providers[k] = replace(providers[k], skew_s=float(s))
    P = providers

    def up(dst: str, src: str, trunk: str, account: str | None = None) -> Peer:
        sp = P[src]
        return Peer(dst, sp.name, "upstream", trunk, sp.ip, account, sp.ocn, src, sp.contact)

    peers = [
        # Lakeside (Asterisk): peers are PJSIP endpoints, i.e. the channel's peer name.
        up("lakeside", "keystone", "keystone-in"),
        up("lakeside", "harbor", "harbor-in"),
        Peer("lakeside", "Metro Fiber Networks", "upstream", "metrofiber", "192.0.2.200",
             None, "9001"),
        Peer("lakeside", "Prairie Wireless", "upstream", "prairie", "192.0.2.210", None, "9002"),
        # Keystone (FreeSWITCH cdr_csv `example` template): carriers land in the vanilla
        # "public" context; the account code set on each inbound gateway is the only ingress
        # mark that template records.
        up("keystone", "summit", "from-summit", "summit"),
        up("keystone", "atlas", "from-atlas", "atlas"),
        Peer("keystone", "Metro Fiber Networks", "upstream", "from-metrofiber", "192.0.2.200",
             "metrofiber", "9001"),
        # Harbor (FreeSWITCH JSON): sip_gateway name and sip_network_ip.
        up("harbor", "summit", "summit_gw"),
        up("harbor", "atlas", "atlas_gw"),
        up("harbor", "keystone", "keystone_gw"),
        Peer("harbor", "Prairie Wireless", "upstream", "prairie_gw", "192.0.2.210", None, "9002"),
        # Atlas (Asterisk, US gateway): the foreign carrier, and one domestic upstream.
        Peer("atlas", "Danube Telecom SRL", "foreign", "danube-intl", "185.64.12.7"),
        Peer("atlas", "Metro Fiber Networks", "upstream", "metrofiber", "192.0.2.200",
             None, "9001"),
    ]
    customers = {
        "ROBO-7781": "BlueSky Outreach LLC",
        "ACCT-1002": "Corner Bakery Co",
        "ACCT-1003": "Ridgeview Dental",
        "ACCT-1004": "Pinecrest Realty",
    }
    # Summit (FreeSWITCH cdr_csv, originating): SIP-trunk customers land in a "customers"
    # context and carry their account code (set on the directory user / ACL entry).
    for acct, biz in customers.items():
        ctx = "cust-" + acct.lower()
        peers.append(Peer("summit", biz, "customer", ctx, "", acct))
    return Network(providers, peers, "ROBO-7781", "Danube Telecom SRL", window_s, customers)


#: Demo paths of campaign calls, written from the first simulated provider to the terminating one.
CAMPAIGN_PATHS: list[tuple[str, ...]] = [
    ("summit", "keystone", "lakeside"),
    ("summit", "harbor", "lakeside"),
    ("atlas", "harbor", "lakeside"),
    ("atlas", "keystone", "harbor", "lakeside"),
]
