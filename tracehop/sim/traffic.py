"""Calls on the simulated network: ordinary traffic, the campaign, and the ground truth.

Every call is generated as a whole path (who placed it, which providers carried it, when it
reached each of them), and each provider's records are cut from that path. So the ground truth of
a traceback is known exactly: for a campaign call, the chain must name each provider's upstream in
turn and end at the campaign's customer (``originating``) or at the gateway that took it from the
foreign carrier (``point_of_entry``).

What makes it a real test of the matcher rather than a lookup of unique keys:

- campaign calls carry spoofed caller IDs (random numbers in the victim's own area code, as
  "neighbour spoofing" does), and the same spoofed number can be reused;
- around every campaign call, each provider on its path also carries *decoys*: ordinary calls to
  the same called number, seconds to a minute apart, that came in from a different upstream;
- each provider's clock is skewed, so the time an upstream reports is off by the difference of
  the two clocks, and hops are a fraction of a second to a few seconds apart (post-dial delay).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tracehop.chain.coordinator import CallExample
from tracehop.sim.network import CAMPAIGN_PATHS, Network, Peer

#: Area codes of the terminating provider's subscribers (Chicago) and of everyone else.
_LOCAL_NPAS = ("312", "773", "872")
_OTHER_NPAS = ("202", "212", "305", "415", "512", "617", "702", "713", "801", "919")

_UUID_NS = uuid.UUID("6f1d2c3e-4b5a-4c7d-8e9f-a0b1c2d3e4f5")
DEFAULT_START = datetime(2026, 11, 20, 4, 40, tzinfo=UTC)  # local dates differ across zones


@dataclass(frozen=True)
class SimCall:
    """One call, end to end. ``path`` runs from the first simulated provider to the last."""

    ref: str
    campaign: bool
    called: str  # E.164
    calling: str  # E.164 (spoofed for campaign calls)
    entry: Peer  # the party the first provider received the call from
    path: tuple[str, ...]
    times: tuple[datetime, ...]  # true UTC setup time at each provider of ``path``
    answered: bool
    ring_s: float
    talk_s: float
    call_ids: tuple[str, ...]  # SIP Call-ID of the inbound leg at each provider


@dataclass(frozen=True)
class Passport:
    """The STIR/SHAKEN signature a call carries (RFC 8588): who signed it, with what
    attestation, and when. The signer adds it on its egress; downstream hops pass it on."""

    signer: str  # provider key
    spc: str  # the signer's Service Provider Code (its OCN), in its certificate's TNAuthList
    attest: str  # A (our customer, entitled to the number), B, C (gateway: foreign origin)
    iat: int  # signing time, Unix seconds on the signer's (skewed) clock
    origid: str


@dataclass(frozen=True)
class Leg:
    """What one provider's switch saw of one call (true times; writers apply skew and zone)."""

    call: str
    provider: str
    setup_utc: datetime
    answer_utc: datetime | None
    end_utc: datetime
    called: str  # E.164
    calling: str  # E.164
    ingress: Peer | None  # None: placed by one of the provider's own subscribers
    egress_trunk: str  # trunk towards the next hop, or the subscriber's extension
    egress_ip: str
    call_id: str
    uuid: str
    bleg_uuid: str
    subscriber: bool  # egress is the provider's own subscriber (terminating leg)
    passport: Passport | None = None  # the call's signature, if any provider signed it


@dataclass(frozen=True)
class ExpectedHop:
    provider: str  # provider key
    status: str  # upstream | originating | point_of_entry | not_found | no_response
    upstream: str | None = None  # provider name the answer must name
    customer: str | None = None  # account the answer must name


@dataclass(frozen=True)
class Truth:
    call: SimCall
    hops: tuple[ExpectedHop, ...]

    @property
    def end(self) -> str:
        return self.hops[-1].status

    @property
    def origin(self) -> str | None:
        last = self.hops[-1]
        return last.customer if last.status == "originating" else last.upstream


@dataclass
class Traffic:
    network: Network
    calls: list[SimCall]
    #: (call ref, provider key) pairs whose record never reached that provider's export
    missing: set[tuple[str, str]] = field(default_factory=set)

    @property
    def campaign(self) -> list[SimCall]:
        return [c for c in self.calls if c.campaign]

    def legs(self, provider: str) -> list[Leg]:
        """Every leg ``provider`` recorded, in no particular order."""
        out: list[Leg] = []
        for c in self.calls:
            if provider not in c.path or (c.ref, provider) in self.missing:
                continue
            out.append(_leg(self.network, c, c.path.index(provider)))
        return out

    def examples(self, *, seed: int = 0, jitter_s: float = 3.0) -> list[CallExample]:
        """Campaign call examples as the consortium gets them (victims' complaints, analytics):
        the called and calling number, and the time the call rang, to within ``jitter_s``."""
        rng = random.Random(seed)
        return [CallExample(c.ref, c.called,
                            c.times[-1] + timedelta(seconds=rng.uniform(-jitter_s, jitter_s)),
                            c.calling)
                for c in self.campaign]

    def truth(self, call: SimCall, *, silent: Iterable[str] = ()) -> Truth:
        """The chain a correct traceback of ``call`` produces.

        ``silent`` names providers that will not answer: the chain stops there (``no_response``).
        A provider whose record of the call is missing answers ``not_found`` and the chain stops.
        """
        silent = set(silent)
        net = self.network
        hops: list[ExpectedHop] = []
        for i in range(len(call.path) - 1, -1, -1):
            key = call.path[i]
            if key in silent:
                hops.append(ExpectedHop(key, "no_response"))
                break
            if (call.ref, key) in self.missing:
                hops.append(ExpectedHop(key, "not_found"))
                break
            if i > 0:
                hops.append(ExpectedHop(key, "upstream", net.providers[call.path[i - 1]].name))
            elif call.entry.role == "customer":
                hops.append(ExpectedHop(key, "originating", customer=call.entry.account))
            elif call.entry.role == "foreign":
                hops.append(ExpectedHop(key, "point_of_entry", call.entry.name))
            else:
                hops.append(ExpectedHop(key, "upstream", call.entry.name))
        return Truth(call, tuple(hops))


def _leg(net: Network, c: SimCall, i: int) -> Leg:
    key = c.path[i]
    ingress: Peer | None = c.entry if i == 0 else net.link(c.path[i - 1], key)
    if i + 1 < len(c.path):
        egress, subscriber = f"to-{c.path[i + 1]}", False
        egress_ip = net.providers[c.path[i + 1]].ip
    elif net.providers[key].kind == "terminating":
        egress, egress_ip, subscriber = c.called[-4:], "", True
    else:
        egress, egress_ip, subscriber = "pstn-out", "192.0.2.250", False
    start = c.times[i]
    # each hop sees the same answer and release (signalling crosses the path in milliseconds)
    answer = c.times[-1] + timedelta(seconds=c.ring_s) if c.answered else None
    end = c.times[-1] + timedelta(seconds=c.ring_s + c.talk_s)
    u = uuid.uuid5(_UUID_NS, f"{c.ref}/{key}/a")
    b = uuid.uuid5(_UUID_NS, f"{c.ref}/{key}/b")
    return Leg(c.ref, key, start, answer, end, c.called, c.calling, ingress, egress, egress_ip,
               c.call_ids[i], str(u), str(b), subscriber, passport(net, c))


def passport(net: Network, c: SimCall) -> Passport | None:
    """The signature ``c`` carries. SHAKEN (ATIS-1000074): the originating provider signs its
    own customers' calls with full attestation (A); a gateway signs what it takes from a
    foreign carrier with gateway attestation (C); a call that enters the network elsewhere
    (from carriers outside the simulation) arrives unsigned here."""
    first = net.providers[c.path[0]]
    if first.kind == "originating" and c.entry.role == "customer":
        attest = "A"
    elif first.kind == "gateway" and c.entry.role == "foreign":
        attest = "C"
    else:
        return None
    iat = int((c.times[0] + timedelta(seconds=first.skew_s)).timestamp())
    return Passport(first.key, first.ocn, attest, iat,
                    str(uuid.uuid5(_UUID_NS, f"{c.ref}/origid")))


def _random_number(rng: random.Random, npas: Sequence[str]) -> str:
    npa = rng.choice(npas)
    while True:
        nxx = rng.randint(200, 999)
        if nxx % 100 != 11 and nxx != 555:  # N11 codes and 555 are not assignable exchanges
            break
    return f"+1{npa}{nxx}{rng.randint(0, 9999):04d}"


#: Paths of ordinary calls that end at the terminating provider, with the possible entry peers
#: (provider key, peer name) at the first hop.
def _ordinary_routes(net: Network) -> list[tuple[tuple[str, ...], list[Peer]]]:
    def entries(key: str, roles: tuple[str, ...]) -> list[Peer]:
        return [p for p in net.peers_of(key) if p.source is None and p.role in roles
                and p.account != net.campaign_account]

    term = next(k for k, p in net.providers.items() if p.kind == "terminating")
    routes: list[tuple[tuple[str, ...], list[Peer]]] = [((term,), entries(term, ("upstream",)))]
    for path in sorted({*CAMPAIGN_PATHS, *[p[1:] for p in CAMPAIGN_PATHS if len(p) > 2]}):
        if not all(k in net.providers for k in path):
            continue
        ents = entries(path[0], ("upstream", "customer", "foreign"))
        if ents:
            routes.append((tuple(path), ents))
    return routes


def generate(
    net: Network,
    *,
    campaign_calls: int = 12,
    ordinary_calls: int = 240,
    decoys_per_hop: int = 1,
    seed: int = 7,
    start: datetime = DEFAULT_START,
    span_s: float = 1800.0,
    campaign_paths: Sequence[tuple[str, ...]] = tuple(CAMPAIGN_PATHS),
) -> Traffic:
    """Put a campaign and ordinary traffic on ``net``. Deterministic for a given ``seed``."""
    rng = random.Random(seed)
    calls: list[SimCall] = []
    routes = _ordinary_routes(net)
    customer_entry = next(p for p in net.peers if p.account == net.campaign_account
                          and p.role == "customer")
    foreign_entry = next(p for p in net.peers if p.role == "foreign"
                         and p.name == net.foreign_carrier)
    spoofed_pool = [_random_number(rng, _LOCAL_NPAS) for _ in range(max(3, campaign_calls // 3))]
    n = 0

    def make(ref: str, campaign: bool, called: str, calling: str, entry: Peer,
             path: tuple[str, ...], t0: datetime, answered: bool | None = None) -> SimCall:
        times = [t0]
        for _ in path[1:]:
            times.append(times[-1] + timedelta(seconds=rng.uniform(0.05, 1.5)))
        ans = answered if answered is not None else rng.random() < 0.7
        return SimCall(ref, campaign, called, calling, entry, path, tuple(times), ans,
                       rng.uniform(2.0, 25.0), rng.uniform(8.0, 240.0) if ans else 0.0,
                       tuple(f"{uuid.UUID(int=rng.getrandbits(128), version=4).hex}@{k}.sim"
                             for k in path))

    for j in range(campaign_calls):
        path = tuple(campaign_paths[j % len(campaign_paths)])
        entry = customer_entry if path[0] != "atlas" else foreign_entry
        t0 = start + timedelta(seconds=rng.uniform(60.0, span_s - 120.0))
        called = _random_number(rng, _LOCAL_NPAS)
        calling = rng.choice(spoofed_pool)
        c = make(f"C{j + 1:03d}", True, called, calling, entry, path, t0)
        calls.append(c)
        # decoys: same called number, seconds apart, through each provider of the path but
        # arriving from a different upstream than the campaign call did there
        for i, key in enumerate(path):
            came_from = path[i - 1] if i > 0 else None
            for _ in range(decoys_per_hop):
                options = []
                for p, e in routes:
                    if key not in p or p[-1] != path[-1]:
                        continue
                    k = p.index(key)
                    if k > 0 and p[k - 1] != came_from:
                        options.append((p, e))
                    elif k == 0:  # enters here: any entry but the campaign's own
                        ents = [x for x in e if came_from is not None or x.name != c.entry.name]
                        if ents:
                            options.append((p, ents))
                if not options:
                    continue
                dpath, dents = rng.choice(options)
                offset = rng.choice((-1, 1)) * rng.uniform(4.0, 55.0)
                # place the decoy so that it reaches ``key`` ``offset`` seconds from the campaign
                dt0 = c.times[i] + timedelta(seconds=offset) - timedelta(
                    seconds=0.7 * dpath.index(key))
                n += 1
                calls.append(make(f"O{n:05d}", False, called,
                                  _random_number(rng, _LOCAL_NPAS + _OTHER_NPAS),
                                  rng.choice(dents), dpath, dt0))
    for _ in range(ordinary_calls):
        dpath, dents = rng.choice(routes)
        n += 1
        calls.append(make(f"O{n:05d}", False, _random_number(rng, _LOCAL_NPAS),
                          _random_number(rng, _LOCAL_NPAS + _OTHER_NPAS), rng.choice(dents),
                          dpath, start + timedelta(seconds=rng.uniform(0.0, span_s))))
    return Traffic(net, calls)
