"""What one HTTP request costs the controller's CPU: requests' Session.request against the lean path.

Starts a tiny keep-alive HTTP/1.1 server in this process (a JSON answer with Vault-like headers), then, in one
thread, sends --requests GETs and as many JSON POSTs through a session made by ``share_connections`` (the
shared pool, as the batch uses it): once through ``requests.Session.request`` (the path before issue 13's lean
path: the session's ``LeanRequest`` removed) and once through ``_lean_http.LeanRequest``, alternating --rounds
times. Prints CPU microseconds per request (best and median of the rounds: a shared machine only adds) of the
sending thread only (``time.thread_time``: the server's thread is not counted). With --openbao, the same for
reads of one KV v2 record through hvac against the bench's OpenBao dev server (the store's real request:
X-Vault-Token, hvac's headers, JSON). Note that the "requests.Session.request" row runs this checkout's
``share_connections``, whose proxy merge is already cheaper than before; --collections measures an older one.

Run: .venv/bin/python benchmarks/http_request_cost.py --requests 2000 --rounds 3 [--openbao]
Against an older commit's collection (its "lean path" is then requests' path too, if it had none):
  mkdir -p /tmp/old/ansible_collections/apikeys/rotation && git archive dd3eb4e | tar -x -C $_
  .venv/bin/python benchmarks/http_request_cost.py --collections /tmp/old
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

from _common import ROOT

# the collection, as ansible-playbook finds it; --collections DIR: another copy (e.g. a `git archive` of an older commit)
COLLECTIONS = sys.argv[sys.argv.index("--collections") + 1] if "--collections" in sys.argv[:-1] else str(ROOT / ".build" / "collections")
sys.path.insert(0, COLLECTIONS)
import requests  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.apikeys.rotation.plugins.module_utils._http import share_connections  # noqa: E402

BODY = json.dumps({"request_id": "5f1e2d", "data": {"data": {"key": "x" * 40, "key_id": "k1"},
                                                    "metadata": {"version": 7}}}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms wait for a delayed ACK

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def session(lean: bool) -> requests.Session:
    made = share_connections(requests.Session())
    made.headers["X-Vault-Token"] = "bench-token"
    if not lean:
        made.__dict__.pop("request", None)  # requests' own Session.request (share_connections installs the lean one)
    return made


def per_request(count: int, call: Callable[[int], object]) -> float:
    """CPU microseconds of this thread per call (after 20 warm-up calls)."""
    for number in range(20):
        call(number)
    started = time.thread_time()
    for number in range(count):
        call(number)
    return (time.thread_time() - started) / count * 1e6


def measure(label: str, rounds: int, count: int, make: Callable[[bool], Callable[[int], object]]) -> None:
    results: dict[str, list[float]] = {"requests.Session.request": [], "lean path": []}
    for _round in range(rounds):
        for name, lean in (("requests.Session.request", False), ("lean path", True)):
            results[name].append(per_request(count, make(lean)))
    for name, values in results.items():
        print(f"{label:28} {name:26} {min(values):7.1f} us/request best, {statistics.median(values):7.1f} median  (rounds: "
              + ", ".join(f"{v:.1f}" for v in values) + ")")
    for figure, pick in (("best", min), ("median", statistics.median)):
        plain, lean = (pick(results[name]) for name in results)
        print(f"{label:28} {'saved (' + figure + ')':26} {plain - lean:7.1f} us/request ({(plain - lean) / plain:.0%})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--openbao", action="store_true", help="also KV v2 reads through hvac against OpenBao")
    parser.add_argument("--collections", default=COLLECTIONS, help="the directory holding ansible_collections/")
    args = parser.parse_args()
    print(f"collection: {COLLECTIONS}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"

    def get(lean: bool) -> Callable[[int], object]:
        made = session(lean)
        return lambda n: made.request("GET", url + "/v1/secret/data/bench", timeout=10).json()

    def post(lean: bool) -> Callable[[int], object]:
        made = session(lean)
        return lambda n: made.request("POST", url + "/v1/secret/data/bench", json={"data": {"n": n}}, timeout=10).json()

    measure("local server GET", args.rounds, args.requests, get)
    measure("local server POST (JSON)", args.rounds, args.requests, post)
    server.shutdown()
    if args.openbao:
        openbao_reads(args)
    return 0


def openbao_reads(args: argparse.Namespace) -> None:
    import hvac  # pylint: disable=import-outside-toplevel
    from tests.bench.bench import start_all  # pylint: disable=import-outside-toplevel

    with tempfile.TemporaryDirectory() as workdir:
        bench = start_all(Path(workdir), only="openbao")
        try:
            seed = hvac.Client(url=bench.openbao.url, token=bench.openbao.token)
            seed.secrets.kv.v2.create_or_update_secret(path="bench/http-cost", mount_point="secret",
                                                       secret={"key": "x" * 40})

            def read(lean: bool) -> Callable[[int], object]:
                client = hvac.Client(url=bench.openbao.url, token=bench.openbao.token)
                share_connections(client.adapter.session)
                if not lean:
                    client.adapter.session.__dict__.pop("request", None)
                kv2 = client.secrets.kv.v2
                return lambda n: kv2.read_secret_version(path="bench/http-cost", mount_point="secret",
                                                         raise_on_deleted_version=True)

            measure("OpenBao KV v2 read (hvac)", args.rounds, args.requests // 4, read)
        finally:
            bench.stop()


if __name__ == "__main__":
    sys.exit(main())
