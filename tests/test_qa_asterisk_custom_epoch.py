"""A user-written cdr_custom mapping with raw times: `${CDR(start,u)}`, `${CDR(answer,u)}`.

Asterisk's main/cdr.c cdr_get_tv() in raw mode always prints "%ld.%06ld", so a call that was
never answered has an answer of "0.000000" (the formatted mode writes an empty string
instead). That is "never happened", like FreeSWITCH's 0, not an unparseable time: the
unanswered call (most robocalls) must be stored, not rejected."""

from __future__ import annotations

from pathlib import Path

from tracehop.ingest.run import parse_file

PROFILE = """
name = "my_cdr_custom"
description = "cdr_custom with raw epoch times"
[csv]
header = false
columns = ["start", "answer", "end", "src", "dst", "channel", "disposition", "uniqueid"]
[time]
start = "start"
answer = "answer"
end = "end"
zone = "epoch_s"
[fields]
called_raw = "dst"
calling_raw = "src"
ingress_trunk = { column = "channel", transform = "asterisk_channel_peer" }
[direction]
default = "inbound"
[disposition]
column = "disposition"
map = { "ANSWERED" = "answered", "NO ANSWER" = "no_answer" }
default = "unknown"
"""

# ${CSV_QUOTE(${CDR(start,u)})},${CSV_QUOTE(${CDR(answer,u)})},${CSV_QUOTE(${CDR(end,u)})},...
LINES = [
    '"1763629402.123456","1763629407.000001","1763629467.999999","2025550111","3125550100",'
    '"SIP/acme-00000001","ANSWERED","1763629402.12"',
    '"1763629412.500000","0.000000","1763629442.100000","2025550112","3125550101",'
    '"PJSIP/acme_in-0000000a","NO ANSWER","1763629412.13"',
]


def test_a_raw_zero_answer_is_no_answer_not_a_reject(tmp_path: Path) -> None:
    prof = tmp_path / "my_cdr_custom.toml"
    prof.write_text(PROFILE)
    data = tmp_path / "Master.csv"
    data.write_text("\n".join(LINES) + "\n")
    res = parse_file(data, str(prof))
    assert res.rejects.num_rows == 0, res.rejects.to_pylist()
    legs = sorted(res.legs.to_pylist(), key=lambda r: r["start_utc"])
    assert len(legs) == 2
    unanswered = legs[1]
    assert unanswered["start_utc"].isoformat() == "2025-11-20T09:03:32.500000+00:00"
    assert unanswered["answer_utc"] is None
    assert unanswered["disposition"] == "no_answer"
    assert unanswered["ingress_trunk"] == "acme_in"
    assert legs[0]["answer_utc"].isoformat() == "2025-11-20T09:03:27.000001+00:00"
