"""FreeSWITCH mod_json_cdr files holding several documents: every document is its own
record (its own source_record, hence leg_id), however the documents are laid out.

A JSON array written on one line, or documents concatenated with no line end between, used
to give every document of the line the line's number: one leg_id, and all but the first
counted as duplicates of it (DESIGN §7: a record is never dropped silently).
"""

from __future__ import annotations

import json
from pathlib import Path

from tracehop.ingest.run import ingest_paths, parse_file

FIXTURE = (Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "freeswitch_json_cdr"
           / "cdr.ndjson")
DOCS = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line]


def _stored(path: Path, store: Path) -> tuple[int, int, int, int]:
    s = ingest_paths([path], store)
    assert s.read == s.stored + s.rejected + s.duplicates
    return s.read, s.stored, s.rejected, s.duplicates


def test_a_json_array_on_one_line_is_one_record_per_document(tmp_path: Path) -> None:
    f = tmp_path / "cdr.json"
    f.write_text(json.dumps(DOCS) + "\n")
    res = parse_file(f)
    assert res.legs.column("source_record").to_pylist() == [1, 2, 3]
    assert len(set(res.legs.column("leg_id").to_pylist())) == 3
    assert res.legs.column("call_id").to_pylist() == [
        "a84b4c76e66710@198.51.100.7", "77f1c2@10.0.0.21", "c0ffee01@198.51.100.7"]
    assert _stored(f, tmp_path / "store") == (3, 3, 0, 0)


def test_documents_run_together_on_one_line_and_a_broken_one(tmp_path: Path) -> None:
    # {...}{...} then, on the next line, a truncated document and a whole one.
    f = tmp_path / "cdr.json"
    f.write_text(json.dumps(DOCS[0]) + json.dumps(DOCS[1]) + "\n"
                 + json.dumps(DOCS[2])[:60] + "\n" + json.dumps(DOCS[2]) + "\n")
    res = parse_file(f)
    assert res.legs.column("source_record").to_pylist() == [1, 2, 4]
    assert res.rejects.column("source_record").to_pylist() == [3]
    reason = res.rejects.column("reason")[0].as_py()
    assert "not a valid JSON document" in reason and "starting on line 2" in reason
    assert _stored(f, tmp_path / "store") == (4, 3, 1, 0)


def test_one_document_per_line_keeps_its_line_numbers(tmp_path: Path) -> None:
    # NDJSON (blank lines included) and pretty-printed documents keep numbering by the line
    # a document starts on: their leg_ids do not change.
    f = tmp_path / "cdr.ndjson"
    f.write_text(json.dumps(DOCS[0]) + "\n\n" + json.dumps(DOCS[1]) + "\n"
                 + json.dumps(DOCS[2]) + "\n")
    assert parse_file(f).legs.column("source_record").to_pylist() == [1, 3, 4]
    pretty = tmp_path / "pretty.json"
    pretty.write_text("\n".join(json.dumps(d, indent=1) for d in DOCS) + "\n")
    starts = [1 + sum(json.dumps(d, indent=1).count("\n") + 1 for d in DOCS[:i])
              for i in range(3)]
    assert parse_file(pretty).legs.column("source_record").to_pylist() == starts


def test_a_b_legs_far_end_is_its_egress(tmp_path: Path) -> None:
    # sip_network_ip is the far end of the leg: on the outbound (B-) leg, the next hop.
    res = parse_file(FIXTURE)
    rows = res.legs.select(["direction", "ingress_ip", "egress_ip"]).to_pylist()
    assert rows[1] == {"direction": "outbound", "ingress_ip": None, "egress_ip": "10.0.0.21"}
    assert rows[0]["ingress_ip"] == "198.51.100.7" and rows[0]["egress_ip"] is None
    # Older documents carry no direction: a leg with an originator is the B-leg.
    doc = json.loads(json.dumps(DOCS[1]))
    doc["channel_data"].pop("direction", None)
    doc["variables"].pop("direction", None)
    doc["callflow"][0]["caller_profile"]["originator"] = {"originator_caller_profiles": []}
    f = tmp_path / "old.cdr.json"
    f.write_text(json.dumps(doc))
    leg = parse_file(f).legs.select(["direction", "ingress_ip", "egress_ip"]).to_pylist()[0]
    assert leg == {"direction": "outbound", "ingress_ip": None, "egress_ip": "10.0.0.21"}


def test_a_byte_order_mark_does_not_reject_the_file(tmp_path: Path) -> None:
    # A document saved with a UTF-8 BOM (a Windows editor, a collector of the HTTP POSTs) was
    # one reject, "not a valid JSON document: Expecting value", and nothing stored.
    f = tmp_path / "a.cdr.json"
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps(DOCS[0], indent=2).encode())
    res = parse_file(f)
    assert res.rejects.num_rows == 0
    assert res.legs.column("call_id").to_pylist() == ["a84b4c76e66710@198.51.100.7"]
    assert res.legs.column("source_record").to_pylist() == [1]
