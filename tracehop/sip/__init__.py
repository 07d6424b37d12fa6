"""SIP captures into call legs: pcap / pcapng / HEP reading, SIP parsing, dialogs, PASSporT.

Importing this package registers the formats ``pcap``, ``pcapng`` and ``hep`` with
:mod:`tracehop.ingest.formats`, so ``tracehop ingest capture.pcap --store S`` works like any CDR
file. Reader options (which addresses are the provider's own, where the STI certificates are)
come from :func:`configure`, or from the environment:

- ``TRACEHOP_SIP_LOCAL_NETS``: comma-separated CIDRs of the provider's own SBCs/proxies; an
  INVITE sent *from* one of them is an outbound leg (see :mod:`tracehop.sip.dialogs`);
- ``TRACEHOP_CERT_DIR``: local directory of STI certificates for PASSporT verification;
- ``TRACEHOP_SIP_TSHARK``: ``auto`` (default), ``never`` or ``always``.

Modules: :mod:`pcap` (file formats), :mod:`linktypes`, :mod:`ip`, :mod:`tcp`, :mod:`hep`,
:mod:`message` (RFC 3261 parser), :mod:`dialogs` (legs), :mod:`passport` (STIR/SHAKEN),
:mod:`tshark` (fallback), :mod:`reader` (per-file path choice), :mod:`directory` (incremental
reading of a directory of rotating captures).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tracehop.sip.dialogs import SipConfig, parse_nets

if TYPE_CHECKING:
    from tracehop.ingest.formats import ParseResult

_config: SipConfig | None = None


def configure(local_nets: str | list[str] | None = None, cert_dir: str | Path | None = None,
              tshark: str | None = None) -> SipConfig:
    """Set the reader options used by the registered formats (CLI options plumb into this):
    the environment's, with those given in their place."""
    global _config
    _config = _with(SipConfig.from_env(), local_nets, cert_dir, tshark)
    return _config


def _with(base: SipConfig, local_nets: str | list[str] | None, cert_dir: str | Path | None,
          tshark: str | None) -> SipConfig:
    """``base`` with the options given in place of its own."""
    cfg = dataclasses.replace(base)
    if local_nets is not None:
        cfg.local_nets = parse_nets(local_nets if isinstance(local_nets, str)
                                    else ",".join(local_nets))
    if cert_dir is not None:
        cfg.cert_dir = Path(cert_dir)
    if tshark is not None:
        cfg.tshark = tshark
    return cfg


@contextlib.contextmanager
def configured(local_nets: list[str] | None = None,
               cert_dir: str | Path | None = None) -> Iterator[SipConfig]:
    """The options in force, with those given in their place, for the duration of a ``with``
    block (one CLI command); then the options before it again, so that a library user's or a
    test's later reads are not affected."""
    global _config
    before = _config
    _config = _with(current_config(), local_nets, cert_dir, None)
    try:
        yield _config
    finally:
        _config = before


def current_config() -> SipConfig:
    """The options set by :func:`configure`, else those of the environment."""
    return _config if _config is not None else SipConfig.from_env()


def _parse(path: Path, tz: str | None, source: str | None, fmt: str) -> ParseResult:
    # tz is not needed: capture timestamps are UTC by definition (pcap/pcapng/HEP all carry
    # seconds since the epoch).
    from tracehop.ingest.formats import ParseResult
    from tracehop.sip.reader import read_capture

    res = read_capture(path, source, current_config(), fmt=fmt)
    warnings = list(res.warnings)
    if res.duplicates:
        warnings.append(f"{path}: {res.duplicates} INVITEs seen more than once "
                        "(retransmission, HEP copy or second capture point) made no extra leg")
    if res.messages and not res.invites:
        warnings.append(_no_invite(path, res.messages))
    # ``lines`` counts SIP messages, not frames: a capture of RTP alone has frames but nothing
    # to ingest, and must say so rather than pass as a file continuing an earlier one.
    return ParseResult(legs=res.legs, rejects=res.rejects, warnings=warnings, format=fmt,
                       lines=res.messages)


def _no_invite(path: Path, messages: int, files: int = 1) -> str:
    """A capture with SIP but not one INVITE gives no leg (RFC 3261 §13: a call is an INVITE
    dialog): said, not an empty reading that passes for a file continuing another."""
    where = f"{path}" if files == 1 else f"{path} and the {files - 1} captures read with it"
    return (f"{where}: {messages} SIP messages but not one INVITE, so no call to ingest "
            "(OPTIONS pings or registrations only? check the capture's interface, filter "
            "and time)")


def _parse_group(paths: list[Path], tz: str | None, source: str | None) -> list[ParseResult]:
    """Consecutive captures of one directory, read as one capture (:mod:`.sequence`): a call
    spanning a rotation is one leg. A file that cannot be read raises, and ingest then reads
    the files one by one, so that the error lands on that file alone."""
    from tracehop.ingest.formats import ParseResult
    from tracehop.sip.sequence import read_captures

    out = []
    results = read_captures(paths, source, current_config())
    messages = sum(r.messages for r in results)
    for path, res in zip(paths, results, strict=True):
        warnings = list(res.warnings)
        if res is results[0] and messages and not res.invites:  # (the group's count)
            warnings.append(_no_invite(path, messages, len(paths)))
        if res.duplicates:
            warnings.append(f"{path}: {res.duplicates} INVITEs seen more than once "
                            "(retransmission, HEP copy or second capture point) made no extra "
                            "leg")
        out.append(ParseResult(legs=res.legs, rejects=res.rejects, warnings=warnings,
                               format=res.kind if res.kind != "other" else "pcap",
                               lines=res.messages))
    return out


def _register() -> None:
    try:
        from tracehop.ingest.formats import register_format
    except ImportError:  # ingest not installed alongside: the readers still work on their own
        return
    from tracehop.sip.reader import detect_kind

    for name in ("pcap", "pcapng", "hep"):
        def detect(head: bytes, path: Path, _n: str = name) -> bool:
            kind = detect_kind(head)
            # NetMon/snoop captures are read through tshark under the "pcap" format name.
            return kind == _n or (kind == "other" and _n == "pcap")

        def parse(path: Path, tz: str | None, source: str | None,
                  _n: str = name) -> ParseResult:
            return _parse(path, tz, source, _n)

        register_format(name, detect, parse, _parse_group)


_register()
