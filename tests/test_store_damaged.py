"""A leg file the log names that is missing or damaged: every command says which file and how
to get past it, and forgetting the files of its day (then ingesting them again) recovers."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.errors import StoreError
from tracehop.ingest.run import ingest_paths
from tracehop.store import Store


def _line(i: int, called: str, hour: int = 14) -> str:
    stamp = f"2026-11-20 {hour:02d}:{i % 60:02d}:40"
    return (f'"","202555{i:04d}","{called}{i:04d}","from-trunk","""X"" <202555{i:04d}>",'
            f'"PJSIP/acme_in-{i:08x}","PJSIP/200-{i:08x}","Dial","PJSIP/200,60","{stamp}",'
            f'"{stamp}","{stamp}",30,25,"ANSWERED","DOCUMENTATION","host-{i}",""')


def _two_files(tmp_path: Path) -> tuple[Path, Path, Path, str]:
    """Files a and b, ingested one after the other, legs on one UTC day; that day compacted
    into one file. Returns a, b, the store and the day file's path (relative)."""
    a, b, store = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "store"
    a.write_text("\n".join(_line(i, "312555") for i in range(5)) + "\n")
    b.write_text("\n".join(_line(i, "213555") for i in range(3)) + "\n")
    ingest_paths([a], store, tz="UTC")
    ingest_paths([b], store, tz="UTC")
    st = Store.open(store)
    st.compact()
    (day_file,) = [f.path for f in st.snapshot().data_files()]
    return a, b, store, day_file


@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_ingest_compact_lookup_name_the_file_and_the_fix(tmp_path: Path, damage: str) -> None:
    _a, _b, store, rel = _two_files(tmp_path)
    path = store / rel
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(b"not parquet at all" * 10)
    c = tmp_path / "c.csv"
    c.write_text(_line(7, "415555") + "\n")
    with pytest.raises(StoreError) as ingest_err:
        ingest_paths([c], store, tz="UTC")
    with pytest.raises(StoreError) as compact_err:
        Store.open(store).compact(rewrite=True)
    for err in (ingest_err.value, compact_err.value):
        assert str(path) in str(err) and "tracehop forget" in str(err)
        assert "cannot write" not in str(err)
    r = CliRunner().invoke(cli, ["lookup", "--store", str(store), "--called", "+13125550001",
                                 "--at", "2026-11-20T14:01:40Z"])
    assert r.exit_code != 0
    assert str(path) in r.output and "tracehop forget" in r.output and "bug" not in r.output
    assert Store.open(store).version == 3  # nothing committed by the failed commands


def test_forget_every_file_of_the_day_then_ingest_recovers(tmp_path: Path) -> None:
    a, b, store, rel = _two_files(tmp_path)
    (store / rel).unlink()
    st = Store.open(store)
    ids = {r.path: r.file_id for r in st.ingested_files()}
    # Forgetting a alone would leave b recorded as ingested, its legs lost: refused, and
    # the error names both files.
    with pytest.raises(StoreError) as err:
        st.forget([ids[str(a)]])
    assert ids[str(a)][:12] in str(err.value) and ids[str(b)][:12] in str(err.value)

    st.forget([ids[str(a)], ids[str(b)]])
    assert Store.open(store).snapshot().rows == 0
    again = ingest_paths([a, b], store, tz="UTC")
    assert (again.read, again.stored, again.duplicates) == (8, 8, 0)
    assert Store.open(store).snapshot().rows == 8


@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_a_damaged_rejects_file_is_named_and_forget_gets_past_it(tmp_path: Path,
                                                                 damage: str) -> None:
    a, store = tmp_path / "a.csv", tmp_path / "store"
    a.write_text("\n".join([_line(i, "312555") for i in range(4)] + ["bad,line"]) + "\n")
    ingest_paths([a], store, tz="UTC")
    st = Store.open(store)
    (rej,) = st.snapshot().reject_files()
    if damage == "missing":
        Path(rej).unlink()
    else:
        Path(rej).write_bytes(b"junk")
    r = CliRunner().invoke(cli, ["rejects", "--store", str(store)])
    assert r.exit_code == 1  # an Error: line, not a traceback
    assert rej in r.output and "tracehop forget" in r.output

    st.forget([st.ingested_files()[0].file_id])
    assert CliRunner().invoke(cli, ["rejects", "--store", str(store)]).exit_code == 0
    again = ingest_paths([a], store, tz="UTC")
    assert (again.read, again.stored, again.rejected) == (5, 4, 1)


def _damage_a_page(path: Path, column: str) -> None:
    """Overwrite bytes in the middle of ``column``'s pages of the first row group: the footer
    stays intact (a bad sector inside the file)."""
    import pyarrow.parquet as pq

    rg = pq.ParquetFile(path).metadata.row_group(0)
    (col,) = [rg.column(i) for i in range(rg.num_columns)
              if rg.column(i).path_in_schema == column]
    start = col.data_page_offset + col.total_compressed_size // 4
    data = bytearray(path.read_bytes())
    data[start:start + col.total_compressed_size // 2] = b"\xab" * (col.total_compressed_size
                                                                    // 2)
    path.write_bytes(bytes(data))


def test_a_damaged_page_inside_a_day_file_is_named_and_forget_gets_past_it(
        tmp_path: Path) -> None:
    """A page that does not decode (footer intact) failed a lookup with the engine's words
    ("LZ4 decompression failure") and "a bug in tracehop"; the batch read likewise."""
    from tracehop.inquiry import Inquiry
    from tracehop.match import Matcher

    a, store = tmp_path / "a.csv", tmp_path / "store"
    a.write_text("\n".join(_line(i, "312555") for i in range(3000)) + "\n")
    ingest_paths([a], store, tz="UTC")
    (day_file,) = Store.open(store).snapshot().all_files()
    _damage_a_page(Path(day_file), "called_e164")
    r = CliRunner().invoke(cli, ["lookup", "--store", str(store), "--called", "+13125550001",
                                 "--at", "2026-11-20T14:01:40Z"])
    assert r.exit_code != 0
    assert day_file in r.output and "does not decode" in r.output
    assert "tracehop forget" in r.output and "bug" not in r.output
    inq = Inquiry.parse("+13125550001", "2026-11-20T14:01:40Z")
    for strategy in ("point", "join"):
        with pytest.raises(StoreError) as err:
            Matcher(Store.open(store)).lookup_many([inq], strategy=strategy)
        assert day_file in str(err.value) and "tracehop forget" in str(err.value)

    st = Store.open(store)
    st.forget([st.ingested_files()[0].file_id])
    again = ingest_paths([a], store, tz="UTC")
    assert (again.read, again.stored) == (3000, 3000)
    r = CliRunner().invoke(cli, ["lookup", "--store", str(store), "--called", "+13125550001",
                                 "--at", "2026-11-20T14:01:40Z"])
    assert r.exit_code == 0, r.output


def test_the_way_back_names_a_grown_file_once_not_every_version(tmp_path: Path) -> None:
    """A Master.csv ingested every few minutes has a record per version: the forget the
    error suggests names it once (forget takes all its versions together)."""
    master, store = tmp_path / "Master.csv", tmp_path / "store"
    lines = [_line(i, "312555") for i in range(6)]
    for n in (2, 4, 6):
        master.write_text("\n".join(lines[:n]) + "\n")
        ingest_paths([master], store, tz="UTC")
    st = Store.open(store)
    assert len(st.ingested_files()) == 3
    for f in st.snapshot().all_files():
        Path(f).unlink()
    new = tmp_path / "new.csv"
    new.write_text(_line(9, "312555") + "\n")
    with pytest.raises(StoreError) as err:
        ingest_paths([new], store, tz="UTC")
    command = str(err.value)[str(err.value).index("`tracehop forget"):]
    command = command[:command.index("`", 1)]
    assert len(command.split()) == 5  # tracehop forget --store DIR ID
