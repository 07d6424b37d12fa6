"""Carrier formats as the vendors write them (QA round): defects found by feeding records built
from the vendors' documented layouts rather than from our fixtures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tracehop.ingest.run import parse_file

# --- CGRateS --------------------------------------------------------------------------------

# CGRateS v0.10 and later dropped the legacy Direction field from its CDRs (engine/cdr.go has
# no such field), so its default CSV exporter writes CGRID, RunID, ToR, OriginID, RequestType,
# Tenant, Category, Account, Subject, Destination, SetupTime, AnswerTime, Usage, Cost: every
# field after RequestType sits one place earlier than in the older cdre layout.
CGR_CURRENT = (
    "c965f3be908baae725aabc5962af9352a14f1af4,*default,*voice,a84b4c76e66710@198.51.100.7,"
    "*rated,cgrates.org,call,ACME_TRANSIT,2025550111,3125550100,2026-03-07T19:03:22Z,"
    "2026-03-07T19:03:27Z,1m0s,0.0120\n"
    "7ca7b6d6be112bb47b357bb5a1df05049b39861f,*default,*voice,77f1c2@10.0.0.21,*postpaid,"
    "cgrates.org,call,1001,1001,2025550199,2026-03-07T19:05:00Z,0001-01-01T00:00:00Z,0s,0\n"
)


def test_cgrates_current_export_without_direction(tmp_path: Path) -> None:
    f = tmp_path / "cdrs.csv"
    f.write_text(CGR_CURRENT)
    res = parse_file(f)
    assert res.format == "cgrates_cdr_csv"
    assert res.rejects.num_rows == 0
    rows = res.legs.to_pylist()
    assert [(r["calling_raw"], r["called_raw"], r["account"]) for r in rows] == [
        ("2025550111", "3125550100", "ACME_TRANSIT"), ("1001", "2025550199", "1001")]
    assert rows[0]["start_utc"] == datetime(2026, 3, 7, 19, 3, 22, tzinfo=UTC)
    assert rows[0]["answer_utc"] == datetime(2026, 3, 7, 19, 3, 27, tzinfo=UTC)
    assert rows[0]["billsec_s"] == 60.0 and rows[0]["disposition"] == "answered"
    assert rows[1]["answer_utc"] is None and rows[1]["disposition"] == "unknown"


def test_cgrates_legacy_export_keeps_its_direction_column(tmp_path: Path) -> None:
    """The older layout (Direction *out/*in at index 5) is still read as before, also when
    a file mixes both (an export directory spanning an upgrade)."""
    legacy = CGR_CURRENT.splitlines()[0].replace(",*rated,", ",*rated,*out,") + "\n"
    f = tmp_path / "cdrs.csv"
    f.write_text(legacy + CGR_CURRENT.splitlines()[1] + "\n")
    rows = parse_file(f).legs.to_pylist()
    assert [(r["calling_raw"], r["called_raw"]) for r in rows] == [
        ("2025550111", "3125550100"), ("1001", "2025550199")]


# --- Kamailio / OpenSIPS acc: records in another order than they were accounted ---------------

KAM_DB = Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "kamailio_acc_db" / "acc.csv"


def test_acc_db_export_newest_first_pairs_the_bye(tmp_path: Path) -> None:
    """A DB export sorted newest first (ORDER BY time DESC, a GUI's default sort) has each BYE
    above its INVITE: the BYE still ends the call (it was rejected as 'INVITE is not in this
    file', and the answered call had no end)."""
    head, *rows = KAM_DB.read_text().splitlines()
    f = tmp_path / "acc.csv"
    f.write_text("\n".join([head, *reversed(rows)]) + "\n")
    res = parse_file(f, None, "America/New_York")
    assert res.rejects.num_rows == 0
    legs = {r["call_id"]: r for r in res.legs.to_pylist()}
    assert len(legs) == 3
    answered = legs["a84b4c76e66710@198.51.100.7"]
    assert answered["end_utc"] == datetime(2026, 3, 7, 19, 4, 27, tzinfo=UTC)
    assert answered["source_record"] == 5  # the INVITE's line


SYSLOG_OLD = (
    "Mar  7 14:03:27 p1 kamailio[1]: ACC: transaction answered: timestamp=1772910207;"
    "method=INVITE;from_tag=fa1;to_tag=as7d1f;call_id=c1@198.51.100.7;code=200;reason=OK;"
    "src_user=2025550111;src_ip=198.51.100.7;dst_ouser=3125550100;dst_user=3125550100\n"
)
SYSLOG_NEW = (
    "Mar  7 14:04:27 p1 kamailio[1]: ACC: transaction answered: timestamp=1772910267;"
    "method=BYE;from_tag=as7d1f;to_tag=fa1;call_id=c1@198.51.100.7;code=200;reason=OK;"
    "src_user=3125550100;src_ip=10.0.0.200;dst_ouser=2025550111;dst_user=2025550111\n"
)


def test_acc_syslog_files_concatenated_newest_first(tmp_path: Path) -> None:
    """`cat kamailio.log kamailio.log.1` puts the newer file (the BYE) first."""
    f = tmp_path / "acc.log"
    f.write_text(SYSLOG_NEW + SYSLOG_OLD)
    res = parse_file(f)
    assert res.rejects.num_rows == 0
    [leg] = res.legs.to_pylist()
    assert leg["end_utc"] == datetime(2026, 3, 7, 19, 4, 27, tzinfo=UTC)
    assert leg["source_record"] == 2


def test_acc_cancel_accounted_before_the_invite_final_reply(tmp_path: Path) -> None:
    """With report_cancels, the CANCEL's 200 is accounted before the INVITE's 487 (which the
    CANCEL caused): the CANCEL folds into its call instead of being rejected."""
    cancel = (
        "Mar  7 14:07:13 p1 kamailio[1]: ACC: request accounted: timestamp=1772910433;"
        "method=CANCEL;from_tag=fc3;to_tag=;call_id=c2@198.51.100.7;code=200;reason=OK;"
        "src_user=3125550155;src_ip=198.51.100.7;dst_ouser=3125550100;dst_user=3125550100\n"
    )
    invite = (
        "Mar  7 14:07:13 p1 kamailio[1]: ACC: call missed: timestamp=1772910433;"
        "method=INVITE;from_tag=fc3;to_tag=y7z;call_id=c2@198.51.100.7;code=487;"
        "reason=Request Terminated;src_user=3125550155;src_ip=198.51.100.7;"
        "dst_ouser=3125550100;dst_user=3125550100\n"
    )
    f = tmp_path / "acc.log"
    f.write_text(cancel + invite)
    res = parse_file(f)
    assert res.rejects.num_rows == 0
    [leg] = res.legs.to_pylist()
    assert leg["disposition"] == "cancelled" and leg["source_record"] == 2


# --- CUCM: the line of SQL types is skipped only when it is there ----------------------------

CUCM_FILE = (Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "cisco_cucm_cdr"
             / "cdr_TracehopCluster_01_202603071900_000001")


def test_cucm_header_without_its_types_line_keeps_the_first_record(tmp_path: Path) -> None:
    """A CUCM file whose SQL-types line was deleted (a spreadsheet, a reporting tool's CSV
    export) has its first record right after the names: it was skipped as the types line,
    silently (neither stored nor rejected)."""
    names, types, *records = CUCM_FILE.read_text().splitlines()
    assert types.startswith(("INTEGER", '"INTEGER"'))
    whole = parse_file(CUCM_FILE)
    f = tmp_path / "cdr_TracehopCluster_01_202603071900_000002"
    f.write_text("\n".join([names, *records]) + "\n")
    res = parse_file(f)
    assert res.format == "cisco_cucm_cdr"
    assert res.legs.num_rows == whole.legs.num_rows == len([r for r in records if r.strip()])
    assert res.legs.column("call_id").to_pylist() == whole.legs.column("call_id").to_pylist()
    assert res.legs.column("source_record").to_pylist() == [
        n - 1 for n in whole.legs.column("source_record").to_pylist()]


# --- BroadWorks: a short first record is a record, not the file's metadata line ---------------

BW_FILE = (Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "broadworks_cdr"
           / "BW-CDR-20260307140000-2-000001.csv")


def test_broadworks_short_first_record_is_rejected_not_skipped(tmp_path: Path) -> None:
    """An older release's records (fewer than the R18 336 fields) are each rejected with the
    field count; the first one was taken for the metadata line and dropped without a word."""
    _meta, *records = BW_FILE.read_text().splitlines()
    short = [",".join(r.split(",")[:300]) for r in records if r.strip()]
    f = tmp_path / "BW-CDR-20260307140000-2-000002.csv"
    f.write_text("\n".join(short) + "\n")
    res = parse_file(f, "broadworks_cdr")
    assert res.legs.num_rows == 0
    assert res.rejects.column("source_record").to_pylist() == [1, 2, 3]
    assert all("336" in r for r in res.rejects.column("reason").to_pylist())
