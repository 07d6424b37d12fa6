"""Format profiles: the declarative description of one CDR layout (TOML), loaded and validated.

A profile says how to read a file (CSV dialect, which columns, by position or by header name),
how to recognise it (detection hints with a confidence), and how its columns become the
call-leg record (:data:`tracehop.schema.LEG_SCHEMA`): which column holds the called number, how
to read the times and in which zone, which rules decide the direction and the disposition, and
which regular expression takes the trunk name out of a channel name.

The built-in profiles in ``parsers/*.toml`` are loaded by exactly this code, so a provider's own
profile (``tracehop ingest --format my_switch.toml``) can do everything a built-in one can. The
format is documented in docs/profiles.md; every key is checked here, and a mistake raises
:class:`tracehop.errors.ProfileError` naming the file and the key.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from tracehop.errors import ProfileError, UnknownFormatError
from tracehop.ingest.transforms import TRANSFORMS
from tracehop.schema import DIRECTIONS, DISPOSITIONS, LEG_COLUMNS
from tracehop.tomlfile import read_toml

#: Where the built-in profiles live (package data; tracehop/parsers is a symlink to parsers/).
BUILTIN_DIR: Final = Path(__file__).resolve().parent.parent / "parsers"

#: Leg columns a profile may fill from its columns. Times, identity and direction/disposition
#: have their own sections, because they need more than a column copy.
MAPPABLE: Final[frozenset[str]] = frozenset(LEG_COLUMNS) - {
    "leg_id",
    "source",
    "format",
    "source_file",
    "source_record",
    "start_utc",
    "answer_utc",
    "end_utc",
    "time_basis",
    "source_tz",
    "time_ambiguous",
    "direction",
    "disposition",
    "called_e164",
    "calling_e164",
    "pai_e164",
    "raw_record",
}

ZONE_MODES: Final = ("local", "utc", "epoch_s", "epoch_ms", "epoch_us", "column")


@dataclass(frozen=True)
class FieldSpec:
    """Where one leg column comes from: the first non-empty of ``columns``, optionally passed
    through a named transform and a regex (group 1 kept), or a literal ``value``.

    ``prefer``: a regex (searched); the first column whose value matches it wins, and only when
    none does the first non-empty one (a number column that may hold a name instead).
    ``by_direction``: direction -> columns used instead of ``columns`` for the rows the
    ``[direction]`` section gives that direction (one column means different things on the
    two sides of a switch).
    ``chain``: (parent column, child column): a row whose two columns both give a value (through
    ``transform``) says the two values are one call (an Asterisk Local channel half that dials
    another Local channel); every value of the field that such links connect, within the rows
    applied together, is replaced by one of them (:func:`tracehop.ingest.apply.chained`)."""

    columns: tuple[str, ...] = ()
    regex: str | None = None
    transform: str | None = None
    value: str | None = None
    prefer: str | None = None
    by_direction: tuple[tuple[str, tuple[str, ...]], ...] = ()
    chain: tuple[str, str] | None = None
    #: ``"+{cc}{national}"``: the value is this text with each ``{column}`` replaced by the
    #: column's value (empty when any of them is empty); ``columns`` are the names it uses.
    template: str | None = None

    def all_columns(self) -> tuple[str, ...]:
        return (self.columns + tuple(c for _, cols in self.by_direction for c in cols)
                + (self.chain or ()))


@dataclass(frozen=True)
class Rule:
    """``value`` applies to a row whose ``column`` matches ``regex`` (searched, not anchored),
    or, with ``referenced_by`` instead of ``regex``, to a row whose ``column`` value is the
    ``referenced_by`` value of another record of the same file that it does not reference
    back (FreeSWITCH ``legs = ab``: the A-leg's ``bleg_uuid`` names its B-leg's ``uuid``)."""

    column: str
    regex: str | None
    value: str
    referenced_by: str | None = None


@dataclass(frozen=True)
class RuleSet:
    """First matching rule wins; then ``map`` (exact value of ``column``); then ``default``."""

    rules: tuple[Rule, ...] = ()
    column: str | None = None
    mapping: tuple[tuple[str, str], ...] = ()
    default: str = "unknown"


@dataclass(frozen=True)
class TimeSpec:
    start: str
    answer: str | None = None
    end: str | None = None
    formats: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S",)
    zone: str = "local"  # one of ZONE_MODES
    zone_column: str | None = None  # zone == "column": an IANA name per record
    basis: str = "setup"
    #: A record whose ``start`` column is empty takes its start from this column instead,
    #: with ``basis_else`` as its basis (FreeSWITCH's opencdrrate template has no start
    #: stamp: answered calls give their answer, the others only their end).
    start_else: str | None = None
    basis_else: str = "end"
    #: Asterisk family: the column holding ``[systemname-]<epoch>.<seq>`` (research §0.2).
    infer_offset_column: str | None = None
    #: A column to infer from when a file's layout has no ``infer_offset_column`` (Asterisk's
    #: newcdrcolumns without loguniqueid: the linkedid, the uniqueid of the call's first channel).
    infer_offset_fallback: str | None = None
    infer_offset_regex: str = r"(?:^|-)(\d{9,11})\.\d+$"
    #: Exports with only a start time (database dumps): end = start + duration, and
    #: answer = end - billsec when billsec > 0 (the Asterisk CDR definitions, cdr.c).
    duration: str | None = None
    billsec: str | None = None


@dataclass(frozen=True)
class Dialect:
    delimiter: str = ","
    quote: str | None = '"'
    header: bool = False
    skip_lines: int = 0  # lines before the header (or before the data when header = false)
    #: header = true: lines between the header and the data (CUCM's SQL type line).
    skip_after_header: int = 0
    #: A regex such a line must match to be skipped; the first line that does not is a record
    #: (a CUCM file whose types line was deleted must not lose its first call, silently).
    skip_after_header_match: str | None = None
    null_values: tuple[str, ...] = ()
    #: header = false: the column names, in file order. header = true: filled from the file.
    columns: tuple[str, ...] = ()
    #: Allowed numbers of fields per record (variants with optional trailing columns).
    field_counts: tuple[int, ...] = ()
    #: Layouts whose optional columns are not a prefix of ``columns`` (Asterisk: loguniqueid,
    #: loguserfield and newcdrcolumns are independent options), tried in order for the field
    #: count a file has; without one, the first that many names of ``columns``.
    variants: tuple[Variant, ...] = ()


@dataclass(frozen=True)
class Variant:
    """``[[csv.variant]]``: the column names of a record of ``fields`` fields, used when the
    file has that many and, with ``when``, when the sniffed records' ``when_column`` value
    matches ``when_regex`` in most of them."""

    fields: int
    columns: tuple[str, ...]
    when_column: str | None = None
    when_regex: str | None = None


@dataclass(frozen=True)
class Detect:
    confidence: float = 0.5
    header: tuple[str, ...] = ()  # header names that must all be present
    line_regex: str | None = None  # must match (search) most of the first data lines
    column_regex: tuple[tuple[str, str], ...] = ()  # column -> regex its non-empty values match
    filenames: tuple[str, ...] = ()  # glob patterns on the file name (a small bonus)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    path: str
    dialect: Dialect
    time: TimeSpec
    fields: tuple[tuple[str, FieldSpec], ...]
    direction: RuleSet
    disposition: RuleSet
    detect: Detect
    numbers_region: str = "US"
    #: "csv" (the dialect below) or the name of a document reader registered in
    #: tracehop.ingest.formats (e.g. "freeswitch_json"), which flattens documents into columns.
    reader: str = "csv"

    def field(self, name: str) -> FieldSpec | None:
        for k, v in self.fields:
            if k == name:
                return v
        return None

    def columns_used(self) -> set[str]:
        used: set[str] = set()
        for _, spec in self.fields:
            used.update(spec.all_columns())
        for c in (self.time.start, self.time.start_else, self.time.answer, self.time.end,
                  self.time.zone_column,
                  self.time.duration, self.time.billsec, self.time.infer_offset_column,
                  self.time.infer_offset_fallback, self.direction.column,
                  self.disposition.column):
            if c:
                used.add(c)
        for r in (*self.direction.rules, *self.disposition.rules):
            used.add(r.column)
            if r.referenced_by:
                used.add(r.referenced_by)
        return used

    def reference_rules(self) -> tuple[Rule, ...]:
        """The rules that look at other records of the file (``referenced_by``)."""
        return tuple(r for r in (*self.direction.rules, *self.disposition.rules)
                     if r.referenced_by)

    def filename_matches(self, path: str) -> bool:
        name = Path(path).name
        return any(fnmatch.fnmatch(name, pat) for pat in self.detect.filenames)


# --- loading ---------------------------------------------------------------------------------


#: One strftime directive Polars' parser (chrono) knows: optional padding flag, then the
#: specifier (``%.3f``/``%6f`` fractions, ``%:z`` offsets, ``%%``).
_DIRECTIVE: Final = re.compile(
    r"%[-_0]?(?:\.?[369]?f|:{0,3}z|#z|[YCyqmbBhdeaAwuUWGgVjDxFvHkIlPpMSZstn%RTXrc+])")
#: Directives that read a UTC offset written in the value (``-05:00``).
OFFSET_DIRECTIVE: Final = re.compile(r"%(?::{1,3}|#)?z")


def _check_time_formats(t: _Reader, time: TimeSpec) -> None:
    """Catch two mistakes in ``[time] formats`` when the profile is loaded rather than when
    every record is rejected (or the ingest crashes): a directive the parser does not know
    (``%Q``: Polars silently fails every value), and an offset directive (``%z``) with a
    zone mode that would read the wall time again in another zone (the parsed value is
    already UTC: zone = "local" or "column" crashed in the local-to-UTC step)."""
    for fmt in time.formats:
        rest = _DIRECTIVE.sub("", fmt)
        if "%" in rest:
            bad = rest[rest.index("%"):rest.index("%") + 2]
            raise t._fail("formats", f"{fmt!r}: unknown directive {bad!r} (strftime: %Y %m "
                                     "%d %H %M %S %f %z %b ...)")
        if OFFSET_DIRECTIVE.search(fmt) and time.zone != "utc":
            raise t._fail("formats", f"{fmt!r} reads the UTC offset written in each time, "
                                     f"so the zone is in the value: set zone = \"utc\" "
                                     f"(not {time.zone!r})")


class _Reader:
    """Typed access to a TOML table that reports the file and the dotted key on a mistake."""

    def __init__(self, data: dict[str, Any], path: str, prefix: str = "") -> None:
        self.data = data
        self.path = path
        self.prefix = prefix
        self.seen: set[str] = set()

    def _fail(self, key: str, msg: str) -> ProfileError:
        return ProfileError(
            f"key '{self.prefix}{key}': {msg}",
            path=self.path,
            hint="See docs/profiles.md for the profile format.",
        )

    def get(self, key: str, typ: type | tuple[type, ...], default: Any = None) -> Any:
        self.seen.add(key)
        if key not in self.data:
            return default
        v = self.data[key]
        if not isinstance(v, typ) or (isinstance(v, bool) and typ in (int, float)):
            raise self._fail(key, f"expected {_tname(typ)}, got {v!r}")
        return v

    def require(self, key: str, typ: type | tuple[type, ...]) -> Any:
        if key not in self.data:
            raise self._fail(key, "is required")
        return self.get(key, typ)

    def strings(self, key: str) -> tuple[str, ...]:
        v = self.get(key, (list, str), [])
        items = [v] if isinstance(v, str) else v
        if not all(isinstance(x, str) for x in items):
            raise self._fail(key, f"expected a list of strings, got {v!r}")
        return tuple(items)

    def table(self, key: str) -> _Reader:
        return _Reader(self.get(key, dict, {}), self.path, f"{self.prefix}{key}.")

    def regex(self, key: str, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as e:
            raise self._fail(key, f"invalid regular expression {pattern!r}: {e}") from None
        return pattern

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self._fail(unknown[0], "unknown key (a typo?)")


def _tname(typ: type | tuple[type, ...]) -> str:
    if isinstance(typ, tuple):
        return " or ".join(t.__name__ for t in typ)
    return typ.__name__


def _field_spec(r: _Reader, key: str, raw: Any) -> FieldSpec:
    if isinstance(raw, str):
        return FieldSpec(columns=(raw,))
    if not isinstance(raw, dict):
        raise r._fail(key, f"expected a column name or a table, got {raw!r}")
    t = _Reader(raw, r.path, f"{r.prefix}{key}.")
    cols = t.strings("columns") or t.strings("column")
    value = t.get("value", str)
    regex = t.get("regex", str)
    if regex is not None:
        t.regex("regex", regex)
        if re.compile(regex).groups < 1:
            raise t._fail("regex", "needs one capture group: the part to keep")
    transform = t.get("transform", str)
    if transform is not None and transform not in TRANSFORMS:
        raise t._fail("transform", f"unknown transform {transform!r}; known: {sorted(TRANSFORMS)}")
    prefer = t.get("prefer", str)
    if prefer is not None:
        t.regex("prefer", prefer)
    by = t.table("by_direction")
    by_direction: list[tuple[str, tuple[str, ...]]] = []
    for direction in list(by.data):
        if direction not in DIRECTIONS:
            raise by._fail(direction, f"must be one of {list(DIRECTIONS)}")
        by_direction.append((direction, by.strings(direction)))
    by.finish()
    chain = t.strings("chain")
    if chain and len(chain) != 2:
        raise t._fail("chain", f"expected [parent column, child column], got {list(chain)!r}")
    template = t.get("template", str)
    if template is not None:
        # A value built from several columns (a called number split into country code and
        # national number): exclusive with the keys that choose one column among several.
        if cols or by_direction or chain or prefer:
            raise t._fail("template", "takes its columns from its {names}: give no "
                                      "'column', 'columns', 'by_direction', 'chain' or 'prefer'")
        cols = tuple(re.findall(r"\{([^{}]*)\}", template))
        if not cols or not all(cols) or re.sub(r"\{[^{}]*\}", "", template).count("{") \
                or re.sub(r"\{[^{}]*\}", "", template).count("}"):
            raise t._fail("template", f"expected text with one or more {{column}} names, "
                                      f"e.g. \"+{{CountryCode}}{{Number}}\", got {template!r}")
    if not cols and value is None and not by_direction:
        raise t._fail("column", "give 'column', 'columns', 'template', 'by_direction' or 'value'")
    t.finish()
    return FieldSpec(columns=cols, regex=regex, transform=transform, value=value,
                     prefer=prefer, by_direction=tuple(by_direction),
                     chain=(chain[0], chain[1]) if chain else None, template=template)


def _rules(r: _Reader, key: str, allowed: tuple[str, ...] | None) -> tuple[Rule, ...]:
    raw = r.get(key, list, [])
    out: list[Rule] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise r._fail(f"{key}[{i}]", f"expected a table, got {item!r}")
        t = _Reader(item, r.path, f"{r.prefix}{key}[{i}].")
        referenced_by = t.get("referenced_by", str)
        regex = t.get("regex", str)
        if (regex is None) == (referenced_by is None):
            raise t._fail("regex", "give either 'regex' or 'referenced_by' (one of the two)")
        rule = Rule(
            column=t.require("column", str),
            regex=t.regex("regex", regex) if regex is not None else None,
            value=t.get("value", str, "") if allowed is None else t.require("value", str),
            referenced_by=referenced_by,
        )
        if allowed is not None and rule.value not in allowed:
            raise t._fail("value", f"must be one of {list(allowed)}, got {rule.value!r}")
        t.finish()
        out.append(rule)
    return tuple(out)


def _ruleset(r: _Reader, key: str, allowed: tuple[str, ...]) -> RuleSet:
    t = r.table(key)
    rules = _rules(t, "rules", allowed)
    mapping_raw = t.get("map", dict, {})
    mapping: list[tuple[str, str]] = []
    for k, v in mapping_raw.items():
        if v not in allowed:
            raise t._fail(f"map.{k}", f"must be one of {list(allowed)}, got {v!r}")
        mapping.append((str(k), str(v)))
    column = t.get("column", str)
    if mapping and column is None:
        raise t._fail("column", "is required with 'map'")
    default = t.get("default", str, "unknown")
    if default not in allowed:
        raise t._fail("default", f"must be one of {list(allowed)}, got {default!r}")
    t.finish()
    return RuleSet(rules=rules, column=column, mapping=tuple(mapping), default=default)


def parse_profile(data: dict[str, Any], path: str) -> Profile:
    """Build and validate a :class:`Profile` from parsed TOML. Raises :class:`ProfileError`."""
    top = _Reader(data, path)
    name = top.require("name", str)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise top._fail("name", "use letters, digits, '_', '-' or '.' only")
    description = top.get("description", str, "")
    region = top.get("numbers_region", str, "US")

    c = top.table("csv")
    delimiter = c.get("delimiter", str, ",")
    if len(delimiter) != 1:
        raise c._fail("delimiter", "must be exactly one character (use \"\\t\" for tab)")
    quote = c.get("quote", str, '"')
    if quote is not None and len(quote) > 1:
        raise c._fail("quote", "must be one character, or \"\" for none")
    header = c.get("header", bool, False)
    columns = c.strings("columns")
    counts_raw = c.get("field_counts", list, [])
    if not all(isinstance(x, int) and x > 0 for x in counts_raw):
        raise c._fail("field_counts", "expected a list of positive integers")
    counts = tuple(sorted(counts_raw))
    if not header and top.data.get("reader", "csv") == "csv":
        if not columns:
            raise c._fail("columns", "is required when header = false: name every column")
        if not counts:
            counts = (len(columns),)
        if max(counts) > len(columns):
            raise c._fail("field_counts", f"{max(counts)} fields but only {len(columns)} names")
    if len(set(columns)) != len(columns):
        raise c._fail("columns", "column names must be unique")
    variants: list[Variant] = []
    for i, raw in enumerate(c.get("variant", list, [])):
        where = f"variant[{i}]"
        if not isinstance(raw, dict):
            raise c._fail(where, "must be a table ([[csv.variant]])")
        width, names, when = raw.get("fields"), raw.get("columns"), raw.get("when")
        unknown = set(raw) - {"fields", "columns", "when"}
        if unknown:
            raise c._fail(where, f"unknown key(s) {', '.join(sorted(unknown))}")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names) \
                or len(set(names)) != len(names):
            raise c._fail(f"{where}.columns", "expected a list of distinct column names")
        if not isinstance(width, int) or width != len(names):
            raise c._fail(f"{where}.fields", f"must be the number of its columns ({len(names)})")
        if counts and width not in counts:
            raise c._fail(f"{where}.fields", f"{width} is not one of field_counts {counts}")
        w_col = w_re = None
        if when is not None:
            if not (isinstance(when, dict) and set(when) == {"column", "regex"}
                    and when["column"] in names and isinstance(when["regex"], str)):
                raise c._fail(f"{where}.when", "expected { column = NAME (one of its columns), "
                                               "regex = '...' }")
            try:
                re.compile(when["regex"])
            except re.error as e:
                raise c._fail(f"{where}.when.regex", f"not a valid regex: {e}") from None
            w_col, w_re = str(when["column"]), str(when["regex"])
        variants.append(Variant(width, tuple(names), w_col, w_re))
    skip_match = c.get("skip_after_header_match", str, "") or None
    if skip_match is not None:
        try:
            re.compile(skip_match)
        except re.error as e:
            raise c._fail("skip_after_header_match", f"not a valid regex: {e}") from None
    dialect = Dialect(
        delimiter=delimiter,
        quote=quote or None,
        header=header,
        skip_lines=c.get("skip_lines", int, 0),
        skip_after_header=c.get("skip_after_header", int, 0),
        skip_after_header_match=skip_match,
        null_values=c.strings("null_values"),
        columns=columns,
        field_counts=counts,
        variants=tuple(variants),
    )
    c.finish()

    t = top.table("time")
    zone = t.get("zone", str, "local")
    if zone not in ZONE_MODES:
        raise t._fail("zone", f"must be one of {list(ZONE_MODES)}, got {zone!r}")
    infer = t.table("infer_offset")
    otherwise = t.table("otherwise")
    time = TimeSpec(
        start=t.require("start", str),
        answer=t.get("answer", str),
        end=t.get("end", str),
        formats=t.strings("formats") or ("%Y-%m-%d %H:%M:%S",),
        zone=zone,
        zone_column=t.get("zone_column", str),
        basis=t.get("basis", str, "setup"),
        start_else=otherwise.get("start", str),
        basis_else=otherwise.get("basis", str, "end"),
        duration=t.get("duration", str),
        billsec=t.get("billsec", str),
        infer_offset_column=infer.get("column", str),
        infer_offset_fallback=infer.get("fallback", str),
        infer_offset_regex=infer.regex(
            "regex", infer.get("regex", str, TimeSpec.infer_offset_regex)
        ),
    )
    infer.finish()
    if time.basis not in ("setup", "answer", "end"):
        raise t._fail("basis", f"must be setup, answer or end, got {time.basis!r}")
    if time.basis_else not in ("setup", "answer", "end"):
        raise otherwise._fail("basis", f"must be setup, answer or end, got {time.basis_else!r}")
    if otherwise.data and not time.start_else:
        raise otherwise._fail("start", "is required: the column to take the start from")
    otherwise.finish()
    if zone == "column" and not time.zone_column:
        raise t._fail("zone_column", "is required with zone = \"column\"")
    _check_time_formats(t, time)
    t.finish()

    f = top.table("fields")
    fields: list[tuple[str, FieldSpec]] = []
    for key, raw in f.data.items():
        f.seen.add(key)
        if key not in MAPPABLE:
            raise f._fail(key, "not a leg column a profile can fill; see docs/profiles.md")
        fields.append((key, _field_spec(f, key, raw)))

    direction = _ruleset(top, "direction", DIRECTIONS)
    disposition = _ruleset(top, "disposition", DISPOSITIONS)
    reader = top.get("reader", str, "csv")

    d = top.table("detect")
    conf = d.get("confidence", (int, float), 0.5)
    if not 0 < conf <= 1:
        raise d._fail("confidence", "must be in (0, 1]")
    line_regex = d.get("line_regex", str)
    if line_regex is not None:
        d.regex("line_regex", line_regex)
    colre = d.table("columns")
    column_regex: list[tuple[str, str]] = []
    for k, v in colre.data.items():
        colre.seen.add(k)
        if not isinstance(v, str):
            raise colre._fail(k, "expected a regular expression string")
        column_regex.append((k, colre.regex(k, v)))
    detect = Detect(
        confidence=float(conf),
        header=d.strings("header"),
        line_regex=line_regex,
        column_regex=tuple(column_regex),
        filenames=d.strings("filenames"),
    )
    d.finish()
    top.finish()

    profile = Profile(
        name=name,
        description=description,
        path=path,
        dialect=dialect,
        time=time,
        fields=tuple(fields),
        direction=direction,
        disposition=disposition,
        detect=detect,
        numbers_region=region,
        reader=reader,
    )
    if not header and reader == "csv":
        missing = sorted(profile.columns_used() - set(columns))
        if missing:
            raise ProfileError(
                f"refers to column(s) {missing} that are not in csv.columns",
                path=path,
                hint="Add them to csv.columns or fix the spelling.",
            )
    return profile


def load_profile(path: str | Path) -> Profile:
    """Load a profile from a TOML file."""
    p = Path(path)
    data, _ = read_toml(p, ProfileError, "the profile",
                        missing_hint="Check the --format path",
                        format_hint="See docs/profiles.md for the profile format")
    return parse_profile(data, str(p))


@cache
def builtin_profiles() -> tuple[Profile, ...]:
    """Every profile shipped in parsers/, sorted by name."""
    return tuple(load_profile(p) for p in sorted(BUILTIN_DIR.glob("*.toml")))


def resolve_profile(name_or_path: str) -> Profile:
    """``--format`` value -> profile: a built-in name, or the path of a ``.toml`` file."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return load_profile(name_or_path)
    for p in builtin_profiles():
        if p.name == name_or_path:
            return p
    raise UnknownFormatError(
        f"no built-in format named {name_or_path!r}",
        hint="Known formats: " + ", ".join(known_format_names())
        + "; or pass the path of your own profile (.toml), see docs/profiles.md.",
    )


def known_format_names() -> list[str]:
    from tracehop.ingest.formats import registered_formats

    return sorted({p.name for p in builtin_profiles()} | set(registered_formats()))
