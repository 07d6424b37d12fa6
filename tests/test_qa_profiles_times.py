"""QA of user-written profiles: time formats (docs/profiles.md, [time] formats)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehop.errors import ProfileError
from tracehop.ingest.profile import load_profile
from tracehop.ingest.run import parse_file

TSV = (
    "Call Start\tCall End\tDialed Number\n"
    "2026-11-20T09:03:22-05:00\t2026-11-20T09:04:27-05:00\t+13125550100\n"
    "2026-11-20 14:09:00\t2026-11-20 14:09:10\t+13125550100\n"
)


def _profile(tmp_path: Path, zone: str, formats: str) -> Path:
    p = tmp_path / "iso.toml"
    p.write_text(
        'name = "iso"\n[csv]\ndelimiter = "\\t"\nheader = true\n'
        f'[time]\nstart = "Call Start"\nend = "Call End"\nformats = {formats}\n'
        f'zone = "{zone}"\n[fields]\ncalled_raw = "Dialed Number"\n'
    )
    return p


def test_times_with_offsets_read_in_utc_mode_mixed_with_naive_ones(tmp_path: Path) -> None:
    f = tmp_path / "x.tsv"
    f.write_text(TSV)
    prof = _profile(tmp_path, "utc", '["%Y-%m-%dT%H:%M:%S%:z", "%Y-%m-%d %H:%M:%S"]')
    res = parse_file(f, str(prof))
    starts = [t.isoformat() for t in res.legs.column("start_utc").to_pylist()]
    assert starts == ["2026-11-20T14:03:22+00:00", "2026-11-20T14:09:00+00:00"]


@pytest.mark.parametrize("zone", ["local", "column"])
def test_an_offset_format_outside_utc_mode_is_a_profile_error(tmp_path: Path,
                                                              zone: str) -> None:
    # zone = "local" with %z crashed with a TypeError traceback in the local-to-UTC step.
    prof = _profile(tmp_path, zone, '["%Y-%m-%dT%H:%M:%S%z"]')
    if zone == "column":
        prof.write_text(prof.read_text().replace('zone = "column"',
                                                 'zone = "column"\nzone_column = "Z"'))
    with pytest.raises(ProfileError, match=r"key 'time.formats'.*set zone = \"utc\""):
        load_profile(prof)


def test_an_unknown_strftime_directive_is_a_profile_error(tmp_path: Path) -> None:
    # %Q was accepted, and then every record was rejected as "unparseable start time".
    prof = _profile(tmp_path, "utc", '["%d.%m.%Y %H:%M:%Q"]')
    with pytest.raises(ProfileError, match=r"key 'time.formats'.*unknown directive '%Q'"):
        load_profile(prof)


def test_builtin_profiles_formats_still_load() -> None:
    from tracehop.ingest.profile import builtin_profiles

    assert len(builtin_profiles()) > 10


def test_a_wrong_time_format_names_the_profile_key_and_line(tmp_path: Path) -> None:
    # Every record rejected: the error named the data file and column, not where to fix it.
    from click.testing import CliRunner

    from tracehop.cli import cli

    f = tmp_path / "eu.csv"
    f.write_text("Datum;B\n20.11.2026 15:03:22;0691234567\n")
    prof = tmp_path / "eu.toml"
    prof.write_text('name = "eu"\n[csv]\ndelimiter = ";"\nheader = true\n[time]\n'
                    'start = "Datum"\nformats = ["%Y-%m-%d %H:%M:%S"]\nzone = "utc"\n'
                    '[fields]\ncalled_raw = "B"\n')
    res = CliRunner().invoke(cli, ["ingest", str(f), "--store", str(tmp_path / "s"),
                                   "--format", str(prof)])
    assert res.exit_code != 0
    assert f"fix key 'time.formats' in {prof}:7" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "s" / "legs").exists()
