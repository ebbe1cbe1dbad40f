"""What one store request costs the controller: CPU seconds of this process per Vault KV v2 call.

Starts the bench's OpenBao dev server, then, in one thread, through the collection's VaultKV2Store (hvac over
the shared keep-alive pool, as the batch uses it): --requests reads of one record, as many metadata writes,
as many check-and-set writes, and as many constructions of the store (an hvac client, as each step of a key
makes). Prints CPU milliseconds per call (time.process_time: this process only, not OpenBao's), and the same
with requests' environment lookups turned off (``trust_env = False``: ``.netrc``, proxy variables), to show
whether they matter.

Run: .venv/bin/python benchmarks/store_request_cost.py --requests 600
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from _common import ROOT
from tests.bench.bench import start_all

sys.path.insert(0, str(ROOT / ".build" / "collections"))  # the collection, as ansible-playbook finds it
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._vault_kv2 import VaultKV2Store

PATH = "secret/bench/store-request-cost"


def per_call(count: int, call: Callable[[int], object]) -> float:
    """CPU milliseconds per call of ``call`` (after one warm-up call)."""
    call(-1)
    started = time.process_time()
    for number in range(count):
        call(number)
    return (time.process_time() - started) / count * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=600, help="calls of each kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="apikeys-bench-") as workdir, \
            start_all(Path(workdir) / "bench", only="openbao") as bench:
        url, token = bench.openbao.url, bench.openbao.token

        def store() -> VaultKV2Store:
            return VaultKV2Store(url, token=token, token_cache=False)

        built = per_call(args.requests, lambda number: store())
        vault = store()
        vault.write(PATH, {"key_id": "k0", "n": 0}, cas=None)
        print(f"{os.cpu_count()} cores, load average {' '.join(f'{load:.2f}' for load in os.getloadavg())}; "
              f"{args.requests} calls of each kind, one thread")
        print(f"building the store (hvac client): {built:.3f} ms CPU")
        for label in ("requests as configured", "trust_env = False"):
            if label != "requests as configured":
                vault.client.adapter.session.trust_env = False
            read = per_call(args.requests, lambda number: vault.read(PATH))
            meta = per_call(args.requests, lambda number: vault.set_metadata(PATH, {"n": str(number)}))

            def cas_write(number: int) -> None:
                entry = vault.read(PATH)
                vault.write(PATH, dict(entry.data, n=number), cas=entry.version)

            write = per_call(args.requests, cas_write) - read
            print(f"{label}: KV read {read:.3f} ms, metadata write {meta:.3f} ms, check-and-set write {write:.3f} ms CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
