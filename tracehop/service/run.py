"""Wiring and running the service: store + peers + tokens + audit log -> a uvicorn server.

:func:`build_app` opens everything ``tracehop serve`` names and builds the app; :func:`serve`
runs it in the foreground (the CLI); :class:`ServerThread` runs an app on a free loopback port
in a background thread (tests and the load benchmark talk to it over real HTTP).
"""

from __future__ import annotations

import os
import signal
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI

from tracehop.errors import ConfigError
from tracehop.service.app import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_BODY,
    DEFAULT_RATE_PER_MINUTE,
    ServiceConfig,
    create_app,
)
from tracehop.service.groupcommit import GroupCommitLog
from tracehop.service.pool import MatcherPool
from tracehop.service.snapshots import LatestSnapshot
from tracehop.service.tokens import TokenFile

#: How long SIGTERM waits for the requests in flight (below the unit's TimeoutStopSec=30s).
GRACEFUL_SHUTDOWN_S = 25


@dataclass(frozen=True)
class TLSOptions:
    """TLS for uvicorn itself; with ``ca_certs`` every client must present a certificate
    signed by that CA (mTLS, ``CERT_REQUIRED``)."""

    certfile: str
    keyfile: str
    ca_certs: str | None = None

    def check(self) -> None:
        """Load the certificate, key and CA as uvicorn will, and raise a :class:`ConfigError`
        naming the file at fault.

        Without this, a certificate that is not PEM, a key that does not match it, or an
        unreadable file surfaced as a bare ``ssl.SSLError: [SSL] PEM lib`` traceback from
        inside uvicorn, after the store was opened; and a passphrase-protected key made OpenSSL
        prompt on the terminal (none under systemd). uvicorn is given no passphrase, so one
        is refused here with a clear message instead.
        """
        def no_password() -> str:
            raise ConfigError("the private key is passphrase-protected", path=self.keyfile,
                              hint="Give the service an unencrypted key (readable only by its "
                                   "user), e.g. `openssl pkey -in KEY -out KEY.plain`")

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            ctx.load_cert_chain(self.certfile, self.keyfile, password=no_password)
        except ConfigError:
            raise
        except (ssl.SSLError, OSError) as e:
            raise ConfigError(f"cannot load the TLS certificate and key ({e})",
                              path=self.certfile,
                              hint=f"--ssl-certfile must be a PEM certificate (chain) and "
                                   f"--ssl-keyfile ({self.keyfile}) its matching PEM private "
                                   "key") from None
        if self.ca_certs:
            try:
                ctx.load_verify_locations(cafile=self.ca_certs)
            except (ssl.SSLError, OSError) as e:
                raise ConfigError(f"cannot load the client CA certificates ({e})",
                                  path=self.ca_certs,
                                  hint="--ssl-ca-certs must hold PEM CA certificates") from None

    def uvicorn_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"ssl_certfile": self.certfile, "ssl_keyfile": self.keyfile}
        if self.ca_certs:
            kw["ssl_ca_certs"] = self.ca_certs
            kw["ssl_cert_reqs"] = ssl.CERT_REQUIRED
        return kw


def build_app(
    store_dir: str | Path,
    peers_file: str | Path,
    tokens_file: str | Path,
    audit_file: str | Path,
    *,
    rate_per_minute: int = DEFAULT_RATE_PER_MINUTE,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    matchers: int | None = None,
    proxy_client_cert: bool = False,
) -> FastAPI:
    """Open the store, the peer directory, the token file and the audit log; build the app.

    Each bad file raises its own :class:`tracehop.errors.TracehopError` (naming the file)
    before any port is opened.
    """
    from tracehop.match import Matcher
    from tracehop.peers import PeerDirectory
    from tracehop.respond.audit import AuditLog
    from tracehop.store import Store

    store = LatestSnapshot(Store.open(store_dir))
    peers = PeerDirectory.load(peers_file)
    tokens = TokenFile(tokens_file)
    audit_log = AuditLog(audit_file)
    # Every answer waits for its audit entry: with a damaged tail or an unwritable file the
    # service used to start, pass its health check, and answer every request 500.
    audit_log.check()
    # The Matcher takes the latest store snapshot per lookup, so commits made by a concurrent
    # ingest are answered from as soon as they land (and never half-visible); LatestSnapshot
    # re-uses it until the next commit instead of re-reading the log on every request.
    size = matchers if matchers is not None else min(4, os.cpu_count() or 1)
    pool = MatcherPool(lambda: Matcher(store, peers), size)
    config = ServiceConfig(
        tokens=tokens,
        answerer=pool,
        # The app groups the entries of concurrent requests itself (AsyncGroupCommit);
        # GroupCommitLog also groups writers on other threads (another event loop).
        audit=GroupCommitLog(audit_log),
        concurrency=size,
        store_version=lambda: store.version,
        audit_ready=audit_log.check,
        rate_per_minute=rate_per_minute,
        max_batch=max_batch,
        max_body_bytes=max_body_bytes,
        proxy_client_cert=proxy_client_cert,
    )
    return create_app(config)


def uvicorn_config(app: FastAPI, host: str, port: int, *, tls: TLSOptions | None = None,
                   forwarded_allow_ips: str | None = None, log_level: str = "info",
                   access_log: bool = True) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port, workers=1,  # rate limits live in this one process
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        server_header=False,  # do not advertise the server software
        log_level=log_level, access_log=access_log,
        # On SIGTERM uvicorn stops accepting, lets the requests in flight finish for this
        # long, then cancels the rest (a 500 each). It was 10 s, while docs/deploy.md's unit
        # gives the stop 30 s (TimeoutStopSec) and says the requests in flight finish: under
        # load, batches queued for a matcher were cut off at 10 s. Kept below 30 s so that
        # the process exits by itself before systemd's SIGKILL.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        **(tls.uvicorn_kwargs() if tls else {}),
    )


def serve(app: FastAPI, host: str, port: int, **kwargs: Any) -> None:
    """Run in the foreground until SIGINT, SIGTERM or SIGHUP."""
    server = uvicorn.Server(uvicorn_config(app, host, port, **kwargs))
    if threading.current_thread() is threading.main_thread():
        # uvicorn handles only SIGINT and SIGTERM; SIGHUP (a closed ssh session, `kill -HUP`
        # out of habit) killed the process on the spot: no drain, and a request whose audit
        # entry was written never got its answer. It now stops like SIGTERM (there is nothing
        # to reload: the token file and the store are re-read as they change).
        signal.signal(signal.SIGHUP, server.handle_exit)
    server.run()


class ServerThread:
    """Runs an app on ``host`` (loopback) at a free port in a thread; ``with`` gives its URL."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", *, tls: TLSOptions | None = None,
                 log_level: str = "warning") -> None:
        self.config = uvicorn_config(app, host, 0, tls=tls, log_level=log_level,
                                     access_log=False)
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, name="tracehop-serve",
                                       daemon=True)
        self.scheme = "https" if tls else "http"
        self.url = ""

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        sock = self.server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        self.url = f"{self.scheme}://{host}:{port}"
        return self.url

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
