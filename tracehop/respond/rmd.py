"""The FCC Robocall Mitigation Database (RMD) listing, and the check on upstream providers.

Since 28 May 2024 a provider must refuse traffic from an intermediate or voice service
provider that is not listed in the RMD (47 CFR 64.6305(g); domain.md §1.5). An answer that
names an upstream (or foreign) provider absent from the RMD is therefore flagged: the call
should not have been accepted, and traffic from that provider must be refused.

The listing is the CSV the FCC's RMD site exports (fccprod.servicenowservices.com/rmd,
"Download CSV"). The export's header is the ServiceNow field names::

    number, frn, business_name, business_address, foreign_voice_provider, country,
    other_frns, other_dba_names, previous_dba_names, robocall_mitigation_contact_name,
    contact_title, ..., implementation, voice_service_provider_choice,
    gateway_provider_choice, intermediate_provider_choice, last_updated, last_recertified,
    filing_url

while a copy saved from the web table carries the display labels ("RMD Number", "Business
Name", "FCC Registration Number (FRN)", "Other DBA Name(s)", "Implementation", ...). Filings
made under the 2024 rules may also carry an OCN column. The importer is keyed by header
*names*, normalised and matched against both spellings, never by position, so an export with
more, fewer or reordered columns still reads.

A peer is matched to a listing by OCN first (when both have one), then by normalised business
name against the business name, other d/b/a names and previous names of every filing.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracehop.errors import InputError, UnreadableFileError

#: canonical field -> header spellings (normalised with :func:`_norm_header`).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "rmd_number": ("number", "rmd_number", "rmd", "rmd_no", "rmd_id"),
    "business_name": ("business_name", "company_name", "provider_name", "legal_name"),
    "frn": ("frn", "fcc_registration_number_frn", "fcc_registration_number"),
    "ocn": ("ocn", "operating_company_number", "ocns", "operating_company_number_ocn"),
    "other_dba_names": ("other_dba_names", "other_dba_name_s", "dba_names", "dba"),
    "previous_dba_names": ("previous_dba_names", "previous_business_names",
                           "previous_business_name_s"),
    "implementation": ("implementation", "stir_shaken_implementation"),
    "foreign_voice_provider": ("foreign_voice_provider", "foreign_voice_service_provider"),
    "voice_service_provider": ("voice_service_provider_choice", "voice_service_provider"),
    "gateway_provider": ("gateway_provider_choice", "gateway_provider"),
    "intermediate_provider": ("intermediate_provider_choice",
                              "non_gateway_intermediate_provider", "intermediate_provider"),
    "country": ("country",),
    "last_updated": ("last_updated", "date_last_updated"),
    "last_recertified": ("last_recertified",),
}

#: Legal-form words dropped before comparing names ("Acme Transit, LLC" = "ACME TRANSIT").
_LEGAL_FORMS = frozenset({
    "inc", "incorporated", "llc", "ltd", "limited", "corp", "corporation", "co",
    "company", "lp", "llp", "plc", "pllc", "gmbh", "sa", "sarl", "bv", "ag", "the",
})


def _norm_header(h: str) -> str:
    h = h.strip().lstrip("\ufeff").lower()
    return re.sub(r"[^a-z0-9]+", "_", h).strip("_")


def normalise_name(name: str) -> str:
    """Casefolded, accents and punctuation removed, legal-form words dropped."""
    s = unicodedata.normalize("NFKD", name)
    s = "".join(ch for ch in s if not unicodedata.combining(ch)).casefold()
    s = s.replace("&", " and ").replace(".", "")  # "L.L.C." -> "llc", "Corp." -> "corp"
    words = re.sub(r"[^a-z0-9]+", " ", s).split()
    kept = [w for w in words if w not in _LEGAL_FORMS]
    return " ".join(kept or words)


def _split_names(cell: str | None) -> list[str]:
    # Several names in one cell are separated by ";" or new lines in the export; a comma is
    # part of names ("Acme, Inc.") and is never a separator.
    if not cell:
        return []
    return [n.strip() for n in re.split(r"[;\n|]", cell) if n.strip()]


def _split_ocns(cell: str | None) -> list[str]:
    if not cell:
        return []
    return [o.strip().upper() for o in re.split(r"[;,\s/|]+", cell) if o.strip()]


@dataclass(frozen=True)
class RmdFiling:
    line: int
    business_name: str
    rmd_number: str | None = None
    frn: str | None = None
    ocns: tuple[str, ...] = ()
    other_names: tuple[str, ...] = ()
    implementation: str | None = None
    foreign: str | None = None
    roles: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"rmd_number": self.rmd_number, "business_name": self.business_name,
                "frn": self.frn, "ocns": list(self.ocns),
                "implementation": self.implementation}


@dataclass(frozen=True)
class RmdCheck:
    """The result of checking one provider against the listing."""

    provider: str | None
    ocn: str | None
    listed: bool
    matched_by: str | None = None  # "ocn" | "name"
    filing: RmdFiling | None = None
    role: str = "upstream"  # the peer's role: upstream | foreign (the message names it)

    @property
    def message(self) -> str:
        who = self.provider or "(unnamed provider)"
        if self.listed and self.filing is not None:
            return (f"{who} is listed in the Robocall Mitigation Database as "
                    f"{self.filing.business_name} ({self.filing.rmd_number or 'no RMD number'}, "
                    f"matched by {self.matched_by})")
        ocn = f" (OCN {self.ocn})" if self.ocn else ""
        return (f"{self.role} provider {who}{ocn} is not listed in the Robocall Mitigation "
                "Database: traffic from it must be refused (47 CFR 64.6305(g))")

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "ocn": self.ocn,
            "listed": self.listed,
            "matched_by": self.matched_by,
            "rmd_number": self.filing.rmd_number if self.filing else None,
            "business_name": self.filing.business_name if self.filing else None,
            "implementation": self.filing.implementation if self.filing else None,
            "action": None if self.listed else "refuse traffic from this provider",
        }


@dataclass
class RmdListing:
    """An imported RMD listing, indexed by OCN and by normalised name."""

    path: str
    filings: list[RmdFiling]
    skipped: list[tuple[int, str]]  # (line, reason) of rows that could not be used
    columns: dict[str, str]  # canonical field -> header as found in the file
    by_ocn: dict[str, RmdFiling] = field(default_factory=dict)
    by_name: dict[str, RmdFiling] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for f in self.filings:
            for o in f.ocns:
                self.by_ocn.setdefault(o, f)
            for n in (f.business_name, *f.other_names):
                key = normalise_name(n)
                if key:
                    self.by_name.setdefault(key, f)

    def check(self, provider: str | None, ocn: str | None = None, *,
              role: str = "upstream") -> RmdCheck:
        """Look a provider up by OCN, then by name. ``role`` is the peer's role in the peer
        directory (``upstream`` or ``foreign``), named in the check's message."""
        if ocn and ocn.strip().upper() in self.by_ocn:
            return RmdCheck(provider, ocn, True, "ocn", self.by_ocn[ocn.strip().upper()], role)
        if provider:
            hit = self.by_name.get(normalise_name(provider))
            if hit is not None:
                return RmdCheck(provider, ocn, True, "name", hit, role)
        return RmdCheck(provider, ocn, False, role=role)

    def summary(self) -> dict[str, Any]:
        return {"path": self.path, "filings": len(self.filings), "skipped": len(self.skipped),
                "with_ocn": sum(1 for f in self.filings if f.ocns),
                "columns": self.columns}


def load_rmd(path: str | Path) -> RmdListing:
    """Import an RMD CSV export. Rows without a business name are skipped with a reason."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise UnreadableFileError(f"cannot read the RMD listing ({e.strerror})", path=p,
                                  hint="Download it from the FCC RMD site (Download CSV)"
                                  ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Exports re-saved by spreadsheet software on Windows are often cp1252.
        text = raw.decode("cp1252", errors="replace")
    if not text.strip():
        raise UnreadableFileError("the RMD listing is empty", path=p)
    # Only CR/LF end a record: str.splitlines() also splits on U+2028, U+0085, form feeds and
    # other separators that free-text cells hold, which cut a filing in two and read the rest
    # of its row as another filing (its address or d/b/a taken for a business name).
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as e:
        raise UnreadableFileError(f"cannot read the CSV header ({e})", path=p) from None
    index: dict[str, int] = {}
    columns: dict[str, str] = {}
    normed = [_norm_header(h) for h in header]
    for canon, aliases in HEADER_ALIASES.items():
        for alias in aliases:
            if alias in normed:
                index[canon] = normed.index(alias)
                columns[canon] = header[normed.index(alias)]
                break
    if "business_name" not in index:
        raise InputError(
            "the RMD listing has no business name column", path=p, line=1,
            hint=("Expected the FCC export's header (business_name or \"Business Name\"); "
                  f"found: {', '.join(h.strip() for h in header[:12])}"))

    def cell(row: list[str], key: str) -> str | None:
        i = index.get(key)
        if i is None or i >= len(row):
            return None
        v = row[i].strip()
        return v or None

    filings: list[RmdFiling] = []
    skipped: list[tuple[int, str]] = []
    line = 1
    try:
        for row in reader:
            line = reader.line_num
            if not any(c.strip() for c in row):
                continue
            name = cell(row, "business_name")
            if not name:
                skipped.append((line, "no business name"))
                continue
            roles = {k: v for k in ("voice_service_provider", "gateway_provider",
                                    "intermediate_provider")
                     if (v := cell(row, k)) is not None}
            filings.append(RmdFiling(
                line=line,
                business_name=name,
                rmd_number=cell(row, "rmd_number"),
                frn=cell(row, "frn"),
                ocns=tuple(_split_ocns(cell(row, "ocn"))),
                other_names=tuple(_split_names(cell(row, "other_dba_names"))
                                  + _split_names(cell(row, "previous_dba_names"))),
                implementation=cell(row, "implementation"),
                foreign=cell(row, "foreign_voice_provider"),
                roles=roles,
            ))
    except csv.Error as e:
        raise InputError(f"the RMD listing is not valid CSV ({e})", path=p, line=line + 1,
                         hint="Download the listing again from the FCC RMD site") from None
    return RmdListing(path=str(p), filings=filings, skipped=skipped, columns=columns)
