"""Profiles: the built-ins load, mistakes in a user's profile are named precisely, transforms."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tracehop.errors import ProfileError, UnknownFormatError
from tracehop.ingest.detect import rank
from tracehop.ingest.profile import builtin_profiles, load_profile, resolve_profile
from tracehop.ingest.transforms import TRANSFORMS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr"
USER = FIXTURES / "user_profile" / "acme_sbc.toml"

EXPECTED_BUILTINS = {
    "asterisk_cdr_csv", "asterisk_cdr_custom", "freepbx_cdr_report", "freepbx_cdr_dump",
    "freepbx_cdr_short", "pbxware_cdr", "grandstream_ucm_cdr", "freeswitch_cdr_csv",
    "freeswitch_cdr_csv_asterisk", "freeswitch_json_cdr", "fusionpbx_cdr_csv",
}


def test_builtins_load_and_are_shipped_as_package_data() -> None:
    names = {p.name for p in builtin_profiles()}
    assert names >= EXPECTED_BUILTINS  # other work adds profiles (CUCM, ...) beside these
    import tracehop

    pkg = Path(tracehop.__file__).parent / "parsers"
    assert {p.stem for p in pkg.glob("*.toml")} == names


def test_asterisk_variants_are_one_profile() -> None:
    p = resolve_profile("asterisk_cdr_csv")
    assert p.dialect.field_counts == (16, 17, 18, 19, 20, 21)


def test_user_profile_by_path() -> None:
    p = resolve_profile(str(USER))
    assert p.name == "acme_sbc" and p.dialect.delimiter == ";" and p.time.zone == "column"


def test_unknown_format_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownFormatError) as e:
        resolve_profile("asterisk")
    assert "asterisk_cdr_csv" in str(e.value) and "docs/profiles.md" in str(e.value)


def _bad(tmp_path: Path, text: str) -> str:
    f = tmp_path / "p.toml"
    base = USER.read_text()
    f.write_text(base + text if text.startswith("\n") else text)
    with pytest.raises(ProfileError) as e:
        load_profile(f)
    assert str(f) in str(e.value)
    return str(e.value)


def test_profile_errors_name_the_key(tmp_path: Path) -> None:
    msg = _bad(tmp_path, USER.read_text().replace("[fields]", "[fields]\ncalled_rwa = \"Called\""))
    assert "fields.called_rwa" in msg
    msg = _bad(tmp_path, USER.read_text().replace('delimiter = ";"', 'delimiter = ";;"'))
    assert "csv.delimiter" in msg
    msg = _bad(tmp_path, USER.read_text().replace('zone = "column"', 'zone = "locale"'))
    assert "time.zone" in msg and "local" in msg
    msg = _bad(tmp_path, USER.read_text().replace('"OK" = "answered"', '"OK" = "ok"'))
    assert "disposition.map.OK" in msg
    text = USER.read_text()
    msg = _bad(tmp_path, text.replace('ingress_ip = "PeerIP"',
                                      'ingress_ip = { column = "PeerIP", regex = "(" }'))
    assert "regular expression" in msg
    msg = _bad(tmp_path, text.replace('ingress_ip = "PeerIP"',
                                      'ingress_ip = { column = "PeerIP", transform = "nope" }'))
    assert "unknown transform" in msg
    msg = _bad(tmp_path, text.replace('ingress_ip = "PeerIP"',
                                      'ingress_ip = { column = "PeerIP", chain = ["PeerIP"] }'))
    assert "ingress_ip.chain" in msg and "[parent column, child column]" in msg
    msg = _bad(tmp_path, USER.read_text().replace("[csv]", "[csv]\nquoting = 1"))
    assert "csv.quoting" in msg and "unknown key" in msg
    msg = _bad(tmp_path, "name = 'x'\n[time]\nstart='a'\n[csv]\nheader=false\ncolumns=['a']\n"
               "[fields]\ncalled_raw='b'\n")
    assert "['b']" in msg
    msg = _bad(tmp_path, "name = [\n")
    assert "TOML" in msg


def test_detection_scores_every_builtin(tmp_path: Path) -> None:
    cands = rank(FIXTURES / "asterisk_cdr_csv" / "Master_21col.csv")
    assert cands[0].name == "asterisk_cdr_csv"
    assert cands[0].score - cands[1].score > 0.3


def test_user_profile_detected_when_passed_as_candidate() -> None:
    user = load_profile(USER)
    cands = rank(FIXTURES / "user_profile" / "acme_sbc.csv", (*builtin_profiles(), user))
    assert cands[0].name == "acme_sbc"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("strip", ' "1000"', "1000"),
        ("clid_number", '"Bob" <2025550111>', "2025550111"),
        ("clid_number", "2025550111", "2025550111"),
        ("clid_name", '"Bob Smith" <2025550111>', "Bob Smith"),
        ("sip_user", "sip:+13125550100@198.51.100.7;user=phone", "+13125550100"),
        ("sip_user", '"X" <sip:2025550111@host>', "2025550111"),
        ("url_decode", "2026-03-07%2014%3A03%3A22", "2026-03-07 14:03:22"),
        ("lower", "ACME", "acme"),
        ("int_ip_le", "-1006518518", "10.191.1.196"),
    ],
)
def test_transforms(name: str, value: str, expected: str) -> None:
    out = pl.select(TRANSFORMS[name](pl.lit(value))).item()
    assert out == expected


def test_registered_format_is_detected_and_ingested(tmp_path: Path) -> None:
    """The plug-in seam other readers (SIP captures) use: register_format(name, detect, parse)."""
    import pyarrow as pa

    from tracehop.ingest.formats import _FORMATS, ParseResult, register_format
    from tracehop.ingest.run import ingest_paths
    from tracehop.schema import conform, empty_rejects
    from tracehop.store import Store

    def detect(head: bytes, path: Path) -> bool:
        return head.startswith(b"TOYCAP")

    def parse(path: Path, tz: str | None, source: str | None) -> ParseResult:
        legs = pa.table({
            "leg_id": ["toy:1"], "start_utc": pa.array([1_772_910_202_000_000],
                                                       pa.timestamp("us", tz="UTC")),
            "called_e164": ["+13125550100"], "direction": ["inbound"], "source": [source],
        })
        return ParseResult(legs=conform(legs), rejects=empty_rejects(), format="toycap")

    register_format("toycap", detect, parse)
    try:
        f = tmp_path / "x.toy"
        f.write_bytes(b"TOYCAP\x00\x01\r\n")
        s = ingest_paths([f], tmp_path / "store", source="lab")
        assert (s.read, s.stored) == (1, 1)
        assert s.per_file[0].format == "toycap"
        assert Store.open(tmp_path / "store").snapshot().rows == 1
    finally:
        _FORMATS.pop("toycap", None)


def test_a_misspelt_column_in_a_users_profile_is_named(tmp_path: Path) -> None:
    # docs/profiles.md: a column the file does not have must not pass unnoticed. A key
    # whose only column is missing is an error naming the key, its line and the close
    # header name (QA: it was a warning, and a store written with the field empty).
    from tracehop.ingest.run import parse_file

    fix = Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "user_profile"
    text = (fix / "acme_sbc.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('called_raw = "Called"', 'called_raw = "Caled"'))
    with pytest.raises(ProfileError, match=r"key 'fields\.called_raw'.*'Caled'") as err:
        parse_file(fix / "acme_sbc.csv", str(bad))
    assert err.value.line == 25 and "Did you mean 'Called'?" in str(err.value.hint)
    # one of several columns missing (a profile for two export versions): a warning
    bad.write_text(text.replace('called_raw = "Called"',
                                'called_raw = { columns = ["Called", "Caled"] }'))
    res = parse_file(fix / "acme_sbc.csv", str(bad))
    assert any("'Caled'" in w and "header does not have" in w for w in res.warnings)
    # the call time's column missing: every record would be rejected, so it is an error
    bad.write_text(text.replace('start = "Started"', 'start = "Startd"'))
    with pytest.raises(ProfileError, match="'Startd', which the file's header does not have"):
        parse_file(fix / "acme_sbc.csv", str(bad))
    # the profile as written: no warning
    assert not parse_file(fix / "acme_sbc.csv", str(fix / "acme_sbc.toml")).warnings


def test_a_header_split_by_another_delimiter_names_the_delimiter(tmp_path: Path) -> None:
    # The acme_sbc profile reads ";"; the same export saved with tabs has one header "name"
    # holding them all. The fix is the profile's delimiter, not its [time] column names.
    from tracehop.ingest.run import parse_file

    fix = Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "user_profile"
    tabbed = tmp_path / "acme_tab.csv"
    tabbed.write_text((fix / "acme_sbc.csv").read_text().replace(";", "\t"))
    with pytest.raises(ProfileError) as e:
        parse_file(tabbed, str(fix / "acme_sbc.toml"))
    assert str(tabbed) in str(e.value) and 'delimiter = "\\t"' in str(e.value)


def test_time_otherwise_is_checked(tmp_path: Path) -> None:
    """`[time] otherwise` needs its column, and its basis is one of the three."""
    good = tmp_path / "p.toml"
    text = ('name = "x"\n[csv]\ncolumns = ["a", "b", "c"]\n[time]\nstart = "a"\n'
            'basis = "answer"\n{otherwise}\n[fields]\ncalled_raw = "c"\n')
    good.write_text(text.format(otherwise='otherwise = { start = "b", basis = "end" }'))
    p = load_profile(good)
    assert (p.time.start_else, p.time.basis_else) == ("b", "end")
    for bad, says in [('otherwise = { basis = "end" }', "otherwise.start"),
                      ('otherwise = { start = "b", basis = "ring" }', "otherwise.basis"),
                      ('otherwise = { start = "b", bases = "end" }', "otherwise.bases")]:
        good.write_text(text.format(otherwise=bad))
        with pytest.raises(ProfileError, match=says):
            load_profile(good)
