"""Chains resolve correctly against ground truth on the simulated network, with the real ingest,
store and matcher behind every provider: under clock skew up to the window, mixed time zones,
national number formats, a provider that does not respond, and a call that never reached a
provider."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tracehop.demo.run import ProviderBuild, Verdict, build, ingest_all, trace_campaign
from tracehop.sim.network import Network, demo_network
from tracehop.sim.traffic import Traffic, generate

CALLS = 8
ORDINARY = 40


def _prepare(root: Path, net: Network, *, seed: int = 5,
             missing: set[tuple[str, str]] | None = None
             ) -> tuple[Network, Traffic, dict[str, ProviderBuild]]:
    traffic = generate(net, campaign_calls=CALLS, ordinary_calls=ORDINARY, seed=seed)
    traffic.missing |= missing or set()
    builds = build(root, net, traffic)
    ingest_all(builds)
    for b in builds.values():
        assert b.ingest["rejected"] == 0, (b.name, b.ingest)
        assert b.ingest["stored"] > 0
    return net, traffic, builds


def _assert_all_correct(verdicts: list[Verdict]) -> None:
    wrong = [(v.chain.example.ref, v.problems) for v in verdicts if not v.correct]
    assert not wrong, wrong
    assert len(verdicts) == CALLS


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[Network, Traffic, dict[str, ProviderBuild]]:
    return _prepare(tmp_path_factory.mktemp("plain"), demo_network())


def test_chains_follow_the_ground_truth(plain: tuple[Network, Traffic,
                                                     dict[str, ProviderBuild]]) -> None:
    net, traffic, builds = plain
    verdicts = trace_campaign(net, traffic, builds)
    _assert_all_correct(verdicts)
    ends = {v.chain.end for v in verdicts}
    assert {"originating", "point_of_entry"} <= ends
    for v in verdicts:
        if v.chain.end == "originating":
            assert v.chain.origin == net.campaign_account
            assert v.chain.last_provider == "Summit Voice"
        elif v.chain.end == "point_of_entry":
            assert v.chain.origin == net.foreign_carrier
            assert v.chain.last_provider == "Atlas Gateway"
        # every hop was asked and answered within the matcher, with timings
        assert all(h.elapsed_s > 0 for h in v.chain.hops)


@pytest.mark.parametrize("hop", [
    # the record is missing at the transit provider the terminating one named
    pytest.param(-2, id="transit"),
    # ... or at the originating provider / gateway. There the only call to that number in the
    # window is another customer's (a decoy, different caller ID): answering with it would
    # accuse an innocent customer.
    pytest.param(0, id="origin"),
])
def test_a_call_that_never_reached_a_provider(tmp_path: Path, hop: int) -> None:
    net = demo_network()
    probe = generate(net, campaign_calls=CALLS, ordinary_calls=ORDINARY, seed=5)
    call = next(c for c in probe.campaign if len(c.path) >= 3)
    lost_at = call.path[hop]
    net, traffic, builds = _prepare(tmp_path, net, missing={(call.ref, lost_at)})
    verdicts = trace_campaign(net, traffic, builds)
    [v] = [v for v in verdicts if v.chain.example.ref == call.ref]
    # the chain stops there and names no one (ambiguous: other calls to that number were near)
    assert v.chain.end in ("not_found", "ambiguous"), v.problems
    assert v.chain.origin is None
    assert v.chain.last_provider == net.providers[lost_at].name
    assert v.correct, v.problems
    _assert_all_correct(verdicts)


def test_a_provider_that_does_not_respond(plain: tuple[Network, Traffic,
                                                       dict[str, ProviderBuild]]) -> None:
    net, traffic, builds = plain
    verdicts = trace_campaign(net, traffic, builds, silent={"harbor"})
    _assert_all_correct(verdicts)
    through = [v for v in verdicts if "harbor" in v.truth.call.path]
    assert through
    for v in through:
        assert v.chain.end == "no_response" and v.chain.last_provider == "Harbor Carrier"
    others = [v for v in verdicts if "harbor" not in v.truth.call.path]
    assert any(v.chain.found for v in others)


def test_clock_skew_up_to_the_window(tmp_path: Path) -> None:
    # neighbours' clocks differ by up to ~116 s against a ±120 s window
    skew = {"lakeside": 50.0, "keystone": -58.0, "harbor": 55.0, "atlas": -57.0, "summit": 58.0}
    net, traffic, builds = _prepare(tmp_path, demo_network(skew=skew))
    verdicts = trace_campaign(net, traffic, builds)
    _assert_all_correct(verdicts)
    offsets = [abs(h.offset_s) for v in verdicts for h in v.chain.hops if h.offset_s is not None]
    assert max(offsets) > 100.0  # the condition was really exercised


def test_mixed_time_zones(tmp_path: Path) -> None:
    zones = {"lakeside": "America/Chicago", "keystone": "Asia/Kolkata",
             "harbor": "Europe/Bucharest", "atlas": "Pacific/Honolulu",
             "summit": "Australia/Adelaide"}
    net = demo_network()
    for key, tz in zones.items():
        net = net.with_provider(key, tz=tz)
    net, traffic, builds = _prepare(tmp_path, net)
    # the providers' records really carry different local dates for the same calls
    first = {k: (b.dir / "records" / "Master.csv").read_text()[:200]
             for k, b in builds.items() if (b.dir / "records" / "Master.csv").is_file()}
    assert len(first) >= 2
    assert len({text.split("20", 1)[1][:8] for text in first.values()}) > 1
    _assert_all_correct(trace_campaign(net, traffic, builds))


def test_national_number_formats(tmp_path: Path) -> None:
    net = demo_network()
    for key in net.providers:
        net = net.with_provider(key, number_style="national")
    net, traffic, builds = _prepare(tmp_path, net)
    master = (builds["lakeside"].dir / "records" / "Master.csv").read_text()
    c = traffic.campaign[0]
    assert f'"{c.called[2:]}"' in master and f'"{c.called}"' not in master
    _assert_all_correct(trace_campaign(net, traffic, builds))


def test_a_wrong_peer_directory_is_caught_by_the_truth_check(
        plain: tuple[Network, Traffic, dict[str, ProviderBuild]], tmp_path: Path) -> None:
    """The check against ground truth can fail: a directory that swaps two carriers' names."""
    net, traffic, builds = plain
    swap = {"Keystone Transit": "Harbor Carrier", "Harbor Carrier": "Keystone Transit"}
    bad = Network(net.providers, [replace(p, name=swap.get(p.name, p.name))
                                  if p.provider == "lakeside" else p for p in net.peers],
                  net.campaign_account, net.foreign_carrier, net.window_s, net.customers)
    lakeside = replace(builds["lakeside"],
                       peers_file=bad.write_peer_directory("lakeside", tmp_path / "peers.toml"))
    verdicts = trace_campaign(net, traffic, {**builds, "lakeside": lakeside})
    assert verdicts and not any(v.correct for v in verdicts)
    assert all("hop 1 (Lakeside Telephone): named" in v.problems[0] for v in verdicts)


@pytest.mark.parametrize("formats", [
    # the formats the demo used before carrier formats landed, plus Kamailio acc on a transit
    {"keystone": "kamailio_acc_syslog", "harbor": "freeswitch_json_cdr",
     "atlas": "asterisk_cdr_csv"},
    # a SIP capture at the terminating provider, CUCM at the originating one, Ribbon at both
    # transits
    {"lakeside": "pcap", "summit": "cisco_cucm_cdr", "harbor": "ribbon_sbc_act"},
], ids=["kamailio-fsjson-asterisk", "pcap-cucm-ribbon"])
def test_chains_resolve_whatever_format_each_provider_keeps(tmp_path: Path,
                                                            formats: dict[str, str]) -> None:
    net = demo_network()
    for key, fmt in formats.items():
        net = net.with_provider(key, format=fmt)
    net, traffic, builds = _prepare(tmp_path, net)
    assert {builds[k].format for k in formats} == set(formats.values())
    _assert_all_correct(trace_campaign(net, traffic, builds))


def test_a_capture_ingested_without_its_local_net_still_answers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider that ingests its SBC capture as DESIGN's `tracehop ingest FILES --store DIR`
    does, without naming its own addresses: the reader finds the SBC from the calls it carries
    on, so the SBC's onward INVITEs do not compete with the upstream's as the call's inbound
    leg (every hop there came out ambiguous before)."""
    from collections.abc import Iterator
    from contextlib import contextmanager

    import tracehop.demo.run as demo_run
    import tracehop.sip

    own = demo_run._capture_options

    @contextmanager
    def without_local_net(b: ProviderBuild) -> Iterator[None]:
        with own(b):
            cfg = tracehop.sip.current_config()
            tracehop.sip.configure(local_nets=[], cert_dir=cfg.cert_dir)
            yield

    monkeypatch.setattr(demo_run, "_capture_options", without_local_net)
    net = demo_network().with_provider("keystone", format="pcap")
    net, traffic, builds = _prepare(tmp_path, net)
    assert any("taken as your own side" in w and builds["keystone"].ip in w
               for w in builds["keystone"].ingest.get("warnings", [])), builds["keystone"].ingest
    _assert_all_correct(trace_campaign(net, traffic, builds))
