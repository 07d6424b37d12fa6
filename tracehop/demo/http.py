"""``tracehop demo --http``: each provider answers from its own ``tracehop serve`` process.

This is how a real traceback runs: every provider keeps its records and its responder on its own
side, and the coordinator only sees answers over HTTP. Each service gets its own token file (the
coordinator's token is created with the same code as ``tracehop token add``) and audit log.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tracehop.chain import HttpResponder, Responder, SilentResponder
from tracehop.errors import TracehopError

if TYPE_CHECKING:
    from tracehop.demo.run import ProviderBuild

STARTUP_TIMEOUT_S = 30.0


@dataclass
class Service:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_services(builds: Mapping[str, ProviderBuild], *,
                   silent: set[str]) -> tuple[dict[str, Responder], list[Service]]:
    """Start one ``tracehop serve`` per responding provider; wait until each is healthy."""
    import httpx

    from tracehop.service.tokens import add_token

    services: list[Service] = []
    responders: dict[str, Responder] = {}
    tokens: dict[str, str] = {}
    try:
        for key, b in builds.items():
            if key in silent:
                responders[b.name] = SilentResponder()
                continue
            tokens_file = b.dir / "tokens.json"
            tokens_file.unlink(missing_ok=True)
            tokens[key] = add_token(tokens_file, "consortium")
            port = _free_port()
            log = b.dir / "serve.log"
            cmd = [sys.executable, "-m", "tracehop.cli", "serve", "--store", str(b.store_dir),
                   "--peers", str(b.peers_file), "--tokens", str(tokens_file),
                   "--audit", str(b.dir / "audit.jsonl"), "--port", str(port)]
            with log.open("wb") as logf:
                proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
            services.append(Service(b.name, f"http://127.0.0.1:{port}", proc, log))
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        for s in services:
            while True:
                if s.proc.poll() is not None:
                    raise TracehopError(f"tracehop serve for {s.name} exited at start",
                                        hint=f"See {s.log}")
                try:
                    # trust_env=False: the services are on 127.0.0.1; with HTTP_PROXY set,
                    # httpx would ask the proxy, never see them healthy, and the demo would
                    # stop after STARTUP_TIMEOUT_S saying a working service did not come up.
                    if httpx.get(s.url + "/v1/health", timeout=1.0,
                                 trust_env=False).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TracehopError(f"tracehop serve for {s.name} did not come up in "
                                        f"{STARTUP_TIMEOUT_S:g} s", hint=f"See {s.log}")
                time.sleep(0.1)
        for key, b in builds.items():
            if key in tokens:
                url = next(s.url for s in services if s.name == b.name)
                responders[b.name] = HttpResponder(url, tokens[key], trust_env=False)
    except BaseException:
        for s in services:
            s.stop()
        raise
    return responders, services
