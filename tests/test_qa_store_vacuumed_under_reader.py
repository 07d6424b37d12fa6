"""A file a reader's older snapshot names, removed by a compaction and then deleted by a vacuum
with a short retention while the reader (an ingest checking its legs for duplicates, a
lookup) still runs. The store is not damaged: the error must not say it is, nor send the
operator to forget and re-ingest every file of the day (an ingest hit it with
`compact --vacuum-hours 0` run beside it: "a data file of the store is missing. Restore it
from a backup ...; without one, forget the files ...")."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.errors import StoreError
from tracehop.store import Store
from tracehop.store.layout import read_legs

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr"
GOOD = (FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv").read_text().splitlines()


def ingest_in_two_parts(tmp_path: Path) -> Path:
    """A store whose one day has two files: the fixture's records ingested in two parts."""
    store = tmp_path / "s"
    for i, lines in enumerate((GOOD[:2], GOOD[2:])):
        f = tmp_path / f"part{i}.csv"
        f.write_text("\n".join(lines) + "\n")
        assert CliRunner().invoke(cli, ["ingest", str(f), "--store", str(store),
                                        "--tz", "America/New_York"]).exit_code == 0
    return store


def test_a_file_vacuumed_under_an_older_snapshot_is_not_called_damage(tmp_path: Path) -> None:
    store = ingest_in_two_parts(tmp_path)
    old = Store.open(store).snapshot()  # the reader's snapshot
    rels = [f.path for f in old.data_files()]
    r = CliRunner().invoke(cli, ["compact", "--store", str(store), "--vacuum-hours", "0"])
    assert r.exit_code == 0, r.output
    with pytest.raises(StoreError) as e:
        read_legs(Path(store).absolute(), rels)
    text = f"{e.value.message} {e.value.hint}"
    assert "removed by a later version" in text
    assert "run it again" in text
    assert "tracehop forget" not in text and "backup" not in text
