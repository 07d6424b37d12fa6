"""Kamailio and OpenSIPS ``acc`` records (syslog lines and DB table exports), paired into calls.

Sources: Kamailio ``src/modules/acc`` (acc.c ``acc_log_request``, acc_logic.c, README:
``time_mode``, ``log_extra``/``db_extra``) and OpenSIPS ``modules/acc`` (acc.c, CDR mode);
research/cdr_formats.md §6-§7.

**Syslog** (after any syslog prefix): ``ACC: <event>: timestamp=<unix>[;<time attr>][;core
keys][;extras]`` with events ``request accounted``, ``transaction answered``, ``call missed``,
``request acknowledged`` (Kamailio and OpenSIPS transaction mode) and ``call ended``
(OpenSIPS CDR mode: one record per call with ``created``, ``call_start_time``, ``duration``,
``ms_duration``, ``setuptime``). ``time_mode`` (Kamailio): 0 ``timestamp`` only; 1 plus
``time_exten=<µs>``; 2 plus ``time_attr=<s.mmm>``; 3/4 plus ``time_attr=<time_format>`` in
local time / UTC. ``timestamp`` (unix seconds, UTC) is written in every mode and is the time
used; modes 1 and 2 add the sub-second part. Values are **not escaped**: a log_extra such as
``to=$hdr(To)`` writes ``to=<sip:...>;tag=abc``, so a line is split only before
``;name=`` where *name* is an acc key or an extra, never a SIP URI/header parameter
(:data:`URI_PARAMS`: ``tag``, ``user``, ``transport``, ...).

**DB export**: a CSV of the ``acc`` (or ``missed_calls``) table with its header: ``id, method,
from_tag, to_tag, callid, sip_code, sip_reason, time`` + one column per ``db_extra`` key
(Kamailio), + ``duration, ms_duration, setuptime, created`` (OpenSIPS). ``time`` is the server's
local time: the ingest needs ``--tz``.

**Pairing** (acc writes one record per *transaction*; read in the order acc accounted them,
whatever the file's order: :func:`_accounting_order`): records are grouped by Call-ID and
dialog tags (a BYE from the callee has the tags swapped). The first INVITE transaction of a
dialog is the call's leg: start = its time (OpenSIPS: ``created``, the INVITE's arrival;
Kamailio: the acc time, i.e. when the final reply was accounted — answer time for an answered
call, failure time for a missed one, so the profile's time basis is ``answer``), answered when
its code is 2xx, ended by the BYE of the same dialog. Re-INVITEs, ACK, PRACK, UPDATE, CANCEL and
the BYE are folded into that leg. Transactions of other methods (OPTIONS, REGISTER, MESSAGE,
...) and in-dialog requests whose INVITE is not in the file are rejected with that reason.

**Attempts**: an INVITE with the Call-ID and From tag of one that failed is the same call tried
again, never a new one (RFC 3261 §8.1.1.3, §12: a new call has a new Call-ID and From tag): a
serial fork (``t_relay()`` to the next destination in ``failure_route``, the failed branch
accounted as ``call missed`` with its own To tag; acc README ``log_missed_flag``,
``failed_transaction_flag``) or the retry after a 401/407 challenge. The call keeps one
inbound leg, that of the last attempt (the answered one, or the last failure when all
failed), as the Ribbon reader folds a call's non-final ATTEMPTs; the failed attempts are
folded into it, so that the matcher does not see two legs of one call. In OpenSIPS CDR mode
with missed calls (``do_accounting("log", "cdr|missed")``) the answered branch is the
``call ended`` record and the failed branches before it ``call missed`` INVITEs: folded into the
CDR the same way.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import polars as pl

from tracehop.ingest.carrier_records import Collected, physical_lines, read_text
from tracehop.ingest.formats import register_reader

SYSLOG_READER: Final = "sip_acc_syslog"
DB_READER: Final = "sip_acc_db"

_ACC: Final = re.compile(r"ACC: ([a-z][a-z ]*?): ")
#: Keys acc itself writes (both projects) and the default kamailio.cfg log_extra keys.
CORE_KEYS: Final = frozenset({
    "timestamp", "time_attr", "time_exten", "method", "from_tag", "to_tag", "call_id",
    "callid", "code", "sip_code", "reason", "sip_reason", "created", "call_start_time",
    "duration", "ms_duration", "setuptime", "src_user", "src_domain", "src_ip", "dst_ouser",
    "dst_user", "dst_domain",
})
#: SIP URI and header parameters (RFC 3261 §19.1.1, §20; RFC 3966; RFC 4904 tgrp; RFC 5626;
#: RFC 8224/8588 verstat): a ``;name=`` with one of these names is inside a value.
URI_PARAMS: Final = frozenset({
    "tag", "user", "transport", "lr", "maddr", "ttl", "branch", "received", "rport",
    "expires", "q", "phone-context", "isub", "postd", "gr", "ob", "reg-id", "+sip.instance",
    "npdi", "rn", "cic", "dtg", "tgrp", "trunk-context", "otg", "verstat", "privacy",
    "screen", "party", "id-type", "cause", "text", "counter", "index", "reason", "purpose",
    "handling", "info", "alg", "ppt", "x5u",
})
_KEY_AT: Final = re.compile(r";([A-Za-z_+][\w.+-]*)=")
IN_DIALOG: Final = frozenset({"BYE", "ACK", "PRACK", "UPDATE", "CANCEL", "INFO", "REFER",
                              "NOTIFY"})


def split_acc(body: str) -> dict[str, str]:
    """``k=v;k=v...`` -> dict, splitting only before keys (see the module docstring)."""
    cuts = [0]
    for m in _KEY_AT.finditer(body):
        name = m.group(1)
        if name in CORE_KEYS or name.lower() not in URI_PARAMS:
            cuts.append(m.start())
    out: dict[str, str] = {}
    for a, b in zip(cuts, [*cuts[1:], len(body)], strict=True):
        part = body[a:b].lstrip(";")
        key, sep, value = part.partition("=")
        if sep:
            out.setdefault(key.strip(), value)
    return out


def _epoch_us(rec: dict[str, str]) -> int | None:
    """The record's acc time in µs since the epoch (UTC), per time_mode (module docstring)."""
    ts = rec.get("timestamp", "").strip()
    attr = rec.get("time_attr", "").strip()
    exten = rec.get("time_exten", "").strip()
    try:
        base = int(float(ts)) * 1_000_000 if ts else None
    except ValueError:
        base = None
    if re.fullmatch(r"\d+\.\d+", attr):  # time_mode 2: seconds.milliseconds
        return round(float(attr) * 1_000_000)
    if base is not None and exten.isdigit():  # time_mode 1: + microseconds
        return base + int(exten)
    if base is None and attr.isdigit():
        return int(attr) * 1_000_000
    return base


@dataclass
class _Tx:
    """One accounted transaction."""

    line: int
    raw: str
    event: str
    fields: dict[str, str]
    method: str
    callid: str
    ftag: str
    ttag: str
    code: str
    time_us: int | None = None  # syslog: UTC µs
    time_local: str | None = None  # DB: local DATETIME text


@dataclass
class _Call:
    invite: _Tx
    end: _Tx | None = None
    folded: list[_Tx] = field(default_factory=list)


def _tx(line: int, raw: str, event: str, f: dict[str, str]) -> _Tx:
    return _Tx(
        line=line, raw=raw, event=event, fields=f,
        method=(f.get("method") or "").strip().upper(),
        callid=(f.get("call_id") or f.get("callid") or "").strip(),
        ftag=(f.get("from_tag") or "").strip(),
        ttag=(f.get("to_tag") or "").strip(),
        code=(f.get("code") or f.get("sip_code") or "").strip(),
    )


def _accounting_order(txs: list[_Tx], local: bool) -> list[_Tx]:
    """The transactions in the order acc accounted them, whatever order the file has: a DB
    export sorted newest first (``ORDER BY time DESC``, a GUI's default) or syslog files
    concatenated newest first (``cat acc.log acc.log.1``) put each BYE above its INVITE, which
    then could not pair. DB rows: by ``id`` (auto-increment, the insertion order) when every
    row has a numeric one, else by their ``time``; syslog: by the acc timestamp. Ties keep the
    file's order."""
    if not local:
        return sorted(txs, key=lambda t: (t.time_us or 0, t.line))
    ids = [(t.fields.get("id") or "").strip() for t in txs]
    if ids and all(i.isdigit() for i in ids):
        ranks = sorted(range(len(txs)), key=lambda k: (int(ids[k]), txs[k].line))
        return [txs[k] for k in ranks]
    return sorted(txs, key=lambda t: (t.time_local or "", t.line))


def _cdr(tx: _Tx) -> bool:
    """An OpenSIPS CDR-mode record: one record for the whole answered call."""
    return tx.event == "call ended" or bool(tx.fields.get("call_start_time") and
                                            tx.method == "INVITE")


def _pair(txs: list[_Tx], out: Collected, local: bool) -> None:
    calls: dict[tuple[str, str], _Call] = {}
    order: list[_Call] = []
    txs = _accounting_order(txs, local)
    # INVITEs first, then the requests within their dialogs: a CANCEL (report_cancels) is
    # accounted when its own 200 goes out, before the 487 of the INVITE it cancelled, so in
    # accounting order it comes before the INVITE that starts its call.
    txs = [t for t in txs if t.method == "INVITE"] + [t for t in txs if t.method != "INVITE"]
    for tx in txs:
        if _cdr(tx):
            # OpenSIPS CDR mode: the record is the whole call. With the "missed" flag too
            # (do_accounting("log", "cdr|missed")), each branch that failed before the one
            # answered is a "call missed" INVITE of the same Call-ID and From tag (a serial
            # fork in failure_route; OpenSIPS acc docs, do_accounting): attempts of this call,
            # folded into it ("Attempts"), as a later answered INVITE takes the failed ones.
            key = (tx.callid, tx.ftag)
            known = calls.get(key)
            if known is not None and not _cdr(known.invite) and not known.invite.code.startswith(
                    "2"):
                known.folded.append(known.invite)
                known.invite = tx
                continue
            c = _Call(tx)
            calls.setdefault(key, c)  # a later failed attempt is folded in as a re-INVITE
            order.append(c)
            continue
        if tx.method == "INVITE":
            key = (tx.callid, tx.ftag)
            known = calls.get(key)
            if known is not None and (known.invite.code.startswith("2") or
                                      (tx.ttag and tx.ttag == known.invite.ttag)):
                known.folded.append(tx)  # a re-INVITE within the dialog
                continue
            if known is not None:
                # The same INVITE (Call-ID and From tag) again after a failure: a serial fork
                # (failure_route relays it to the next destination; each failed branch may be
                # accounted as a missed call, with that branch's To tag) or a retry after a
                # 401/407 challenge. One call, one inbound leg: the later attempt stands for it
                # and the failed one is folded in (module docstring, "Attempts").
                known.folded.append(known.invite)
                known.invite = tx
                continue
            c = _Call(tx)
            calls[key] = c
            order.append(c)
            continue
        if tx.method in IN_DIALOG:
            c2 = calls.get((tx.callid, tx.ftag)) or calls.get((tx.callid, tx.ttag))
            if c2 is None:
                out.reject(tx.line, f"{tx.method} of a dialog whose INVITE is not in this file "
                           "(the call started in an earlier file?)", tx.raw)
            elif tx.method == "BYE" and c2.end is None:
                c2.end = tx
            else:
                c2.folded.append(tx)
            continue
        out.reject(tx.line, f"a transaction of method {tx.method or '(none)'}, not a call "
                   "(only INVITE dialogs are call legs)", tx.raw)
    for c in order:
        inv = c.invite
        f = dict(inv.fields)
        row: dict[str, str | None] = {k: (v.strip() or None) for k, v in f.items()}
        row["method"] = inv.method
        row["call_id"] = inv.callid or None
        row["code"] = inv.code or None
        answered = inv.code.startswith("2")
        if local:
            row["start_local"] = (f.get("created") or inv.time_local or "").strip() or None
            row["answer_local"] = inv.time_local if answered else None
            row["end_local"] = (c.end.time_local if c.end else _plus(inv.time_local, f.get(
                "duration"))) if answered else inv.time_local
        else:
            start = _created_us(f) or inv.time_us
            answer = inv.time_us if answered else None
            end = (c.end.time_us if c.end else None) if answered else inv.time_us
            if inv.event == "call ended" or f.get("call_start_time"):
                answer, end = _cdr_mode(f, answered)
            row["start_us"] = None if start is None else str(start)
            row["answer_us"] = None if answer is None else str(answer)
            row["end_us"] = None if end is None else str(end)
        out.add(inv.line, inv.raw, row)
    out.rejects.sort(key=lambda r: r[0])


def _plus(local: str | None, seconds: str | None) -> str | None:
    """OpenSIPS DB rows accounted at BYE carry ``duration``: end = time + duration."""
    if not local or not seconds or not seconds.strip().isdigit():
        return None
    try:
        t = datetime.strptime(local.strip()[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return (t + timedelta(seconds=int(seconds))).strftime("%Y-%m-%d %H:%M:%S")


def _created_us(f: dict[str, str]) -> int | None:
    v = (f.get("created") or "").strip()
    return int(float(v) * 1_000_000) if re.fullmatch(r"\d+(\.\d+)?", v) else None


def _cdr_mode(f: dict[str, str], answered: bool) -> tuple[int | None, int | None]:
    """OpenSIPS CDR mode: answer = call_start_time; end = answer + ms_duration (else duration)."""
    cst = (f.get("call_start_time") or "").strip()
    if not answered or not re.fullmatch(r"\d+(\.\d+)?", cst):
        created = _created_us(f)
        setup = (f.get("setuptime") or "").strip()
        end = created + int(setup) * 1_000_000 if created is not None and setup.isdigit() else None
        return None, end
    ans = int(float(cst) * 1_000_000)
    ms = (f.get("ms_duration") or "").strip()
    dur = (f.get("duration") or "").strip()
    if ms.isdigit():
        return ans, ans + int(ms) * 1_000
    if dur.isdigit():
        return ans, ans + int(dur) * 1_000_000
    return ans, None


def read_syslog(path: Path, wanted: frozenset[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    out = Collected()
    txs: list[_Tx] = []
    for no, line in physical_lines(read_text(path)):
        if not line.strip():
            continue
        m = _ACC.search(line)
        if m is None:
            out.reject(no, "not an acc record: no 'ACC: <event>: ' in the line", line)
            continue
        f = split_acc(line[m.end():])
        tx = _tx(no, line, m.group(1), f)
        # OpenSIPS CDR-mode records carry created= instead of timestamp=.
        tx.time_us = _epoch_us(f) or _created_us(f)
        if tx.time_us is None:
            written = f.get("timestamp", "").strip() or f.get("created", "").strip()
            # A value that is there but is no number is named (it said "no timestamp").
            out.reject(no, f"the acc record's unix 'timestamp' {written[:30]!r} is not a "
                       "number of seconds" if written else "no unix 'timestamp' in the acc "
                       "record (a formatted time_attr alone does not say its zone)", line)
            continue
        txs.append(tx)
    _pair(txs, out, local=False)
    return _frames(out, ("start_us", "answer_us", "end_us"))


def read_db(path: Path, wanted: frozenset[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    out = Collected()
    # A UTF-8 byte-order mark before the header (MySQL Workbench, DBeaver and Excel's "CSV
    # UTF-8" write one) made the first column '\ufeffid', so rows lost their id order.
    text = read_text(path).removeprefix("\ufeff")
    head = text.split("\n", 1)[0]
    delim = max((",", ";", "\t", "|"), key=head.count)
    lines = list(physical_lines(text))
    header = next(csv.reader([lines[0][1]], delimiter=delim)) if lines else []
    names = [h.strip().strip('"').lower() for h in header]
    txs: list[_Tx] = []
    for no, line in lines[1:]:
        if not line.strip():
            continue
        values = next(csv.reader(io.StringIO(line), delimiter=delim), [])
        if len(values) != len(names):
            out.reject(no, f"expected {len(names)} fields separated by {delim!r} (the "
                       f"header's), found {len(values)}", line)
            continue
        # SQL NULL as the export tool spells it: NULL (phpMyAdmin, the mysql client's --batch),
        # \N (SELECT ... INTO OUTFILE, mysqldump --tab, PostgreSQL's COPY text format). A \N
        # was kept as a value: an R-URI user, an egress trunk, a tag.
        f = {k: ("" if v.upper() == "NULL" or v == "\\N" else v)
             for k, v in zip(names, values, strict=True)}
        tx = _tx(no, line, "db", f)
        tx.time_local = (f.get("time") or "").strip() or None
        if tx.time_local is None:
            out.reject(no, "no 'time' value in the acc row", line)
            continue
        txs.append(tx)
    _pair(txs, out, local=True)
    return _frames(out, ("start_local", "answer_local", "end_local"))


def _frames(out: Collected, times: tuple[str, ...]) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows, rejects = out.frames()
    for c in (*times, "src_user", "src_ip", "src_domain", "dst_user", "dst_ouser", "dst_domain",
              "call_id", "code", "reason", "sip_reason", "method", "from_tag", "to_tag"):
        if c not in rows.columns:
            rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    return rows.sort("_line"), rejects


register_reader(SYSLOG_READER, read_syslog)
register_reader(DB_READER, read_db)
