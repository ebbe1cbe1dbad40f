# Internal to this collection: not a public API; may change without notice.
"""A small JSON-over-HTTP client for provider APIs, with opt-in retries.

Error messages carry the method, the path template, the status and the
provider's own error text; never headers or request bodies. Some APIs echo the
request's credentials in their error text (``invalid token Bearer ...``): every
header value sent with the request is hidden from that text, in any common encoding.

Connections are kept alive and shared: every client's session mounts this process's one pooled
adapter (``shared_adapter()``), so the keys of a batch, each with its own client and credentials, reuse
the same few connections per provider endpoint. Each client keeps its own headers and accepts no cookies,
so nothing of one key's client reaches another's requests. A forked child starts with a new pool: it
never writes on a socket its parent also uses.

The environment's proxy settings (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) and CA bundle
(``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) are honoured as requests honours them, but read once per process and
endpoint (scheme, host and port) instead of once per request: requests scans the whole environment on every request.
Each request goes through ``_lean_http.LeanRequest``: requests' own response and exceptions without the per-request
work that does nothing for these sessions (cookies, hooks, netrc), sent on this process's kept connections by the
collection's own HTTP/1.1 (``_connections.py``, ``_http1.py``; at most the pool size in flight per endpoint) or,
for what those do not handle (no certificate check, a client certificate, a streamed body), through the shared
adapter's urllib3 pool; an endpoint with a proxy, a netrc entry or a redirect goes the plain requests way (see
those modules).
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Iterable, Optional
from urllib.parse import urlsplit

from ._errors import ProviderError
from ._lean_http import LeanRequest, forget_endpoints
from ._retry import RetryPolicy, Retryable, call_with_retry
from ._scrub import Scrubber

try:
    import requests
    import requests.adapters
    from requests.sessions import merge_setting
    from requests.utils import get_environ_proxies
    HAS_REQUESTS = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_REQUESTS = False

#: connections kept per endpoint (and the most requests in flight to one: more wait for one), _connections and urllib3
DEFAULT_POOL_SIZE = 64
_ADAPTER: list[Any] = []
_ADAPTER_LOCK = threading.Lock()
#: (scheme, netloc, no_proxy) -> (the environment's proxies for that endpoint, its CA bundle or None), per process
_ENVIRONMENT: dict[tuple[str, str, Optional[str]], tuple[dict[str, str], Optional[str]]] = {}

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
#: request headers that never carry a credential (every other header's value is hidden from error texts)
_PLAIN_HEADERS = frozenset({"user-agent", "accept", "accept-encoding", "connection", "content-type", "content-length",
                            "host"})


def provider_message(body: Any) -> str:
    """The human part of a provider error body (SendGrid ``errors[].message``, Kong ``message``)."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            texts = [str(e.get("message")) for e in errors if isinstance(e, dict) and e.get("message")]
            if texts:
                return "; ".join(texts)[:300]
        for field in ("message", "error", "detail"):
            if isinstance(body.get(field), str):
                return body[field][:300]
    return ""


def _retry_after(response: "requests.Response") -> Optional[float]:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _pause_when_spent(budget: Any, response: "requests.Response") -> None:
    """A provider that says its window is spent (``X-RateLimit-Remaining: 0``, as SendGrid does) and when it resets
    (``X-RateLimit-Reset``, epoch seconds) pauses every user of the budget until then, before any 429."""
    if budget is None or response.headers.get("X-RateLimit-Remaining", "").strip() != "0":
        return
    try:
        reset = float(response.headers.get("X-RateLimit-Reset", ""))
    except ValueError:
        return
    if reset > 1e9:  # epoch seconds; a small number would be a delay in seconds, which SendGrid does not send
        budget.pause(reset - time.time())


def pool_size(env: Optional[dict[str, str]] = None) -> int:
    """``APIKEYS_HTTP_POOL_SIZE`` (0: no sharing, one pool per client, as before), else DEFAULT_POOL_SIZE."""
    value = (os.environ if env is None else env).get("APIKEYS_HTTP_POOL_SIZE", "")
    try:
        return max(0, int(value)) if value.strip() else DEFAULT_POOL_SIZE
    except ValueError:
        return DEFAULT_POOL_SIZE


def shared_adapter(size: Optional[int] = None) -> Optional["requests.adapters.HTTPAdapter"]:
    """This process's pooled adapter (made on first use, ``size`` connections per host); None when disabled."""
    with _ADAPTER_LOCK:
        if not _ADAPTER or (size is not None and _ADAPTER[0] is not None and _ADAPTER[1] != size):
            size = pool_size() if size is None else size
            adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=size, pool_block=True,
                                                    max_retries=0) if size > 0 else None
            _ADAPTER[:] = [adapter, size]
        return _ADAPTER[0]


def share_connections(session: "requests.Session") -> "requests.Session":
    """``session`` with the shared pool mounted (when enabled) and no cookie kept between requests."""
    adapter = shared_adapter()
    if adapter is not None:
        session.mount("https://", adapter)
        session.mount("http://", adapter)
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    session.merge_environment_settings = _EnvironmentOnce(session)
    # requests' own work without its per-request extras, on kept connections (_lean_http.py, _connections.py)
    session.request = LeanRequest(session, adapter, _ADAPTER[1] if adapter is not None else 0)
    return session


def _environment(url: str, no_proxy: Optional[str]) -> tuple[dict[str, str], Optional[str]]:
    """The proxies the environment sets for ``url``'s endpoint and the CA bundle it names, read once per process."""
    parts = urlsplit(url)
    key = (parts.scheme, parts.netloc, no_proxy)
    found = _ENVIRONMENT.get(key)
    if found is None:
        found = (get_environ_proxies(f"{parts.scheme}://{parts.netloc}/", no_proxy=no_proxy),
                 os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None)
        _ENVIRONMENT[key] = found
    return found


class _EnvironmentOnce:
    """``requests.Session.merge_environment_settings`` with the environment read through ``_environment``:
    the same merge (request settings first, then the environment's, then the session's)."""

    def __init__(self, session: "requests.Session") -> None:
        self.session = session

    def __call__(self, url: str, proxies: Optional[dict[str, str]], stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        session = self.session
        if session.trust_env:
            env_proxies, ca_bundle = _environment(url, proxies.get("no_proxy") if proxies is not None else None)
            if proxies is not None:
                for name, value in env_proxies.items():
                    proxies.setdefault(name, value)
            if verify is True or verify is None:
                verify = ca_bundle or verify
        if proxies is not None and not session.proxies:  # merge_setting's answer, without its costly Protocol checks
            merged_proxies: Any = OrderedDict((name, value) for name, value in proxies.items() if value is not None)
        else:
            merged_proxies = merge_setting(proxies, session.proxies)
        return {"proxies": merged_proxies, "stream": merge_setting(stream, session.stream),
                "verify": merge_setting(verify, session.verify), "cert": merge_setting(cert, session.cert)}


def _forget_pool() -> None:
    """In a forked child: a new lock, and a pool of its own on first use (the parent's sockets stay the parent's)."""
    global _ADAPTER_LOCK  # pylint: disable=global-statement
    _ADAPTER_LOCK = threading.Lock()
    _ADAPTER.clear()
    _ENVIRONMENT.clear()
    forget_endpoints()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


class HttpClient:
    def __init__(self, provider: str, base_url: str, headers: dict[str, str], *,
                 timeout: float = 10.0, verify: Any = True,
                 retry: RetryPolicy = RetryPolicy()) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry
        self.session = share_connections(requests.Session())
        self.session.headers.update(headers)
        self.session.verify = verify

    def url(self, path: str) -> str:
        if path.startswith("http://") or path.startswith("https://"):
            return path
        return self.base_url + path

    def request(self, method: str, path: str, *, label: str = "", json: Any = None,
                headers: Optional[dict[str, str]] = None, idempotent: bool = True,
                expect: Iterable[int] = (200, 201, 204), tolerate: Iterable[int] = ()) -> "requests.Response":
        """Send one request. Statuses in ``expect`` or ``tolerate`` are returned; others raise.

        Idempotent requests are retried on timeouts, connection errors, 429 and
        502/503/504. Non-idempotent ones (creates) only on 429 ("not processed")
        and on a connect timeout (never sent).
        """
        expected = set(expect) | set(tolerate)
        what = f"{self.provider}: {method} {label or path}"

        def attempt() -> "requests.Response":
            try:
                response = self.session.request(method, self.url(path), json=json,
                                                headers=headers, timeout=self.timeout)
            except requests.exceptions.RequestException as exc:
                error = ProviderError(f"{what} failed: {type(exc).__name__} (no answer from the provider)")
                # A create is repeated only when it surely never reached the provider.
                if idempotent or isinstance(exc, requests.exceptions.ConnectTimeout):
                    raise Retryable(error) from None
                raise error from None
            _pause_when_spent(self.retry.budget, response)
            if response.status_code in expected:
                return response
            error = self.error(what, response)
            if response.status_code == 429 or (idempotent and response.status_code in RETRYABLE_STATUS):
                raise Retryable(error, _retry_after(response), throttled=response.status_code == 429)
            raise error

        return call_with_retry(attempt, self.retry)

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """``request``, then the body as JSON; a body that is not JSON is a ProviderError."""
        response = self.request(method, path, **kwargs)
        return self.body(response, f"{self.provider}: {method} {kwargs.get('label') or path}")

    @staticmethod
    def body(response: "requests.Response", what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ProviderError(f"{what} answered HTTP {response.status_code} with a body that is not JSON",
                                response.status_code) from None

    @staticmethod
    def error(what: str, response: "requests.Response") -> ProviderError:
        try:
            detail = provider_message(response.json())
        except ValueError:
            detail = ""
        detail = _without_sent_headers(detail, response)
        suffix = f": {detail}" if detail else ""
        return ProviderError(f"{what} answered HTTP {response.status_code}{suffix}", response.status_code)


def _without_sent_headers(text: str, response: "requests.Response") -> str:
    """``text`` with the value of every header the request sent hidden (a provider may echo its credential)."""
    request = getattr(response, "request", None)
    headers = getattr(request, "headers", None) or {}
    if not text or not headers:
        return text
    scrubber = Scrubber()
    for name, value in headers.items():
        if str(name).lower() in _PLAIN_HEADERS:
            continue
        value = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        scrubber.remember(value)
        scrubber.remember_all(value.split(" ", 1)[1:])  # "Bearer <token>": the token on its own too
    return scrubber.scrub(text)
