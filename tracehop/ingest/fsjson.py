"""FreeSWITCH ``mod_json_cdr`` documents, flattened into columns for a profile to map.

Layout (mod_json_cdr.c, switch_ivr.c ``switch_ivr_generate_json_cdr``; research/cdr_formats.md
§5): one JSON object per call leg with ``channel_data``, ``variables`` (every channel
variable), ``callflow`` (an array of caller profiles, each with ``times`` in microseconds since
the epoch, UTC, 0 for "never"). A file may hold one document (``<uuid>.cdr.json``), several
concatenated, or one per line (NDJSON, as collected from the HTTP POSTs).

Columns produced (all strings): ``core-uuid``, ``switchname``, ``channel_data.<key>``,
``variables.<name>``, ``callflow.caller_profile.<key>`` and ``callflow.times.<key>`` from the
*original* caller profile (the lowest ``profile_index``: the number as received, before any
transfer), ``leg_role`` ("a" when no caller profile names an originator, else "b"), and
``leg.ingress_ip`` or ``leg.egress_ip``: the far end of the leg, by its direction.
``leg.called_user``: the called number as the far end sent it (:func:`_called_user`).
``leg.a_leg_uuid``: a B-leg's A-leg (:func:`_a_leg_uuid`).
Values are URL-decoded when they contain ``%`` (``encode-values`` is on by default).

Record numbers (``source_record``, hence ``leg_id``): the line a document starts on, as for
every other format, so that one document per file, NDJSON and pretty-printed documents keep
the numbers (and leg_ids) they always had. A file where some line holds more than one
document (a JSON array written on one line, ``{...}{...}`` with no line end between) is
numbered by document instead: the first document (or unreadable stretch) of the file is 1,
the next 2, and so on (:func:`_numbered_by_document`).

The call's times (:func:`call_times`): three ``callflow.times`` columns hold the *call's*
times, not the original profile's, because a transfer splits them across profiles.
FreeSWITCH (switch_channel.c ``switch_channel_set_caller_profile``) gives each new caller
profile (a transfer, an execute_extension) a copy of the current one's ``created``,
``answered`` and ``hungup`` times, stamps ``transferred`` on the old one and from then on
marks answer and hangup only on the new, current profile. So on a call transferred before it
was answered (the CGRateS sample, realworld:freeswitch_json_cdr/
cgrates_engine_fscdr_test_body.json: profile 1 parked, answered 0, hangup 0; profile 2
bridged, answered and hung up) only the later profile has them. Hence:

* ``created_time``: the original profile's (the call's creation, copied unchanged to every
  profile), else ``variables.start_uepoch``;
* ``answered_time`` / ``hangup_time``: the latest non-zero value over all callflow entries
  (the current profile's, since earlier profiles only hold copies of earlier values or 0),
  else ``variables.answer_uepoch`` / ``end_uepoch`` (which switch_channel_set_timestamps
  derives from the current profile), else ``answer_epoch`` / ``end_epoch`` in seconds; 0 or
  absent everywhere means never answered (or no hangup recorded).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import polars as pl

from tracehop.ingest.formats import register_reader
from tracehop.ingest.readers import LINE, RAW, REASON


def _s(v: Any) -> str | None:
    if v is None or isinstance(v, dict | list):
        return None
    text = str(v)
    return unquote(text) if "%" in text else text


def _original_profile(doc: dict[str, Any]) -> dict[str, Any]:
    flows = doc.get("callflow")
    if isinstance(flows, dict):
        flows = [flows]
    if not isinstance(flows, list) or not flows:
        return {}
    def index(f: Any) -> int:
        try:
            return int(f.get("profile_index", 0)) if isinstance(f, dict) else 0
        except (TypeError, ValueError):
            return 0
    best = min((f for f in flows if isinstance(f, dict)), key=index, default={})
    return best


def _micros(v: Any) -> int | None:
    """A time in µs since the epoch as written (a string or a number), None for 0 ("never"),
    empty or unreadable."""
    text = _s(v)
    if text is None:
        return None
    try:
        n = int(text.strip())
    except ValueError:
        return None
    return n if n > 0 else None


def _flows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    flows = doc.get("callflow")
    if isinstance(flows, dict):
        flows = [flows]
    if not isinstance(flows, list):
        return []
    return [f for f in flows if isinstance(f, dict)]


def call_times(doc: dict[str, Any]) -> dict[str, str | None]:
    """The call's answer and hangup times (µs since the epoch, as strings; None = never),
    by the rule in the module docstring: the latest non-zero ``answered_time`` /
    ``hangup_time`` of any callflow entry, else the channel variables."""
    variables = doc.get("variables") if isinstance(doc.get("variables"), dict) else {}
    assert isinstance(variables, dict)
    out: dict[str, str | None] = {}
    for key, uvar, svar in (("answered_time", "answer_uepoch", "answer_epoch"),
                            ("hangup_time", "end_uepoch", "end_epoch")):
        seen = [t for f in _flows(doc) if isinstance(f.get("times"), dict)
                if (t := _micros(f["times"].get(key))) is not None]
        best = max(seen) if seen else _micros(variables.get(uvar))
        if best is None:
            secs = _micros(variables.get(svar))
            best = secs * 1_000_000 if secs is not None else None
        out[key] = str(best) if best is not None else None
    return out


def flatten(doc: dict[str, Any], wanted: frozenset[str]) -> dict[str, str | None]:
    row: dict[str, str | None] = {}
    for key in ("core-uuid", "switchname"):
        row[key] = _s(doc.get(key))
    for section in ("channel_data", "variables"):
        sec = doc.get(section)
        if isinstance(sec, dict):
            for k, v in sec.items():
                name = f"{section}.{k}"
                if name in wanted:
                    row[name] = _s(v)
    flow = _original_profile(doc)
    prof = flow.get("caller_profile") if isinstance(flow.get("caller_profile"), dict) else {}
    assert isinstance(prof, dict)
    for k, v in prof.items():
        row[f"callflow.caller_profile.{k}"] = _s(v)
    times = flow.get("times") if isinstance(flow.get("times"), dict) else {}
    assert isinstance(times, dict)
    for k, v in times.items():
        row[f"callflow.times.{k}"] = _s(v)
    variables = doc.get("variables") if isinstance(doc.get("variables"), dict) else {}
    assert isinstance(variables, dict)
    if not row.get("callflow.times.created_time") or row["callflow.times.created_time"] == "0":
        row["callflow.times.created_time"] = _s(variables.get("start_uepoch"))
    # Answer and hangup are the call's, wherever a transfer left them (module docstring).
    for key, value in call_times(doc).items():
        row[f"callflow.times.{key}"] = value
    flows = doc.get("callflow")
    flows = flows if isinstance(flows, list) else [flows]
    has_originator = any(
        isinstance(f, dict)
        and isinstance(f.get("caller_profile"), dict)
        and "originator" in f["caller_profile"]
        for f in flows
    )
    row["leg_role"] = "b" if has_originator else "a"
    # The far end of the leg (sip_network_ip: the L3 peer; else sip_received_ip, the caller
    # profile's network_addr) is where the call came from on an inbound leg, and where it
    # went on an outbound one: a B-leg's far end is the next hop, its egress.
    far = next((v for v in (_s(variables.get("sip_network_ip")),
                            _s(variables.get("sip_received_ip")),
                            row.get("callflow.caller_profile.network_addr")) if v), None)
    outbound = _direction(doc, variables) == "outbound" or (
        _direction(doc, variables) is None and has_originator)
    row["leg.egress_ip" if outbound else "leg.ingress_ip"] = far
    row["leg.called_user"] = _called_user(variables)
    row["leg.a_leg_uuid"] = _a_leg_uuid(flows, variables) if has_originator else None
    return row


def _called_user(variables: dict[str, Any]) -> str | None:
    """The called number as the far end sent it: the R-URI user (``sip_req_user``), except
    on a call that came in through a registration gateway. sofia.c sets ``sip_gateway`` when
    the R-URI (``sip:<user>@<host>``, or a ``gw+<name>`` user / ``gw=`` parameter) is the
    Contact FreeSWITCH registered for that gateway: the carrier sends its INVITEs there, so
    the R-URI user is the gateway's contact user (``gw+carrierB``, or the account name), and
    the number it called is in To (what the gateway's ``extension = auto_to_user`` routes
    on). There the To user comes first. Either way a number wins over a name."""
    req, to = _s(variables.get("sip_req_user")), _s(variables.get("sip_to_user"))
    order = [to, req] if _s(variables.get("sip_gateway")) else [req, to]
    present = [v for v in order if v]
    return next((v for v in present if _NUMBER.match(v)), present[0] if present else None)


def _a_leg_uuid(flows: list[Any], variables: dict[str, Any]) -> str | None:
    """A B-leg's A-leg: ``originating_leg_uuid`` (switch_ivr_originate.c sets it on every
    leg it places for a session), else the uuid of the originator caller profile that
    switch_ivr_generate_json_cdr writes in the B-leg's callflow. Not ``call_uuid``: that is
    the channel's own uuid until a bridge sets it to the A-leg's (switch_ivr_bridge.c), and
    it goes back to its own when the bridge ends; a failover attempt that failed or a ring-all
    leg that lost the race (LOSE_RACE) never had the A-leg's."""
    if (v := _s(variables.get("originating_leg_uuid"))):
        return v
    for f in flows:
        prof = f.get("caller_profile") if isinstance(f, dict) else None
        orig = prof.get("originator") if isinstance(prof, dict) else None
        cps = orig.get("originator_caller_profiles") if isinstance(orig, dict) else None
        if isinstance(cps, dict):  # XML read: one nested element, or an older JSON layout
            cps = [cps]
        for cp in cps if isinstance(cps, list) else []:
            if isinstance(cp, dict) and (u := _s(cp.get("uuid"))):
                return u
    return None


_NUMBER = re.compile(r"^\+?[0-9]{3,}$")


def _direction(doc: dict[str, Any], variables: dict[str, Any]) -> str | None:
    """The leg's direction as FreeSWITCH wrote it (channel_data, else variables), if at all."""
    data = doc.get("channel_data") if isinstance(doc.get("channel_data"), dict) else {}
    assert isinstance(data, dict)
    for v in (data.get("direction"), variables.get("direction")):
        if v in ("inbound", "outbound"):
            return str(v)
    return None


def document_frames(order: list[tuple[int, bool]], rows: list[dict[str, Any]],
                    lines: list[int], raws: list[str], rej: list[tuple[int, str, str]]
                    ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The read documents as the reader's frames: one row per CDR document (its flattened
    fields as text, its record number and raw text) and the rejects. ``order`` lists every
    document's starting line and whether it was read, in file order: where one line holds
    several documents, they are numbered by document (:func:`_numbered_by_document`). Shared
    by the JSON and the XML reader (fsxml.py)."""
    starts = [line for line, _ in order]
    if len(set(starts)) < len(starts):
        lines, rej = _numbered_by_document(order, lines, rej)
    columns = sorted({k for r in rows for k in r})
    data: dict[str, Any] = {c: [r.get(c) for r in rows] for c in columns}
    frame = pl.DataFrame(data, schema={c: pl.String for c in columns})
    frame = frame.with_columns(
        pl.Series(LINE, lines, dtype=pl.Int64), pl.Series(RAW, raws, dtype=pl.String)
    )
    rejects = pl.DataFrame(
        {LINE: [r[0] for r in rej], REASON: [r[1] for r in rej], RAW: [r[2] for r in rej]},
        schema={LINE: pl.Int64, REASON: pl.String, RAW: pl.String},
    )
    return frame, rejects


def _numbered_by_document(order: list[tuple[int, bool]], lines: list[int],
                          rej: list[tuple[int, str, str]]
                          ) -> tuple[list[int], list[tuple[int, str, str]]]:
    """Record numbers for a file where a line holds several documents (a JSON array on one
    line, ``{...}{...}``): each document's (or reject's) 1-based place in the file. Start
    lines would give two documents one number, hence one leg_id, and the second would count
    as a duplicate of the first (DESIGN §7: nothing is dropped silently). A reject's reason
    names the line it starts on."""
    doc_nos: list[int] = []
    rej_nos: list[int] = []
    for n, (_, is_row) in enumerate(order, start=1):
        (doc_nos if is_row else rej_nos).append(n)
    assert len(doc_nos) == len(lines) and len(rej_nos) == len(rej)
    rej = [(n, f"{reason} (document {n}, starting on line {line})", raw)
           for n, (line, reason, raw) in zip(rej_nos, rej, strict=True)]
    return doc_nos, rej


def document_text(path: Path) -> str:
    """A document file's text: UTF-8, else Latin-1 (every byte a character: nothing is lost
    for the raw record). A UTF-8 byte-order mark (a file saved by a Windows editor, or
    collected from the HTTP POSTs by a tool that writes one) is skipped: it is no JSON or XML,
    and the whole file was one reject. It holds no line end, so line numbers stay."""
    raw_bytes = path.read_bytes()
    if raw_bytes.startswith(b"\xef\xbb\xbf"):
        raw_bytes = raw_bytes[3:]
    try:
        return raw_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return raw_bytes.decode("latin-1")


_CDR_KEYS = ("channel_data", "variables", "callflow")

_B64 = re.compile(r"^[A-Za-z0-9+/]{8,}={0,2}$")


def unescaped(text: str, opener: str) -> str:
    """The documents of a file FreeSWITCH wrote escaped, as plain text; other text as it is.
    ``opener`` is the first character of a plain document (``{`` JSON, ``<`` XML).

    mod_json_cdr.c / mod_xml_cdr.c: with a ``url`` and ``encode`` = true (or ``base64``) they
    POST ``cdr=`` + the escaped document (switch_url_encode of the one-line text, or its
    base64), and a CDR whose POST failed is written to ``err-log-dir`` (``<uuid>.cdr.json``,
    ``[a_]<uuid>.cdr.xml``) as that escaped text: the calls FreeSWITCH could not deliver are
    exactly those. Each such line (one document, with or without the ``cdr=`` of the form
    body) is decoded once, in place, line ends inside it made spaces, so that line numbers
    stay; the variables inside keep their own URL-encoding (encode-values, or the XML's),
    which :func:`_s` undoes as for any document. A line that is not what it seemed is left as
    it is: its reject says it is no document."""
    first = text.lstrip()[:1]
    if not first or first in "{[<":
        return text
    url_opener = f"%{ord(opener):02X}"
    lines = text.split("\n")
    for i, line in enumerate(lines):
        body = line.strip()
        body = body[4:] if body.startswith("cdr=") else body
        decoded = None
        if body[:3].upper() == url_opener:
            decoded = unquote(body)
        elif _B64.match(body):
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                decoded = base64.b64decode(body, validate=True).decode("utf-8")
        if decoded is not None and decoded.lstrip().startswith(opener):
            lines[i] = decoded.replace("\r", " ").replace("\n", " ")
    return "\n".join(lines)


def read_json_cdr(path: Path, wanted: frozenset[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    text = unescaped(document_text(path), "{")
    decoder = json.JSONDecoder()
    rows: list[dict[str, str | None]] = []
    lines: list[int] = []
    raws: list[str] = []
    rej: list[tuple[int, str, str]] = []
    # Each document's and each reject's place in the file, in order: (start line, is a row).
    order: list[tuple[int, bool]] = []
    pos = 0
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n,[]":
            pos += 1  # whitespace between documents, or a JSON array of documents
        if pos >= n:
            break
        line = text.count("\n", 0, pos) + 1
        try:
            doc, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            nxt = text.find("\n{", pos + 1)
            end = n if nxt < 0 else nxt + 1
            rej.append((line, f"not a valid JSON document: {e.msg} (line {e.lineno})",
                        text[pos:end].rstrip()))
            order.append((line, False))
            pos = end
            continue
        if not isinstance(doc, dict):
            rej.append((line, "a JSON value that is not a CDR object", text[pos:end]))
            order.append((line, False))
        elif not any(k in doc for k in _CDR_KEYS):
            # switch_ivr_generate_json_cdr always writes channel_data, variables and callflow:
            # an object with none of them is other JSON (a health check or an error reply in a
            # log of POST bodies), not a CDR that lost its times.
            rej.append((line, "a JSON object that is not a FreeSWITCH CDR document (none of "
                        + ", ".join(_CDR_KEYS) + ")", text[pos:end]))
            order.append((line, False))
        else:
            rows.append(flatten(doc, wanted))
            lines.append(line)
            raws.append(text[pos:end])
            order.append((line, True))
        pos = end
    return document_frames(order, rows, lines, raws, rej)


register_reader("freeswitch_json", read_json_cdr)
