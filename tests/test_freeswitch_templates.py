"""The other templates of FreeSWITCH's shipped cdr_csv.conf.xml, and its unescaped values."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehop.errors import UnknownFormatError
from tracehop.ingest.run import ingest_paths, parse_file

_SQL = ('INSERT INTO cdr VALUES ("Caller {i}","+1202555000{i}","312555000{i}","public",'
        '"2025-07-04 09:0{i}:00","2025-07-04 09:0{i}:03","2025-07-04 09:0{i}:33","33","30",'
        '"NORMAL_CLEARING","000000ab-cdef-1234-5678-12345678123{i}",'
        '"000000ab-cdef-1234-5678-12345678129{i}", "ACME");')


def test_the_sql_template_is_refused_with_the_fix(tmp_path: Path) -> None:
    # It used to be read as the 13-field default, the account code as `ACME");`.
    f = tmp_path / "Master.csv"
    f.write_text("\n".join(_SQL.format(i=i) for i in range(3)) + "\n")
    with pytest.raises(UnknownFormatError, match="'sql' template") as e:
        parse_file(f, None, "UTC")
    assert str(f) in str(e.value) and "example" in str(e.value)
    s = ingest_paths([f], tmp_path / "store", tz="UTC")
    assert s.stored == 0 and s.per_file[0].error
    # ... and a format named by hand does not read the statements as CSV either
    for fmt in ("freeswitch_cdr_csv", "asterisk_cdr_csv"):
        with pytest.raises(UnknownFormatError, match="'sql' template"):
            parse_file(f, fmt, "UTC")


def test_the_asterisk_templates_channel_gives_the_ingress_address(tmp_path: Path) -> None:
    # sofia/<profile>/<user>@<host>: the host is where the call came from when it is an
    # address; a domain name is not one.
    row = ('"","+12025550000","3125550000","public","""Caller 0"" <+12025550000>",'
           '"sofia/external/+12025550000@{host}","sofia/internal/1000@10.0.0.5","bridge",'
           '"user/1000","2025-07-04 09:00:00","2025-07-04 09:00:03","2025-07-04 09:00:33",'
           '"33","30","NORMAL_CLEARING","default","000000ab-cdef-1234-5678-12345678123{i}",""')
    f = tmp_path / "Master.csv"
    hosts = ["198.51.100.7", "198.51.100.8:5080", "[2001:db8::7]", "sip.example.com"]
    f.write_text("\n".join(row.format(host=h, i=i) for i, h in enumerate(hosts)) + "\n")
    res = parse_file(f, "freeswitch_cdr_csv_asterisk", "UTC")
    assert res.legs.column("ingress_trunk").to_pylist() == ["external"] * 4
    assert res.legs.column("ingress_ip").to_pylist() == [
        "198.51.100.7", "198.51.100.8", "2001:db8::7", None]


def test_a_value_with_an_unescaped_quote_is_read(tmp_path: Path) -> None:
    """FreeSWITCH writes values as given, quotes unescaped (`"5" Screen TV Deals"`): the
    example template's `","` separators still tell the fields apart. A line cut short is
    still rejected, with both causes named."""
    row = ('"{name}","+12025550111","31255501{i:02d}","public","2025-03-09 01:59:50",'
           '"2025-03-09 01:59:53","2025-03-09 02:00:30","40","37","NORMAL_CLEARING",'
           '"00001234-5678-1234-5678-1234567812{i:02d}","","","PCMU","PCMU"')
    f = tmp_path / "Master.csv"
    lines = [row.format(name=n, i=i) for i, n in
             enumerate(["WIRELESS CALLER", '5" Screen TV Deals', 'Robo "Bot" Inc'])]
    # Copied while being written: cut inside the last value, which the lenient split alone
    # would read as 15 fields.
    lines.append(row.format(name="Cut", i=9)[:-3])
    f.write_text("\n".join(lines) + "\n")
    res = parse_file(f, "freeswitch_cdr_csv", "America/Los_Angeles")
    assert res.legs.column("called_raw").to_pylist() == [
        "3125550100", "3125550101", "3125550102"]
    assert res.legs.column("calling_e164").to_pylist() == ["+12025550111"] * 3
    (reason,) = res.rejects.column("reason").to_pylist()
    assert "truncated" in reason and "not doubled" in reason


def test_opencdrrate_legs_ab_answer_from_the_a_leg(tmp_path: Path) -> None:
    """The opencdrrate template with `legs = ab`: the B-leg FreeSWITCH placed (direction
    outbound, signal_bond = its A-leg's uuid) shares the A-leg's key, so a lookup that meets
    the B-leg answers from the A-leg's peer address and gateway."""
    from tracehop.inquiry import Inquiry
    from tracehop.match import Matcher
    from tracehop.peers import PeerDirectory
    from tracehop.store import Store

    a, b = "4a3b1c2d-0000-4000-8000-000000000001", "5b3b1c2d-0000-4000-8000-000000000001"
    f = tmp_path / "Master.csv"
    f.write_text(
        f'"{a}","{b}","inbound","+12025550111","3125550100","2025-07-04 09:00:03",'
        '"2025-07-04 09:00:33","30","","","198.51.100.7","R","acme_gw"\n'
        f'"{b}","{a}","outbound","+12025550111","3125550100","2025-07-04 09:00:03",'
        '"2025-07-04 09:00:33","30","","","203.0.113.9","R","bravo_gw"\n')
    res = parse_file(f, None, "America/Chicago")
    assert res.format == "freeswitch_cdr_csv_opencdrrate"
    rows = res.legs.to_pylist()
    assert [r["direction"] for r in rows] == ["inbound", "outbound"]
    assert [r["correlation_id"] for r in rows] == [a, a]
    assert (rows[1]["egress_ip"], rows[1]["egress_trunk"], rows[1]["ingress_ip"]) == (
        "203.0.113.9", "bravo_gw", None)
    store = tmp_path / "store"
    ingest_paths([f], store, tz="America/Chicago")
    (tmp_path / "peers.toml").write_text(
        '[[peer]]\nname = "Acme"\nrole = "upstream"\nips = ["198.51.100.7"]\n')
    m = Matcher(Store.open(store), PeerDirectory.load(tmp_path / "peers.toml"))
    ans = m.lookup(Inquiry.parse("3125550100", "2025-07-04T14:00:05Z"))
    assert ans.status == "upstream" and ans.upstream is not None
    assert ans.upstream.provider == "Acme" and ans.match is not None
    assert ans.match.ingress_trunk == "acme_gw"


_EXAMPLE = ('"Caller {i}","+1202555000{i}","312555000{i}","public","2025-07-04 09:0{i}:00",'
            '"2025-07-04 09:0{i}:03","2025-07-04 09:0{i}:33","33","30","NORMAL_CLEARING",'
            '"000000ab-cdef-1234-5678-12345678123{i}","","{acct}","PCMU","PCMU"')


def test_a_per_account_file_beside_master_csv_is_named(tmp_path: Path) -> None:
    """mod_cdr_csv writes a record with an account code to Master.csv and to
    <accountcode>.csv (unless master-file-only, commented out in the shipped config): a
    cdr-csv directory ingested whole stores those calls twice. The run must say so, as it
    does for Asterisk's accountlogs, instead of doubling them without a word."""
    cdr = tmp_path / "cdr-csv"
    cdr.mkdir()
    acct = [_EXAMPLE.format(i=i, acct="cust1") for i in range(3)]
    (cdr / "Master.csv").write_text("\n".join([*acct, _EXAMPLE.format(i=7, acct="")]) + "\n")
    (cdr / "cust1.csv").write_text("\n".join(acct) + "\n")
    s = ingest_paths([cdr], tmp_path / "store", tz="America/New_York")
    named = [w for w in s.warnings if "master-file-only" in w]
    assert len(named) == 1 and "cust1.csv" in named[0] and "'cust1'" in named[0]
    assert "twice" in named[0]
