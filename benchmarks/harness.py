"""What the store benchmarks share: the synthetic store, its peers, the store options, the
machine line and the RESULTS.md entry, percentiles, the console script a user runs.

Imported by bench_batch, bench_lookup, bench_service, bench_spark, bench_store and
bench_numbers (run from benchmarks/, so this directory is on ``sys.path``).
"""

from __future__ import annotations

import tracehop  # noqa: F401  # isort: skip  (first of all: tracehop/allocators.py)

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from tracehop.peers import PeerDirectory
from tracehop.schema import empty_rejects
from tracehop.store import FileRecord, Store

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

#: Peers for the generated trunks IN-PEER-0001..0500 (bench_store's generator): answers name
#: a provider, as in real use.
PEER_TABLES: list[dict[str, Any]] = [
    {"name": "Peer Low", "role": "upstream", "ocn": "1001", "trunks": ["IN-PEER-00*"]},
    {"name": "Peer Mid", "role": "upstream", "ocn": "1002", "trunks": ["IN-PEER-0[1-2]*"]},
    {"name": "Peer Foreign", "role": "foreign", "trunks": ["IN-PEER-0[3-5]*"]},
]
PEERS = PeerDirectory.from_dict({"peer": PEER_TABLES})


def write_peers_toml(path: Path) -> Path:
    """PEER_TABLES as a peers TOML file, for the CLI and ``tracehop serve``."""
    # A JSON string or array of strings is also a valid TOML basic string / array, so no TOML
    # writer is needed for these flat tables.
    path.write_text("\n".join(
        "[[peer]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in peer.items())
        for peer in PEER_TABLES))
    return path


def build_store(root: Path, rows: int, chunk: int, days: int, seed: int) -> Store:
    """A store of ``rows`` synthetic legs over ``days`` UTC days from bench_store's T0,
    committed ``chunk`` rows at a time (one file record each), then compacted."""
    # Imported here, not at the top: bench_store imports this module for its percentiles.
    from bench_store import T0, generate_chunk

    rng = np.random.default_rng(seed)
    store = Store.open(root, create=True, compact_threshold=10_000)
    pool = rng.integers(12012000000, 19899999999, max(1, rows // 5))
    span_us = days * 86_400_000_000
    t0_us = int(T0.timestamp() * 1_000_000)
    n_chunks = -(-rows // chunk)
    for c in range(n_chunks):
        n = min(chunk, rows - c * chunk)
        lo = t0_us + span_us * c // n_chunks
        hi = t0_us + span_us * (c + 1) // n_chunks
        table = generate_chunk(rng, pool, n, lo, hi, c)
        rec = FileRecord(file_id=f"{c:064x}", path=f"Master-{c:03d}.csv", size=0, rows_read=n)
        store.commit(table, empty_rejects(), [rec])
    store.compact()
    return store


def add_store_options(ap: argparse.ArgumentParser, *, rows: int, seed: int) -> None:
    """The options of a benchmark that builds or reuses a synthetic store."""
    ap.add_argument("--rows", type=int, default=rows)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--chunk", type=int, default=1_000_000, help="rows per commit")
    ap.add_argument("--seed", type=int, default=seed)
    ap.add_argument("--store", type=Path, default=None, help="reuse this store (no generation)")
    ap.add_argument("--keep", type=Path, default=None, help="store directory to keep")
    ap.add_argument("--no-record", action="store_true")


def open_store(args: argparse.Namespace, scratch: Path) -> tuple[Store, Path, str]:
    """The ``--store`` given, or a new store built in ``--keep`` (emptied first) or in
    ``scratch``; with its directory and how it came ("reused" or "built in N s")."""
    if args.store is not None:
        return Store.open(args.store), args.store, "reused"
    root: Path = args.keep or scratch / "store"
    if root.exists():
        shutil.rmtree(root)
    t = time.perf_counter()
    store = build_store(root, args.rows, args.chunk, args.days, args.seed)
    return store, root, f"built in {time.perf_counter() - t:.0f} s"


def machine(load: float | None = None, memory: str = "") -> str:
    """"x86_64, 2 vCPU (shared), Python 3.11.9": the machine of a RESULTS.md entry, with the
    memory and the 1-min load average at the start when given (the CPUs are shared)."""
    size = f" / {memory}" if memory else ""
    shared = "shared" if load is None else f"shared; load average {load:.1f} at start"
    return (f"{platform.machine()}, {os.cpu_count()} vCPU{size} ({shared}), "
            f"Python {platform.python_version()}")


def publish(text: str, *, record: bool) -> None:
    """Print a benchmark's entry and, if ``record``, append it to RESULTS.md."""
    print(text)
    if record:
        with RESULTS.open("a", encoding="utf-8") as f:
            f.write("\n" + text)


def nearest_rank(xs: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``xs`` as one of its values: the nearest rank."""
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def interpolated(xs: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``xs``, linearly interpolated (NaN when empty)."""
    return float(np.quantile(np.array(xs), q)) if xs else float("nan")


def console_script(name: str) -> str:
    """The console script pip installed next to this interpreter: what a user runs.

    A version-manager shim on PATH (pyenv: a bash script that execs ``pyenv exec``) adds
    ~0.5-0.8 s of wall time of its own on this machine, not tracehop's.
    """
    script = Path(sys.executable).parent / name
    return str(script) if script.exists() else shutil.which(name) or name
