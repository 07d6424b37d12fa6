"""The peer directory: who is on the other end of a trunk, an IP address or an account code.

An answer names a provider, not a trunk: the directory (TOML, DESIGN.md §6) maps the ingress of
the matched inbound leg to a peer and its role, which decides the answer's status:

- ``upstream``  -> status ``upstream`` (another US provider handed us the call);
- ``customer``  -> status ``originating`` (our own customer placed it);
- ``foreign``   -> status ``point_of_entry`` (a foreign carrier handed it to us, the US gateway).

Precedence when several entries could match one leg, most specific evidence first:

1. ``accounts``: the leg's account code (a customer is identified by its account even when it
   shares a trunk or an address with others);
2. an exact trunk name (case-sensitive, as the switch writes it);
3. a trunk glob (``acme-*``; ``fnmatch`` syntax, case-insensitive); when several globs match, the
   one with the most literal characters wins, then the first in the file;
4. an IP address or CIDR: the longest prefix wins (a /32 beats the /24 it sits in).

A port on a record's address (``198.51.100.7:5060``, ``[2001:db8::1]:5060``) is ignored, and an
IPv4-mapped IPv6 address (``::ffff:198.51.100.7``) is its IPv4 address.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from tracehop.errors import PeerDirectoryError
from tracehop.tomlfile import read_toml

Role = Literal["upstream", "customer", "foreign"]
ROLES: tuple[str, ...] = ("upstream", "customer", "foreign")

_KEYS = {"name", "role", "ocn", "trunks", "ips", "accounts", "contact"}
_GLOB_CHARS = set("*?[")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Peer:
    """One entry of the directory."""

    name: str
    role: Role
    ocn: str | None = None
    trunks: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    contact: str | None = None


def parse_ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in a record's IP field, without port or brackets; None if it is not one."""
    if text is None:
        return None
    s = text.strip()
    if not s:
        return None
    if s.startswith("["):  # [v6]:port, RFC 3986 §3.2.2
        s = s[1 : s.find("]")] if "]" in s else s[1:]
    elif s.count(":") == 1:  # v4:port
        s = s.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(s)
    except ValueError:
        return None
    # A switch listening on a dual-stack socket ([::]) records an IPv4 peer IPv4-mapped
    # (::ffff:198.51.100.7, RFC 4291 §2.5.5.2): the same address, which the directory's IPv4
    # CIDRs must still match (an IPv6 address never falls in an IPv4 network).
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


class PeerDirectory:
    """Peers indexed for :meth:`resolve`. Build with :meth:`load` or :meth:`from_dict`."""

    def __init__(self, peers: list[Peer], *, path: str | None = None) -> None:
        self.peers = list(peers)
        self.path = path
        self._accounts: dict[str, Peer] = {}
        self._trunks: dict[str, Peer] = {}
        self._globs: list[tuple[int, int, str, Peer]] = []  # (-literal chars, order, pattern)
        self._nets: list[tuple[IPNetwork, Peer]] = []
        for order, p in enumerate(self.peers):
            for a in p.accounts:
                self._accounts[a] = p
            for t in p.trunks:
                if _GLOB_CHARS & set(t):
                    literal = sum(1 for ch in t if ch not in "*?[]")
                    self._globs.append((-literal, order, t.lower(), p))
                else:
                    self._trunks[t] = p
            for ip in p.ips:
                self._nets.append((ipaddress.ip_network(ip, strict=False), p))
        self._globs.sort(key=lambda g: (g[0], g[1]))
        # Longest prefix first, so the first containing network is the most specific one.
        self._nets.sort(key=lambda n: -n[0].prefixlen)

    # -- loading -----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> PeerDirectory:
        """Read and validate a peer directory TOML file.

        Raises :class:`PeerDirectoryError` naming the file and the entry at fault.
        """
        p = Path(path)
        data, text = read_toml(p, PeerDirectoryError, "the peer directory",
                               missing_hint="Check the --peers path",
                               format_hint="See the peer directory format in README.md, "
                                           "'The peer directory'")
        return cls.from_dict(data, path=str(p), text=text)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, path: str | None = None,
                  text: str | None = None) -> PeerDirectory:
        """Validate the parsed TOML (``{"peer": [ {...}, ... ]}``). With ``text`` (the file
        it was parsed from), an error names the line of the entry, or of its key, at fault."""
        starts = _entry_lines(text) if text is not None else []
        at: list[int | None] = [None]  # the line of the entry being checked

        def fail(msg: str, hint: str | None = None, key: str | None = None) -> PeerDirectoryError:
            line = at[0]
            if line is not None and key is not None and text is not None:
                line = _key_line(text, line, key) or line
            return PeerDirectoryError(msg, path=path, line=line, hint=hint)

        extra = set(data) - {"peer"}
        if extra:
            raise fail(f"unknown top-level key(s) {', '.join(sorted(extra))}",
                       "The file holds only [[peer]] tables")
        raw = data.get("peer", [])
        if not isinstance(raw, list):
            raise fail("'peer' must be an array of tables", "Write each entry as [[peer]]")
        peers: list[Peer] = []
        seen_names: dict[str, int] = {}
        owners: dict[tuple[str, str], str] = {}  # (kind, value) -> "peer #n 'name'"
        for i, entry in enumerate(raw, start=1):
            label = f"peer #{i}"
            at[0] = starts[i - 1] if i <= len(starts) else None
            if not isinstance(entry, dict):
                raise fail(f"{label}: must be a table")
            name = entry.get("name")
            if not isinstance(name, str) or not name.strip():
                raise fail(f"{label}: 'name' is missing or empty",
                           'Give each peer a name, e.g. name = "Acme Transit"', "name")
            label = f"peer #{i} {name!r}"
            unknown = set(entry) - _KEYS
            if unknown:
                raise fail(f"{label}: unknown key(s) {', '.join(sorted(unknown))}",
                           f"Allowed keys: {', '.join(sorted(_KEYS))}", min(unknown))
            if name in seen_names:
                raise fail(f"{label}: the name is already used by peer #{seen_names[name]}",
                           key="name")
            seen_names[name] = i
            role = entry.get("role")
            if role not in ROLES:
                raise fail(f"{label}: role {role!r} is not one of {', '.join(ROLES)}",
                           key="role")
            lists: dict[str, tuple[str, ...]] = {}
            for key in ("trunks", "ips", "accounts"):
                v = entry.get(key, [])
                if not isinstance(v, list) or not all(isinstance(x, str) and x.strip()
                                                      for x in v):
                    raise fail(f"{label}: {key!r} must be a list of non-empty strings",
                               key=key)
                lists[key] = tuple(x.strip() for x in v)
            for ip in lists["ips"]:
                try:
                    ipaddress.ip_network(ip, strict=False)
                except ValueError:
                    raise fail(f"{label}: {ip!r} is not an IP address or CIDR",
                               "Write e.g. 198.51.100.7 or 198.51.100.0/24", "ips") from None
            for key in ("ocn", "contact"):
                v = entry.get(key)
                if v is not None and not isinstance(v, str):
                    # ocn = 1234 is the usual slip: OCNs look like numbers but are codes
                    # ("0123", "A123"), so they are text.
                    raise fail(f"{label}: {key!r} must be a string",
                               f'Write it in quotes: {key} = "{v}"', key=key)
            if not (lists["trunks"] or lists["ips"] or lists["accounts"]):
                raise fail(f"{label}: no trunks, ips or accounts: nothing can map to it")
            for kind, values in (("trunk", lists["trunks"]), ("account", lists["accounts"]),
                                 ("ip", tuple(str(ipaddress.ip_network(x, strict=False))
                                              for x in lists["ips"]))):
                for v in values:
                    prev = owners.get((kind, v))
                    if prev is not None:
                        raise fail(f"{label}: {kind} {v!r} is already given to {prev}",
                                   "A trunk, account or network may belong to one peer only",
                                   {"trunk": "trunks", "account": "accounts"}.get(kind, "ips"))
                    owners[(kind, v)] = label
            peers.append(Peer(
                name=name,
                role=cast(Role, role),
                ocn=entry.get("ocn"),
                trunks=lists["trunks"],
                ips=lists["ips"],
                accounts=lists["accounts"],
                contact=entry.get("contact"),
            ))
        return cls(peers, path=path)

    # -- resolving ---------------------------------------------------------------------------

    def resolve(self, trunk: str | None, ip: str | None, account: str | None) -> Peer | None:
        """The peer a leg's ingress belongs to, by the precedence in the module docstring."""
        if account:
            hit = self._accounts.get(account.strip())
            if hit is not None:
                return hit
        if trunk:
            t = trunk.strip()
            hit = self._trunks.get(t)
            if hit is not None:
                return hit
            low = t.lower()
            for _, _, pattern, peer in self._globs:
                if fnmatch.fnmatchcase(low, pattern):
                    return peer
        addr = parse_ip(ip)
        if addr is not None:
            for net, peer in self._nets:
                if addr.version == net.version and addr in net:
                    return peer
        return None

    def __len__(self) -> int:
        return len(self.peers)


_ENTRY = re.compile(r"^\s*\[\[\s*peer\s*\]\]")


def _entry_lines(text: str) -> list[int]:
    """The 1-based line of each ``[[peer]]`` header, in order (what ``tomllib`` numbers the
    entries by). A header inside a multi-line string would be miscounted; such a file is
    no peer directory anyway."""
    return [n for n, line in enumerate(text.splitlines(), start=1) if _ENTRY.match(line)]


def _key_line(text: str, start: int, key: str) -> int | None:
    """The line where ``key =`` is set in the entry whose header is on line ``start``."""
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
    for n, line in enumerate(text.splitlines()[start:], start=start + 1):
        if line.lstrip().startswith("["):
            return None  # the next table: the key is not set in this entry
        if pattern.match(line):
            return n
    return None
