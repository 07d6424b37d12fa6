"""`import tracehop` sets the allocator settings Polars and pyarrow read when they load
(tracehop/allocators.py), before either is loaded, and never overrides the user's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tracehop.allocators import SETTINGS

PROBE = f"""\
import json, os, sys
import tracehop
print(json.dumps({{"env": {{k: os.environ.get(k) for k in {sorted(SETTINGS)!r}}},
                  "loaded": sorted(m for m in ("polars", "pyarrow") if m in sys.modules)}}))
"""


def _probe(env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, check=True)
    got: dict[str, object] = json.loads(out.stdout)
    return got


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in SETTINGS}


def test_import_sets_the_settings_before_polars_or_pyarrow_load() -> None:
    got = _probe(_clean_env())
    assert got["env"] == SETTINGS
    # Set too late they would do nothing: the libraries read them once, when loaded.
    assert got["loaded"] == []


def test_a_value_the_user_set_is_kept() -> None:
    env = _clean_env() | {"_RJEM_MALLOC_CONF": "", "MIMALLOC_PURGE_DELAY": "10"}
    got = _probe(env)
    assert got["env"] == {"_RJEM_MALLOC_CONF": "", "MIMALLOC_PURGE_DELAY": "10"}
