"""``tracehop demo`` as a library call: build a network, write, ingest, trace, check, report.

Each stage is timed. Every campaign call is traced from the terminating provider's call example
and the chain is compared hop by hop with the simulation's ground truth: the providers asked, the
status each gave, the upstream each named, and the customer or foreign carrier at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracehop.chain import Chain, LocalResponder, Responder, SilentResponder, trace
from tracehop.sim.network import Network, demo_network
from tracehop.sim.traffic import Traffic, Truth, generate
from tracehop.sim.writers import write_records

#: record formats that are SIP captures (read by tracehop.sip), not CDR files
CAPTURE_FORMATS = frozenset({"pcap", "pcapng", "hep"})


@dataclass
class ProviderBuild:
    key: str
    name: str
    format: str
    tz: str
    skew_s: float
    dir: Path
    records: list[Path]
    peers_file: Path
    store_dir: Path
    legs: int
    ingest: dict[str, Any] = field(default_factory=dict)  # IngestSummary.to_dict()
    ingest_s: float = 0.0
    ip: str = ""  # the provider's own signalling address


@dataclass
class Verdict:
    chain: Chain
    truth: Truth
    problems: list[str]

    @property
    def correct(self) -> bool:
        return not self.problems


@dataclass
class DemoRun:
    out: Path
    network: Network
    traffic: Traffic
    providers: dict[str, ProviderBuild]
    verdicts: list[Verdict]
    stages: dict[str, float]  # stage name -> seconds
    silent: set[str] = field(default_factory=set)
    http: bool = False

    @property
    def all_correct(self) -> bool:
        return all(v.correct for v in self.verdicts)

    @property
    def chains(self) -> list[Chain]:
        return [v.chain for v in self.verdicts]


MARKER = ".tracehop-demo"


def prepare_out(out: Path) -> Path:
    """An empty directory for a demo run. A previous demo there is removed (it would mix two
    simulations in one store); any other non-empty directory is refused."""
    import shutil

    from tracehop.errors import ConfigError

    try:
        if out.exists():
            if not out.is_dir():
                raise ConfigError("the demo output path is a file", path=out,
                                  hint="Give a directory with --out")
            if any(out.iterdir()):
                if not (out / MARKER).exists():
                    raise ConfigError("the demo output directory is not empty and holds no "
                                      "earlier demo", path=out,
                                      hint="Choose another --out directory")
                # The earlier demo's contents, not the directory itself: `--out .` (or the
                # current directory by its path) cannot be removed (rmtree('.') is EINVAL)
                # or would leave the shell in a deleted directory.
                for child in out.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text("written by `tracehop demo`; safe to delete\n",
                                  encoding="utf-8")
    except OSError as e:
        # A read-only or full directory is the user's to fix: one `Error:` line, not a
        # traceback (the README's first command is often tried from wherever the shell is).
        raise ConfigError(f"cannot write the demo output directory: {e.strerror or e}",
                          path=out, hint="Give a writable directory with --out") from e
    return out.resolve()


def build(out: Path, net: Network, traffic: Traffic) -> dict[str, ProviderBuild]:
    """Write each provider's records in its format, and its peer directory."""
    builds: dict[str, ProviderBuild] = {}
    for key, p in net.providers.items():
        pdir = out / key
        legs = traffic.legs(key)
        files = write_records(p, legs, pdir / "records")
        peers = net.write_peer_directory(key, pdir / "peers.toml")
        builds[key] = ProviderBuild(key, p.name, p.format, p.tz, p.skew_s, pdir, files, peers,
                                    pdir / "store", len(legs), ip=p.ip)
    return builds


def ingest_all(builds: Mapping[str, ProviderBuild],
               progress: Callable[[str], None] | None = None) -> None:
    """Ingest each provider's records into its own store, as that provider would."""
    from tracehop.ingest import ingest_paths
    from tracehop.store import Store

    for b in builds.values():
        if progress:
            progress(f"ingesting {b.name}: {len(b.records)} {b.format} file(s), zone {b.tz}")
        t0 = time.perf_counter()
        store = Store.open(b.store_dir, create=True)
        with _capture_options(b):
            summary = ingest_paths([str(f) for f in b.records], store, format=b.format,
                                   tz=b.tz, source=b.key)
        b.ingest_s = time.perf_counter() - t0
        b.ingest = summary.to_dict()


@contextmanager
def _capture_options(b: ProviderBuild) -> Iterator[None]:
    """For a provider whose records are SIP captures, tell the capture reader which address is
    the provider's own (its INVITEs to the next hop are outbound legs) and where the STI
    certificates are (PASSporTs are verified, the signer's SPC read); then restore the reader's
    options as they were."""
    if b.format not in CAPTURE_FORMATS:
        yield
        return
    import tracehop.sip
    from tracehop.sim.writers.sip_capture import cert_dir

    before = tracehop.sip.current_config()
    certs = cert_dir(b.dir / "records")
    tracehop.sip.configure(local_nets=f"{b.ip}/32",
                           cert_dir=certs if certs.is_dir() else None)
    try:
        yield
    finally:
        tracehop.sip.configure(local_nets=[str(n) for n in before.local_nets],
                               cert_dir=before.cert_dir, tshark=before.tshark)


def check(chain: Chain, truth: Truth, net: Network) -> list[str]:
    """What differs between ``chain`` and the ground truth (empty: the chain is right)."""
    problems: list[str] = []
    for i, exp in enumerate(truth.hops):
        want = net.providers[exp.provider].name
        if i >= len(chain.hops):
            problems.append(f"chain stopped before {want} ({chain.end})")
            break
        hop = chain.hops[i]
        if hop.provider != want:
            problems.append(f"hop {i + 1}: asked {hop.provider}, expected {want}")
            break
        # A provider without the call's record must stop the chain without naming anyone:
        # "not found", or "ambiguous" when other calls to that number were near that time
        # and none is clearly it. Both are right; naming an upstream or a customer is not.
        stops = ("not_found", "ambiguous") if exp.status == "not_found" else (exp.status,)
        if hop.status not in stops:
            problems.append(f"hop {i + 1} ({want}): status {hop.status}, expected {exp.status}")
            break
        a = hop.answer
        if exp.upstream is not None and (a is None or a.upstream is None
                                         or a.upstream.provider != exp.upstream):
            got = a.upstream.provider if a and a.upstream else None
            problems.append(f"hop {i + 1} ({want}): named {got}, expected {exp.upstream}")
            break
        # the customer by its account code, or, where the provider's records carry none (a
        # CUCM or a SIP capture names the customer's trunk or address), by the name its peer
        # directory gives that trunk
        if exp.customer is not None and (
                a is None or a.customer is None
                or (a.customer.account != exp.customer
                    and (a.customer.account is not None
                         or a.customer.name != net.customers.get(exp.customer)))):
            got = (a.customer.account or a.customer.name) if a and a.customer else None
            problems.append(f"hop {i + 1} ({want}): customer {got}, expected {exp.customer}")
            break
    if not problems and len(chain.hops) > len(truth.hops):
        problems.append(f"chain went on past {net.providers[truth.hops[-1].provider].name}")
    return problems


def run_demo(
    out: Path,
    *,
    calls: int = 12,
    seed: int = 7,
    ordinary: int | None = None,
    net: Network | None = None,
    silent: Iterable[str] = (),
    missing: Iterable[tuple[str, str]] = (),
    http: bool = False,
    progress: Callable[[str], None] | None = None,
) -> DemoRun:
    """Run the whole demo into ``out``. ``silent`` names provider keys that do not answer;
    ``missing`` lists (call ref, provider key) records that never reached that provider."""
    say = progress or (lambda _msg: None)
    stages: dict[str, float] = {}
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    net = net or demo_network()
    traffic = generate(net, campaign_calls=calls, seed=seed,
                       ordinary_calls=ordinary if ordinary is not None else max(100, 10 * calls))
    traffic.missing |= set(missing)
    stages["simulate"] = time.perf_counter() - t
    say(f"simulated {len(traffic.calls)} calls ({calls} campaign) over "
        f"{len(net.providers)} providers")

    t = time.perf_counter()
    builds = build(out, net, traffic)
    stages["write records"] = time.perf_counter() - t
    t = time.perf_counter()
    ingest_all(builds, say)
    stages["ingest"] = time.perf_counter() - t
    say("ingested " + ", ".join(f"{b.name} {b.ingest.get('stored', '?')}"
                                 for b in builds.values()))

    verdicts = trace_campaign(net, traffic, builds, silent=set(silent), http=http, seed=seed,
                              stages=stages)
    result = DemoRun(out, net, traffic, builds, verdicts, stages, set(silent), http)
    write_truth(result)
    return result


def trace_campaign(
    net: Network,
    traffic: Traffic,
    builds: Mapping[str, ProviderBuild],
    *,
    silent: set[str] | None = None,
    http: bool = False,
    seed: int = 7,
    stages: dict[str, float] | None = None,
) -> list[Verdict]:
    """Trace every campaign call from the terminating provider and check it against the truth.

    Responders are in process, or (``http``) one ``tracehop serve`` per provider; providers in
    ``silent`` give no answer."""
    silent = silent or set()
    stages = stages if stages is not None else {}
    t = time.perf_counter()
    servers: list[Any] = []
    try:
        if http:
            from tracehop.demo.http import start_services

            responders, servers = start_services(builds, silent=silent)
        else:
            responders = local_responders(builds, silent)
        stages["start responders"] = time.perf_counter() - t
        term = next(k for k, p in net.providers.items() if p.kind == "terminating")
        t = time.perf_counter()
        verdicts: list[Verdict] = []
        examples = {e.ref: e for e in traffic.examples(seed=seed)}
        for call in traffic.campaign:
            chain = trace(examples[call.ref], net.providers[term].name, responders,
                          window_s=net.window_s)
            truth = traffic.truth(call, silent=silent)
            verdicts.append(Verdict(chain, truth, check(chain, truth, net)))
        stages["trace"] = time.perf_counter() - t
    finally:
        for s in servers:
            s.stop()
    return verdicts


def local_responders(builds: Mapping[str, ProviderBuild],
                     silent: set[str]) -> dict[str, Responder]:
    out: dict[str, Responder] = {}
    for key, b in builds.items():
        out[b.name] = SilentResponder() if key in silent else LocalResponder(b.store_dir,
                                                                             b.peers_file)
    return out


def write_truth(run: DemoRun) -> Path:
    """The ground truth and each chain's verdict, as JSON next to the report."""
    rows = []
    for v in run.verdicts:
        rows.append({
            "call": v.truth.call.ref,
            "called": v.truth.call.called,
            "calling": v.truth.call.calling,
            "expected": [{"provider": run.network.providers[h.provider].name,
                          "status": h.status, "upstream": h.upstream, "customer": h.customer}
                         for h in v.truth.hops],
            "traced": [{"provider": h.provider, "status": h.status,
                        "upstream": h.next_provider,
                        "offset_s": h.offset_s, "confidence": h.confidence,
                        "elapsed_ms": round(h.elapsed_s * 1000, 2), "reason": h.reason}
                       for h in v.chain.hops],
            "correct": v.correct,
            "problems": v.problems,
        })
    path = run.out / "truth.json"
    path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return path
