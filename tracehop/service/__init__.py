"""The responder service behind ``tracehop serve``: an authenticated HTTP API over the matcher.

- ``app``: the FastAPI application (endpoints, the order of checks, error bodies, audit);
- ``models``: request/response models (the answer models generated from ``tracehop.answer``);
- ``tokens``: per-requester API tokens, stored hashed, reloaded when the file changes;
- ``ratelimit``: per-requester token buckets;
- ``pool``: matchers answering in parallel; ``groupcommit``: one audit fsync for many requests;
- ``snapshots``: the latest store snapshot, re-used until the next commit;
- ``run``: wiring a store, peers, tokens and an audit log into a uvicorn server.

Deployment (reverse proxy, TLS/mTLS, systemd): docs/deploy.md.
"""
