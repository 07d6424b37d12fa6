"""Which format is this file? Sniff its head and score every profile and registered format.

Each profile's ``[detect]`` section gives the evidence (docs/profiles.md): header names that
must be present, allowed field counts, regular expressions that the values of named columns
(or whole lines) match, file-name patterns, and a confidence. The score of a headerless CSV
profile is ``confidence x (share of sampled lines with an allowed field count) x (mean share of
non-empty values matching each column regex)``; a header profile needs all its header names.
Whole-file formats (SIP captures, ...) answer with their own ``detect(head, path)``.

The best score wins when it is at least :data:`MIN_SCORE` and clearly ahead of the next
(:data:`TIE_MARGIN`); otherwise :class:`UnknownFormatError` names the file, the closest
candidates and the fix (``--format NAME``).
"""

from __future__ import annotations

import csv
import errno
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tracehop.errors import TracehopError, UnknownFormatError, UnreadableFileError
from tracehop.ingest.formats import registered_formats
from tracehop.ingest.profile import Dialect, Profile, builtin_profiles
from tracehop.ingest.readers import (
    _decode_line,
    _split_fields,
    skips_after_header,
    split_lenient,
)

HEAD_BYTES: Final = 64 << 10
SAMPLE_LINES: Final = 50
MIN_SCORE: Final = 0.5
TIE_MARGIN: Final = 0.02
FILENAME_BONUS: Final = 0.05

#: File signatures of things people attach by mistake (RFC 2083, JFIF, PDF).
_MAGIC: Final = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"%PDF": "a PDF document",
}

#: The start of an HTML page (after a byte-order mark, white space and comments).
_HTML: Final = re.compile(rb"(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>]",
                          re.IGNORECASE | re.DOTALL)

#: Compressed or archived exports: signature (a regex of the first bytes) -> (what it is,
#: the command that unpacks it). bzip2's "BZh" is followed by its block size, 1-9.
_PACKED: Final = {
    re.compile(rb"PK\x03\x04"): ("a ZIP archive", "unzip"),
    re.compile(rb"\x1f\x8b"): ("gzip", "gunzip"),
    re.compile(rb"BZh[1-9]"): ("bzip2", "bunzip2"),
    re.compile(rb"\xfd7zXZ\x00"): ("xz", "unxz"),
    re.compile(rb"\x28\xb5\x2f\xfd"): ("zstd", "unzstd"),
}

#: The signature of an OLE2 compound file: Excel 97-2003 (.xls) and other old Office files.
_OLE2: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _spreadsheet(head: bytes, path: Path) -> str | None:
    """What kind of spreadsheet ``head`` starts, or None. An Excel workbook (.xlsx) and an
    OpenDocument one (.ods) are ZIP files whose part names (``xl/...``) or mimetype lie in the
    first bytes; an .xls is an OLE2 file whose directory names its "Workbook" stream."""
    if head.startswith(b"PK\x03\x04"):
        if b"opendocument.spreadsheet" in head or path.suffix.lower() == ".ods":
            return "an OpenDocument spreadsheet (.ods)"
        if b"xl/" in head or path.suffix.lower() in (".xlsx", ".xlsm"):
            return "an Excel spreadsheet (.xlsx)"
    elif head.startswith(_OLE2) and (
            "Workbook".encode("utf-16-le") in head or path.suffix.lower() == ".xls"):
        return "an Excel 97-2003 spreadsheet (.xls)"
    return None


#: Byte-order marks of text in an encoding other than UTF-8 (UTF-32 first: its little-endian
#: mark starts with UTF-16's). Excel's "Unicode text" export is UTF-16LE with a BOM.
_BOMS: Final = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


@dataclass(frozen=True)
class Candidate:
    name: str
    score: float


def _head_lines(head: bytes) -> list[str]:
    if b"\n" not in head and b"\r" in head:
        head = head.replace(b"\r", b"\n")
    parts = head.split(b"\n")
    if len(head) >= HEAD_BYTES and len(parts) > 1:
        parts = parts[:-1]  # cut by the head window
    return [_decode_line(p.rstrip(b"\r"))[0] for p in parts]


def _share(values: list[str], regex: str) -> float:
    vals = [v for v in values if v.strip()]
    if not vals:
        return 0.5  # no evidence either way (an always-empty column)
    rx = re.compile(regex)
    return sum(1 for v in vals if rx.search(v)) / len(vals)


def score_profile(profile: Profile, head: bytes, path: Path) -> float:
    """How well the head of a file fits ``profile``, from 0 to 1."""
    d = profile.detect
    if profile.reader != "csv":
        text = head.decode("utf-8", errors="replace")
        if d.line_regex and re.search(d.line_regex, text):
            score = d.confidence
        else:
            return 0.0
        return min(1.0, score + (FILENAME_BONUS if profile.filename_matches(str(path)) else 0))
    dialect = profile.dialect
    lines = _head_lines(head)[dialect.skip_lines :]
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        return 0.0
    if dialect.header:
        names = [n.strip().lstrip("\ufeff").lower() for n in _split_fields(lines[0], dialect)]
        want = [h.lower() for h in d.header]
        if not want:
            return 0.0
        present = sum(1 for h in want if h in names) / len(want)
        if present < 1.0:
            return 0.3 * present * d.confidence
        # A profile that names more of the header fits better than one that names a subset.
        coverage = 0.9 + 0.1 * len(want) / max(len(names), len(want))
        first = 1
        while first <= dialect.skip_after_header and first < len(lines) and (
                skips_after_header(lines[first], dialect)):
            first += 1
        data = _records(lines[first : SAMPLE_LINES + first], dialect, (len(names),))
        count_ok = [r for r in data if len(r) == len(names)]
        share_counts = len(count_ok) / len(data) if data else 1.0
        index = {n: i for i, n in enumerate(names)}
        # A header and no record (an export of a period with no calls, Grandstream's daily
        # e-mailed CDR on a quiet day): the whole header is the evidence. Scoring its columns
        # as "no evidence either way" (0.5) put every header layout below MIN_SCORE, and the
        # file was called a layout no profile fits, instead of an export with no records.
        col_shares = [
            _share([r[index[c.lower()]] for r in count_ok], rx)
            for c, rx in d.column_regex
            if c.lower() in index
        ] if data else []
    else:
        coverage = 1.0
        allowed = dialect.field_counts
        data = _records(lines[:SAMPLE_LINES], dialect, allowed)
        count_ok = [r for r in data if len(r) in allowed]
        share_counts = len(count_ok) / len(data)
        index = {n: i for i, n in enumerate(dialect.columns)}
        col_shares = [
            _share([r[index[c]] for r in count_ok if index[c] < len(r)], rx)
            for c, rx in d.column_regex
        ]
    score = d.confidence * share_counts * (coverage if dialect.header else 1.0)
    if col_shares:
        score *= sum(col_shares) / len(col_shares)
    if d.line_regex:
        sample = lines[1 : SAMPLE_LINES + 1] if dialect.header else lines[:SAMPLE_LINES]
        if sample:
            rx = re.compile(d.line_regex)
            score *= sum(1 for ln in sample if rx.search(ln)) / len(sample)
    if score > 0 and profile.filename_matches(str(path)):
        score += FILENAME_BONUS
    return min(1.0, score)


#: The most physical lines one sampled record may span (a quoted value holding line ends).
MAX_RECORD_LINES: Final = 8


def _records(lines: list[str], dialect: Dialect, widths: tuple[int, ...]) -> list[list[str]]:
    """The fields of the records that ``lines`` hold, as the reader takes them: a line that
    leaves a quote open continues onto the next lines when that makes a record of an allowed
    width (a value holding a line end, e.g. a lastdata or userfield written with one).
    Sampled line by line, such a record counted as two of the wrong width, and a small
    export with one of them was not recognised at all."""
    out: list[list[str]] = []
    i, n = 0, len(lines)
    while i < n:
        fields = _fields(lines[i], dialect, widths)
        step = 1
        if len(fields) not in widths and dialect.quote and lines[i].count(dialect.quote) % 2:
            for k in range(i + 1, min(n, i + MAX_RECORD_LINES)):
                joined = _fields("\n".join(lines[i : k + 1]), dialect, widths)
                if len(joined) in widths:
                    fields, step = joined, k + 1 - i
                    break
        out.append(fields)
        i += step
    return out


def _fields(line: str, dialect: Dialect, widths: tuple[int, ...]) -> list[str]:
    # As the reader takes a record: a line whose fields do not count right is read again with
    # unescaped caller-ID quotes mended (readers.split_lenient), so that one such record does
    # not sink a small file's score.
    fields = _split_fields(line, dialect)
    if len(fields) not in widths and dialect.quote:
        mended = split_lenient(line, dialect)
        if len(mended) in widths:
            return mended
    return fields


def read_head(path: Path) -> bytes:
    """The first :data:`HEAD_BYTES` of ``path``.

    Raises :class:`UnreadableFileError` when the file cannot be read or is empty, and
    :class:`UnknownFormatError` when it is compressed (gzip, bzip2, xz, zstd, ZIP) or text in
    UTF-16/UTF-32: every reader takes the plain file, so these are refused whether or not
    ``--format`` was given, with the command that makes the file readable.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as e:
        raise UnreadableFileError(
            f"cannot read the file: {e.strerror}",
            path=path,
            hint=_unreadable_hint(e),
        ) from None
    if not head.strip():
        raise UnreadableFileError(
            "the file is empty: there is nothing to ingest",
            path=path,
            hint="Check the path, and that the export finished writing",
        )
    if (error := packed_or_wide(head, path)) is not None:
        raise error
    return head


def _unreadable_hint(e: OSError) -> str | None:
    if e.errno in (errno.EACCES, errno.EPERM):
        return ("Check its permissions: the user running tracehop must be able to read it "
                "(and to enter its directory)")
    if e.errno == errno.EISDIR:
        return "Name the files, or the directory itself to read every file in it"
    return None


def packed_or_wide(head: bytes, path: Path) -> UnknownFormatError | None:
    """The error for a compressed file or UTF-16/UTF-32 text, or None. :func:`read_head`
    raises it; a reader that passes such files over with a word (capture-dir) says it."""
    if (sheet := _spreadsheet(head, path)) is not None:
        # CDR portals offer "Export to Excel". A workbook is a ZIP (or an OLE2 file), and the
        # fix given for any ZIP, unzip it, yields XML parts, not records.
        return UnknownFormatError(
            f"this file is {sheet}, not a CSV call-record export",
            path=path,
            hint="Open it and save the sheet of calls as CSV (Excel: Save As, \"CSV UTF-8\"; or "
            f"libreoffice --headless --convert-to csv {_shell_quote(path)}), then ingest the "
            "CSV file",
        )
    if _HTML.match(head):
        # A portal's export fetched by a script (curl -o cdr.csv ...) whose session expired
        # or whose URL was wrong saves the login or error page under the export's name. "No
        # known CDR layout fits it; describe it in your own profile" sent the user the wrong
        # way (and with --format, every line was rejected as "not a record of this format").
        return UnknownFormatError(
            "this is an HTML web page, not a call-record export (a download that got the "
            "portal's login or error page?)",
            path=path,
            hint="Download the export again (check the login, session or URL that fetched it) "
            "and ingest the CSV it gives",
        )
    for magic, (what, unpack) in _PACKED.items():
        if magic.match(head):
            archive = what.startswith("a ")
            return UnknownFormatError(
                f"this file is {what if archive else f'compressed with {what}'}, not a plain "
                "call-record export",
                path=path,
                hint=f"{'Unpack' if archive else 'Decompress'} it first ({unpack} "
                f"{_shell_quote(path)}) and ingest the file{'s' if archive else ''} it gives",
            )
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return _wide_text(path, encoding)
    if b"\x00" in head and (order := _wide_without_bom(head)):
        return _wide_text(path, order)
    return None


def _wide_text(path: Path, encoding: str) -> UnknownFormatError:
    out = _shell_quote(path.with_name(f"{path.stem}-utf8{path.suffix or '.csv'}"))
    excel = encoding.startswith("UTF-16")
    return UnknownFormatError(
        f"this file is {encoding} text"
        + (" (as Excel's \"Unicode text\" export is)" if excel else "")
        + "; tracehop reads UTF-8",
        path=path,
        hint=f"Convert it first: iconv -f {encoding} -t UTF-8 {_shell_quote(path)} > {out}"
        + (" (or save it from Excel as \"CSV UTF-8\")" if excel else ""),
    )


def _wide_without_bom(head: bytes) -> str | None:
    """"UTF-16LE" or "UTF-16BE" when ``head`` looks like UTF-16 text without a byte-order
    mark (iconv then needs the byte order named): ASCII characters with a NUL byte beside
    every one, on the same side throughout."""
    sample = head[: min(len(head), 4096) // 2 * 2]
    if len(sample) < 16:
        return None
    for name, zeros, chars in (("UTF-16LE", sample[1::2], sample[0::2]),
                               ("UTF-16BE", sample[0::2], sample[1::2])):
        if zeros.count(0) >= 0.95 * len(zeros) and chars.count(0) == 0 and all(
            c in b"\t\r\n" or 32 <= c < 127 for c in chars
        ):
            return name
    return None


def _shell_quote(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


#: Names that promise a packet capture (pcap, pcapng, NetMon/snoop ``.cap``, raw HEP).
_CAPTURE_SUFFIXES = frozenset({".pcap", ".pcapng", ".cap", ".hep"})


def _not_a_capture(path: Path) -> UnknownFormatError:
    """A file named like a capture that no capture reader recognised (nor a CDR layout)."""
    return UnknownFormatError(
        f"this file is named {path.suffix} but is not a pcap, pcapng or HEP capture (no "
        "capture header at its start), nor a call-record export tracehop knows",
        path=path,
        hint="Give tracehop the capture itself (tcpdump -w writes pcap); if this is a CDR "
        "export, pass --format NAME",
    )


def _text_with_nul_runs(head: bytes) -> bool:
    """Whether ``head`` is text apart from its NUL bytes: the rest has lines and next to no
    other control bytes (a pcap, an image or a database page has many)."""
    rest = head.replace(b"\x00", b"")
    if b"\n" not in rest and b"\r" not in rest:
        return False
    control = sum(1 for c in rest if c < 32 and c not in (9, 10, 13))
    return control <= len(rest) // 1000


def rank(path: Path, profiles: tuple[Profile, ...] | None = None) -> list[Candidate]:
    """Every candidate format for ``path``, best first."""
    head = read_head(path)
    out: list[Candidate] = []
    for name, fmt in registered_formats().items():
        try:
            if fmt.detect(head, path):
                out.append(Candidate(name, 1.0))
        except Exception:  # a plug-in's detector must never break detection of other formats
            continue
    for magic, what in _MAGIC.items():
        if head.startswith(magic) and not out:
            raise UnknownFormatError(
                f"this is {what}, not a call-record file",
                path=path,
                hint="Give tracehop the CDR export (CSV or JSON) or a SIP capture",
            )
    if b"\x00" in head and not out:
        if path.suffix.lower() in _CAPTURE_SUFFIXES:
            raise _not_a_capture(path)
        if not _text_with_nul_runs(head):
            raise UnknownFormatError(
                "this is a binary file, not a call-record export",
                path=path,
                hint="Give tracehop the CDR export (CSV or JSON) or a SIP capture",
            )
        # Text with a run of NUL bytes: a log appended to when the machine lost power (the
        # file system had grown the file but not written its last block), or a copy taken
        # from a preallocated file. It was called "a binary file", although the reader takes
        # its records and rejects the damaged line: score the text around the NULs.
        head = head.replace(b"\x00", b"")
    if out:
        # A whole-file format (a capture) recognised its own signature: binary heads are not
        # scored as CSV, where a stray CR would only produce noise.
        return sorted(out, key=lambda c: c.name)
    for p in profiles if profiles is not None else builtin_profiles():
        try:
            score = score_profile(p, head, path)
        except csv.Error:  # e.g. a NUL byte or CR inside a field: not this profile's dialect
            score = 0.0
        out.append(Candidate(p.name, round(score, 4)))
    out.sort(key=lambda c: (-c.score, c.name))
    return out


#: Delimiters an export may use instead of its layout's own (a European locale's ';').
_OTHER_DELIMITERS: Final = (";", "\t", "|", ",")


def fits_with_other_delimiter(
    path: Path, profiles: tuple[Profile, ...] | None
) -> UnknownFormatError | None:
    """The error for a file no layout fits as it is, but one does once its fields are split on
    another delimiter (a cdr_csv export converted by a spreadsheet in a ';' locale), naming
    the delimiter, the line and the two ways out; None otherwise. Only run when detection
    failed: the rescoring costs a few milliseconds per file."""
    import dataclasses

    try:
        head = read_head(path)
    except TracehopError:
        return None
    lines = [(n, ln) for n, ln in enumerate(_head_lines(head), 1) if ln.strip()]
    if not lines:
        return None
    best: tuple[float, str, Profile] | None = None
    for p in profiles if profiles is not None else builtin_profiles():
        if p.reader != "csv":
            continue
        for d in _OTHER_DELIMITERS:
            if d == p.dialect.delimiter or not any(d in ln for _, ln in lines[:SAMPLE_LINES]):
                continue
            other = dataclasses.replace(p, dialect=dataclasses.replace(p.dialect, delimiter=d))
            try:
                score = score_profile(other, head, path)
            except csv.Error:
                continue
            if score >= MIN_SCORE and (best is None or score > best[0]):
                best = (score, d, p)
    if best is None:
        return None
    _, d, p = best
    n, first = lines[0]
    shown, own = ("\\t" if d == "\t" else d), ("\\t" if p.dialect.delimiter == "\t"
                                                 else p.dialect.delimiter)
    split = dataclasses.replace(p.dialect, delimiter=d)
    # A MySQL text dump (SELECT ... INTO OUTFILE, mysqldump --tab) writes NULL as \N. Dumped
    # again with ',' it escapes each comma in a value as "\,", which no CSV reader takes: a
    # profile copy is then the only way out, so the other one is not offered.
    mysql = any("\\N" in _split_fields(ln, split) for _, ln in lines[:SAMPLE_LINES])
    copy = (f"copy {p.path} with delimiter = \"{shown}\" under [csv] and pass --format "
            "my_profile.toml (docs/profiles.md)")
    return UnknownFormatError(
        f"cannot tell the format of this file: its fields are separated by '{shown}' (line {n} "
        f"has {len(_split_fields(first, split))} fields "
        f"split on '{shown}'), and it fits the {p.name} layout, which uses '{own}'",
        path=path,
        hint=(f"It is a MySQL text dump (\\N for NULL): {copy}" if mysql
              else f"Export it again with '{own}' between fields, or {copy}"),
    )


def detect_format(path: Path, profiles: tuple[Profile, ...] | None = None) -> str:
    """The name of the format of ``path``; UnknownFormatError when it cannot tell."""
    cands = rank(path, profiles)
    best = cands[0] if cands else None
    closest = ", ".join(f"{c.name} ({c.score:.2f})" for c in cands[:3] if c.score > 0)
    if (best is None or best.score < MIN_SCORE) and path.suffix.lower() in _CAPTURE_SUFFIXES:
        raise _not_a_capture(path)
    if best is None or best.score < MIN_SCORE:
        if (other := fits_with_other_delimiter(path, profiles)) is not None:
            raise other
        raise UnknownFormatError(
            "cannot tell the format of this file: no known CDR layout fits it"
            + (f" (closest: {closest})" if closest else ""),
            path=path,
            hint="Pass --format NAME if it is one of them, or describe the layout in your own "
            "profile and pass --format my_profile.toml (docs/profiles.md)",
        )
    if len(cands) > 1 and best.score - cands[1].score < TIE_MARGIN:
        raise UnknownFormatError(
            f"cannot tell the format of this file: {best.name} and {cands[1].name} fit equally "
            f"well ({closest})",
            path=path,
            hint=f"Pass --format {best.name} or --format {cands[1].name}",
        )
    return best.name
