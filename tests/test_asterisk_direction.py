"""Which Asterisk rows can answer a traceback, end to end (ingest, then `tracehop lookup`).

An Asterisk CDR row is one call as party A placed it, and party A's channel is where the
switch received the call: a carrier's trunk, or the provider's own customer (a phone, a PBX
trunk, an account). So a call our customer placed (context ``from-internal``) is answered
``originating``; only a Local channel row (the dialplan sending a call on) is an egress leg,
which the matcher follows to the inbound row of the same call (``linkedid``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from matchkit import PEERS_TOML, cli_lookup

from tracehop.cli import cli

PEERS = PEERS_TOML  # Acme Transit: ACME_IN_1; Dialer Co: CUST_TRUNK, ACCT-77


def _row(account: str, src: str, dst: str, context: str, channel: str, dstchannel: str,
         local: str, epoch: int, linkedid: str, seq: int) -> str:
    # 21 columns (newcdrcolumns=yes), as cdr_csv.c's build_csv_record writes them; New York
    # local time (UTC-05:00 in November), uniqueid the UTC epoch of the channel's creation.
    q = lambda v: '"' + v.replace('"', '""') + '"'  # noqa: E731
    return ",".join([q(account), q(src), q(dst), q(context), q(f'"" <{src}>'), q(channel),
                     q(dstchannel), q("Dial"), q("PJSIP/x,60"), q(local), q(local), q(local),
                     "30", "25", q("ANSWERED"), q("DOCUMENTATION"), q(f"{epoch}.{seq}"), q(""),
                     q(""), q(linkedid), str(seq)])


@pytest.fixture()
def store(tmp_path: Path) -> tuple[str, str]:
    lines = [
        # our customer's PBX trunk (account ACCT-77) sends a call out through the carrier
        _row("ACCT-77", "2025550118", "3125550177", "from-internal", "PJSIP/CUST_TRUNK-0000001b",
             "PJSIP/acme_out-0000001c", "2026-11-20 09:03:40", 1795183420, "1795183420.1", 1),
        # a carrier's call to a DID, then sent on by a follow-me: the Local channel row
        _row("", "2025550111", "3125550100", "from-trunk", "PJSIP/ACME_IN_1-0000001d",
             "Local/300@from-internal-0000a;1", "2026-11-20 09:10:00", 1795183800,
             "1795183800.2", 2),
        _row("", "2025550111", "3125550199", "from-internal", "Local/300@from-internal-0000a;2",
             "PJSIP/acme_out-0000001e", "2026-11-20 09:10:05", 1795183805, "1795183800.2", 3),
    ]
    (tmp_path / "Master.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "peers.toml").write_text(PEERS)
    r = CliRunner().invoke(cli, ["ingest", str(tmp_path / "Master.csv"), "--store",
                                 str(tmp_path / "store"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["stored"] == 3
    return str(tmp_path / "store"), str(tmp_path / "peers.toml")


def test_a_call_our_customer_placed_is_originating(store: tuple[str, str]) -> None:
    a = cli_lookup(store, "3125550177", "2026-11-20T14:03:40Z")
    assert a["status"] == "originating", a
    assert a["customer"] == {"account": "ACCT-77", "name": "Dialer Co"}
    match = a["match"]
    assert isinstance(match, dict) and match["evidence"]["record"] == 1


def test_a_forwarded_call_is_traced_to_the_carrier_that_sent_it(
        store: tuple[str, str]) -> None:
    # The forward target's row is the Local channel (an egress leg): the answer is the
    # carrier's inbound row of the same call (linkedid), never the Local row.
    a = cli_lookup(store, "3125550199", "2026-11-20T14:10:05Z")
    assert a["status"] == "upstream", a
    upstream = a["upstream"]
    assert isinstance(upstream, dict) and upstream["provider"] == "Acme Transit"
    match = a["match"]
    assert isinstance(match, dict) and match["evidence"]["record"] == 2
