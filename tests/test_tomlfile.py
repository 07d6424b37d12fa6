"""The TOML files a user writes (peer directory, format profile, business hours) are read
alike: a byte-order mark is skipped, and a bad file is an error naming the file and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tracehop.errors import ConfigError, PeerDirectoryError, ProfileError
from tracehop.ingest.profile import load_profile
from tracehop.peers import PeerDirectory
from tracehop.respond.deadline import load_clock

ROOT = Path(__file__).resolve().parents[1]
PEERS = (ROOT / "fixtures" / "readme" / "peers.toml").read_text()
PROFILE = next((ROOT / "fixtures" / "cdr" / "user_profile").glob("*.toml")).read_text()
HOURS = '[hours]\nzone = "America/Chicago"\nmon = "08:00-17:00"\n'

LOADERS: list[tuple[str, Callable[[Path], Any], type[ConfigError], str]] = [
    ("peers", lambda p: PeerDirectory.load(p).peers, PeerDirectoryError, PEERS),
    ("profile", load_profile, ProfileError, PROFILE),
    ("hours", load_clock, ConfigError, HOURS),
]


@pytest.mark.parametrize(("name", "load", "error", "text"), LOADERS, ids=[x[0] for x in LOADERS])
def test_a_byte_order_mark_is_skipped(tmp_path: Path, name: str, load: Callable[[Path], Any],
                                      error: type[ConfigError], text: str) -> None:
    plain, marked = tmp_path / "plain.toml", tmp_path / "marked.toml"
    plain.write_text(text)
    marked.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert repr(load(marked)).replace("marked.toml", "plain.toml") == repr(load(plain))


@pytest.mark.parametrize(("name", "load", "error", "text"), LOADERS, ids=[x[0] for x in LOADERS])
def test_bad_files_name_the_file_the_line_and_the_fix(
        tmp_path: Path, name: str, load: Callable[[Path], Any], error: type[ConfigError],
        text: str) -> None:
    latin = tmp_path / "latin1.toml"
    latin.write_bytes(b"# ok\n# Se\xf1or\n" + text.encode())
    with pytest.raises(error) as e:
        load(latin)
    assert e.value.path == str(latin) and e.value.line == 2 and "UTF-8" in str(e.value)
    broken = tmp_path / "broken.toml"
    broken.write_text("# ok\nzone = \n")
    with pytest.raises(error) as e:
        load(broken)
    assert e.value.line == 2 and "not valid TOML" in str(e.value)
    with pytest.raises(error, match="not found") as e:
        load(tmp_path / "missing.toml")
    assert e.value.hint and "path" in e.value.hint


def test_a_missing_format_profile_is_named_in_a_sentence(tmp_path: Path) -> None:
    import pytest

    from tracehop.errors import ProfileError
    from tracehop.ingest.profile import load_profile

    with pytest.raises(ProfileError, match="the profile was not found"):
        load_profile(tmp_path / "nope.toml")
