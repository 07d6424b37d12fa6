"""FreeSWITCH mod_xml_cdr documents: the same content as mod_json_cdr's (switch_ivr.c writes
both from the channel), so the same call gives the same leg whichever module wrote it.

Such a file used to fail detection with the advice to write a CSV profile, which cannot read
XML: a FreeSWITCH provider (FusionPBX and many billing set-ups use mod_xml_cdr) had no way in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from tracehop.ingest.detect import detect_format
from tracehop.ingest.run import ingest_paths, parse_file

FIXTURE = (Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "freeswitch_json_cdr"
           / "cdr.ndjson")
DOCS: list[dict[str, Any]] = [json.loads(line) for line in FIXTURE.read_text().splitlines()
                              if line]
SAME = ("called_raw", "calling_raw", "start_utc", "answer_utc", "end_utc", "direction",
        "disposition", "ingress_ip", "ingress_trunk", "call_id", "duration_s", "billsec_s")


def _el(tag: str, text: Any) -> str:
    return f"<{tag}>{escape(str(text))}</{tag}>"


def _xml(doc: dict[str, Any]) -> str:
    """The document as mod_xml_cdr writes it: <cdr> attributes, one element per key,
    variables URL-encoded (the JSON fixture's are already), one <callflow> per profile."""
    cdr = f"core-uuid={quoteattr(doc['core-uuid'])} switchname={quoteattr(doc['switchname'])}"
    out = ['<?xml version="1.0"?>', f"<cdr {cdr}>",
           "<channel_data>" + "".join(_el(k, v) for k, v in doc["channel_data"].items())
           + "</channel_data>",
           "<variables>" + "".join(_el(k, v if "%" in v else quote(v, safe=""))
                                   for k, v in doc["variables"].items()) + "</variables>"]
    for flow in doc["callflow"]:
        out.append(f'<callflow dialplan="XML" profile_index="{flow["profile_index"]}">')
        out.append("<caller_profile>" + "".join(
            _el(k, v) for k, v in flow["caller_profile"].items()) + "</caller_profile>")
        out.append("<times>" + "".join(_el(k, v) for k, v in flow["times"].items()) + "</times>")
        out.append("</callflow>")
    return "\n".join([*out, "</cdr>"]) + "\n"


def test_an_xml_cdr_gives_the_leg_its_json_twin_gives(tmp_path: Path) -> None:
    for i, doc in enumerate(DOCS):
        j = tmp_path / f"{i}.cdr.json"
        x = tmp_path / f"a_{i}.cdr.xml"
        j.write_text(json.dumps(doc))
        x.write_text(_xml(doc))
        assert detect_format(x) == "freeswitch_xml_cdr"
        want = parse_file(j).legs.select(SAME).to_pylist()
        got = parse_file(x)
        assert got.rejects.num_rows == 0
        assert got.legs.select(SAME).to_pylist() == want
        assert got.legs.column("source_record").to_pylist() == [2]  # <cdr> after <?xml?>


def test_several_documents_and_a_cut_one_add_up(tmp_path: Path) -> None:
    # POSTs collected into one file, the last copied while it was written.
    f = tmp_path / "posted.xml"
    whole = [_xml(d) for d in DOCS]
    f.write_text("".join(whole) + whole[0][: len(whole[0]) // 2])
    s = ingest_paths([f], tmp_path / "store")
    assert (s.read, s.stored, s.rejected) == (len(DOCS) + 1, len(DOCS), 1)
    assert s.per_file[0].format == "freeswitch_xml_cdr"
