"""QA: inquiries while the store is gone from under the running service.

A store moved or deleted while `serve` ran made every inquiry a 200 `not_found`, "not found
within ±24h", audit-logged as answered: the requester was told the provider has no record of a
call that is in its records. /v1/health said 503 meanwhile, but an answer already given is not
taken back. Such an inquiry is now refused with 503 `store_unavailable` (retry later).
"""

from __future__ import annotations

from pathlib import Path

import httpx
from test_service import ASK, Env, auth

from tracehop.service.run import ServerThread


def test_no_not_found_answers_while_the_store_is_gone(tmp_path: Path) -> None:
    e = Env(tmp_path)
    with ServerThread(e.app()) as u:
        r = httpx.post(f"{u}/v1/inquiries", json=ASK, headers=auth(e.alice))
        assert r.status_code == 200 and r.json()["status"] == "upstream"
        e.store_dir.rename(tmp_path / "moved.store")
        r = httpx.post(f"{u}/v1/inquiries", json=[ASK, ASK], headers=auth(e.alice))
        assert r.status_code == 503, r.text
        err = r.json()["error"]
        assert err["code"] == "store_unavailable"
        assert str(tmp_path) not in r.text and "Retry-After" in r.headers
        last = e.audit_entries()[-1]
        assert last["who"] == "alice"
        assert last["answered"] == {"failed": {"http_status": 503, "code": "store_unavailable"}}
        assert httpx.get(f"{u}/v1/health").status_code == 503
        (tmp_path / "moved.store").rename(e.store_dir)
        r = httpx.post(f"{u}/v1/inquiries", json=ASK, headers=auth(e.alice))
        assert r.status_code == 200 and r.json()["status"] == "upstream"
        assert httpx.get(f"{u}/v1/health").status_code == 200
