"""The lean HTTP path (_lean_http.LeanRequest) against real local servers in this process: no mocks.

Each test compares with what requests' own Session.request gives for the same request, and checks that the lean
path was taken (``session.request.lean``) or, where requests applies something it does not, that it was not.
"""
from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.apikeys.rotation.plugins.module_utils import _http, _lean_http
from ansible_collections.apikeys.rotation.plugins.module_utils._http import share_connections
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._vault_kv2 import _maybe_sent

TOKEN = "LEAN-TOKEN-CANARY-9a8b7c"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    seen: list[dict[str, Any]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Handler.seen.append({"line": self.requestline, "headers": dict(self.headers), "body": body})
        path = self.path.split("://", 1)[-1]  # through a proxy: the absolute form
        if path.endswith("/slow"):
            time.sleep(1.0)
        if path.endswith("/redirect"):
            self.send_response(307)
            self.send_header("Location", "/json")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status = int(path.rsplit("/status/", 1)[1]) if "/status/" in path else 200
        answer = json.dumps({"errors": ["no such key"]} if status >= 400 else
                            {"method": self.command, "path": self.path, "body": body.decode()}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Answer", "yes")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


def _serve(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def server() -> Iterator[str]:
    Handler.seen = []
    made = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    made.daemon_threads = True
    for running in _serve(made):
        yield f"http://127.0.0.1:{running.server_address[1]}"


pytestmark = pytest.mark.usefixtures("http_environment_cleared")  # conftest.py


def _forget() -> None:
    _http._ENVIRONMENT.clear()
    _lean_http.forget_endpoints()


def lean_session() -> requests.Session:
    session = share_connections(requests.Session())
    session.headers["X-Vault-Token"] = TOKEN
    return session


def plain_session() -> requests.Session:
    session = lean_session()
    del session.request  # requests' own Session.request
    return session


def test_statuses_json_and_headers_as_requests_gives_them(server: str) -> None:
    lean, plain = lean_session(), plain_session()
    for method, path, kwargs in (("GET", "/json", {}), ("POST", "/v1/secret/data/x", {"json": {"data": {"k": 1}}}),
                                 ("GET", "/status/404", {}), ("DELETE", "/status/503", {}),
                                 ("GET", "/list", {"params": {"list": "true"}}), ("PUT", "/raw", {"data": b"abc"})):
        ours = lean.request(method, server + path, timeout=5, **kwargs)
        theirs = plain.request(method, server + path, timeout=5, **kwargs)
        assert (ours.status_code, ours.json(), ours.ok, ours.reason) == (theirs.status_code, theirs.json(), theirs.ok, theirs.reason)
        assert ours.headers["x-answer"] == "yes" and ours.url == theirs.url
        assert dict(ours.request.headers) == dict(theirs.request.headers)
        sent_ours, sent_theirs = Handler.seen[-2], Handler.seen[-1]
        assert sent_ours["line"] == sent_theirs["line"] and sent_ours["body"] == sent_theirs["body"]
        assert {k.lower(): v for k, v in sent_ours["headers"].items()} == {k.lower(): v for k, v in sent_theirs["headers"].items()}
    assert lean.request.lean == lean.request.direct == 6  # all on _connections' kept connections
    assert Handler.seen[0]["headers"]["X-Vault-Token"] == TOKEN


def test_request_headers_over_the_sessions_and_none_drops_one(server: str) -> None:
    session = lean_session()
    answer = session.request("GET", server + "/json", headers={"X-Vault-Namespace": "team-a", "Accept-Encoding": None},
                             timeout=5)
    assert answer.status_code == 200 and session.request.lean == 1
    sent = {k.lower(): v for k, v in Handler.seen[-1]["headers"].items()}
    assert sent["x-vault-namespace"] == "team-a" and sent["x-vault-token"] == TOKEN
    assert sent["accept-encoding"] == "identity"  # the session's gzip dropped: http.client's default, as with requests
    assert sent["user-agent"].startswith("python-requests/")
    plain_session().request("GET", server + "/json", headers={"X-Vault-Namespace": "team-a", "Accept-Encoding": None},
                            timeout=5)
    assert Handler.seen[-1]["headers"] == Handler.seen[-2]["headers"]


def test_an_invalid_header_is_refused_before_sending(server: str) -> None:
    for session in (lean_session(), plain_session()):
        with pytest.raises(requests.exceptions.InvalidHeader):
            session.request("GET", server + "/json", headers={"X-Vault-Namespace": "a\r\nX-Injected: 1"}, timeout=5)
    assert Handler.seen == []


def test_no_cookie_is_kept(server: str) -> None:
    session = lean_session()
    session.request("GET", server + "/json", timeout=5)
    assert len(session.cookies) == 0 and "cookie" not in {k.lower() for k in Handler.seen[-1]["headers"]}


def test_connection_refused_is_a_connection_error_never_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    session = lean_session()
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        session.request("GET", f"http://127.0.0.1:{port}/x", timeout=2)
    assert not isinstance(caught.value, requests.exceptions.ConnectTimeout)
    assert session.request.lean == 1 and _maybe_sent(caught.value) is False
    with pytest.raises(requests.exceptions.ConnectionError) as theirs:
        plain_session().request("GET", f"http://127.0.0.1:{port}/x", timeout=2)
    assert type(caught.value) is type(theirs.value) and _maybe_sent(theirs.value) is False


def test_connect_timeout_is_a_connect_timeout_never_sent() -> None:
    # A listening socket with a full accept queue: the kernel drops further SYNs, so connecting times out.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        for _filler in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.2)
        try:
            session = lean_session()
            with pytest.raises(requests.exceptions.ConnectTimeout) as caught:
                session.request("GET", f"http://127.0.0.1:{port}/x", timeout=0.3)
            assert session.request.lean == 1 and _maybe_sent(caught.value) is False
        finally:
            for filler in fillers:
                filler.close()


def test_read_timeout_after_the_request_was_sent(server: str) -> None:
    session = lean_session()
    with pytest.raises(requests.exceptions.ReadTimeout) as caught:
        session.request("POST", server + "/slow", json={"k": 1}, timeout=0.3)
    assert session.request.lean == 1 and _maybe_sent(caught.value) is True
    assert Handler.seen[-1]["body"] == b'{"k": 1}'  # it did reach the server
    time.sleep(0.8)
    assert session.request("GET", server + "/json", timeout=5).status_code == 200  # the pool recovers


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lean-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert_path, key_path = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    made = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    made.daemon_threads = True
    made.socket = context.wrap_socket(made.socket, server_side=True)
    for running in _serve(made):
        yield f"https://127.0.0.1:{running.server_address[1]}", cert_path


def test_tls_verify_failure_is_an_ssl_error(tls_server: tuple[str, Path]) -> None:
    url, _cert = tls_server
    session = lean_session()
    with pytest.raises(requests.exceptions.SSLError):
        session.request("GET", url + "/json", timeout=5)
    assert session.request.lean == 1


def test_tls_ca_bundle_from_the_call_and_from_the_environment(tls_server: tuple[str, Path],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    url, cert = tls_server
    session = lean_session()
    assert session.request("GET", url + "/json", timeout=5, verify=str(cert)).json()["path"] == "/json"
    assert session.request.lean == session.request.direct == 1
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    _forget()
    other = lean_session()
    assert other.request("GET", url + "/json", timeout=5).status_code == 200 and other.request.direct == 1
    unchecked = lean_session()
    assert unchecked.request("GET", url + "/json", timeout=5, verify=False).status_code == 200
    assert unchecked.request.lean == 1 and unchecked.request.direct == 0  # no certificate check: urllib3's way


def test_a_proxy_in_the_environment_goes_the_requests_way(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", server)  # the test server answers proxied requests too
    session = lean_session()
    answer = session.request("GET", "http://upstream.invalid/json", timeout=5)
    assert answer.status_code == 200 and session.request.lean == 0
    assert Handler.seen[-1]["line"].startswith("GET http://upstream.invalid/json ")  # sent through the proxy


def test_a_netrc_entry_goes_the_requests_way(server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password NETRC-PASSWORD-CANARY\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    session = requests.Session()
    share_connections(session)
    session.request("GET", server + "/json", timeout=5)
    assert session.request.lean == 0 and Handler.seen[-1]["headers"]["Authorization"].startswith("Basic ")


def test_a_redirect_is_followed_and_its_endpoint_goes_the_requests_way(server: str) -> None:
    session = lean_session()
    answer = session.request("POST", server + "/redirect", json={"k": 1}, timeout=5)
    assert answer.status_code == 200 and answer.json()["path"] == "/json" and answer.json()["body"] == '{"k": 1}'
    assert [r.status_code for r in answer.history] == [307]
    session.request("GET", server + "/json", timeout=5)
    assert session.request.lean == 1  # the redirect's request only


def test_no_shared_pool_still_works(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIKEYS_HTTP_POOL_SIZE", "0")
    monkeypatch.setattr(_http, "_ADAPTER", [])
    session = lean_session()
    assert _http.shared_adapter() is None
    assert session.request("GET", server + "/json", timeout=5).status_code == 200
    assert session.request.lean == 1 and session.get_adapter(server) is not None


def test_a_wrapped_session_request_is_honoured(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    own = requests.Session.request

    def wrapped(self: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
        calls.append(url)
        return own(self, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", wrapped)
    session = lean_session()
    assert session.request("GET", server + "/json", timeout=5).status_code == 200
    assert calls == [server + "/json"] and session.request.lean == 0
