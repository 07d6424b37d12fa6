"""Evidence packs: what a person checks in a minute before submitting an answer.

One directory per answer (optionally zipped), named ``NNNNN-<reference or called number>``
(NNNNN: the inquiry's place in the batch, from 00001), holding:

    portal.txt        the answer in plain ASCII text, ready to paste into the consortium's portal,
                      with the answer's warnings and the windows actually searched
    answer.json       the TracebackAnswer exactly as ``respond`` wrote it
    record.txt        the matched record as it stands in the source: the CDR line or the SIP
                      INVITE (the leg's ``raw_record``), byte for byte as ingested
    leg.json          the same leg after normalisation (all call-leg columns)
    passport.json     the decoded STIR/SHAKEN PASSporT (RFC 8225 header and claims, RFC 8224
                      Identity header parameters); not verified here, only decoded
    searched.json     the windows that were searched (from/to, the step that found the call,
                      every step tried) and the inquiry as understood
    README.txt        what each file is and how to check the digests
    MANIFEST.sha256   SHA-256 of every file above, in ``sha256sum -c`` format

The pack's digest is the SHA-256 of MANIFEST.sha256: one value to quote in a ticket.

One evidence directory per run: packs are numbered from 00001 in every run, so a run refuses
(:func:`check_evidence_dir`, before anything is written) a directory that already holds packs,
and :func:`write_pack` never replaces one. The evidence of an answer already given is never
lost.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import textwrap
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from tracehop.answer import OTHER_CALL_WARNINGS, OTHER_CALLING
from tracehop.errors import ConfigError

PACK_FILES = ("portal.txt", "answer.json", "record.txt", "leg.json", "passport.json",
              "searched.json", "README.txt")


class SnapshotSource(Protocol):
    """The part of :class:`tracehop.store.Store` the pack needs."""

    def snapshot(self) -> Any: ...


@dataclass(frozen=True)
class Pack:
    path: Path  # the directory (or the .zip when zipped)
    digest: str  # sha256 of MANIFEST.sha256


def fetch_legs(store: SnapshotSource, refs: Sequence[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """Read the full rows (raw_record included) of the matched legs, in one scan.

    ``refs`` are (leg_id, start_utc ISO) pairs; the start times bound the day files opened.
    """
    if not refs:
        return {}
    starts = [datetime.fromisoformat(s.replace("Z", "+00:00")) for _, s in refs]
    snap = store.snapshot()
    files: list[str] = snap.files_for(min(starts) - timedelta(seconds=1),
                                      max(starts) + timedelta(seconds=1))
    if not files:
        return {}
    ids = sorted({leg for leg, _ in refs})
    df = (pl.scan_parquet(files)
          .filter(pl.col("leg_id").is_in(ids))
          .collect())
    return {row["leg_id"]: row for row in df.iter_rows(named=True)}


def decode_passport(identity: str | None, verified: bool | None = None) -> dict[str, Any]:
    """The PASSporT of an RFC 8224 Identity header, decoded for a person to read.

    Decoding is :func:`tracehop.sip.passport.decode_identity` (the one the SIP ingest uses);
    ``verified`` is the leg's ``stir_verified`` as the ingest recorded it.
    """
    from tracehop.sip.passport import decode_identity

    if not identity:
        return {"present": False,
                "note": "the matched record carries no Identity header: no PASSporT (a CDR "
                        "keeps none; an INVITE without one was not signed)"}
    # An INVITE may carry several Identity headers (a forwarded call: a "div" PASSporT beside
    # the "shaken" one); the ingest keeps them one per line and reads the first "shaken" one,
    # else the first (sip/dialogs.py). Decoding the lines as one token showed the div
    # PASSporT (no attestation, a garbled ppt) beside the shaken one's verification result.
    infos = ([decode_identity(v) for v in identity.split("\n") if v.strip()]
             or [decode_identity(identity)])
    info = next((i for i in infos if (i.ppt or "").lower() == "shaken"), infos[0])
    others = [i for i in infos if i is not info]
    # Said in words: a bare ``null`` read to a person checking the pack as "no problem found",
    # when it means the signature was never checked.
    signature = ("MALFORMED: the Identity header could not be decoded as a PASSporT (see "
                 "problems), so no signature can be checked"
                 if not info.header or not info.claims else
                 "verified at ingest: the signature checks against the x5u certificate"
                 if verified else
                 "FAILED verification at ingest: the signature, the certificate or the claims "
                 "did not check out" if verified is False else
                 "not verified: the ingest had no certificate to check it against (ingest "
                 "with --cert-dir to verify); decoded only")
    out = {
        "present": True,
        "identity_raw": info.raw,
        "params": {"info": info.info, "alg": info.alg, "ppt": info.ppt},
        "header": info.header or None,
        "payload": info.claims or None,
        "attest": info.attest,
        "origid": info.origid,
        "orig_tn": info.orig_tn,
        "dest_tn": info.dest_tn,
        "iat_utc": info.iat_utc.isoformat() if info.iat_utc else None,
        "x5u": info.x5u,
        "verified_at_ingest": verified,
        "signature": signature,
        "problems": info.problems,
    }
    if others:  # decoded, never verified at ingest (only the main one is)
        out["other_passports"] = [
            {"identity_raw": o.raw, "params": {"info": o.info, "alg": o.alg, "ppt": o.ppt},
             "header": o.header or None, "payload": o.claims or None,
             "problems": o.problems} for o in others]
    return out


def portal_text(answer: dict[str, Any]) -> str:
    """The answer as plain sentences, for the consortium's web form.

    The answer's warnings are part of it (time read as UTC, an ambiguous match and who else
    fits, a match found only by widening, a late answer, an RMD flag): whoever pastes it must
    see them, so they come right after the result.
    """
    return "".join(_portal_safe(line) + "\n" for line in _portal_lines(answer))


#: Typography the answer's own sentences use, as the ASCII a web form keeps intact.
_ASCII = str.maketrans({"\u00b1": "+/-", "\u2013": "-", "\u2014": "-", "\u2018": "'",
                        "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2026": "...",
                        "\u2192": "->", "\u00d7": "x", "\u2264": "<=", "\u2265": ">="})


def _portal_safe(line: str) -> str:
    """One line of the text as plain ASCII, on one line.

    The requirement is plain text, ready to paste: a character outside ASCII (the windows'
    "\u00b1120s", an accented reference) is not sure to survive a web form, its exports or a
    ticket's e-mail, so "\u00b1" is "+/-", accents lose their marks (é -> e) and any
    other character is "?". A line break or tab inside a value (an inquiry id, a trunk name
    from a CDR) is a space: a reference "R1<newline>Result: ..." put a forged line of its own
    in the text a person pastes. Only the text's own line breaks remain.
    """
    if line.isascii() and line.isprintable():
        return line
    line = unicodedata.normalize("NFKD", line.translate(_ASCII))
    return "".join(c if " " <= c <= "~" else " " if c.isspace() else "?"
                   for c in line if not unicodedata.combining(c))


def _portal_lines(answer: dict[str, Any]) -> list[str]:
    inq = answer.get("inquiry", {})
    lines = ["Traceback response", ""]
    if answer.get("error"):
        err = answer["error"]
        lines.append(f"Inquiry line {err.get('line')}: could not be searched.")
        # Which inquiry, as it was given: a line number alone cannot be matched to the
        # portal's ticket when the reference is what the portal shows.
        for key, label in (("id", "Reference"), ("called_raw", "Called number (as given)"),
                           ("time_raw", "Call date/time (as given)")):
            if inq.get(key):
                lines.append(f"{label}: {inq[key]}")
        lines.append(f"Reason: {err.get('reason')}")
        if err.get("hint"):
            lines.append(f"Fix: {err['hint']}")
        # warnings[0] repeats the reason; any others (e.g. about the row) still matter
        lines += _warning_lines([w for w in answer.get("warnings") or []
                                 if not str(w).startswith("rejected:")])
        return lines
    lines.append(f"Called number: {inq.get('called')}")
    if inq.get("calling"):
        lines.append(f"Calling number: {inq.get('calling')}")
    lines.append(f"Call date/time (UTC): {inq.get('time_utc')}")
    if inq.get("id"):
        lines.append(f"Reference: {inq['id']}")
    lines.append("")
    st = answer.get("status")
    up = answer.get("upstream") or {}
    cu = answer.get("customer") or {}
    via = _via(up.get("trunk"), up.get("ip"))
    ocn = f" (OCN {up['ocn']})" if up.get("ocn") else ""
    if st == "upstream":
        lines.append(f"Result: we received this call from {up.get('provider')}{ocn}"
                     + (f" over {via}" if via else "") + ".")
    elif st == "point_of_entry":
        lines.append("Result: the call entered the United States through our network; it "
                     f"came from the foreign provider {up.get('provider')}{ocn}"
                     + (f" over {via}" if via else "") + ".")
    elif st == "originating":
        who = cu.get("name") or "our customer"
        acct = f" (account {cu['account']})" if cu.get("account") else ""
        lines.append(f"Result: we are the originating provider; the call came from our "
                     f"customer {who}{acct}.")
    elif st == "unmapped":
        lines.append("Result: we have a record of this call, received"
                     + (f" over {via}" if via else "")
                     + "; the ingress is not yet mapped to a provider (under review).")
    elif st == "ambiguous":
        lines.append("Result: AMBIGUOUS - more than one call fits, or the call found does not "
                     "agree with the inquiry; review before naming anyone.")
        if cu:
            best = (f"our customer {cu.get('name') or '(unnamed)'}"
                    + (f" (account {cu['account']})" if cu.get("account") else ""))
        elif up.get("provider"):
            best = f"{up['provider']}{ocn}" + (f" over {via}" if via else "")
        else:
            best = "an ingress mapped to no provider" + (f" ({via})" if via else "")
        lines.append(f"Best fit: {best}.")
        for alt in answer.get("alternatives") or []:
            lines.append(f"Also fits: a call at {alt.get('start_utc')} "
                         f"({_offset(alt.get('offset_s'))} from the time given) from "
                         f"{_hand_off(alt)}.")
    else:
        lines.append("Result: no record of this call in the window searched around the time "
                     "given, nor in the wider windows listed below.")
    if up.get("contact"):
        lines.append(("Provider contact (best fit): " if st == "ambiguous"
                      else "Provider contact: ") + up["contact"])
    warnings = [str(w) for w in answer.get("warnings") or []]
    # DESIGN §7 / docs/decisions.md: the portal text names other calls' hand-offs, never
    # their numbers. A warning about other calls goes out as its sentence alone (as over
    # HTTP), and a match from another calling number (most likely another call) keeps its
    # time and hand-off but not its caller or Call-ID: both were pasted into the portal.
    other_call = any(w.startswith(OTHER_CALLING) for w in warnings)
    lines += _warning_lines([next((s for s in OTHER_CALL_WARNINGS if w.startswith(s)), w)
                             for w in warnings])
    m = answer.get("match")
    if m:
        ev = m.get("evidence") or {}
        calling = ("(withheld: another calling number than the inquiry's)" if other_call
                   else m.get("calling_raw") or "(none recorded)")
        lines += ["", f"Our record: call start {m.get('start_utc')} "
                      f"({m.get('offset_s')} s from the time given)",
                  # a record without a calling number said "calling None"
                  f"  called {m.get('called_raw') or '(none recorded)'}, calling {calling}"
                  + (f", Call-ID {m['call_id']}" if m.get("call_id") and not other_call
                     else ""),
                  "  " + (f"source {ev['source']}: " if ev.get("source") else "")
                  + f"{ev.get('file')} record {ev.get('record')}"]
        stir = m.get("stir") or {}
        if any(stir.get(k) for k in ("attest", "origid", "signer_spc")):
            lines.append(f"  STIR/SHAKEN: attestation {stir.get('attest') or '-'}, origid "
                         f"{stir.get('origid') or '-'}, signer {stir.get('signer_spc') or '-'}")
    s = answer.get("searched") or {}
    if s:
        lines += ["", *_searched_lines(s, inq.get("time_utc"), found=bool(m))]
    lines.append(f"Confidence: {answer.get('confidence')}")
    dl = answer.get("deadline")
    if dl:
        lines.append(f"Received: {dl.get('received_utc')}; due by {dl.get('deadline_utc')}")
    return lines


def _via(trunk: Any, ip: Any) -> str:
    return ", ".join(x for x in (f"trunk {trunk}" if trunk else "",
                                 f"IP {ip}" if ip else "") if x)


def _offset(offset_s: Any) -> str:
    return f"{offset_s:+.1f} s" if isinstance(offset_s, int | float) else "? s"


def _hand_off(m: dict[str, Any]) -> str:
    """Who handed over a runner-up call: its peer, else its unmapped ingress."""
    via = _via(m.get("ingress_trunk"), m.get("ingress_ip"))
    who = m.get("provider") or "an ingress mapped to no provider"
    return (who + (f" over {via}" if via else "")
            + (f" (account {m['account']})" if m.get("account") else ""))


def _warning_lines(warnings: Sequence[Any]) -> list[str]:
    if not warnings:
        return []
    out = ["", "Warnings (read before submitting):"]
    for w in warnings:
        out += textwrap.wrap(str(w), width=78, initial_indent="- ", subsequent_indent="  ",
                             break_long_words=False, break_on_hyphens=False)
    return out


def _searched_lines(s: dict[str, Any], around: Any, *, found: bool) -> list[str]:
    """Where it looked: one range when it was searched whole, else each window (past ±15 min
    only ±window around each whole-hour offset is searched, not the hours between)."""
    from tracehop.answer import Searched

    known = {k: s[k] for k in ("from_utc", "to_utc", "step", "steps_tried") if k in s}
    try:
        searched = Searched(**known)
    except TypeError:  # not an answer tracehop wrote: say what it holds
        return [f"Window searched: {s.get('from_utc')} to {s.get('to_utc')} ({s.get('step')})"]
    if searched.continuous:
        return [f"Window searched: {searched.from_utc} to {searched.to_utc} ({searched.step})"]
    out = [f"Windows searched around {around}, and only these (not the time between them):"]
    out += [f"  {w}" for w in searched.windows()]
    out.append(f"Found in: {searched.found_window()}." if found
               else "Not found in any of them.")
    return out


def write_pack(root: str | Path, name: str, answer: dict[str, Any],
               leg: dict[str, Any] | None, *, zip_pack: bool = False) -> Pack:
    """Write one pack under ``root/name``; returns its path and digest.

    Raises :class:`~tracehop.errors.ConfigError` when ``root/name`` (or its .zip) exists:
    a pack is never overwritten.
    """
    d = Path(root) / name
    archive = d.with_name(d.name + ".zip")
    taken = d if d.exists() else archive if archive.exists() else None
    if taken is not None:
        raise ConfigError(f"evidence pack {taken} already exists: the evidence of an answer "
                          "already given is never overwritten",
                          hint="Use a new --evidence directory for this run")
    try:
        d.mkdir(parents=True)
    except FileExistsError:  # another run made it since the check above
        raise ConfigError(f"evidence pack {d} already exists: the evidence of an answer "
                          "already given is never overwritten",
                          hint="Use a new --evidence directory for this run") from None
    raw = (leg or {}).get("raw_record")
    if raw is None:
        ev = ((answer.get("match") or {}).get("evidence")) or {}
        record = ("(no record matched)\n" if not answer.get("match") else
                  f"(the ingest did not keep the raw record; it is at {ev.get('file')} "
                  f"record {ev.get('record')})\n")
    else:
        record = raw if raw.endswith("\n") else raw + "\n"
    if answer.get("match"):
        passport = decode_passport((leg or {}).get("identity_raw"),
                                   (leg or {}).get("stir_verified"))
    else:  # not "the matched leg carried no Identity header": there is no matched leg
        passport = {"present": False, "note": "no call matched this inquiry: no PASSporT"}
    files = {
        "portal.txt": portal_text(answer),
        "answer.json": json.dumps(answer, indent=2, ensure_ascii=False) + "\n",
        "record.txt": record,
        "leg.json": json.dumps(leg, indent=2, default=_json_default, ensure_ascii=False) + "\n",
        "passport.json": json.dumps(passport, indent=2, ensure_ascii=False) + "\n",
        "searched.json": json.dumps({"searched": answer.get("searched"),
                                     "inquiry": answer.get("inquiry")},
                                    indent=2, ensure_ascii=False) + "\n",
        "README.txt": _README,
    }
    manifest = []
    for fname in PACK_FILES:
        data = files[fname].encode()
        (d / fname).write_bytes(data)
        manifest.append(f"{hashlib.sha256(data).hexdigest()}  {fname}\n")
    mbytes = "".join(manifest).encode()
    (d / "MANIFEST.sha256").write_bytes(mbytes)
    digest = hashlib.sha256(mbytes).hexdigest()
    if zip_pack:
        zipped = shutil.make_archive(str(d), "zip", root_dir=d)
        shutil.rmtree(d)
        return Pack(Path(zipped), digest)
    return Pack(d, digest)


#: Names of the packs a run writes (``pack_name``), directories or zips.
_PACK_NAME = re.compile(r"^\d{5,}-")


def earlier_packs(root: str | Path) -> list[str]:
    """Names of the evidence packs already under ``root`` (from an earlier run), sorted."""
    d = Path(root)
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir() if _PACK_NAME.match(p.name))


def check_evidence_dir(root: str | Path) -> None:
    """Refuse an evidence directory that already holds packs, before a run writes anything.

    Packs are numbered from 00001 in every run, so a second run into the same directory
    would replace (or sit among) the packs of answers already given: one directory per run.
    """
    found = earlier_packs(root)
    if found:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise ConfigError(f"the evidence directory {root} already holds {len(found)} "
                          f"evidence pack(s) from an earlier run ({shown}); they are never "
                          "overwritten, and nothing was written",
                          hint="Use a new --evidence directory for each run (one per "
                               "day or per ticket, e.g. --evidence packs/2026-11-20)")


def pack_name(index: int, answer: dict[str, Any]) -> str:
    """``00001-<reference or called number>``: sortable, and safe as a file name."""
    inq = answer.get("inquiry") or {}
    label = str(inq.get("id") or inq.get("called") or inq.get("called_raw") or "inquiry")
    safe = re.sub(r"[^A-Za-z0-9+._-]+", "_", label)[:60]
    # Windows drops a name's trailing dots: "00001-R1." (or "00002-..") unzipped there is
    # another name than the one the run reported, or none at all ("00002-").
    return f"{index:05d}-{safe.rstrip('.') or '_'}"


def verify_pack(path: str | Path) -> list[str]:
    """Re-hash a pack (its directory, or its .zip) against its manifest; returns the files
    that differ, are missing, or are not in the manifest (sorted).

    A deleted file raised FileNotFoundError instead of being named, a file slipped into a
    pack passed unseen, and a zipped pack (``--zip``) could not be checked at all.
    """
    import zipfile

    p = Path(path)
    if p.is_file():
        with zipfile.ZipFile(p) as z:
            files = {n: z.read(n) for n in z.namelist() if not n.endswith("/")}
    else:
        files = {f.name: f.read_bytes() for f in p.iterdir() if f.is_file()}
    manifest = files.pop("MANIFEST.sha256", None)
    if manifest is None:
        return ["MANIFEST.sha256"]
    bad = set()
    for line in manifest.decode(errors="replace").splitlines():
        digest, _, fname = line.partition("  ")
        data = files.pop(fname, None)
        if data is None or hashlib.sha256(data).hexdigest() != digest:
            bad.add(fname)
    return sorted(bad | files.keys())


def _json_default(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    return str(v)


_README = """\
Evidence pack for one traceback answer (written by tracehop respond).

portal.txt       the answer in plain text, warnings included, for the traceback portal
answer.json      the answer as JSON (TracebackAnswer)
record.txt       the matched record as it stands in the source: the SIP INVITE as captured,
                 or the CDR line (a quoted line break inside it kept) ending in LF whatever
                 the file's line end; text is UTF-8 (a Latin-1 line re-encoded, an
                 INVITE's bytes that are not UTF-8 replaced)
leg.json         the same record after normalisation
passport.json    the decoded STIR/SHAKEN PASSporT (decoded, not verified)
searched.json    the time windows that were searched, and the inquiry as understood
MANIFEST.sha256  SHA-256 of each file; check with:  sha256sum -c MANIFEST.sha256

The pack's digest, one value to quote in a ticket, is the SHA-256 of MANIFEST.sha256:
    sha256sum MANIFEST.sha256
"""
