"""FreeSWITCH mod_json_cdr: a directory of one-leg ``<uuid>.cdr.json`` files into a store.

mod_json_cdr writes one pretty-printed document per call leg, so a day of traffic is a
directory of many small files. The baseline, side by side, is ``json.loads`` of every file
(reading and decoding only). The ingest applies the profile once per batch of files
(``tracehop.ingest.run.parse_documents``).

    python benchmarks/bench_fsjson.py --files 2000
"""

from __future__ import annotations

import tracehop  # noqa: F401  # isort: skip  (first of all: tracehop/allocators.py)

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from tracehop.ingest.run import ingest_paths

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "freeswitch_json_cdr"


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def generate(n: int, out: Path) -> None:
    docs = [json.loads(line) for line in (FIXTURE / "cdr.ndjson").read_text().splitlines()
            if line.strip()]
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        doc = json.loads(json.dumps(docs[i % len(docs)]))
        doc["variables"]["uuid"] = f"00000000-0000-4000-8000-{i:012d}"
        doc["variables"]["sip_call_id"] = f"{i:x}%40198.51.100.7"
        (out / f"{doc['variables']['uuid']}.cdr.json").write_text(json.dumps(doc, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--no-append", action="store_true", help="do not append to RESULTS.md")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_fsjson_"))
    load = os.getloadavg()[0]
    src = work / "cdr"
    generate(args.files, src)

    t, c = time.perf_counter(), cpu_s()
    for p in sorted(src.iterdir()):
        json.loads(p.read_bytes())
    base = (time.perf_counter() - t, cpu_s() - c)

    t, c = time.perf_counter(), cpu_s()
    s = ingest_paths([src], work / "store")
    run = (time.perf_counter() - t, cpu_s() - c)
    assert s.read == s.stored + s.rejected + s.duplicates == args.files, s.to_dict()

    table = ["| run | seconds | ms per file | CPU s | × baseline time |",
             "|---|---:|---:|---:|---:|"]
    for label, (secs, cpu) in (("json.loads of every file (baseline)", base),
                               ("tracehop ingest_paths of the directory, into a store", run)):
        table.append(f"| {label} | {secs:.2f} | {1000 * secs / args.files:.1f} | {cpu:.2f} | "
                     f"{secs / base[0]:.1f} |")
    text = "\n".join(table)
    print(text)
    if not args.no_append:
        cmd = "python benchmarks/bench_fsjson.py " + " ".join(sys.argv[1:])
        with RESULTS.open("a") as fh:
            fh.write(
                f"\n### bench_fsjson — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
                f"- command: `{cmd.strip()}`\n"
                f"- machine: {platform.machine()}, {os.cpu_count()} vCPU (shared), 24 GB, Python "
                f"{platform.python_version()}, polars {pl.__version__}; load average {load:.1f}"
                f" at start\n- data: {args.files:,} FreeSWITCH mod_json_cdr files (one leg each, "
                f"format detected per file)\n\n{text}\n"
            )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
