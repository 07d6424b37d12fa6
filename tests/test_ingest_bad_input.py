"""Bad input (DESIGN.md §7): malformed records become rejects with file, line and reason;
files that cannot be ingested at all fail with a clear error that names the file and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehop.errors import UnknownFormatError, UnreadableFileError, ZoneError
from tracehop.ingest.run import ingest_paths, parse_file
from tracehop.store import Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr"
GOOD = (FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv").read_text().splitlines()


def _write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    f = tmp_path / name
    if isinstance(data, bytes):
        f.write_bytes(data)
    else:
        f.write_text(data)
    return f


def test_truncated_last_record_is_rejected_not_lost(tmp_path: Path) -> None:
    # Copied while Asterisk was appending: the last record stops inside a quoted field.
    cut = GOOD[2][: GOOD[2].index('"DOCUMENTATION"') + 5]
    f = _write(tmp_path, "Master.csv", "\n".join([GOOD[0], GOOD[1], cut]) + "\n")
    res = parse_file(f, "asterisk_cdr_csv")
    assert res.legs.num_rows == 2
    rej = res.rejects.to_pylist()
    assert len(rej) == 1
    assert rej[0]["source_record"] == 3
    assert "unterminated quote" in rej[0]["reason"]
    assert rej[0]["raw_record"] == cut
    assert rej[0]["source_file"] == str(f)


@pytest.mark.parametrize("cut_at", ['"DOCUMENTATION","', '"DOCUMENTATION"'])
def test_unterminated_quote_does_not_swallow_the_next_record(tmp_path: Path,
                                                             cut_at: str) -> None:
    # A record cut inside (or right at) a quoted field, then more records: cdr_csv writes one
    # record per line, so the quote ends at its line end. Line 3 alone is rejected; line 4,
    # a valid record, is read (it used to be taken into line 3's reject).
    cut = GOOD[2][: GOOD[2].index(cut_at) + len(cut_at)]
    if cut.count('"') % 2 == 0:
        cut += ',"'
    f = _write(tmp_path, "Master.csv", "\n".join([GOOD[0], GOOD[1], cut, GOOD[0], GOOD[1]])
               + "\n")
    res = parse_file(f, "asterisk_cdr_csv")
    assert res.legs.column("source_record").to_pylist() == [1, 2, 4, 5]
    (rej,) = res.rejects.to_pylist()
    assert rej["source_record"] == 3
    assert "unterminated quote" in rej["reason"]
    assert rej["raw_record"] == cut


def test_truncated_mid_field_without_quote(tmp_path: Path) -> None:
    cut = GOOD[2][: GOOD[2].index(',4,0,')]  # cut after the end time: too few fields
    f = _write(tmp_path, "Master.csv", "\n".join([GOOD[0], GOOD[1], cut]))  # no final newline
    res = parse_file(f, "asterisk_cdr_csv")
    assert res.legs.num_rows == 2
    (rej,) = res.rejects.to_pylist()
    assert rej["source_record"] == 3
    assert "expected 18 fields separated by ',', found 12" in rej["reason"]


def test_wrong_delimiter_every_row_rejected_with_a_hint(tmp_path: Path) -> None:
    semi = [ln.replace('","', '";"').replace(",,", ";;") for ln in GOOD]
    semi = [ln.replace('",', '";').replace(',"', ';"') for ln in semi]
    f = _write(tmp_path, "Master.csv", "\n".join(semi) + "\n")
    res = parse_file(f, "asterisk_cdr_csv")
    assert res.legs.num_rows == 0
    reasons = res.rejects.column("reason").to_pylist()
    assert len(reasons) == 3
    # No line has a field count cdr_csv allows, so the message gives the whole range.
    assert all("expected 16-21 fields separated by ',', found 4: is the delimiter ';'?" in r
               for r in reasons), reasons


def test_wrong_delimiter_without_format_is_a_detection_error(tmp_path: Path) -> None:
    semi = [ln.replace('","', '";"') for ln in GOOD]
    f = _write(tmp_path, "Master.csv", "\n".join(semi) + "\n")
    with pytest.raises(UnknownFormatError) as e:
        parse_file(f)
    assert str(f) in str(e.value) and "--format" in str(e.value)


@pytest.mark.parametrize("delim", [";", "\t", "|"], ids=["semicolon", "tab", "pipe"])
def test_wrong_delimiter_without_format_names_the_delimiter_the_line_and_the_fix(
        tmp_path: Path, delim: str) -> None:
    # A Master.csv re-saved by a spreadsheet in a ';' locale: "no known CDR layout fits it"
    # sent the user to write a profile from scratch; it is cdr_csv with another delimiter.
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, delimiter=delim, lineterminator="\n").writerows(csv.reader(GOOD))
    f = _write(tmp_path, "Master.csv", out.getvalue())
    store = tmp_path / "s"
    summary = ingest_paths([f], store)
    (failed,) = summary.failed_named
    shown = "\\t" if delim == "\t" else delim
    assert failed.error is not None
    assert failed.error.startswith(f"{f}: ")
    for needle in (f"separated by '{shown}'", "line 1", "asterisk_cdr_csv", "uses ','",
                   f'delimiter = "{shown}"', "--format"):
        assert needle in failed.error, failed.error
    assert not store.exists()


def test_non_utf8_bytes_are_read_as_latin1_and_counted(tmp_path: Path) -> None:
    raw = GOOD[0].replace("ROBO CALLER", "ROBO\xa5CALLER").encode("latin-1")
    data = b"\n".join([GOOD[1].encode(), raw, GOOD[2].encode()]) + b"\n"
    f = _write(tmp_path, "Master.csv", data)
    res = parse_file(f, "asterisk_cdr_csv")
    assert res.legs.num_rows == 3 and res.rejects.num_rows == 0
    assert "ROBO¥CALLER" in res.legs.column("raw_record").to_pylist()[1]
    assert any("1 record(s) are not valid UTF-8" in w and str(f) in w
               and "the first at line 2" in w for w in res.warnings)


def test_record_with_too_few_fields(tmp_path: Path) -> None:
    short = '"","2025550111","3125550100","from-trunk"'
    f = _write(tmp_path, "Master.csv", "\n".join([GOOD[0], short, GOOD[2]]) + "\n")
    res = parse_file(f, "asterisk_cdr_csv")
    assert res.legs.column("source_record").to_pylist() == [1, 3]
    (rej,) = res.rejects.to_pylist()
    assert rej["source_record"] == 2 and rej["raw_record"] == short
    assert "found 4" in rej["reason"] and "incomplete" in rej["reason"]


def test_unparseable_time_is_rejected_with_the_value(tmp_path: Path) -> None:
    bad = GOOD[1].replace("2026-03-07 14:05:00", "07/03/2026 2:05pm")
    f = _write(tmp_path, "Master.csv", "\n".join([GOOD[0], bad, GOOD[2]]) + "\n")
    res = parse_file(f, "asterisk_cdr_csv")
    (rej,) = res.rejects.to_pylist()
    assert rej["source_record"] == 2
    assert "unparseable start time '07/03/2026 2:05pm'" in rej["reason"]
    assert "%Y-%m-%d %H:%M:%S" in rej["reason"]


def test_unknown_zone_fails_before_anything_is_written(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with pytest.raises(ZoneError) as e:
        ingest_paths([FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv"], store,
                     tz="America/New_Yrok")
    assert "America/New_Yrok" in str(e.value) and "America/New_York" in str(e.value)
    assert not store.exists()


def test_missing_zone_names_the_file_and_the_fix(tmp_path: Path) -> None:
    f = FIXTURES / "asterisk_cdr_csv" / "Master_16col.csv"  # no uniqueid to infer from
    with pytest.raises(ZoneError) as e:
        parse_file(f)
    assert str(f) in str(e.value) and "--tz America/New_York" in str(e.value)


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("logo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "PNG image"),
        ("README.md", "# My PBX\n\nThese are notes about the call center.\n", "cannot tell"),
        ("blob.bin", b"\x00\x01\x02\x03" * 100, "binary"),
    ],
)
def test_not_a_cdr_is_a_clear_error(tmp_path: Path, name: str, data: str | bytes,
                                    needle: str) -> None:
    f = _write(tmp_path, name, data)
    with pytest.raises(UnknownFormatError) as e:
        parse_file(f)
    assert str(f) in str(e.value) and needle in str(e.value)


def test_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    f = _write(tmp_path, "Master.csv", "")
    with pytest.raises(UnreadableFileError) as e:
        parse_file(f, "asterisk_cdr_csv")
    assert str(f) in str(e.value) and "empty" in str(e.value)


def test_counts_add_up_and_failed_named_file_reported(tmp_path: Path) -> None:
    bad = _write(tmp_path, "notes.txt", "hello, this is not a CDR\n")
    mixed = _write(tmp_path, "Master.csv", "\n".join([GOOD[0], '"x","y"', GOOD[2]]) + "\n")
    store = tmp_path / "store"
    s = ingest_paths([mixed, bad], store)
    assert s.read == s.stored + s.rejected + s.duplicates == 3
    assert (s.stored, s.rejected) == (2, 1)
    assert [f.path for f in s.failed_named] == [str(bad)]
    snap = Store.open(store).snapshot()
    assert snap.rows == 2 and snap.rejected_rows == 1


def test_nothing_ingestable_leaves_the_store_unchanged(tmp_path: Path) -> None:
    store = tmp_path / "store"
    good = FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv"
    ingest_paths([good], store)
    version = Store.open(store).version
    bad = _write(tmp_path, "x.png", b"\x89PNG\r\n\x1a\n0000")
    s = ingest_paths([bad], store)
    assert s.failed_named and s.version is None
    assert Store.open(store).version == version


@pytest.mark.parametrize(("header", "fmt"), [
    ("calldate,clid,src,dst,dcontext,channel,dstchannel,lastapp,lastdata,duration,billsec,"
     "disposition,amaflags,accountcode,uniqueid,userfield,did,cnum,cnam,outbound_cnum,"
     "outbound_cnam,dst_cnam,recordingfile,linkedid,peeraccount,sequence", "freepbx_cdr_report"),
    ("Account Code,Caller Number,Callee Number,Context,CallerID Number,Source Channel,"
     "Dest. Channel,Last app.,Last date,Start Time,Answer Time,End Time,Call Time,Talk Time,"
     "Disposition,AMA Flags,Unique ID,Log Userfield,Dest Channel Extension,Caller Name,"
     "Answered by,Session,Premier Caller,Action Type,Source Trunk Name,Destination Trunk Name",
     "grandstream_ucm_cdr"),
])
def test_an_export_with_only_its_header_is_named_for_what_it_is(
        tmp_path: Path, header: str, fmt: str) -> None:
    # An export of a period with no calls. It used to be "no known CDR layout fits it", which
    # sends the engineer to write a profile for a layout tracehop knows.
    f = _write(tmp_path, "cdr.csv", header + "\r\n")
    s = ingest_paths([f], tmp_path / "store")
    assert s.per_file[0].format == fmt
    err = s.per_file[0].error or ""
    assert str(f) in err and "no records" in err and "date range" in err
    assert "no known CDR layout" not in err


def test_a_value_holding_a_line_end_does_not_hide_a_small_files_format(tmp_path: Path) -> None:
    # The reader joins a quoted value's lines into one record; detection sampled line by line
    # and counted that record as two of the wrong width, so a two-call cdr_csv export was
    # "no known CDR layout" without --format and read fine with it.
    lines = list(GOOD[:2])
    lines[1] = lines[1].replace('"SIP/200,60,tT"', '"SIP/200,60,\ntT"', 1)
    f = _write(tmp_path, "export.csv", "\n".join(lines) + "\n")
    s = ingest_paths([f], tmp_path / "store")
    assert s.per_file[0].error is None, s.per_file[0].error
    assert (s.read, s.stored, s.rejected) == (2, 2, 0)


def test_a_master_csv_with_a_nul_filled_tail_is_read_not_called_binary(tmp_path: Path) -> None:
    # A machine that lost power while Asterisk appended: the file system had grown the file
    # but not written its last block, which reads as NUL bytes. Detection called the whole
    # file "a binary file"; its records are fine and the NUL run is one rejected line.
    f = _write(tmp_path, "Master.csv", ("\n".join(GOOD[:3]) + "\n").encode() + b"\x00" * 512)
    s = ingest_paths([f], tmp_path / "store")
    assert s.per_file[0].error is None, s.per_file[0].error
    assert (s.read, s.stored, s.rejected) == (4, 3, 1)


def test_a_record_naming_an_unknown_zone_is_rejected_not_the_whole_file(tmp_path: Path) -> None:
    # Each record of this SBC export names its zone; one mistyped, one an abbreviation. They
    # failed the whole file with a ZoneError naming neither the file nor the line.
    user = FIXTURES / "user_profile"
    lines = (user / "acme_sbc.csv").read_text().splitlines()
    assert "America/New_York" in lines[2] and "America/New_York" in lines[3]
    lines[2] = lines[2].replace("America/New_York", "America/New_Yrok")
    lines[3] = lines[3].replace("America/New_York", "EST")
    f = _write(tmp_path, "acme.csv", "\n".join(lines) + "\n")
    store = tmp_path / "s"
    s = ingest_paths([f], store, format=str(user / "acme_sbc.toml"))
    assert not s.failed
    assert (s.read, s.stored, s.rejected) == (3, 1, 2)
    from tracehop.store.rejects import read_rejects

    got = {r.line: r.reason for r in read_rejects(store).rejects}
    assert set(got) == {3, 4}
    assert "column 'Zone'" in got[3] and "'America/New_Yrok'" in got[3]
    assert "America/New_York" in got[3]  # the closest names, as the fix
    assert "'EST'" in got[4] and "use America/New_York" in got[4]


def test_a_huge_bad_value_is_quoted_short_in_the_reason_and_whole_in_the_raw(
        tmp_path: Path) -> None:
    junk = "X" * 5000
    bad = GOOD[0].replace("2026-03-07 14:03:22", junk)
    f = _write(tmp_path, "Master.csv", "\n".join([*GOOD, bad]) + "\n")
    res = parse_file(f, "asterisk_cdr_csv", tz="America/New_York")
    (reject,) = res.rejects.to_pylist()
    reason = reject["reason"]
    assert reason.startswith("unparseable start time 'XXXX") and "...' in column 'start'" in reason
    assert len(reason) < 200  # one readable line in the summary and in `tracehop rejects`
    assert junk in reject["raw_record"]
