#!/usr/bin/env python3
"""SIP capture throughput: tracehop's fast path against tshark -T fields and pyshark.

    python benchmarks/bench_sip.py                        # 1M messages (the RESULTS.md figure)
    python benchmarks/bench_sip.py --messages 100000      # quicker, while developing

Generates a classic pcap of SIP/UDP calls (7 messages each: INVITE with two Vias, PAI, a
signed SHAKEN Identity header and SDP; 100, 180, 200 with SDP, ACK, BYE, 200), like
research/sip_bench/gen_synth_pcap.py, with a fast struct writer. Then measures, in SIP messages
per second (wall clock, best of ``--reps``):

- tracehop fast path, whole file, Identity decoded but not verified (no --cert-dir): from
  50 MB on with a worker process preparing the INVITEs (tracehop.sip.parallel; ``--workers``),
  and then again in one process, side by side;
- the same with ES256 verification against a certificate directory (every INVITE verified);
- on a ``--baseline-messages`` prefix file (default 10k): the fast path again, ``tshark -T
  fields`` (subprocess, the same 11 fields the research note used) and pyshark (PDML, default
  mode) — side by side on the same file, as the baseline ratio.

Prints a table and appends it to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import tracehop  # noqa: F401  # isort: skip  (first of all: tracehop/allocators.py)

import argparse
import json
import os
import platform
import resource
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "fixtures" / "sip"))

import make_fixtures as mf  # noqa: E402  (the fixture writer: certificates and Identity)

from tracehop.sip import parallel  # noqa: E402
from tracehop.sip.dialogs import SipConfig  # noqa: E402
from tracehop.sip.reader import read_capture  # noqa: E402

TSHARK_FIELDS = ["frame.time_epoch", "ip.src", "sip.Method", "sip.Status-Code", "sip.Call-ID",
                 "sip.from.user", "sip.to.user", "sip.r-uri.user", "sip.Via",
                 "sip.P-Asserted-Identity", "sip.Identity"]


def generate(path: Path, messages: int) -> None:
    """Write ``messages`` SIP messages (whole calls) as a classic Ethernet pcap, fast."""
    keys = mf.load_keys()
    key = keys["acme"]
    url = "https://cr.acme.example/sti/acme.pem"
    base = int(mf.BASE.timestamp())
    carriers = ["198.51.100.10", "203.0.113.20", "100.64.0.5", "198.18.0.7"]
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    ethhdr = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00"
    rec = struct.Struct("<IIII")
    iphdr = struct.Struct("!BBHHHBBH4s4s")
    udph = struct.Struct("!HHHH")
    sbc = bytes([192, 0, 2, 10])
    n = 0
    call = 0
    sdp = mf.SDP
    while n < messages:
        call += 1
        cip = carriers[call % len(carriers)]
        cb = bytes(int(x) for x in cip.split("."))
        called = f"+1312{call % 10_000_000:07d}"
        calling = f"+1202{(call * 7919) % 10_000_000:07d}"
        t0 = base + call // 10
        us0 = (call % 10) * 100_000
        cid = f"{call}-bench@{cip}"
        ident = mf.identity(key, url, "A", calling[1:], called[1:], t0, f"o-{call}")
        via = (f"Via: SIP/2.0/UDP {cip}:5060;branch=z9hG4bK-{call}-1\r\n"
               f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-{call}-0\r\n")
        common = (f"From: <sip:{calling}@{cip}>;tag=f{call}\r\n"
                  f"To: <sip:{called}@sbc.example.net>{{totag}}\r\nCall-ID: {cid}\r\n")
        inv = (f"INVITE sip:{called}@sbc.example.net;user=phone SIP/2.0\r\n{via}"
               f"Max-Forwards: 70\r\n{common.format(totag='')}CSeq: 1 INVITE\r\n"
               f"Contact: <sip:{calling}@{cip}:5060>\r\n"
               f"P-Asserted-Identity: <sip:{calling}@{cip};user=phone>\r\n"
               f"Identity: {ident}\r\nContent-Type: application/sdp\r\n"
               f"Content-Length: {len(sdp)}\r\n\r\n").encode() + sdp
        tt = f";tag=t{call}"

        def resp(code: str, body: bytes = b"", _tt: str = tt, _via: str = via,
                 _common: str = common) -> bytes:
            return (f"SIP/2.0 {code}\r\n{_via}{_common.format(totag=_tt)}CSeq: 1 INVITE\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        ack = (f"ACK sip:{called}@sbc.example.net SIP/2.0\r\nVia: SIP/2.0/UDP {cip}:5060;"
               f"branch=z9hG4bK-{call}-2\r\n{common.format(totag=tt)}CSeq: 1 ACK\r\n"
               "Content-Length: 0\r\n\r\n").encode()
        bye = (f"BYE sip:{called}@sbc.example.net SIP/2.0\r\nVia: SIP/2.0/UDP {cip}:5060;"
               f"branch=z9hG4bK-{call}-3\r\n{common.format(totag=tt)}CSeq: 2 BYE\r\n"
               "Content-Length: 0\r\n\r\n").encode()
        bye_ok = (f"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {cip}:5060;branch=z9hG4bK-{call}-3\r\n"
                  f"{common.format(totag=tt)}CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n").encode()
        msgs = [(0, True, inv), (50_000, False, resp("100 Trying")),
                (900_000, False, resp("180 Ringing")), (3_000_000, False, resp("200 OK", sdp)),
                (3_050_000, True, ack), (33_000_000, True, bye), (33_050_000, False, bye_ok)]
        for off, fwd, payload in msgs:
            if n >= messages:
                break
            src, dst = (cb, sbc) if fwd else (sbc, cb)
            u = udph.pack(5060, 5060, 8 + len(payload), 0) + payload
            ip = iphdr.pack(0x45, 0, 20 + len(u), n & 0xFFFF, 0, 64, 17, 0, src, dst) + u
            frame = ethhdr + ip
            ts = t0 * 1_000_000 + us0 + off
            out += rec.pack(ts // 1_000_000, ts % 1_000_000, len(frame), len(frame))
            out += frame
            n += 1
    path.write_bytes(out)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (tshark, pyshark's tshark)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


#: (wall seconds, CPU seconds, messages): the machine is shared, so wall clock swings with the
#: other engineers' load; CPU seconds (ours + the tshark child's) is the steadier comparison.
Timing = tuple[float, float, int]


def _own_cpu() -> float:
    """CPU seconds of this process alone (the reading process, without the workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


#: method name -> (µs per message in the reading process, in its worker processes), of the
#: best run: with a worker, the reading process's share is what bounds the speed on idle cores.
SPLIT: dict[str, tuple[float, float]] = {}


def bench_fast(path: Path, reps: int, cert_dir: Path | None,
               workers: int | None = None, name: str = "") -> tuple[Timing, int, str]:
    """``workers``: None = what read_capture chooses (a worker process for files of 50 MB
    and more, tracehop.sip.parallel), 0 = one process."""
    best: Timing = (1e18, 1e18, 0)
    legs = 0
    used = ""
    for _ in range(reps):
        t, c, own = time.perf_counter(), _cpu(), _own_cpu()
        r = read_capture(path, config=SipConfig(cert_dir=cert_dir, tshark="never"),
                         workers=workers)
        run = (time.perf_counter() - t, _cpu() - c, r.messages)
        own = _own_cpu() - own
        if run < best and r.messages:
            SPLIT[name] = (own / r.messages * 1e6, (run[1] - own) / r.messages * 1e6)
        best = min(best, run)
        legs = r.legs.num_rows
        used = r.path_used
    return best, legs, used


def bench_tshark(path: Path, reps: int) -> Timing:
    cmd = ["tshark", "-r", str(path), "-n", "-Y", "sip", "-T", "fields", "-E", "occurrence=f"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    best: Timing = (1e18, 1e18, 0)
    for _ in range(reps):
        t, c = time.perf_counter(), _cpu()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows = [line.split("\t") for line in proc.stdout.splitlines()]
        best = min(best, (time.perf_counter() - t, _cpu() - c, len(rows)))
    return best


def bench_pyshark(path: Path) -> Timing | None:
    try:
        import pyshark
    except ImportError:
        return None
    t, c = time.perf_counter(), _cpu()
    cap = pyshark.FileCapture(str(path), display_filter="sip", keep_packets=False)
    count = 0
    for pkt in cap:
        s = pkt.sip
        _ = (pkt.sniff_timestamp, pkt.ip.src, getattr(s, "call_id", None),
             getattr(s, "from_user", None), getattr(s, "to_user", None))
        count += 1
    cap.close()
    return time.perf_counter() - t, _cpu() - c, count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--baseline-messages", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/tracehop-bench-sip"))
    ap.add_argument("--no-pyshark", action="store_true")
    ap.add_argument("--no-verify", action="store_true", help="skip the ES256 verify run")
    ap.add_argument("--workers", type=int, default=None,
                    help="worker processes for the big file (default: as read_capture counts "
                         "them, at least 1; 0: one process only)")
    ap.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    a = ap.parse_args()
    a.dir.mkdir(parents=True, exist_ok=True)
    big = a.dir / f"sip_{a.messages}.pcap"
    small = a.dir / f"sip_{a.baseline_messages}.pcap"
    t = time.perf_counter()
    for p, n in ((big, a.messages), (small, a.baseline_messages)):
        if not p.exists():
            generate(p, n)
    gen_s = time.perf_counter() - t
    certs = mf.CERTS
    rows: list[tuple[str, str, Timing]] = []
    # With a worker process when the file is big enough for read_capture to use one (asked
    # for explicitly: unasked, read_capture starts one only when a core is idle), and in one
    # process, side by side.
    workers = a.workers if a.workers is not None else max(1, parallel.workers_wanted())
    if big.stat().st_size < parallel.MIN_BYTES:
        workers = 0
    fast_big, legs, used = bench_fast(big, a.reps, None, workers=workers, name="decode")
    how = "worker process" if used == "fast-parallel" else "one process"
    rows.append((f"tracehop fast path, {how} (decode Identity)", big.name, fast_big))
    if used == "fast-parallel":
        one, _, _ = bench_fast(big, a.reps, None, workers=0, name="one")
        rows.append(("tracehop fast path, one process (decode Identity)", big.name, one))
    if not a.no_verify:
        ver, _, _ = bench_fast(big, 1, certs, workers=workers, name="verify")
        rows.append((f"tracehop fast path, {how} + ES256 verify", big.name, ver))
    fast_small, _, _ = bench_fast(small, a.reps, None)
    rows.append(("tracehop fast path, one process (decode Identity)", small.name, fast_small))
    base: Timing | None = None
    if shutil.which("tshark"):
        base = bench_tshark(small, a.reps)
        rows.append(("tshark -T fields (subprocess)", small.name, base))
    py = None if a.no_pyshark else bench_pyshark(small)
    if py is not None:
        rows.append(("pyshark FileCapture (PDML)", small.name, py))
    lines = ["| method | file | SIP msgs | wall s | msgs/s (wall) | CPU s | msgs per CPU-s "
             "| vs tshark (CPU) | vs pyshark (CPU) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, f, (wall, cpu, m) in rows:
        rate = m / cpu if cpu else 0.0
        vt = f"{rate / (base[2] / base[1]):.1f}×" if base else "-"
        vp = f"{rate / (py[2] / py[1]):.0f}×" if py else "-"
        lines.append(f"| {name} | {f} | {m:,} | {wall:.2f} | {m / wall:,.0f} | {cpu:.2f} | "
                     f"{rate:,.0f} | {vt} | {vp} |")
    split = "; ".join(f"{k}: reading process {r:.2f} µs/msg, workers {w:.2f} µs/msg"
                      for k, (r, w) in SPLIT.items() if k)
    table = "\n".join(lines) + f"\n\nCPU per SIP message on {big.name} ({split})."
    print(table)
    print(f"legs from the big file: {legs:,}; generation took {gen_s:.1f} s (cached files "
          f"are reused); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if not a.no_append:
        cmd = "python benchmarks/bench_sip.py " + " ".join(sys.argv[1:])
        with (ROOT / "benchmarks" / "RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write(f"\n## SIP capture reading (bench_sip.py), {time.strftime('%Y-%m-%d')}\n\n"
                     f"Command: `{cmd.strip()}`. Machine: 2 vCPU / 24 GB (shared), "
                     f"{platform.python_implementation()} {platform.python_version()}. "
                     f"Data: synthetic SIP/UDP pcap, 7 messages per call, every INVITE with a "
                     f"signed SHAKEN Identity; {a.messages:,} messages "
                     f"({big.stat().st_size / 1e6:.0f} MB), baselines on a "
                     f"{a.baseline_messages:,}-message prefix file. Best of {a.reps} "
                     f"(verify run: 1). Load average during the run: "
                     f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other engineers' "
                     "jobs), so wall clock is noisy; CPU seconds include child processes' "
                     "(tshark's, the INVITE worker's).\n\n"
                     f"{table}\n")
    print(json.dumps({"fast_msgs_per_wall_s": fast_big[2] / fast_big[0],
                      "fast_msgs_per_cpu_s": fast_big[2] / fast_big[1]}))


if __name__ == "__main__":
    main()
