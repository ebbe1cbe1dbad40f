# Internal to this collection: not a public API; may change without notice.
"""A leaner ``requests.Session.request`` for the collection's own sessions (provider clients and the Vault store).

``share_connections`` (``_http.py``) gives every session a ``LeanRequest`` in place of its ``request``. For a
request that needs nothing but a URL, headers, a body, a timeout and the TLS settings, it skips the parts of
``requests.Session.request`` that do nothing for these sessions and still cost CPU on every request (a batch
makes about 14 per key): the Request -> PreparedRequest copy, the cookie jar merges (the sessions accept no
cookie), the hooks, the ~/.netrc lookup and the redirect scan of a response that is no redirect. On a session
that uses the process's shared adapter, a request that ``_connections.can_send`` allows (http, or https with the
certificate checked and no client certificate; a body of bytes or text) goes on that module's kept connections,
written and read by ``_http1.py``, and its ``requests.Response`` is made as ``HTTPAdapter.build_response`` makes
it (status, reason, headers with repeated names joined by ", ", the decoded body, encoding, url, request). Any
other request is sent
through the adapter's urllib3 pool with the same arguments ``HTTPAdapter.send`` uses (same retry object, same
timeout, same TLS context and client certificate), and its response built by the adapter's own ``build_response``.

What callers see stays requests' own:

* the response: status, headers, body, ``response.request`` (its headers are what error texts are scrubbed of);
* the exceptions (``_as_requests_error``, mapped as ``HTTPAdapter.send`` of requests 2.x maps urllib3's):
  a refused connection is ``ConnectionError`` whose reason is urllib3's ``NewConnectionError`` (never sent),
  a connect timeout ``ConnectTimeout`` (never sent), a read timeout ``ReadTimeout`` (maybe sent),
  a TLS failure ``SSLError``;
* TLS verify, ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``, the client certificate and the proxies of the
  environment are merged by the session's own ``merge_environment_settings``.

The plain ``requests`` path is taken instead, decided once per process and endpoint (scheme, host and port),
where requests would apply something this path does not:

* the environment names a proxy for the endpoint (``HTTPS_PROXY`` ... not bypassed by ``NO_PROXY``);
* ``~/.netrc`` (or ``$NETRC``) has an entry for the host, or the URL carries a user and password;
* the endpoint answered with a redirect (the redirect is followed by requests, as before, and the endpoint's
  later requests go the plain way: a Vault standby that redirects to the active node).

and for a single request that passes cookies, files, auth, hooks, proxies, ``stream`` or
``allow_redirects=False``, on a session given auth, proxies, hooks or cookies, on an adapter that is not
requests' own ``HTTPAdapter``, and while ``requests.Session.request`` or ``send`` is wrapped by someone else
(instrumentation, a test double): theirs is called.
"""
from __future__ import annotations

import threading
from datetime import timedelta
from time import perf_counter
from typing import Any, Optional
from urllib.parse import urlsplit

from . import _connections

try:
    import requests
    import requests.adapters
    from requests import exceptions as rq
    from requests.cookies import RequestsCookieJar
    from requests.sessions import merge_setting
    from requests.structures import CaseInsensitiveDict
    from requests.utils import check_header_validity, get_encoding_from_headers, get_environ_proxies, get_netrc_auth
    from requests._internal_utils import to_native_string
    import urllib3
    from urllib3 import exceptions as u3
    HAS_REQUESTS = True
    _REQUESTS_OWN = (requests.Session.request, requests.Session.send)
except ImportError:  # pragma: no cover - reported by the module
    HAS_REQUESTS = False
    _REQUESTS_OWN = ()

#: (scheme, netloc) -> True when the plain requests path is needed for that endpoint, per process
_PLAIN: dict[tuple[str, str], bool] = {}
_PLAIN_LOCK = threading.Lock()
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def plain_endpoint(scheme: str, netloc: str, trust_env: bool = True) -> bool:
    """Does requests apply something to ``scheme://netloc`` that the lean path does not (proxy, netrc, userinfo)?"""
    key = (scheme, netloc)
    found = _PLAIN.get(key)
    if found is None:
        root = f"{scheme}://{netloc}/"
        found = "@" in netloc or (trust_env and bool(get_environ_proxies(root) or get_netrc_auth(root)))
        with _PLAIN_LOCK:
            found = _PLAIN.setdefault(key, found)
    return found


def forget_endpoints() -> None:
    """Decide every endpoint again and drop every kept connection (a forked child, a test that changed the environment)."""
    _PLAIN.clear()
    _connections.forget()


class LeanRequest:
    """``session.request`` through the lean path when the request and its endpoint allow it (module docstring)."""

    def __init__(self, session: "requests.Session", shared: Optional["requests.adapters.HTTPAdapter"] = None,
                 size: int = 0) -> None:
        self.session = session
        self.shared = shared  # the process's shared adapter: its requests may go through _connections
        self.size = size  # its size: the most requests in flight and idle connections per endpoint
        self.lean = 0  # requests sent the lean way (tests and benchmarks read it)
        self.direct = 0  # of those, sent on _connections' keep-alive connections instead of urllib3's pool

    def __call__(self, method: str, url: str, params: Any = None, data: Any = None, headers: Any = None,
                 cookies: Any = None, files: Any = None, auth: Any = None, timeout: Any = None,
                 allow_redirects: bool = True, proxies: Any = None, hooks: Any = None, stream: Any = None,
                 verify: Any = None, cert: Any = None, json: Any = None) -> "requests.Response":
        session = self.session
        adapter = None
        if (allow_redirects and not (cookies or files or auth or hooks or proxies or stream)
                and (requests.Session.request, requests.Session.send) == _REQUESTS_OWN
                and session.auth is None and not session.proxies and not any(session.hooks.values())
                and not session.stream and not session.cookies and isinstance(url, str)):
            adapter = self._adapter(url)
        if adapter is None:
            return type(session).request(session, method, url, params=params, data=data, headers=headers,
                                         cookies=cookies, files=files, auth=auth, timeout=timeout,
                                         allow_redirects=allow_redirects, proxies=proxies, hooks=hooks,
                                         stream=stream, verify=verify, cert=cert, json=json)
        self.lean += 1
        return self._send(adapter, method, url, params, data, headers, timeout, verify, cert, json)

    def _adapter(self, url: str) -> Optional["requests.adapters.HTTPAdapter"]:
        parts = urlsplit(url)
        if plain_endpoint(parts.scheme, parts.netloc, self.session.trust_env):
            return None
        adapter = self.session.get_adapter(url)
        return adapter if type(adapter) is requests.adapters.HTTPAdapter else None  # pylint: disable=unidiomatic-typecheck  # a subclass may send its own way

    def _send(self, adapter: "requests.adapters.HTTPAdapter", method: str, url: str, params: Any, data: Any,
              headers: Any, timeout: Any, verify: Any, cert: Any, json: Any) -> "requests.Response":
        session = self.session
        prepared = requests.PreparedRequest()
        prepared.prepare_method(method)
        prepared.prepare_url(url, merge_setting(params, session.params) if params or session.params else None)
        prepared.headers = _merged_headers(session.headers, headers)
        prepared.prepare_body(data or {}, None, json)
        settings = session.merge_environment_settings(prepared.url, {}, None, verify, cert)
        verify, cert = settings["verify"], settings["cert"]
        if adapter is self.shared and self._direct(prepared, verify, cert):
            return self._send_direct(adapter, prepared, timeout, verify, cert)
        try:
            pool = adapter.get_connection_with_tls_context(prepared, verify, proxies=None, cert=cert)
        except u3.LocationValueError as exc:
            raise rq.InvalidURL(exc, request=prepared) from exc
        adapter.cert_verify(pool, prepared.url, verify, cert)
        started = perf_counter()
        try:
            # the pool's request(): with no fields and no json it hands these arguments on unchanged to the pool's
            # lowest-level send (a body method's headers as a copy), which is what HTTPAdapter.send calls
            raw = pool.request(prepared.method, prepared.path_url, body=prepared.body, headers=prepared.headers,
                               redirect=False, assert_same_host=False, preload_content=False, decode_content=False,
                               retries=adapter.max_retries, timeout=_timeout(timeout),
                               chunked=not (prepared.body is None or "Content-Length" in prepared.headers))
        except Exception as exc:
            mapped = _as_requests_error(exc, prepared)
            if mapped is None:
                raise
            raise mapped from exc
        response = adapter.build_response(prepared, raw)
        response.content  # pylint: disable=pointless-statement  # read the body now, as requests does unless stream
        response.elapsed = timedelta(seconds=perf_counter() - started)
        if response.status_code in _REDIRECTS and "location" in response.headers:
            return self._redirected(response, prepared, timeout, verify, cert)
        return response

    def _direct(self, prepared: "requests.PreparedRequest", verify: Any, cert: Any) -> bool:
        """May this request go on _connections' keep-alive connections (that module's docstring)?"""
        return (_connections.can_send(urlsplit(prepared.url).scheme, verify, cert, prepared.body)
                and _connections.accepts_only_decoded(prepared.headers.get("Accept-Encoding")))

    def _send_direct(self, adapter: "requests.adapters.HTTPAdapter", prepared: "requests.PreparedRequest",
                     timeout: Any, verify: Any, cert: Any) -> "requests.Response":
        """Send on _connections' kept connections; the answer as ``HTTPAdapter.build_response`` makes it."""
        parts = urlsplit(prepared.url)
        scheme = parts.scheme
        body = prepared.body.encode("utf-8") if isinstance(prepared.body, str) else prepared.body  # as urllib3 2 sends text
        started = perf_counter()
        try:
            answer = _connections.send(prepared.method, scheme, parts.hostname, parts.port or (443 if scheme == "https" else 80),
                                       prepared.path_url, prepared.headers, body, _timeouts(timeout), verify, self.size)
        except rq.RequestException as exc:
            exc.request = prepared
            raise
        self.direct += 1
        response = requests.Response()
        response.status_code, response.reason = answer.status, answer.reason
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        for name, value in answer.headers:  # a repeated header joined with ", ", as urllib3's HTTPHeaderDict gives it
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        response.headers = headers
        response._content, response._content_consumed = answer.body, True  # pylint: disable=protected-access
        response.encoding = get_encoding_from_headers(headers)
        response.url, response.request, response.connection = prepared.url, prepared, adapter
        response.elapsed = timedelta(seconds=perf_counter() - started)
        if response.status_code in _REDIRECTS and "location" in response.headers:
            return self._redirected(response, prepared, timeout, verify, cert)
        return response

    def _redirected(self, response: "requests.Response", prepared: "requests.PreparedRequest", timeout: Any,
                    verify: Any, cert: Any) -> "requests.Response":
        """Follow as requests does (``Session.resolve_redirects``); the endpoint goes the plain way from now on."""
        parts = urlsplit(prepared.url)
        with _PLAIN_LOCK:
            _PLAIN[(parts.scheme, parts.netloc)] = True
        prepared._cookies = RequestsCookieJar()  # pylint: disable=protected-access  # what prepare_cookies would set
        history = list(self.session.resolve_redirects(response, prepared, stream=False, timeout=timeout,
                                                      verify=verify, cert=cert, proxies={}))
        if not history:
            return response
        history.insert(0, response)
        final = history.pop()
        final.history = history
        return final


def _merged_headers(session_headers: Any, headers: Any) -> "CaseInsensitiveDict[Any]":
    """What requests' ``merge_setting`` then ``PreparedRequest.prepare_headers`` make of the session's and the
    request's headers (the request's win; one set to None is not sent; each checked by ``check_header_validity``),
    in one dict: requests builds three, and its ``merge_setting`` makes runtime Protocol checks (requests >= 2.33)."""
    merged = CaseInsensitiveDict()
    for source in (session_headers, headers or {}):
        for name, value in source.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[to_native_string(name)] = value
    for header in merged.items():
        check_header_validity(header)
    return merged


def _timeouts(timeout: Any) -> tuple[Optional[float], Optional[float]]:
    """(connect, read) seconds from a requests timeout (``_timeout``'s reading); None: wait as long as it takes."""
    made = _timeout(timeout)
    return tuple(value if isinstance(value, (int, float)) else None  # type: ignore[return-value]  # urllib3's "default"
                 for value in (made.connect_timeout, made.read_timeout))


def _timeout(timeout: Any) -> "urllib3.Timeout":
    """requests' reading of a timeout: one number for both, a (connect, read) pair, or a urllib3 Timeout."""
    if isinstance(timeout, urllib3.Timeout):
        return timeout
    if isinstance(timeout, tuple):
        try:
            connect, read = timeout
        except ValueError:
            raise ValueError(f"Invalid timeout {timeout}. Pass a (connect, read) timeout tuple, "
                             "or a single float to set both timeouts to the same value.") from None
        return urllib3.Timeout(connect=connect, read=read)
    return urllib3.Timeout(connect=timeout, read=timeout)


def _as_requests_error(exc: Exception, request: "requests.PreparedRequest") -> Optional[Exception]:
    """The requests exception ``HTTPAdapter.send`` (requests 2.x) raises for urllib3's ``exc``; None: ``exc`` as is.

    urllib3 gives up with ``MaxRetryError`` (the adapter's ``Retry(0, read=False)``) whose ``reason`` says why:
    a connect timeout that is not a failed connection -> ConnectTimeout; a retry on status -> RetryError; a proxy
    -> ProxyError; TLS -> SSLError; any other (refused, DNS, reset before an answer) -> ConnectionError with the
    MaxRetryError as its argument (``_maybe_sent`` reads its reason). Raised directly: ProtocolError or OSError ->
    ConnectionError, ClosedPoolError -> ConnectionError, ProxyError -> ProxyError, SSLError -> SSLError, a read
    timeout -> ReadTimeout, InvalidHeader -> InvalidHeader.
    """
    if isinstance(exc, (u3.ProtocolError, OSError)):
        return rq.ConnectionError(exc, request=request)
    if isinstance(exc, u3.MaxRetryError):
        reason = exc.reason
        if isinstance(reason, u3.ConnectTimeoutError) and not isinstance(reason, u3.NewConnectionError):
            return rq.ConnectTimeout(exc, request=request)
        for cause, error in ((u3.ResponseError, rq.RetryError), (u3.ProxyError, rq.ProxyError), (u3.SSLError, rq.SSLError)):
            if isinstance(reason, cause):
                return error(exc, request=request)
        return rq.ConnectionError(exc, request=request)
    if isinstance(exc, u3.ClosedPoolError):
        return rq.ConnectionError(exc, request=request)
    if isinstance(exc, u3.ProxyError):
        return rq.ProxyError(exc)
    for cause, error in ((u3.SSLError, rq.SSLError), (u3.ReadTimeoutError, rq.ReadTimeout), (u3.InvalidHeader, rq.InvalidHeader)):
        if isinstance(exc, cause):
            return error(exc, request=request)
    return None
