"""QA of SIP-capture ingestion: a tcpdump ring buffer that wrapped (``-C 100 -W 3``: after
the wrap ``cap.pcap0`` holds the newest packets) is read in the order its files were written,
not in name order. Read in name order, a call whose INVITE is in ``cap.pcap2`` and whose 200 OK
and BYE are in ``cap.pcap0`` had its answer read before its INVITE: unanswered, no duration.
"""

from __future__ import annotations

import json
from pathlib import Path

import deltalake
from click.testing import CliRunner
from test_qa_sip_auth import PEER, SBC, T0, _frame, _msg, _pcap

from tracehop.cli import cli
from tracehop.sip.pcap import written_order


def _call(t: float, cid: str, called: str) -> list[tuple[float, bytes]]:
    ruri = f"sip:{called}@{SBC};user=phone"
    return [
        (t, _frame(PEER, SBC, _msg(f"INVITE {ruri} SIP/2.0", cid, "1 INVITE", PEER,
                                   f"z9hG4bK{cid}", called=called))),
        (t + 5, _frame(SBC, PEER, _msg("SIP/2.0 200 OK", cid, "1 INVITE", PEER,
                                       f"z9hG4bK{cid}", "t", called=called))),
        (t + 65, _frame(PEER, SBC, _msg(f"BYE {ruri} SIP/2.0", cid, "2 BYE", PEER,
                                        f"z9hG4bKb{cid}", "t", called=called))),
    ]


def test_a_wrapped_ring_buffer_is_read_in_the_order_it_was_written(tmp_path: Path) -> None:
    # tcpdump -C 100 -W 3 -w cap.pcap: cap.pcap0, cap.pcap1, cap.pcap2, then cap.pcap0 again.
    # After the wrap, cap.pcap1 is the oldest file and cap.pcap0 the newest.
    frames = sorted(_call(T0, "old", "+13125550301") + _call(T0 + 100, "mid", "+13125550302")
                    + _call(T0 + 200, "new", "+13125550303"))
    caps = tmp_path / "ring"
    caps.mkdir()
    _pcap(caps / "cap.pcap1", [f for f in frames if f[0] < T0 + 100])
    _pcap(caps / "cap.pcap2", [f for f in frames if T0 + 100 <= f[0] < T0 + 203])
    _pcap(caps / "cap.pcap0", [f for f in frames if f[0] >= T0 + 203])
    r = CliRunner().invoke(cli, ["ingest", str(caps), "--store", str(tmp_path / "st"),
                                 "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["stored"] == 3, out
    rows = deltalake.DeltaTable(str(tmp_path / "st")).to_pyarrow_table().to_pylist()
    got = {x["call_id"]: (Path(x["source_file"]).name, x["disposition"], x["duration_s"])
           for x in rows}
    assert got == {"old": ("cap.pcap1", "answered", 65.0),
                   "mid": ("cap.pcap2", "answered", 65.0),
                   "new": ("cap.pcap2", "answered", 65.0)}, got


def test_name_order_is_kept_when_the_files_are_in_time_order_or_undatable(
        tmp_path: Path) -> None:
    a = _pcap(tmp_path / "cap.pcap0", _call(T0, "a", "+13125550301"))
    b = _pcap(tmp_path / "cap.pcap1", _call(T0, "b", "+13125550302"))  # same first time
    c = _pcap(tmp_path / "cap.pcap2", _call(T0 + 10, "c", "+13125550303"))
    assert written_order([a, b, c]) == [0, 1, 2]
    hep = tmp_path / "cap.pcap3"
    hep.write_bytes(b"HEP3\x00\x06")  # no frame time to compare: name order for all
    assert written_order([c, a, hep]) == [0, 1, 2]


def test_capture_dir_reads_a_wrapped_ring_buffer_in_the_order_it_was_written(
        tmp_path: Path) -> None:
    frames = sorted(_call(T0, "old", "+13125550301") + _call(T0 + 200, "new", "+13125550303"))
    caps = tmp_path / "ring"
    caps.mkdir()
    _pcap(caps / "cap.pcap1", [f for f in frames if f[0] < T0 + 203])
    _pcap(caps / "cap.pcap0", [f for f in frames if f[0] >= T0 + 203])
    r = CliRunner().invoke(cli, ["capture-dir", str(caps), "--store", str(tmp_path / "st"),
                                 "--flush"])
    assert r.exit_code == 0, r.output
    rows = deltalake.DeltaTable(str(tmp_path / "st")).to_pyarrow_table().to_pylist()
    assert {x["call_id"]: (x["disposition"], x["duration_s"]) for x in rows} == {
        "old": ("answered", 65.0), "new": ("answered", 65.0)}


def test_rotated_captures_compressed_but_the_live_one_are_read_as_one(tmp_path: Path) -> None:
    # tcpdump -C 100 -z gzip -w cap.pcap: every finished file is compressed, the one being
    # written is not. A call whose INVITE is in cap.pcap.gz and whose 200 OK and BYE are in
    # cap.pcap1 is one answered leg, as when neither is compressed.
    import gzip

    frames = sorted(_call(T0, "x", "+13125550301"))
    caps = tmp_path / "ring"
    caps.mkdir()
    first = _pcap(tmp_path / "cap.pcap", [f for f in frames if f[0] < T0 + 3])
    (caps / "cap.pcap.gz").write_bytes(gzip.compress(first.read_bytes()))
    _pcap(caps / "cap.pcap1", [f for f in frames if f[0] >= T0 + 3])
    r = CliRunner().invoke(cli, ["ingest", str(caps), "--store", str(tmp_path / "st"),
                                 "--json"])
    assert r.exit_code == 0, r.output
    rows = deltalake.DeltaTable(str(tmp_path / "st")).to_pyarrow_table().to_pylist()
    assert [(Path(x["source_file"]).name, x["disposition"], x["duration_s"]) for x in rows] == [
        ("cap.pcap.gz", "answered", 65.0)]
