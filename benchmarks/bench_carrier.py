"""Carrier-format ingest speed (issue 3 "Speed"): a Cisco CUCM CDR file and a Ribbon .ACT file.

For each format a vectorised Polars writer generates ``--rows`` records as the switch writes
them, then three runs are timed side by side:

* **baseline**: ``pyarrow.csv.read_csv`` of the same file, every column a string, nothing
  normalised (for Ribbon, whose START/STOP/ATTEMPT records differ in width, the rows of the
  other widths go through pyarrow's ``invalid_row_handler``, so all bytes are still parsed);
* **parse**: ``tracehop.ingest.parse_file`` (detection skipped: ``--format`` given): reading,
  the profile's fields, UTC times, E.164 numbers, rejects, the raw record kept;
* **end to end**: ``ingest_paths`` into a fresh store (parse + the store commit); if that
  fails, the failure is recorded and the run is repeated with ``--no-keep-raw``.

CUCM: 133-column 12.5/14 release with its two header lines; a third of the calls come from SIP
trunks (the rest from phones), epoch-UTC times, signed little-endian ``origIpAddr``. Ribbon:
answered calls as a START + STOP pair (235-field STOP), unanswered ones as one ATTEMPT, with
the quoted ingress protocol-variant sub-record; the file header and trailer lines included.

    python benchmarks/bench_carrier.py --rows 5000000                 # full size (issue 3)
    python benchmarks/bench_carrier.py --rows 500000 --formats cucm   # while others share the box
"""

from __future__ import annotations

import tracehop  # noqa: F401  # isort: skip  (first of all: tracehop/allocators.py)

import argparse
import io
import os
import shutil
import socket
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
from harness import machine, publish

from tracehop.ingest.ribbon import POSITIONS
from tracehop.ingest.run import ingest_paths, parse_file

REPO = Path(__file__).resolve().parents[1]
T0 = 1_780_000_000  # 2026-05-28
BLOCK = 500_000


def _cucm_columns() -> tuple[list[str], list[str]]:
    """The 133 column names and SQL types, from the header lines of our CUCM fixture."""
    head = (REPO / "fixtures" / "cdr" / "cisco_cucm_cdr" /
            "cdr_TracehopCluster_01_202603071900_000001").read_text().split("\n", 2)
    return [c.strip('"') for c in head[0].split(",")], head[1].split(",")


def _quoted(e: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit('"'), e, pl.lit('"')])


def _ribbon_record(rtype: str, values: dict[str, pl.Expr], width: int) -> pl.Expr:
    """One Ribbon record of ``rtype``: the named fields at their positions, the rest empty."""
    pos = {p: name for name, p in POSITIONS[rtype].items()}
    parts = [pl.lit(rtype)] + [values.get(pos.get(i, ""), pl.lit("")) for i in range(2, width + 1)]
    return pl.concat_str(parts, separator=",")


def _le_int(ips: np.ndarray) -> np.ndarray:
    return np.array([struct.unpack("<i", socket.inet_aton(ip))[0] for ip in ips])


def _write_lines(fh: io.BufferedWriter, line: pl.Expr, frame: pl.DataFrame) -> None:
    buf = io.BytesIO()
    frame.select(line.alias("l")).write_csv(buf, include_header=False, quote_style="never")
    fh.write(buf.getvalue())


def write_cucm(n: int, path: Path, seed: int = 3) -> int:
    """``n`` CUCM CDR records (133 columns) after the two header lines; returns the lines."""
    names, types = _cucm_columns()
    rng = np.random.default_rng(seed)
    peers = np.array(["198.51.100.7", "198.51.100.8", "203.0.113.9", "192.0.2.44"])
    peer_le = _le_int(peers)
    trunks = np.array(["ACME_IN", "ACME_IN", "TELCO_X", "PEER_3"])
    with path.open("wb") as fh:
        fh.write((",".join(f'"{c}"' for c in names) + "\n" + ",".join(types) + "\n").encode())
        for first in range(0, n, BLOCK):
            m = min(BLOCK, n - first)
            seq = first + np.arange(m)
            epoch = T0 + seq * (3 * 86400) // max(n, 1)
            trunk = rng.random(m) < 0.33
            k = rng.integers(0, len(peers), m)
            answered = rng.random(m) < 0.6
            ring = rng.integers(0, 20, m)
            talk = np.where(answered, rng.integers(1, 600, m), 0)
            phone_ip = rng.integers(1, 250, m)
            df = pl.DataFrame({
                "seq": seq, "e": epoch, "trunk": trunk, "ans": answered, "ring": ring,
                "talk": talk, "pip": peer_le[k], "ptxt": peers[k], "tg": trunks[k],
                "phone": phone_ip,
                "calling": 2_000_000_000 + rng.integers(0, 999_999_999, m),
                "called": 3_000_000_000 + rng.integers(0, 999_999_999, m),
            })
            phone_txt = pl.concat_str([pl.lit("10.0.0."), pl.col("phone").cast(pl.String)])
            phone_le = (pl.lit(10) + pl.col("phone") * (1 << 24)).cast(pl.String)
            quoted = _quoted
            s = pl.col("seq").cast(pl.String)
            var: dict[str, pl.Expr] = {
                "cdrRecordType": pl.lit("1"),
                "globalCallID_callManagerId": pl.lit("1"),
                "globalCallID_callId": s,
                "origLegCallIdentifier": (pl.col("seq") * 2 + 10_000_000).cast(pl.String),
                "dateTimeOrigination": pl.col("e").cast(pl.String),
                "origSpan": pl.when(pl.col("trunk")).then(
                    (pl.col("seq") * 2 + 10_000_000).cast(pl.String)).otherwise(pl.lit("0")),
                "origIpAddr": pl.when(pl.col("trunk")).then(pl.col("pip").cast(pl.String))
                .otherwise(phone_le),
                "callingPartyNumber": quoted(pl.col("calling").cast(pl.String)),
                "destLegIdentifier": (pl.col("seq") * 2 + 10_000_001).cast(pl.String),
                "originalCalledPartyNumber": quoted(pl.col("called").cast(pl.String)),
                "finalCalledPartyNumber": quoted(pl.col("called").cast(pl.String)),
                "destCause_value": pl.when(pl.col("ans")).then(pl.lit("16"))
                .otherwise(pl.lit("19")),
                "dateTimeConnect": pl.when(pl.col("ans")).then(
                    (pl.col("e") + pl.col("ring")).cast(pl.String)).otherwise(pl.lit("0")),
                "dateTimeDisconnect": (pl.col("e") + pl.col("ring") + pl.col("talk"))
                .cast(pl.String),
                "pkid": quoted(pl.concat_str([pl.lit("6f1c2a9e-0d2b-4c55-9a51-"),
                                              s.str.zfill(12)])),
                "duration": pl.col("talk").cast(pl.String),
                "origDeviceName": quoted(pl.when(pl.col("trunk")).then(pl.col("tg"))
                                         .otherwise(pl.lit("SEP00AABBCC1001"))),
                "destDeviceName": quoted(pl.lit("SEP00AABBCC0200")),
                "globalCallId_ClusterID": quoted(pl.lit("BenchCluster")),
                "origIpv4v6Addr": quoted(pl.when(pl.col("trunk")).then(pl.col("ptxt"))
                                         .otherwise(phone_txt)),
                "destIpv4v6Addr": quoted(pl.lit("10.0.0.200")),
                "IncomingProtocolID": pl.when(pl.col("trunk")).then(pl.lit("1"))
                .otherwise(pl.lit("0")),
                "IncomingProtocolCallRef": quoted(pl.when(pl.col("trunk")).then(
                    pl.concat_str([s, pl.lit("@"), pl.col("ptxt")])).otherwise(pl.lit(""))),
            }
            parts = [var.get(c, pl.lit('""' if t.startswith(("VARCHAR", "UNIQUE")) else "0"))
                     for c, t in zip(names, types, strict=True)]
            _write_lines(fh, pl.concat_str(parts, separator=","), df)
    return n + 2


def write_ribbon(n: int, path: Path, seed: int = 4) -> int:
    """About ``n`` Ribbon records: START+STOP per answered call, ATTEMPT otherwise."""
    rng = np.random.default_rng(seed)
    widths = {"START": 178, "STOP": 235, "ATTEMPT": 167}
    lines = 0
    calls_needed = int(n / 1.6) + 1  # 60 % answered -> 1.6 records per call
    with path.open("wb") as fh:
        fh.write(b"SBC5K,V09.02.01R000,05/28/2026,00:00:00.0,bench\n")
        lines += 1
        for first in range(0, calls_needed, BLOCK):
            m = min(BLOCK, calls_needed - first)
            seq = first + np.arange(m)
            epoch = T0 + seq * (3 * 86400) // calls_needed
            answered = rng.random(m) < 0.6
            talk = rng.integers(1, 600, m)
            df = pl.DataFrame({
                "seq": seq, "e": epoch, "ans": answered, "talk": talk,
                "calling": 2_000_000_000 + rng.integers(0, 999_999_999, m),
                "called": 3_000_000_000 + rng.integers(0, 999_999_999, m),
                "tg": np.array(["ACME_IN", "TELCO_X", "PEER_3"])[rng.integers(0, 3, m)],
            })
            date = pl.from_epoch("e", time_unit="s").dt.strftime("%m/%d/%Y")
            clock = pl.from_epoch("e", time_unit="s").dt.strftime("%H:%M:%S.0")
            end = pl.from_epoch(pl.col("e") + pl.col("talk") + 5, time_unit="s")
            acct = pl.concat_str([pl.lit("0x"), pl.col("seq").cast(pl.String).str.zfill(16)])
            cid = pl.concat_str([pl.col("seq").cast(pl.String), pl.lit("@198.51.100.7")])
            common = {
                "gateway": pl.lit("SBC1"), "accounting_id": acct,
                "node_tz": pl.lit("GMT-05:00-Eastern"), "start_date": date,
                "start_clock": clock, "ingress_tg": pl.col("tg"),
                "calling_number": pl.col("calling").cast(pl.String),
                "called_number": pl.col("called").cast(pl.String),
                "dialed_number": pl.col("called").cast(pl.String),
                "incoming_calling_number": pl.col("calling").cast(pl.String),
                "ingress_remote_ip": pl.lit("198.51.100.7"),
                "ingress_pvsd": pl.concat_str([pl.lit('"SIP,'), cid,
                                               pl.lit(',<sip:x@203.0.113.5>,,,"')]),
            }
            extra = {
                "START": {"setup_to_service_ticks": pl.lit("500")},
                "STOP": {"setup_to_service_ticks": pl.lit("500"),
                         "disconnect_date": end.dt.strftime("%m/%d/%Y"),
                         "disconnect_clock": end.dt.strftime("%H:%M:%S.0"),
                         "service_ticks": (pl.col("talk") * 100).cast(pl.String),
                         "disconnect_reason": pl.lit("16"), "egress_tg": pl.lit("CORE_OUT")},
                "ATTEMPT": {"disconnect_date": end.dt.strftime("%m/%d/%Y"),
                            "disconnect_clock": end.dt.strftime("%H:%M:%S.0"),
                            "disconnect_reason": pl.lit("19"), "final_attempt": pl.lit("1")},
            }

            rec = {t: _ribbon_record(t, {**common, **extra[t]}, w) for t, w in widths.items()}
            both = pl.concat_str([rec["START"], rec["STOP"]], separator="\n")
            line = pl.when(pl.col("ans")).then(both).otherwise(rec["ATTEMPT"])
            _write_lines(fh, line, df)
            lines += int(answered.sum()) * 2 + int((~answered).sum())
        fh.write(b"File administratively closed.\n")
        lines += 1
    return lines


def baseline(path: Path, width: int, skip: int) -> float:
    t = time.perf_counter()
    names = [f"c{i}" for i in range(width)]
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=skip,
                                       block_size=16 << 20),
        parse_options=pacsv.ParseOptions(invalid_row_handler=lambda _row: "skip"),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in names}),
    )
    elapsed = time.perf_counter() - t
    del table
    return elapsed


FORMATS: dict[str, tuple[str, str, Callable[[int, Path], int], int, int]] = {
    # key: (file name, --format, writer, baseline width, baseline skipped lines)
    "cucm": ("cdr_BenchCluster_01_202605280000_000001", "cisco_cucm_cdr", write_cucm, 133, 2),
    "ribbon": ("1000001.ACT", "ribbon_sbc_act", write_ribbon, 235, 1),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--formats", default="cucm,ribbon")
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: tmp)")
    ap.add_argument("--no-end-to-end", action="store_true", help="skip the store commit run")
    ap.add_argument("--no-append", action="store_true", help="do not append to RESULTS.md")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench_carrier_"))
    work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    table = ["| format | run | records | MB | seconds | records/s | × baseline time |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for key in args.formats.split(","):
        name, fmt, writer, width, skip = FORMATS[key]
        path = work / name
        t = time.perf_counter()
        lines = writer(args.rows, path)
        mb = path.stat().st_size / 1e6
        print(f"{key}: wrote {lines:,} lines, {mb:,.0f} MB in {time.perf_counter() - t:.1f} s",
              file=sys.stderr)
        records = lines - skip - (1 if key == "ribbon" else 0)
        runs: list[tuple[str, float]] = [("pyarrow.csv.read_csv, strings (baseline)",
                                          baseline(path, width, skip))]
        t = time.perf_counter()
        res = parse_file(path, fmt)
        runs.append((f"parse_file --format {fmt} (legs {res.legs.num_rows:,}, "
                     f"rejects {res.rejects.num_rows:,})", time.perf_counter() - t))
        assert res.rejects.num_rows == 0, res.rejects.slice(0, 3).to_pylist()
        del res
        failures: list[str] = []
        for keep_raw in ([] if args.no_end_to_end else [True, False]):
            store = work / f"store_{key}"
            shutil.rmtree(store, ignore_errors=True)
            label = "ingest_paths into a store" + ("" if keep_raw else " (--no-keep-raw)")
            try:
                s = ingest_paths([path], store, format=fmt, keep_raw=keep_raw)
            except Exception as e:  # a failing store commit is a result to record, not hide
                failures.append(f"| {key} | {label} | {records:,} | {mb:,.0f} | failed: "
                                f"{type(e).__name__}: {str(e)[:90]} | - | - |")
                continue
            finally:
                shutil.rmtree(store, ignore_errors=True)
            assert s.read == s.stored + s.rejected + s.duplicates, s.to_dict()
            runs.append((f"{label} (commit {s.commit_s:.1f} s)", s.elapsed_s))
            break  # the --no-keep-raw run only when keeping the raw records failed
        base_s = runs[0][1]
        for label, secs in runs:
            table.append(f"| {key} | {label} | {records:,} | {mb:,.0f} | {secs:.2f} | "
                         f"{records / secs:,.0f} | {secs / base_s:.2f} |")
        table.extend(failures)
        path.unlink()
    text = "\n".join(table)
    reduced = "" if args.rows >= 5_000_000 else (
        " (reduced size; full size: `python benchmarks/bench_carrier.py --rows 5000000`)")
    cmd = "python benchmarks/bench_carrier.py " + " ".join(sys.argv[1:])
    block = (
        f"### bench_carrier — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
        f"- command: `{cmd.strip()}`{reduced}\n"
        f"- machine: {machine(load, '24 GB')}, polars {pl.__version__}, "
        f"pyarrow {pa.__version__}\n"
        f"- data: CUCM 133-column CDR file (two header lines) and Ribbon .ACT file "
        f"(START+STOP / ATTEMPT), --rows records each, raw records kept\n\n{text}\n"
    )
    publish(block, record=not args.no_append)
    if args.dir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
