"""Compressed call-record files (logrotate's Master.csv.2.gz) are read as the file they hold.

The store records the plain content's identity, so a compressed copy of a file already
ingested adds nothing, and one that grew past an ingested version is read on from there.
Everything names the compressed file as given.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.ingest.run import ingest_paths
from tracehop.store import Store
from tracehop.store.rejects import read_rejects

FIX = Path(__file__).resolve().parents[1] / "fixtures"
MASTER = (FIX / "cdr" / "asterisk_cdr_csv" / "Master_18col.csv").read_bytes()
TZ = "America/New_York"


def _zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


CODECS: dict[str, Callable[[bytes], bytes]] = {
    "gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress, "zst": _zstd}


def _legs(store: Path) -> list[dict[str, object]]:
    rows = [r for f in Store.open(store).snapshot().all_files()
            for r in pq.read_table(f).to_pylist()]
    return sorted(rows, key=lambda r: str(r["leg_id"]))


@pytest.mark.parametrize("suffix", list(CODECS))
def test_a_compressed_file_gives_the_legs_of_the_plain_one(tmp_path: Path, suffix: str) -> None:
    plain = tmp_path / "plain" / "Master.csv"
    plain.parent.mkdir()
    plain.write_bytes(MASTER)
    packed = tmp_path / f"Master.csv.2.{suffix}"
    packed.write_bytes(CODECS[suffix](MASTER))
    a = ingest_paths([plain], tmp_path / "a", tz=TZ)
    b = ingest_paths([packed], tmp_path / "b", tz=TZ)
    assert a.stored == b.stored == 3 and b.rejected == 0
    want, got = _legs(tmp_path / "a"), _legs(tmp_path / "b")
    assert [r["leg_id"] for r in got] == [r["leg_id"] for r in want]  # the content's identity
    assert {r["source_file"] for r in got} == {str(packed)}
    strip = ("source_file",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in got] == [
        {k: v for k, v in r.items() if k not in strip} for r in want]
    # the plain file it was made from adds nothing to the store that holds the compressed one
    again = ingest_paths([plain], tmp_path / "b", tz=TZ)
    assert (again.stored, again.duplicates) == (0, 3)


def test_a_rotated_compressed_file_goes_on_from_the_version_ingested(tmp_path: Path) -> None:
    """Master.csv was ingested with two of its lines; logrotate then renamed it and compressed
    it with the third: only the third is new."""
    live = tmp_path / "Master.csv"
    first_two = b"".join(MASTER.splitlines(keepends=True)[:2])
    live.write_bytes(first_two)
    store = tmp_path / "s"
    assert ingest_paths([live], store, tz=TZ).stored == 2
    live.unlink()
    rotated = tmp_path / "Master.csv.1.gz"
    rotated.write_bytes(gzip.compress(MASTER))
    s = ingest_paths([rotated], store, tz=TZ)
    assert (s.read, s.stored, s.duplicates) == (3, 1, 2)
    assert s.per_file[0].resumed_at == len(first_two)
    assert [r["source_record"] for r in _legs(store)] == [1, 2, 3]


def test_a_directory_of_rotated_files_and_the_cli_summary(tmp_path: Path) -> None:
    logs = tmp_path / "cdr-csv"
    logs.mkdir()
    lines = MASTER.splitlines(keepends=True)
    (logs / "Master.csv.2.gz").write_bytes(gzip.compress(lines[0]))
    (logs / "Master.csv.1").write_bytes(lines[1])
    (logs / "Master.csv").write_bytes(lines[2])
    r = CliRunner().invoke(cli, ["ingest", str(logs), "--store", str(tmp_path / "s"), "--tz", TZ,
                                 "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert (out["read"], out["stored"], out["rejected"]) == (3, 3, 0)
    assert [f["path"] for f in out["per_file"]] == [
        str(logs / n) for n in ("Master.csv", "Master.csv.1", "Master.csv.2.gz")]
    assert not list(tmp_path.glob("**/tracehop-unpacked-*"))


def test_a_cut_compressed_file_is_named_with_the_fix_and_the_others_still_go_in(
        tmp_path: Path) -> None:
    good = tmp_path / "Master.csv.1.gz"
    good.write_bytes(gzip.compress(MASTER))
    cut = tmp_path / "Master.csv.gz"
    cut.write_bytes(gzip.compress(MASTER)[:-12])  # a copy taken while gzip was writing it
    r = CliRunner().invoke(cli, ["ingest", str(good), str(cut), "--store", str(tmp_path / "s"),
                                 "--tz", TZ, "--json"])
    out = json.loads(r.output.splitlines()[0])
    assert out["stored"] == 3
    (err,) = [f["error"] for f in out["per_file"] if f["error"]]
    assert str(cut) in err and "cut short" in err and f"gzip -t {cut}" in err
    # alone, nothing could be ingested from it: a non-zero exit, the store unchanged
    r = CliRunner().invoke(cli, ["ingest", str(cut), "--store", str(tmp_path / "t"), "--tz", TZ])
    assert r.exit_code != 0 and "cut short" in r.output
    assert not (tmp_path / "t").exists()


def test_a_rejected_record_of_a_compressed_file_names_it(tmp_path: Path) -> None:
    bad = MASTER + b'"","2025550111","3125550100"\n'  # too few fields
    f = tmp_path / "Master.csv.3.gz"
    f.write_bytes(gzip.compress(bad))
    s = ingest_paths([f], tmp_path / "s", tz=TZ)
    assert (s.stored, s.rejected) == (3, 1)
    (rej,) = read_rejects(tmp_path / "s").rejects
    assert (rej.file, rej.line) == (str(f), 4)


def test_a_compressed_capture_is_read(tmp_path: Path) -> None:
    """tcpdump -z gzip rotates captures compressed: read as the capture they hold."""
    cap = tmp_path / "sbc.pcap.gz"
    cap.write_bytes(gzip.compress((FIX / "sip" / "calls_udp.pcap").read_bytes()))
    plain = ingest_paths([FIX / "sip" / "calls_udp.pcap"], tmp_path / "a")
    s = ingest_paths([cap], tmp_path / "b")
    assert s.stored == plain.stored > 0 and s.per_file[0].format == "pcap"
    assert {r["source_file"] for r in _legs(tmp_path / "b")} == {str(cap)}


def test_no_room_to_decompress_is_named_as_such_not_as_a_damaged_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    not_a_dir = tmp_path / "tmp-is-a-file"
    not_a_dir.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_dir))
    f = tmp_path / "Master.csv.1.gz"
    f.write_bytes(gzip.compress(MASTER))
    s = ingest_paths([f], tmp_path / "s", tz=TZ)
    (err,) = [p.error for p in s.per_file if p.error]
    assert str(f) in err and f"cannot decompress it into {not_a_dir}" in err
    assert "TMPDIR" in err and "damaged" not in err and "cut short" not in err


@pytest.mark.parametrize("suffix", list(CODECS))
def test_decompressing_moves_the_progress_bar(tmp_path: Path, suffix: str) -> None:
    """A GB of gzip takes seconds to decompress: the bar moves while it does (in compressed
    bytes), then while the plain copy is read, and ends full."""
    big = MASTER * 2000  # 6,000 records, ~1 MB: several chunks of the decompressor
    packed = tmp_path / f"Master.csv.2.{suffix}"
    packed.write_bytes(CODECS[suffix](big))
    calls: list[tuple[int, int]] = []
    s = ingest_paths([packed], tmp_path / "s", tz=TZ,
                     progress=lambda n, total: calls.append((n, total)))
    assert s.stored == 6000
    done = sum(n for n, _ in calls)
    assert done == calls[-1][1] == packed.stat().st_size + len(big)
    # the decompression's advances come before the copy's size is known
    first_plain = next(i for i, (_, total) in enumerate(calls) if total > 2 * len(big) // 3)
    assert sum(n for n, _ in calls[:first_plain]) >= packed.stat().st_size * 0.9
