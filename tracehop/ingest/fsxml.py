"""FreeSWITCH ``mod_xml_cdr`` documents, read into the same columns as mod_json_cdr's.

mod_xml_cdr is FreeSWITCH's other per-leg CDR writer (``<log-dir>/xml_cdr/<uuid>.cdr.xml``,
``a_<uuid>.cdr.xml`` with ``prefix-a-leg``, or HTTP POSTs), and the one FusionPBX and many
billing set-ups use. Such a file used to fail detection ("no known CDR layout fits it", with
the advice to write a CSV profile, which cannot read XML). Its content is the JSON document's
(switch_ivr.c ``switch_ivr_generate_xml_cdr`` beside ``switch_ivr_generate_json_cdr``):

* ``<cdr core-uuid=".." switchname="..">``: attributes here, keys in JSON;
* ``<channel_data>``, ``<variables>``: one child element per key (variables URL-encoded);
* one ``<callflow dialplan=".." profile_index="..">`` per caller profile, newest first, each
  with ``<caller_profile>`` (``<originator>``/``<originatee>`` nested in it) and ``<times>``.

Each document is turned into the dict mod_json_cdr would have written and flattened by
:func:`tracehop.ingest.fsjson.flatten`, so that the ``freeswitch_xml_cdr`` profile maps the
same columns as ``freeswitch_json_cdr`` and both give the same legs for one call. A file may
hold several documents (POSTs collected into one file), each with or without its own
``<?xml ...?>`` declaration; a document that does not parse is that record's reject.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import polars as pl

from tracehop.ingest.formats import register_reader
from tracehop.ingest.fsjson import document_frames, document_text, flatten, unescaped

READER = "freeswitch_xml"

_START = re.compile(r"<cdr[\s>]")
_END = "</cdr>"


def _leaves(el: ET.Element | None) -> dict[str, Any]:
    """An element's children as ``{tag: text}`` (None when empty, as mod_json_cdr leaves out
    empty variables); a child with children of its own (``originator``) as a dict."""
    if el is None:
        return {}
    return {c.tag: ({} if len(c) else c.text) for c in el}


def _caller_profile(cp: ET.Element) -> dict[str, Any]:
    """A ``<caller_profile>`` as mod_json_cdr writes it. switch_ivr_generate_xml_cdr nests
    ``<originator><originator_caller_profile>..</originator_caller_profile></originator>``
    (and ``originatee``) where the JSON has ``{"originator": {"originator_caller_profiles":
    [..]}}``: kept the JSON way, so that a B-leg's A-leg uuid is read from either."""
    prof = _leaves(cp)
    for tag in ("originator", "originatee"):
        if (el := cp.find(tag)) is not None:
            prof[tag] = {f"{tag}_caller_profiles": [
                _leaves(c) for c in el if c.tag == f"{tag}_caller_profile"]}
    return prof


def document(root: ET.Element) -> dict[str, Any]:
    """The mod_json_cdr document that ``root`` (a ``<cdr>`` element) holds."""
    doc: dict[str, Any] = {
        "core-uuid": root.get("core-uuid"),
        "switchname": root.get("switchname"),
        "channel_data": _leaves(root.find("channel_data")),
        "variables": _leaves(root.find("variables")),
    }
    flows: list[dict[str, Any]] = []
    for cf in root.findall("callflow"):
        flow: dict[str, Any] = dict(cf.attrib)
        if (cp := cf.find("caller_profile")) is not None:
            flow["caller_profile"] = _caller_profile(cp)
        if (times := cf.find("times")) is not None:
            flow["times"] = _leaves(times)
        flows.append(flow)
    doc["callflow"] = flows
    return doc


def read_xml_cdr(path: Path, wanted: frozenset[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    # A backup of a failed POST, or the POST body, escaped (fsjson.unescaped).
    text = unescaped(document_text(path), "<")
    rows: list[dict[str, str | None]] = []
    lines: list[int] = []
    raws: list[str] = []
    rej: list[tuple[int, str, str]] = []
    order: list[tuple[int, bool]] = []
    pos = 0
    while (m := _START.search(text, pos)) is not None:
        start = m.start()
        line = text.count("\n", 0, start) + 1
        close = text.find(_END, start)
        nxt = _START.search(text, m.end())
        if close < 0 or (nxt is not None and nxt.start() < close):
            # No closing tag before the next document: cut short (a file copied while it was
            # written), that document's reject.
            end = nxt.start() if nxt is not None else len(text)
            rej.append((line, "not a whole XML CDR document (no </cdr>: cut short?)",
                        text[start:end].rstrip()))
            order.append((line, False))
            pos = end
            continue
        end = close + len(_END)
        block = text[start:end]
        try:
            root = ET.fromstring(block)
        except ET.ParseError as e:
            rej.append((line, f"not a valid XML CDR document: {e}", block))
            order.append((line, False))
        else:
            rows.append(flatten(document(root), wanted))
            lines.append(line)
            raws.append(block)
            order.append((line, True))
        pos = end
    if not order:
        rej.append((1, "no <cdr> document in the file", text[:200]))
        order.append((1, False))
    return document_frames(order, rows, lines, raws, rej)


register_reader(READER, read_xml_cdr)
