"""Helpers for the matcher tests: build small real stores (through the Store API) and peers.

Not a test module: imported by tests/test_match*.py and tests/test_lookup_cli.py.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from tracehop.answer import TracebackAnswer
from tracehop.engines.base import TableSource
from tracehop.engines.duckdb import DuckDBEngine
from tracehop.peers import PeerDirectory
from tracehop.schema import LEG_SCHEMA, empty_rejects
from tracehop.store import FileRecord, Store

SCHEMA_PATH = (Path(__file__).resolve().parents[1] / "tracehop" / "schemas"
               / "traceback_answer.schema.json")


def utc(text: str) -> datetime:
    """An aware UTC datetime from ISO text without zone (test shorthand)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


_counter = [0]


def leg(
    called: str,
    at: str | datetime,
    *,
    direction: str | None = "inbound",
    trunk: str | None = "ACME_IN_1",
    ip: str | None = None,
    calling: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One call-leg row, with the fields a CDR ingest would fill."""
    _counter[0] += 1
    n = _counter[0]
    start = utc(at) if isinstance(at, str) else at
    row: dict[str, Any] = {
        "leg_id": extra.pop("leg_id", f"leg{n:06d}"),
        "source": "switch-a",
        "format": "asterisk_cdr_csv",
        "source_file": "/data/Master.csv",
        "source_record": n,
        "start_utc": start,
        "called_e164": called,
        "called_raw": called.lstrip("+1") if called.startswith("+1") else called,
        "calling_e164": calling,
        "calling_raw": calling.lstrip("+") if calling else None,
        "direction": direction,
        "ingress_trunk": trunk,
        "ingress_ip": ip,
        "call_id": f"call-{n}@switch",
        "correlation_id": f"corr-{n}",
        "duration_s": 30.0,
        "disposition": "answered",
    }
    row.update(extra)
    return row


def make_store(root: Path, rows: list[dict[str, Any]]) -> Store:
    """A real store holding ``rows`` (one commit)."""
    store = Store.open(root, create=True)
    if rows:
        table = pa.Table.from_pylist(rows, schema=LEG_SCHEMA)
        digest = hashlib.sha256(json.dumps([r["leg_id"] for r in rows]).encode()).hexdigest()
        store.commit(table, empty_rejects(),
                     [FileRecord(file_id=digest, path="/data/Master.csv", size=1,
                                 rows_read=len(rows))])
    return store


PEERS_TOML = """
[[peer]]
name = "Acme Transit"
role = "upstream"
ocn = "1234"
trunks = ["ACME_IN_1", "acme-*"]
ips = ["198.51.100.0/24"]
contact = "noc@acme.example"

[[peer]]
name = "Bravo Telecom"
role = "upstream"
trunks = ["BRAVO_IN"]

[[peer]]
name = "Dialer Co"
role = "customer"
trunks = ["CUST_TRUNK"]
accounts = ["ACCT-77"]

[[peer]]
name = "Overseas Carrier"
role = "foreign"
ips = ["203.0.113.0/24"]
"""


def peers(tmp: Path) -> PeerDirectory:
    p = tmp / "peers.toml"
    p.write_text(PEERS_TOML)
    return PeerDirectory.load(p)


@cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def check_schema(answer: TracebackAnswer) -> dict[str, Any]:
    """Validate an answer's JSON against the published schema; return the JSON object."""
    obj: dict[str, Any] = json.loads(answer.to_json())
    errors = sorted(_validator().iter_errors(obj), key=lambda e: list(e.path))
    assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors)
    return obj


class SqlOnly:
    """An engine with only the protocol's ``run`` (as Spark has): the batch passes then run
    the portable SQL for every phase, with no Polars read (tests compare it with DuckDB's)."""

    name = "sql-only"

    def __init__(self) -> None:
        self._inner = DuckDBEngine()

    def run(self, sql: str, tables: dict[str, TableSource]) -> pa.Table:
        return self._inner.run(sql, tables)

    def close(self) -> None:
        self._inner.close()


def cli_lookup(store: tuple[str, str], called: str, at: str) -> dict[str, Any]:
    """`tracehop lookup --json` on ``store`` = (store directory, peers file), as a user runs
    it; the answer as JSON."""
    from click.testing import CliRunner

    from tracehop.cli import cli

    r = CliRunner().invoke(cli, ["lookup", "--store", store[0], "--peers", store[1],
                                 "--called", called, "--at", at, "--json"])
    assert r.exit_code == 0, r.output
    out: dict[str, Any] = json.loads(r.output)
    return out

