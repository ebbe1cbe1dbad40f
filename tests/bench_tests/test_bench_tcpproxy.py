"""The TCP proxy: down and up, and answers lost after the upstream applied the request.

Real sockets, real servers: an emulator over HTTP, and OpenBao through hvac exactly as the
collection's store reaches it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import hvac
import pytest
import requests

from tests.bench.emulators import RunningEmulator
from tests.bench.emulators.sendgrid import SendGridEmulator
from tests.bench.openbao import OpenBao, start_openbao
from tests.bench.tcpproxy import TcpProxy

SG = RunningEmulator[SendGridEmulator]


@pytest.fixture
def proxy(sendgrid: SG) -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", sendgrid.port) as running:
        yield running


@pytest.fixture(scope="module")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    with start_openbao(tmp_path_factory.mktemp("openbao")) as server:
        yield server


def auth(sendgrid: SG) -> dict[str, str]:
    return {"Authorization": f"Bearer {sendgrid.app.admin_key}"}


def names(sendgrid: SG) -> list[str]:
    return [k["name"] for k in requests.get(f"{sendgrid.url}/__emulator/keys", timeout=5).json()]


def test_bytes_pass_untouched_and_down_refuses(sendgrid: SG, proxy: TcpProxy) -> None:
    with requests.Session() as http:
        assert http.get(f"{proxy.url}/v3/scopes", headers=auth(sendgrid), timeout=5).status_code == 200
        assert http.post(f"{proxy.url}/v3/api_keys", json={"name": "a"}, headers=auth(sendgrid),
                         timeout=5).status_code == 201
        proxy.down()
        assert not proxy.listening
        with pytest.raises(requests.ConnectionError):
            http.get(f"{proxy.url}/v3/scopes", headers=auth(sendgrid), timeout=5)
        proxy.up()
        assert proxy.listening
        assert http.get(f"{proxy.url}/v3/scopes", headers=auth(sendgrid), timeout=5).status_code == 200
    assert proxy.requests == [("GET", "/v3/scopes"), ("POST", "/v3/api_keys"), ("GET", "/v3/scopes")]
    assert proxy.lost_answers == 0


def test_a_lost_answer_is_applied_upstream_and_never_reaches_the_client(sendgrid: SG, proxy: TcpProxy) -> None:
    proxy.lose_answers(1, methods="POST", prefix="/v3/api_keys")
    assert proxy.armed == 1
    with requests.Session() as http:  # one keep-alive connection carries the requests before and after
        assert http.get(f"{proxy.url}/v3/api_keys", headers=auth(sendgrid), timeout=5).status_code == 200
        assert http.delete(f"{proxy.url}/v3/api_keys/nope", headers=auth(sendgrid), timeout=5).status_code == 404
        with pytest.raises(requests.ConnectionError):
            http.post(f"{proxy.url}/v3/api_keys", json={"name": "lost"}, headers=auth(sendgrid), timeout=5)
        assert proxy.lost_answers == 1 and proxy.armed == 0
        assert "lost" in names(sendgrid), "the upstream applied the request"
        again = http.post(f"{proxy.url}/v3/api_keys", json={"name": "kept"}, headers=auth(sendgrid), timeout=5)
    assert again.status_code == 201 and again.json()["name"] == "kept"
    assert proxy.lost_answers == 1
    assert [m for m, _p in proxy.requests] == ["GET", "DELETE", "POST", "POST"]


def test_only_matching_requests_lose_their_answers_and_only_count_of_them(sendgrid: SG, proxy: TcpProxy) -> None:
    proxy.lose_answers(2, methods=("POST", "PUT"), prefix="/v3/api_keys")
    with requests.Session() as http:
        assert http.get(f"{proxy.url}/v3/api_keys", headers=auth(sendgrid), timeout=5).status_code == 200
        assert http.post(f"{proxy.url}/v3/other", json={}, headers=auth(sendgrid), timeout=5).status_code == 404
        for name in ("one", "two"):
            with pytest.raises(requests.ConnectionError):
                http.post(f"{proxy.url}/v3/api_keys", json={"name": name}, headers=auth(sendgrid), timeout=5)
        assert http.post(f"{proxy.url}/v3/api_keys", json={"name": "three"}, headers=auth(sendgrid),
                         timeout=5).status_code == 201
    assert proxy.lost_answers == 2
    assert {"one", "two", "three"} <= set(names(sendgrid))


def test_keep_answers_disarms(sendgrid: SG, proxy: TcpProxy) -> None:
    proxy.lose_answers(5, methods="*", prefix="/")
    proxy.keep_answers()
    assert proxy.armed == 0
    assert requests.get(f"{proxy.url}/v3/scopes", headers=auth(sendgrid), timeout=5).status_code == 200
    assert proxy.lost_answers == 0


def test_requests_split_over_segments_and_back_to_back_on_one_connection(sendgrid: SG, proxy: TcpProxy) -> None:
    body = b'{"name": "split"}'
    first = (b"POST /v3/api_keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Authorization: Bearer " + sendgrid.app.admin_key.encode() + b"\r\n"
             b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    second = (b"GET /v3/scopes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
              + sendgrid.app.admin_key.encode() + b"\r\n\r\n")
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        for start in range(0, len(first), 7):  # the head and the body arrive in pieces
            sock.sendall(first[start:start + 7])
            time.sleep(0.001)
        sock.sendall(second)  # no wait for the first answer
        received = b""
        while received.count(b"HTTP/1.1 ") < 2 or not received.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    assert received.startswith(b"HTTP/1.1 201") and b"HTTP/1.1 200" in received
    assert proxy.requests == [("POST", "/v3/api_keys"), ("GET", "/v3/scopes")]
    assert "split" in names(sendgrid)


def test_not_http_is_copied_as_it_is() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        with TcpProxy("127.0.0.1", server.getsockname()[1]) as proxy:
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as client:
                upstream, _addr = server.accept()
                with upstream:
                    client.sendall(b"HELLO not http\r\n\r\nmore")
                    got = b""
                    while len(got) < 22:
                        got += upstream.recv(100)
                    upstream.sendall(b"WORLD")
                    assert client.recv(100) == b"WORLD"
    assert got == b"HELLO not http\r\n\r\nmore"


def test_hvac_write_applied_but_answer_lost(openbao: OpenBao) -> None:
    """hvac's create_or_update_secret is a POST to /v1/<mount>/data/<path>: its answer is lost, the write is not."""
    with TcpProxy("127.0.0.1", openbao.port) as proxy:
        through = hvac.Client(url=proxy.url, token=openbao.token)
        direct = hvac.Client(url=openbao.url, token=openbao.token)
        kv = through.secrets.kv.v2
        kv.create_or_update_secret(path="proxy/lost", secret={"v": 1}, cas=0)
        proxy.lose_answers(1, methods=("POST", "PUT"), prefix="/v1/secret/data/")
        assert kv.read_secret_version(path="proxy/lost", raise_on_deleted_version=True)["data"]["data"] == {"v": 1}
        with pytest.raises(requests.ConnectionError):
            kv.create_or_update_secret(path="proxy/lost", secret={"v": 2}, cas=1)
        assert proxy.lost_answers == 1
        stored = direct.secrets.kv.v2.read_secret_version(path="proxy/lost", raise_on_deleted_version=True)["data"]
        assert stored["data"] == {"v": 2} and stored["metadata"]["version"] == 2, "OpenBao applied the write"
        with pytest.raises(hvac.exceptions.InvalidRequest, match="check-and-set"):  # a retry meets its own write
            kv.create_or_update_secret(path="proxy/lost", secret={"v": 2}, cas=1)
        assert ("POST", "/v1/secret/data/proxy/lost") in proxy.requests
