"""QA of user-written profiles: a field built from several columns (``template``), for a
wholesale carrier's export with the called number split into country code and national
number, epoch-millisecond times and a trunk-group column."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehop.errors import ProfileError
from tracehop.ingest.profile import load_profile
from tracehop.ingest.run import parse_file

CSV = (
    "setup_ms,connect_ms,release_ms,ani,dnis_cc,dnis_nat,trunk_group\n"
    "1795532602000,1795532607000,1795532667000,12025550111,1,3125550100,TG_A\n"
    "1795532700500,,1795532720500,4930123456,44,2079460958,TG_B\n"
    "1795532800000,,1795532810000,4930123456,,2079460958,TG_B\n"
)

PROFILE = """name = "wholesale"
[csv]
header = true
[time]
start = "setup_ms"
answer = "connect_ms"
end = "release_ms"
zone = "epoch_ms"
[fields]
called_raw = { template = "+{dnis_cc}{dnis_nat}" }
calling_raw = { template = "+{ani}" }
ingress_trunk = "trunk_group"
[direction]
default = "inbound"
"""


def test_a_split_called_number_is_joined(tmp_path: Path) -> None:
    f, p = tmp_path / "ws.csv", tmp_path / "ws.toml"
    f.write_text(CSV)
    p.write_text(PROFILE)
    legs = parse_file(f, str(p)).legs.sort_by("source_record")
    assert legs.column("called_e164").to_pylist() == ["+13125550100", "+442079460958", None]
    assert legs.column("called_raw").to_pylist() == ["+13125550100", "+442079460958", None]
    assert legs.column("calling_e164").to_pylist() == ["+12025550111", "+4930123456",
                                                       "+4930123456"]
    assert legs.column("start_utc").to_pylist()[1].isoformat() == "2026-11-24T15:05:00.500000+00:00"


def test_a_template_column_the_header_lacks_is_an_error(tmp_path: Path) -> None:
    f, p = tmp_path / "ws.csv", tmp_path / "ws.toml"
    f.write_text(CSV)
    p.write_text(PROFILE.replace("{dnis_nat}", "{dnis_national}"))
    with pytest.raises(ProfileError, match=r"'fields\.called_raw\.template'.*'dnis_national'"):
        parse_file(f, str(p))


@pytest.mark.parametrize(("spec", "why"), [
    ('{ template = "+" }', "one or more {column} names"),
    ('{ template = "+{cc" }', "one or more {column} names"),
    ('{ template = "{}" }', "one or more {column} names"),
    ('{ template = "+{a}{b}", column = "a" }', "give no 'column'"),
])
def test_a_bad_template_is_a_profile_error(tmp_path: Path, spec: str, why: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(PROFILE.replace('{ template = "+{dnis_cc}{dnis_nat}" }', spec))
    with pytest.raises(ProfileError, match=r"key 'fields\.called_raw\.template'") as err:
        load_profile(p)
    assert why in str(err.value)
