"""The simulated network writes records exactly as the real switches do, and its ground truth
is what a correct traceback must find."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest

from tracehop.sim.network import demo_network
from tracehop.sim.traffic import Traffic, generate
from tracehop.sim.writers import WRITERS, write_records


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    return generate(demo_network(), campaign_calls=12, ordinary_calls=150, seed=11)


def _local(text: str, tz: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(tz))


def test_writers_are_registered_under_ingest_format_names() -> None:
    assert {"asterisk_cdr_csv", "freeswitch_cdr_csv", "freeswitch_json_cdr"} <= set(WRITERS)


def test_asterisk_master_csv_is_cdr_csv_exactly(traffic: Traffic, tmp_path: Path) -> None:
    net = traffic.network
    p = net.providers["lakeside"]
    legs = {lg.call: lg for lg in traffic.legs("lakeside")}
    [path] = write_records(p, list(legs.values()), tmp_path)
    text = path.read_text("utf-8")
    assert path.name == "Master.csv" and text.endswith("\n") and "\r" not in text
    rows = list(csv.reader(text.splitlines()))
    assert rows and all(len(r) == 18 for r in rows)  # loguniqueid + loguserfield, no header
    for line in text.splitlines():
        # integers bare, strings quoted; an unanswered call's answer time is empty and unquoted
        fields = next(csv.reader([line]))
        assert line.startswith('"')
        if fields[14] == "NO ANSWER":
            assert ',"' + fields[9] + '",,"' + fields[11] + '",' in line
        assert f',{fields[12]},{fields[13]},"{fields[14]}",' in line
    ends = [_local(r[11], p.tz) for r in rows]
    assert ends == sorted(ends)  # appended at hang-up
    for r in rows:
        start = _local(r[9], p.tz)
        epoch = int(r[16].split(".")[0])
        # uniqueid is the channel's creation in UTC epoch seconds on the same (skewed) clock
        assert abs(start.timestamp() - epoch) < 1.0
        assert r[5].startswith("PJSIP/") and r[3] in ("from-trunk", "from-customers")
    # the local wall clock and the skew: the record's start is the true time + skew, in zone
    c = traffic.campaign[0]
    row = next(r for r in rows if r[2] == c.called[2:] and r[1] == c.calling[2:])
    start = _local(row[9], p.tz).astimezone(UTC)
    true = c.times[-1]
    assert abs((start - true).total_seconds() - p.skew_s) < 1.0
    assert row[5].startswith(f"PJSIP/{net.link(c.path[-2], 'lakeside').trunk}-")


def test_freeswitch_csv_example_template(traffic: Traffic, tmp_path: Path) -> None:
    # the demo's Keystone runs a Ribbon SBC; any provider can be given FreeSWITCH's CSV
    p = replace(traffic.network.providers["keystone"], format="freeswitch_cdr_csv")
    [path] = write_records(p, traffic.legs("keystone"), tmp_path)
    lines = path.read_text("utf-8").splitlines()
    assert lines
    for line in lines:
        assert line.startswith('"') and line.endswith('"') and line.count('","') == 14
    rows = list(csv.reader(lines))
    c = next(c for c in traffic.campaign if "keystone" in c.path)
    i = c.path.index("keystone")
    row = next(r for r in rows if r[2] == c.called[1:] and r[1] == c.calling[1:])  # 11 digits
    assert abs((_local(row[4], p.tz).astimezone(UTC) - c.times[i]).total_seconds()
               - p.skew_s) < 1.0
    assert (row[5] == "") == (not c.answered)
    peer = traffic.network.link(c.path[i - 1], "keystone") if i else c.entry
    assert row[3] == "public" and row[12] == (peer.account or "")


def test_freeswitch_json_documents(traffic: Traffic, tmp_path: Path) -> None:
    p = replace(traffic.network.providers["harbor"], format="freeswitch_json_cdr")
    files = write_records(p, traffic.legs("harbor"), tmp_path)
    docs = [json.loads(f.read_text("utf-8")) for f in files]
    assert all(f.name.endswith(".cdr.json") for f in files)
    directions = {d["channel_data"]["direction"] for d in docs}
    assert directions == {"inbound", "outbound"}  # log-b-leg: egress legs are there too
    c = next(c for c in traffic.campaign if "harbor" in c.path)
    i = c.path.index("harbor")
    [doc] = [d for d in docs if d["channel_data"]["direction"] == "inbound"
             and unquote(d["variables"]["sip_call_id"]) == c.call_ids[i]]
    v = doc["variables"]
    assert v["sip_req_user"] == "%2B" + c.called[1:]  # encode-values=true
    assert unquote(v["start_stamp"]) == (c.times[i] + timedelta(seconds=p.skew_s)).astimezone(
        ZoneInfo(p.tz)).strftime("%Y-%m-%d %H:%M:%S")
    created = int(doc["callflow"][0]["times"]["created_time"])
    assert abs(created / 1e6 - (c.times[i].timestamp() + p.skew_s)) < 1e-3
    assert unquote(v["sip_network_ip"]) == traffic.network.providers[c.path[i - 1]].ip


def test_ground_truth_follows_the_path(traffic: Traffic) -> None:
    net = traffic.network
    ends = set()
    for c in traffic.campaign:
        t = traffic.truth(c)
        assert [h.provider for h in t.hops] == list(reversed(c.path))
        assert all(h.status == "upstream" for h in t.hops[:-1])
        ends.add(t.end)
        if t.end == "originating":
            assert t.origin == net.campaign_account
        else:
            assert t.end == "point_of_entry" and t.origin == net.foreign_carrier
    assert ends == {"originating", "point_of_entry"}
    c = traffic.campaign[0]
    t = traffic.truth(c, silent={c.path[-2]})
    assert t.hops[-1].status == "no_response" and len(t.hops) == 2
    traffic.missing.add((c.ref, c.path[0]))
    try:
        assert traffic.truth(c).hops[-1].status == "not_found"
        assert all(lg.call != c.ref for lg in traffic.legs(c.path[0]))
    finally:
        traffic.missing.clear()


def test_decoys_share_called_number_from_other_upstreams(traffic: Traffic) -> None:
    """Around each campaign call, every provider also carries calls to the same number, seconds
    apart, from a different upstream: the matcher has to pick, not just find."""
    for c in traffic.campaign:
        for i, key in enumerate(c.path):
            theirs = c.path[i - 1] if i else c.entry.name
            near = [
                o for o in traffic.calls
                if not o.campaign and o.called == c.called and key in o.path
                and abs((o.times[o.path.index(key)] - c.times[i]).total_seconds()) < 60
            ]
            others = [o for o in near
                      if (o.path[o.path.index(key) - 1] if o.path.index(key)
                          else o.entry.name) != theirs]
            assert others, (c.ref, key)


def test_peer_directories_name_peers_as_records_show_them(traffic: Traffic,
                                                           tmp_path: Path) -> None:
    from tracehop.peers import PeerDirectory
    from tracehop.sim.network import RECORDED_MARKS

    net = traffic.network
    for key, prov in net.providers.items():
        d = PeerDirectory.load(net.write_peer_directory(key, tmp_path / f"{key}.toml"))
        marks = RECORDED_MARKS[prov.format]
        for peer in net.peers_of(key):
            # each mark the format records identifies the peer on its own
            for trunk, ip, account in ((peer.trunk, None, None), (None, peer.ip, None),
                                       (None, None, peer.account)):
                mark = "trunk" if trunk else "ip" if ip else "account"
                if mark not in marks or not (trunk or ip or account):
                    continue
                got = d.resolve(trunk, ip, account)
                assert got is not None and (got.name, got.role) == (peer.name, peer.role)
            assert any(m in marks and getattr(peer, m) for m in ("trunk", "ip", "account"))


def test_generation_is_deterministic(tmp_path: Path) -> None:
    def files(seed: int, d: Path) -> dict[str, bytes]:
        net = demo_network()
        tr = generate(net, campaign_calls=4, ordinary_calls=30, seed=seed)
        out = {}
        for key, p in net.providers.items():
            for f in write_records(p, tr.legs(key), d / key):
                out[f"{key}/{f.name}"] = f.read_bytes()
        return out

    a, b = files(3, tmp_path / "a"), files(3, tmp_path / "b")
    assert a == b
    assert files(4, tmp_path / "c") != a
