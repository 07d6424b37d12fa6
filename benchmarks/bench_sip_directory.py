#!/usr/bin/env python3
"""Capture directory read run by run, calls carried across rotations, against one whole read.

    python benchmarks/bench_sip_directory.py                       # 200k messages, 20 files
    python benchmarks/bench_sip_directory.py --messages 1000000 --files 60   # full size

The capture is bench_sip.py's (whole SIP/UDP calls of 7 messages, a signed Identity header
on every INVITE, 10 calls a second, each 33 s long: about 330 dialogs open at any moment),
sorted by capture time and cut at record boundaries into ``--files`` rotation files, as
``tcpdump -G`` would. Measured, wall clock and CPU seconds (the machine is shared):

- baseline: ``ingest_directory`` over a directory holding the whole capture as one file (one
  run, one commit, nothing carried);
- rotated: one ``ingest_directory`` run per rotation file, each run taking over the dialogs
  the previous one held open (restore), reading one new file, holding the new open dialogs
  (a Parquet state blob committed with the legs).

Checks that both stores hold the same legs (count, and answered legs with an end time), and
prints a table that it appends to benchmarks/RESULTS.md (``--no-record``: print only).
"""

from __future__ import annotations

import tracehop  # noqa: F401  # isort: skip  (first of all: tracehop/allocators.py)

import argparse
import os
import resource
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sip import generate  # noqa: E402
from harness import machine, publish  # noqa: E402

from tracehop.sip.dialogs import SipConfig  # noqa: E402
from tracehop.sip.directory import DirectoryResult, ingest_directory, state_key  # noqa: E402
from tracehop.store import Store  # noqa: E402

PCAP_HEADER = 24
RECORD = struct.Struct("<IIII")


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def rotate(whole: Path, out_dir: Path, files: int) -> list[Path]:
    """The capture's records in capture-time order, cut into ``files`` pcap files of equal
    record counts (bench_sip writes call by call, so its records are not in time order)."""
    data = whole.read_bytes()
    header = data[:PCAP_HEADER]
    recs: list[tuple[int, int, int]] = []  # (ts µs, start, end)
    off = PCAP_HEADER
    while off < len(data):
        sec, usec, incl, _ = RECORD.unpack_from(data, off)
        end = off + RECORD.size + incl
        recs.append((sec * 1_000_000 + usec, off, end))
        off = end
    recs.sort()
    per = -(-len(recs) // files)
    paths = []
    for i in range(files):
        chunk = recs[i * per:(i + 1) * per]
        p = out_dir / f"sbc-{i:05d}.pcap"
        p.write_bytes(header + b"".join(data[s:e] for _, s, e in chunk))
        paths.append(p)
    return paths


def legs_summary(store: Path) -> tuple[int, int]:
    """(legs, answered legs with an end time) in the store."""
    import duckdb

    files = Store.open(store).snapshot().all_files()
    row = duckdb.sql(f"select count(*), count(*) filter (where disposition = 'answered' and "
                     f"end_utc is not null) from read_parquet({files})").fetchall()[0]
    return int(row[0]), int(row[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    cfg = SipConfig(tshark="never")
    with tempfile.TemporaryDirectory(prefix="bench_sipdir_") as tmp_s:
        tmp = Path(tmp_s)
        raw = tmp / "raw.pcap"
        generate(raw, args.messages)
        whole_dir, rot_dir, spool = tmp / "whole", tmp / "rot", tmp / "spool"
        for d in (whole_dir, rot_dir, spool):
            d.mkdir()
        parts = rotate(raw, spool, args.files)
        shutil.copy(raw, whole_dir / "whole.pcap")
        raw.unlink()

        t, c = time.perf_counter(), _cpu()
        base = ingest_directory(whole_dir, tmp / "st_whole", config=cfg)
        base_wall, base_cpu = time.perf_counter() - t, _cpu() - c

        runs: list[tuple[float, float, DirectoryResult, int]] = []
        for p in parts:
            shutil.move(str(p), rot_dir / p.name)  # the rotation closes a file
            t, c = time.perf_counter(), _cpu()
            r = ingest_directory(rot_dir, tmp / "st_rot", config=cfg)
            wall, cpu = time.perf_counter() - t, _cpu() - c
            blob = Store.open(tmp / "st_rot").state(state_key(rot_dir))
            runs.append((wall, cpu, r, len(blob.data) if blob else 0))
        whole_legs = legs_summary(tmp / "st_whole")
        rot_legs = legs_summary(tmp / "st_rot")

    assert rot_legs == whole_legs, (rot_legs, whole_legs)
    assert sum(r.stored for _, _, r, _ in runs) == whole_legs[0]
    rot_wall = sum(w for w, *_ in runs)
    rot_cpu = sum(c for _, c, *_ in runs)
    held = [r.dialogs_held for _, _, r, _ in runs[:-1]] or [0]
    blobs = [b for *_, b in runs[:-1] if b] or [0]
    msgs = base.messages
    per_run = args.messages // args.files
    lines = [
        f"### bench_sip_directory — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Command: `python benchmarks/bench_sip_directory.py --messages {args.messages} "
        f"--files {args.files}`  ",
        f"Machine: {machine(load, '24 GB')}  ",
        f"Data: {msgs:,} SIP messages ({whole_legs[0]:,} calls of 33 s, 10 calls/s, signed "
        f"INVITEs, not verified), cut into {args.files} rotation files of ~{per_run:,} "
        f"messages; full size: `--messages 1000000 --files 60`",
        "",
        "| read | runs | wall s | CPU s | msgs/s (wall) | CPU ratio |",
        "|---|---|---|---|---|---|",
        f"| whole capture, one run (baseline) | 1 | {base_wall:.2f} | {base_cpu:.2f} | "
        f"{msgs / base_wall:,.0f} | 1.00 |",
        f"| rotated, dialogs carried run to run | {len(runs)} | {rot_wall:.2f} | "
        f"{rot_cpu:.2f} | {msgs / rot_wall:,.0f} | {rot_cpu / base_cpu:.2f} |",
        "",
        f"Per rotated run: wall p50 {sorted(w for w, *_ in runs)[len(runs) // 2]:.3f} s, "
        f"max {max(w for w, *_ in runs):.3f} s; open dialogs held between runs: mean "
        f"{sum(held) / len(held):,.0f}, max {max(held):,}; state blob mean "
        f"{sum(blobs) / len(blobs) / 1024:,.1f} KiB ({sum(blobs) / max(1, sum(held)):,.0f} "
        f"bytes per held dialog, zstd Parquet with the raw INVITE). Both stores hold "
        f"{whole_legs[0]:,} legs, {whole_legs[1]:,} answered with an end time "
        f"(checked equal). The rotated reading pays one store commit per run (fsyncs, "
        f"log replay, duplicate check against the day's files) and the state blob.",
    ]
    publish("\n".join(lines) + "\n", record=not args.no_record)


if __name__ == "__main__":
    main()
