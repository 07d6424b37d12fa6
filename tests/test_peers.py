"""The peer directory: loading, validation errors that name the file and entry, precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehop.errors import PeerDirectoryError
from tracehop.peers import PeerDirectory, parse_ip

GOOD = """
[[peer]]
name = "Acme Transit"
role = "upstream"
ocn = "1234"
trunks = ["ACME_IN_1", "acme-*"]
ips = ["198.51.100.0/24"]
contact = "noc@acme.example"

[[peer]]
name = "Acme East"
role = "upstream"
trunks = ["acme-east-*"]
ips = ["198.51.100.64/26"]

[[peer]]
name = "Dialer Co"
role = "customer"
trunks = ["SHARED_TRUNK"]
accounts = ["ACCT-77"]

[[peer]]
name = "Overseas"
role = "foreign"
ips = ["2001:db8::/32", "203.0.113.7"]
"""


def load(tmp_path: Path, text: str) -> PeerDirectory:
    p = tmp_path / "peers.toml"
    p.write_text(text)
    return PeerDirectory.load(p)


def test_loads_every_field(tmp_path: Path) -> None:
    d = load(tmp_path, GOOD)
    assert len(d) == 4
    acme = d.peers[0]
    assert (acme.name, acme.role, acme.ocn, acme.contact) == (
        "Acme Transit", "upstream", "1234", "noc@acme.example")
    assert acme.trunks == ("ACME_IN_1", "acme-*")


@pytest.mark.parametrize(
    ("trunk", "ip", "account", "expected"),
    [
        ("ACME_IN_1", None, None, "Acme Transit"),  # exact trunk
        ("ACME-99", None, None, "Acme Transit"),  # glob, case-insensitive
        ("acme-east-3", None, None, "Acme East"),  # the more specific glob wins
        (None, "198.51.100.70", None, "Acme East"),  # longest prefix: /26 beats /24
        (None, "198.51.100.10:5060", None, "Acme Transit"),  # port ignored
        (None, "[2001:db8::5]:5061", None, "Overseas"),  # IPv6 with port
        (None, "203.0.113.7", None, "Overseas"),  # a bare address is a /32
        # An IPv4 peer seen by a dual-stack socket (FreeSWITCH or Asterisk bound to [::])
        # is recorded IPv4-mapped; it is still that peer's address.
        (None, "::ffff:198.51.100.70", None, "Acme East"),
        (None, "[::ffff:198.51.100.10]:5060", None, "Acme Transit"),
        ("SHARED_TRUNK", None, None, "Dialer Co"),
        ("ACME_IN_1", None, "ACCT-77", "Dialer Co"),  # account beats trunk
        ("UNKNOWN", "198.51.100.9", None, "Acme Transit"),  # IP when the trunk is unknown
        ("acme-1", "203.0.113.7", None, "Acme Transit"),  # trunk beats IP
        ("UNKNOWN", "192.0.2.1", "NOPE", None),
        (None, "not an ip", None, None),
        (None, None, None, None),
    ],
)
def test_resolve_precedence(tmp_path: Path, trunk: str | None, ip: str | None,
                            account: str | None, expected: str | None) -> None:
    peer = load(tmp_path, GOOD).resolve(trunk, ip, account)
    assert (peer.name if peer else None) == expected


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('# peers\n[[peer]]\nname = "Acme"\nrole = "upsteam"\ntrunks = ["A"]\n', 4),
        ('[[peer]]\nname="A"\nrole="upstream"\ntrunks=["T"]\n\n[[peer]]\nname="B"\n'
         'role="upstream"\nips=["10.0.0.300"]\n', 9),
        ('[[peer]]\nname="A"\nrole="upstream"\ntrunks=["T"]\n[[peer]]\nname="B"\n'
         'role="customer"\n\ntrunks=["T"]\n', 9),
        ('[[peer]]\nname="A"\nrole="upstream"\n', 1),  # nothing maps to it: the entry
        ('[[peer]]\nname="A"\nrole="upstream"\nrole2="x"\n', 4),
        ('[[peer]]\nname="A"\nrole="upstream"\ntrunks=["T",\n', 4),  # an unclosed list
    ],
)
def test_errors_name_the_line(tmp_path: Path, text: str, line: int) -> None:
    # "file:line: ..." as the other input errors: the line of the key at fault, or of the
    # entry's [[peer]] header.
    with pytest.raises(PeerDirectoryError) as e:
        load(tmp_path, text)
    assert e.value.line == line, str(e.value)
    assert f"{tmp_path / 'peers.toml'}:{line}:" in str(e.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[peer]]\nname = "Acme"\nrole = "upsteam"\ntrunks = ["A"]\n',
         "peer #1 'Acme': role 'upsteam' is not one of upstream, customer, foreign"),
        ('[[peer]]\nname="A"\nrole="upstream"\ntrunks=["T"]\n[[peer]]\nname="B"\nrole="upstream"'
         '\nips=["10.0.0.300"]\n', "peer #2 'B': '10.0.0.300' is not an IP address or CIDR"),
        ('[[peer]]\nrole="upstream"\ntrunks=["T"]\n', "peer #1: 'name' is missing or empty"),
        ('[[peer]]\nname="A"\nrole="upstream"\ntrunk=["T"]\n', "peer #1 'A': unknown key(s) trunk"),
        ('[[peer]]\nname="A"\nrole="upstream"\ntrunks="T"\n',
         "peer #1 'A': 'trunks' must be a list of non-empty strings"),
        ('[[peer]]\nname="A"\nrole="upstream"\n', "peer #1 'A': no trunks, ips or accounts"),
        ('[[peer]]\nname="A"\nrole="upstream"\ntrunks=["T"]\n[[peer]]\nname="B"\nrole="customer"'
         '\ntrunks=["T"]\n', "peer #2 'B': trunk 'T' is already given to peer #1 'A'"),
        ('[[peer]]\nname="A"\nrole="upstream"\ntrunks=["T"]\n[[peer]]\nname="A"\nrole="customer"'
         '\ntrunks=["U"]\n', "peer #2 'A': the name is already used by peer #1"),
        ('[[peer]\nname="A"\n', "not valid TOML"),
        ('[peer]\nname="A"\n', "'peer' must be an array of tables"),
        # An OCN written as a number (TOML integer): the fix is the quotes.
        ('[[peer]]\nname="A"\nrole="upstream"\nocn=1234\ntrunks=["T"]\n',
         "'ocn' must be a string. Write it in quotes: ocn = \"1234\""),
    ],
)
def test_validation_errors_name_the_file_and_the_entry(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(PeerDirectoryError) as e:
        load(tmp_path, text)
    assert str(tmp_path / "peers.toml") in str(e.value)
    assert message in str(e.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PeerDirectoryError, match="peer directory was not found"):
        PeerDirectory.load(tmp_path / "nope.toml")


def test_parse_ip_forms() -> None:
    assert str(parse_ip(" 198.51.100.7:5060 ")) == "198.51.100.7"
    assert str(parse_ip("[2001:db8::1]:5060")) == "2001:db8::1"
    assert str(parse_ip("2001:db8::1")) == "2001:db8::1"
    assert str(parse_ip("::ffff:198.51.100.7")) == "198.51.100.7"
    assert parse_ip("sip.example.com") is None and parse_ip("") is None


def test_a_file_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    """Windows editors save UTF-8 with a byte-order mark; the directory is read all the same."""
    p = tmp_path / "peers.toml"
    p.write_bytes("\ufeff".encode() + GOOD.encode())
    assert PeerDirectory.load(p).resolve("ACME_IN_1", None, None).name == "Acme Transit"  # type: ignore[union-attr]


def test_a_file_not_in_utf8_says_how_to_fix_it(tmp_path: Path) -> None:
    p = tmp_path / "peers.toml"
    p.write_bytes('[[peer]]\nname = "Télécom"\n'.encode("latin-1"))
    with pytest.raises(PeerDirectoryError, match="Save the file as UTF-8"):
        PeerDirectory.load(p)
