"""Internal API gateway emulator: Kong's Admin API for the key-auth plugin.

Wire format follows https://docs.konghq.com/hub/kong-inc/key-auth/.

Admin API (``/consumers...``; needs ``Kong-Admin-Token: <admin token>``, else
401 ``{"message":"Invalid RBAC credentials"}``):

* ``GET /consumers/{consumer}`` -> the consumer (``{consumer}`` = username or id).
* ``POST /consumers/{consumer}/key-auth`` body (optional)
  ``{"tags": [str], "ttl": int, "key": str}`` -> 201
  ``{"id", "key", "consumer": {"id"}, "created_at": epoch, "tags", "ttl"}``;
  the key is generated unless given. Unknown consumer -> 404
  ``{"message":"Not found"}``.
* ``GET /consumers/{consumer}/key-auth`` -> ``{"data": [...], "next": null}``;
  like Kong, the objects include ``key``.
* ``GET|DELETE /consumers/{consumer}/key-auth/{id}`` -> 200 / 204, or 404.

A credential with ``ttl`` disappears ``ttl`` seconds after creation; its
``ttl`` field shows the seconds left.

Proxy: any other path is a route protected by key-auth. ``apikey: <key>``
header -> 200 ``{"ok": true, "consumer": <username>}``; no header -> 401
``{"message":"No API key found in request"}``; unknown, deleted or expired key
-> 401 ``{"message":"Invalid authentication credentials"}``. Each accepted call
sets the credential's ``last_used_at``. (Kong also accepts the key in the query
string or body; this emulator reads the header only.)

Metrics: ``GET /metrics`` (no auth, like Kong's Status API) answers the
Prometheus text format (prometheus_client's exposition) with one counter, the
request metric of the collection's alert rules (see docs/alerting-e2e.md),
modelled on Kong's Prometheus plugin (``kong_http_requests_total``) plus the
credential key-auth found::

    api_key_requests_total{service, key_id, key_state, code}

one increment per proxied request: ``service`` the route's first path segment
(``/demo/ping`` -> ``demo``; ``-`` for ``/``), ``code`` the HTTP status answered,
``key_state`` and ``key_id``:

* ``active``, the credential's id: a valid key (200);
* ``revoked``, the credential's id: a key this gateway deleted (admin API
  ``DELETE``) or whose ``ttl`` ran out; the gateway remembers them, answers 401;
* ``unknown``, ``unknown``: no ``apikey`` header, or a key never issued (401).

Never a key itself. A series appears at its first increment. The counters live
as long as the process (``/__emulator/reset`` forgets the keys, not the counts),
like a real gateway's, and ``GET /metrics`` is not a proxied request.

The test-only control API under ``/__emulator/`` is described in
``_control.py``; it is not Kong's. Seeding: ``{"consumer": name, "tags": [...]}``
(an unknown consumer is created). Its key list gives each key's ``revoked_at``:
the moment (epoch seconds, this process's clock) its ``DELETE`` was served, from
which on the key is refused; ``null`` for a key never deleted (one expired by its
``ttl`` shows ``expired``). benchmarks/emergency.py times revocations with it
instead of polling the list while the run it measures is going on.

Run: ``python -m tests.bench.emulators.gateway --port N --admin-token-file F
[--consumers billing-service,demo]``.
"""

from __future__ import annotations

import argparse
import hmac
import secrets
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, exposition

from ._base import BadJson, ControlError, Emulator, Request, Response, Router, iso_now
from ._cli import read_or_create_secret, run_cli

DEFAULT_CONSUMERS: tuple[str, ...] = ("billing-service", "demo")
METRICS_PATH = "/metrics"
#: the request metric (prometheus_client adds ``_total`` to a counter's name)
REQUESTS_METRIC = "api_key_requests_total"
#: text format 0.0.4, what every Prometheus 2.x reads (newer prometheus_client default to 1.0.0)
METRICS_CONTENT_TYPE = getattr(exposition, "CONTENT_TYPE_PLAIN_0_0_4", exposition.CONTENT_TYPE_LATEST)


def new_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class Consumer:
    id: str
    username: str
    created_at: int = field(default_factory=lambda: int(time.time()))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "custom_id": None,
            "created_at": self.created_at,
            "tags": None,
        }


@dataclass
class Credential:
    id: str
    key: str = field(repr=False)
    consumer: Consumer
    tags: list[str] | None
    ttl: int | None
    created: float = field(default_factory=time.time)
    created_iso: str = field(default_factory=iso_now)
    last_used_at: str | None = None
    revoked: bool = False
    #: when the DELETE was served (epoch seconds): from then on the key is refused
    revoked_at: float | None = None

    def expired(self) -> bool:
        return self.ttl is not None and time.time() >= self.created + self.ttl

    def usable(self) -> bool:
        return not self.revoked and not self.expired()

    def to_json(self) -> dict[str, Any]:
        left = None if self.ttl is None else max(0, int(self.created + self.ttl - time.time()))
        return {
            "id": self.id,
            "key": self.key,
            "consumer": {"id": self.consumer.id},
            "created_at": int(self.created),
            "tags": list(self.tags) if self.tags is not None else None,
            "ttl": left,
        }


class GatewayEmulator(Emulator):
    name = "gateway"

    def __init__(
        self, admin_token: str | None = None, consumers: Sequence[str] = DEFAULT_CONSUMERS
    ) -> None:
        super().__init__()
        self.admin_token = admin_token or new_token()
        self._initial = tuple(consumers)
        self._consumers: dict[str, Consumer] = {}
        #: username -> consumer (the first with that name): a lookup per request stays O(1) with 10,000 consumers
        self._by_username: dict[str, Consumer] = {}
        self._creds: dict[str, Credential] = {}
        #: consumer id -> its credentials (as Kong's admin API finds them, by an indexed query): listing one
        #: consumer's keys stays O(its keys) with 20,000 keys in the gateway, as it is in Kong
        self._by_consumer: dict[str, dict[str, Credential]] = {}
        self._by_key: dict[str, str] = {}
        #: keys this gateway revoked (deleted or expired) -> credential id, for the request metric
        self._ended: dict[str, str] = {}
        self.registry = CollectorRegistry()
        self._requests = Counter(
            REQUESTS_METRIC.removesuffix("_total"),
            "Requests through the gateway by API key (key-auth credential id), its state and the HTTP status.",
            ("service", "key_id", "key_state", "code"),
            registry=self.registry,
        )
        #: test control: the next keys generated by the gateway (when the client sends none), in order
        self.next_keys: list[str] = []
        self._router = Router()
        base = "/consumers/(?P<consumer>[^/]+)"
        self._router.add("GET", base, self._get_consumer)
        self._router.add("POST", f"{base}/key-auth", self._create)
        self._router.add("GET", f"{base}/key-auth", self._list)
        self._router.add("GET", f"{base}/key-auth/(?P<cred>[^/]+)", self._get)
        self._router.add("DELETE", f"{base}/key-auth/(?P<cred>[^/]+)", self._delete)
        self.reset()

    # --- state -----------------------------------------------------------
    def reset(self) -> None:
        self._consumers.clear()
        self._by_username.clear()
        self._creds.clear()
        self._by_consumer.clear()
        self._by_key.clear()
        self._ended.clear()
        self.next_keys.clear()
        for username in self._initial:
            self._add_consumer(username)

    def _add_consumer(self, username: str) -> Consumer:
        consumer = Consumer(str(uuid.uuid4()), username)
        self._consumers[consumer.id] = consumer
        self._by_username.setdefault(username, consumer)
        return consumer

    def _consumer(self, ref: str) -> Consumer | None:
        if ref in self._consumers:
            return self._consumers[ref]
        return self._by_username.get(ref)

    def _new_credential(
        self, consumer: Consumer, tags: list[str] | None, ttl: int | None, key: str | None
    ) -> Credential:
        if key is None and self.next_keys:
            key = self.next_keys.pop(0)
        cred = Credential(str(uuid.uuid4()), key or new_token(), consumer, tags, ttl)
        self._creds[cred.id] = cred
        self._by_consumer.setdefault(consumer.id, {})[cred.id] = cred
        self._by_key[cred.key] = cred.id
        return cred

    def _usable(self, cred_id: str, consumer: Consumer) -> Credential | None:
        cred = self._creds.get(cred_id)
        if cred is None or cred.consumer is not consumer or not cred.usable():
            return None
        return cred

    # --- provider API ----------------------------------------------------
    def error(self, status: int, message: str) -> Response:
        return Response(status, {"message": message})

    def _schema_violation(self, field_name: str, problem: str) -> Response:
        body = {
            "code": 2,
            "name": "schema violation",
            "message": f"schema violation ({field_name}: {problem})",
            "fields": {field_name: problem},
        }
        return Response(400, body)

    def handle(self, req: Request) -> Response:
        if req.path == METRICS_PATH and req.method == "GET":
            return Response(200, exposition.generate_latest(self.registry), {"Content-Type": METRICS_CONTENT_TYPE})
        if req.path == "/consumers" or req.path.startswith("/consumers/"):
            token = req.header("Kong-Admin-Token") or ""
            if not hmac.compare_digest(token.encode(), self.admin_token.encode()):
                return self.error(401, "Invalid RBAC credentials")
            return self._router.dispatch(req, self.error)
        return self._proxy(req)

    def _proxy(self, req: Request) -> Response:
        key = req.header("apikey")
        key_id, key_state = "unknown", "unknown"
        if not key:
            resp = self.error(401, "No API key found in request")
        else:
            cred_id = self._by_key.get(key)
            cred = self._creds.get(cred_id) if cred_id else None
            if cred is not None and cred.usable():
                cred.last_used_at = iso_now()
                resp = Response(200, {"ok": True, "consumer": cred.consumer.username})
                self._count(req, resp, cred.id, "active")
                return resp
            if cred is not None:  # expired by its ttl
                key_id, key_state = cred.id, "revoked"
            elif key in self._ended:
                key_id, key_state = self._ended[key], "revoked"
            resp = self.error(401, "Invalid authentication credentials")
        resp.headers["WWW-Authenticate"] = 'Key realm="kong"'
        self._count(req, resp, key_id, key_state)
        return resp

    def _count(self, req: Request, resp: Response, key_id: str, key_state: str) -> None:
        service = req.path.strip("/").split("/", 1)[0] or "-"
        self._requests.labels(service, key_id, key_state, str(resp.status)).inc()

    def _get_consumer(self, req: Request) -> Response:
        consumer = self._consumer(req.params["consumer"])
        if consumer is None:
            return self.error(404, "Not found")
        return Response(200, consumer.to_json())

    def _create(self, req: Request) -> Response:
        consumer = self._consumer(req.params["consumer"])
        if consumer is None:
            return self.error(404, "Not found")
        try:
            body = req.json() or {}
        except BadJson:
            return self.error(400, "Cannot parse JSON body")
        if not isinstance(body, dict):
            return self.error(400, "Cannot parse JSON body")
        for name in body:
            if name not in ("tags", "ttl", "key"):
                return self._schema_violation(name, "unknown field")
        tags = body.get("tags")
        if tags is not None and (
            not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)
        ):
            return self._schema_violation("tags", "expected a set")
        ttl = body.get("ttl")
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0):
            return self._schema_violation("ttl", "expected an integer")
        key = body.get("key")
        if key is not None and (not isinstance(key, str) or not key):
            return self._schema_violation("key", "expected a string")
        if key is not None and key in self._by_key:
            return Response(
                409,
                {
                    "code": 5,
                    "name": "unique constraint violation",
                    "message": "UNIQUE violation detected on key",
                },
            )
        cred = self._new_credential(consumer, tags, ttl or None, key)
        return Response(201, cred.to_json())

    def _list(self, req: Request) -> Response:
        consumer = self._consumer(req.params["consumer"])
        if consumer is None:
            return self.error(404, "Not found")
        data = [c.to_json() for c in self._by_consumer.get(consumer.id, {}).values() if c.usable()]
        return Response(200, {"data": data, "next": None})

    def _get(self, req: Request) -> Response:
        consumer = self._consumer(req.params["consumer"])
        cred = self._usable(req.params["cred"], consumer) if consumer else None
        if cred is None:
            return self.error(404, "Not found")
        return Response(200, cred.to_json())

    def _delete(self, req: Request) -> Response:
        consumer = self._consumer(req.params["consumer"])
        cred = self._usable(req.params["cred"], consumer) if consumer else None
        if cred is None:
            return self.error(404, "Not found")
        cred.revoked = True
        cred.revoked_at = time.time()
        self._by_key.pop(cred.key, None)
        self._ended[cred.key] = cred.id
        return Response(204)

    # --- control API -----------------------------------------------------
    def configure(self, body: Any) -> dict[str, Any]:
        """``{"next_keys": [str, ...]}``: the keys the gateway generates next (a gateway may issue any
        string; a test uses this for secrets that cannot be sent in an HTTP header)."""
        keys = body.get("next_keys") if isinstance(body, dict) and set(body) == {"next_keys"} else None
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            raise ControlError("config takes next_keys: a list of non-empty strings")
        self.next_keys = list(keys)
        return {"next_keys": len(self.next_keys)}

    def list_keys(self) -> list[dict[str, Any]]:
        return [
            {
                "id": c.id,
                "name": c.consumer.username,
                "consumer": c.consumer.username,
                "tags": c.tags,
                "created_at": c.created_iso,
                "last_used_at": c.last_used_at,
                "revoked": c.revoked,
                "revoked_at": c.revoked_at,
                "expired": c.expired(),
            }
            for c in self._creds.values()
        ]

    def seed(self, body: Any) -> dict[str, Any]:
        """``{"consumer": name, "tags": [...]}``; creates the consumer if unknown."""
        username = body.get("consumer") if isinstance(body, dict) else None
        if not isinstance(username, str) or not username:
            raise ControlError("seed needs a consumer")
        tags = body.get("tags")
        if tags is not None and not (
            isinstance(tags, list) and all(isinstance(t, str) for t in tags)
        ):
            raise ControlError("tags must be a list of strings")
        consumer = self._consumer(username) or self._add_consumer(username)
        return self._new_credential(consumer, tags, None, None).to_json()


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--admin-token-file", required=True, help="admin token (read or created)")
    parser.add_argument("--consumers", default=",".join(DEFAULT_CONSUMERS))


def _build(args: argparse.Namespace) -> GatewayEmulator:
    token = read_or_create_secret(args.admin_token_file, new_token)
    consumers = [c for c in args.consumers.split(",") if c]
    return GatewayEmulator(admin_token=token, consumers=consumers)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(argv, __doc__ or "", _add_arguments, _build)


if __name__ == "__main__":
    sys.exit(main())
