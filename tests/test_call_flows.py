"""Real call flows, written as the switches write them, ingested and looked up end to end
(`tracehop ingest`, then `tracehop lookup --json`): each must answer from the inbound leg the
upstream carrier handed over, never from an egress or internal leg of the same call.

Flows already covered elsewhere are not repeated here (Asterisk follow-me with linkedid:
test_asterisk_direction.py; FreeSWITCH legs=ab: test_freeswitch_legs.py; CUCM forwarding:
test_called_number_choice.py; dialed and diverted-from numbers: test_match_dialed.py).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from matchkit import PEERS_TOML, cli_lookup

from tracehop.cli import cli

CALLER, DID, MOBILE = "2025550111", "3125550100", "17735550199"
#: 2026-11-20 09:10:00 in New York (UTC-05:00) is 14:10:00Z; a uniqueid is the UTC epoch of
#: its channel's creation, from which the reader infers the file's offset.
LOCAL0, EPOCH0 = datetime(2026, 11, 20, 9, 10, 0), 1795183800


def _ingest(tmp_path: Path, name: str, text: str) -> tuple[str, str]:
    (tmp_path / name).write_text(text)
    (tmp_path / "peers.toml").write_text(PEERS_TOML)
    r = CliRunner().invoke(cli, ["ingest", str(tmp_path / name), "--store",
                                 str(tmp_path / "store"), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["rejected"] == 0, out
    return str(tmp_path / "store"), str(tmp_path / "peers.toml")


# --- Asterisk cdr_csv without linkedid ------------------------------------------------------

def _q(v: str) -> str:
    return '"' + v.replace('"', '""') + '"'


def _cdr_csv_18(dst: str, context: str, channel: str, dstchannel: str, app: str, data: str,
                disposition: str, uniqueid: str, answered: bool = True) -> str:
    """One Master.csv line with loguniqueid=yes and loguserfield=yes but newcdrcolumns=no
    (cdr_csv.c build_csv_record; the layout of most real files: 18 fields, no linkedid). The
    call starts at LOCAL0, is answered 5 s later and lasts 60 s."""
    t = lambda s: _q((LOCAL0 + timedelta(seconds=s)).strftime("%Y-%m-%d %H:%M:%S"))  # noqa: E731
    return ",".join([_q(""), _q(CALLER), _q(dst), _q(context), _q(f'"" <{CALLER}>'),
                     _q(channel), _q(dstchannel), _q(app), _q(data), t(0),
                     t(5) if answered else "", t(60), "60", "55" if answered else "0",
                     _q(disposition), _q("DOCUMENTATION"), _q(uniqueid), _q("")])


def test_asterisk_follow_me_to_a_mobile_without_linkedid_is_traced_to_the_carrier(
        tmp_path: Path) -> None:
    # A carrier's call to a DID whose follow-me dials the mobile through a Local channel: the
    # trunk row dials Local/...;1, the row of Local/...;2 dials the other trunk. Only the Local
    # channel's name links the two rows (no linkedid; each row has its channel's uniqueid).
    # The mobile's carrier asks about the number it received: the call came from Acme.
    local = f"Local/{MOBILE}@from-internal-000000a1"
    lines = [
        _cdr_csv_18(DID, "from-trunk", "PJSIP/ACME_IN_1-00000041", f"{local};1", "Dial",
                    f"{local.split('-0')[0]},300", "ANSWERED", f"{EPOCH0}.40"),
        _cdr_csv_18(MOBILE, "from-internal", f"{local};2", "PJSIP/bravo_out-00000042", "Dial",
                    f"PJSIP/{MOBILE}@bravo_out,300", "ANSWERED", f"{EPOCH0}.42"),
    ]
    store = _ingest(tmp_path, "Master.csv", "\n".join(lines) + "\n")
    a = cli_lookup(store, MOBILE[1:], "2026-11-20T14:10:02Z")
    assert a["status"] == "upstream", a
    assert a["upstream"]["provider"] == "Acme Transit"
    assert a["match"]["evidence"]["record"] == 1  # the trunk row, not the outbound row
    # The DID itself: the trunk row, as before.
    b = cli_lookup(store, DID, "2026-11-20T14:10:02Z")
    assert (b["status"], b["match"]["evidence"]["record"]) == ("upstream", 1)


def test_freepbx_ring_group_to_a_mobile_in_a_cdr_dump_is_traced_to_the_carrier(
        tmp_path: Path) -> None:
    # The FreePBX cdr table dump (no linkedid column): a ring group that rings extension 201
    # and a mobile, each through a Local channel; 201 answers. Amaflags 3 = DOCUMENTATION.
    def row(dst: str, ctx: str, chan: str, dchan: str, disp: str, uid: str, did: str) -> str:
        return ",".join([_q("2026-11-20 09:10:00"), _q(f'"" <{CALLER}>'), _q(CALLER), _q(dst),
                         _q(ctx), _q(chan), _q(dchan), _q("Dial"), _q("x"), "60", "55",
                         _q(disp), _q("3"), "", _q(uid), "", "", _q(did) if did else "",
                         _q(CALLER), "", "", "", "", _q("0"), ""])
    l1, l2 = "Local/201@from-internal-00000011", f"Local/{MOBILE}@from-internal-00000012"
    lines = [
        row(DID, "ext-group", "PJSIP/ACME_IN_1-00000010", f"{l1};1", "ANSWERED",
            f"{EPOCH0}.10", DID),
        row(DID, "ext-group", "PJSIP/ACME_IN_1-00000010", f"{l2};1", "NO ANSWER",
            f"{EPOCH0}.10", DID),
        row("201", "from-internal", f"{l1};2", "PJSIP/201-00000013", "ANSWERED",
            f"{EPOCH0}.12", ""),
        row(MOBILE, "from-internal", f"{l2};2", "PJSIP/bravo_out-00000014", "NO ANSWER",
            f"{EPOCH0}.14", ""),
    ]
    store = _ingest(tmp_path, "cdr.csv", "\n".join(lines) + "\n")
    a = cli_lookup(store, MOBILE[1:], "2026-11-20T14:10:00Z")
    assert a["status"] == "upstream", a
    assert a["upstream"]["provider"] == "Acme Transit"
    assert a["match"]["evidence"]["record"] == 2  # the trunk row that rang the mobile


# --- Kamailio / OpenSIPS acc: a number the proxy translated ---------------------------------

_ACC = ("Nov 20 14:10:05 proxy1 /usr/sbin/{proc}[2417]: NOTICE: acc [acc.c:281]: ACC: "
        "transaction answered: timestamp=1795183805;method=INVITE;from_tag=fA1;to_tag=tA1;"
        "call_id=ka1@198.51.100.7;code=200;reason=OK;src_user=+12025550111;"
        "src_domain=carrier-a.example;src_ip=198.51.100.7;dst_ouser=+18005550100;"
        "dst_user=13125558888;dst_domain=sip.example.net\n")


@pytest.mark.parametrize("proc", ["kamailio", "opensips"])
def test_acc_call_to_a_toll_free_number_the_proxy_translated_is_found_by_it(
        tmp_path: Path, proc: str) -> None:
    # The script rewrote the R-URI (dst_user = $rU) from the toll-free number the carrier sent
    # to its routing number; the To user (dst_ouser = $tU) is still the number dialled, which
    # the inquiry names.
    store = _ingest(tmp_path, "acc.log", _ACC.format(proc=proc))
    a = cli_lookup(store, "8005550100", "2026-11-20T14:10:00Z")
    assert a["status"] == "upstream", a
    assert a["upstream"]["provider"] == "Acme Transit"
    assert a["match"]["called_raw"] == "13125558888"
    assert a["searched"]["step"].startswith("dialed or diverted-from number")
