"""The whole bench: OpenBao, moto, SendGrid, gateway and Twilio emulators together.

``start_all(dir)`` starts the services concurrently, writes ``dir/bench.json``
and ``dir/env.sh`` (both 0600: they hold the bench's credentials) and returns
a :class:`Bench`. OpenBao and moto always run as subprocesses; the emulators
run in-process threads unless ``detached=True`` (what ``python -m tests.bench
up`` uses), which makes every service a subprocess that outlives the caller.

As a pytest session fixture::

    @pytest.fixture(scope="session")
    def bench(tmp_path_factory):
        with start_all(tmp_path_factory.mktemp("bench")) as running:
            yield running  # running.env(), running.openbao.url, ...
"""

from __future__ import annotations

import atexit
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ._emulator_proc import start_emulator_process
from ._service import Stoppable
from ._state import stop_from_state, write_state
from .emulators import serve_in_thread
from .emulators.gateway import DEFAULT_CONSUMERS, GatewayEmulator
from .emulators.gateway import new_token as new_gateway_token
from .emulators.sendgrid import SendGridEmulator, new_api_key
from .emulators.stripe import StripeEmulator
from .emulators.stripe import new_admin_key as new_stripe_key
from .emulators.twilio import TwilioEmulator, new_auth_token
from .emulators.twilio import new_sid as new_twilio_sid
from .moto import Moto, start_moto
from .openbao import OpenBao, start_openbao

SERVICES: tuple[str, ...] = ("openbao", "moto", "sendgrid", "gateway", "twilio", "stripe")


class Service(Protocol):
    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


@dataclass
class Bench(Stoppable):
    """Running bench services (None for those not started)."""

    dir: Path
    detached: bool = False
    openbao: OpenBao | None = None
    moto: Moto | None = None
    sendgrid: Service | None = None
    gateway: Service | None = None
    sendgrid_admin_key: str | None = field(default=None, repr=False)
    gateway_admin_token: str | None = field(default=None, repr=False)
    twilio: Service | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    stripe: Service | None = None
    stripe_management_key: str | None = field(default=None, repr=False)
    consumers: tuple[str, ...] = DEFAULT_CONSUMERS
    wrote_state: bool = field(default=False, repr=False)

    def services(self) -> dict[str, Service]:
        found = {name: getattr(self, name) for name in SERVICES}
        return {name: svc for name, svc in found.items() if svc is not None}

    def env(self) -> dict[str, str]:
        """Environment variables a client of the bench needs (also in env.sh)."""
        env: dict[str, str] = {}
        if self.openbao is not None:
            env.update(VAULT_ADDR=self.openbao.url, VAULT_TOKEN=self.openbao.token)
        if self.moto is not None:
            env.update(
                AWS_ACCESS_KEY_ID=self.moto.admin_access_key_id,
                AWS_SECRET_ACCESS_KEY=self.moto.admin_secret_access_key,
                AWS_DEFAULT_REGION=self.moto.region,
                APIKEYS_AWS_ENDPOINT_URL=self.moto.url,
            )
        if self.sendgrid is not None and self.sendgrid_admin_key is not None:
            env.update(
                SENDGRID_ADMIN_KEY=self.sendgrid_admin_key, APIKEYS_SENDGRID_URL=self.sendgrid.url
            )
        if self.gateway is not None and self.gateway_admin_token is not None:
            env.update(
                GATEWAY_ADMIN_TOKEN=self.gateway_admin_token, APIKEYS_GATEWAY_URL=self.gateway.url
            )
        if self.twilio is not None and self.twilio_auth_token is not None:
            env.update(
                TWILIO_ACCOUNT_SID=self.twilio_account_sid or "",
                TWILIO_AUTH_TOKEN=self.twilio_auth_token,
                APIKEYS_TWILIO_URL=self.twilio.url,
            )
        if self.stripe is not None and self.stripe_management_key is not None:
            env.update(STRIPE_MANAGEMENT_KEY=self.stripe_management_key, APIKEYS_STRIPE_URL=self.stripe.url)
        return env

    def stop(self) -> None:
        """Stop every service; safe to call more than once."""
        for name, svc in reversed(list(self.services().items())):
            svc.stop()
            setattr(self, name, None)
        if self.wrote_state:
            stop_from_state(self.dir)  # marks bench.json as not running


def _starters(bench: Bench, names: Iterable[str]) -> dict[str, Callable[[], Any]]:
    workdir = bench.dir
    sendgrid_key = bench.sendgrid_admin_key or ""
    gateway_token = bench.gateway_admin_token or ""
    consumers = ",".join(bench.consumers)

    def sendgrid() -> Service:
        if bench.detached:
            return start_emulator_process("sendgrid", workdir, sendgrid_key)
        return serve_in_thread(SendGridEmulator(admin_key=sendgrid_key))

    def gateway() -> Service:
        if bench.detached:
            extra = ["--consumers", consumers]
            return start_emulator_process("gateway", workdir, gateway_token, extra)
        return serve_in_thread(GatewayEmulator(gateway_token, bench.consumers))

    def twilio() -> Service:
        sid, token = bench.twilio_account_sid or "", bench.twilio_auth_token or ""
        if bench.detached:
            return start_emulator_process("twilio", workdir, token, ["--account-sid", sid])
        return serve_in_thread(TwilioEmulator(sid, token))

    def stripe() -> Service:
        key = bench.stripe_management_key or ""
        if bench.detached:
            return start_emulator_process("stripe", workdir, key)
        return serve_in_thread(StripeEmulator(admin_key=key))

    table: dict[str, Callable[[], Any]] = {
        "openbao": lambda: start_openbao(workdir),
        "moto": lambda: start_moto(workdir),
        "sendgrid": sendgrid,
        "gateway": gateway,
        "twilio": twilio,
        "stripe": stripe,
    }
    return {name: table[name] for name in names}


def parse_only(only: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"openbao,moto"`` or an iterable -> validated names in start order."""
    if only is None:
        return SERVICES
    names = {n.strip() for n in (only.split(",") if isinstance(only, str) else only)} - {""}
    unknown = names - set(SERVICES)
    if unknown or not names:
        raise ValueError(f"unknown services {sorted(unknown)}; choose from {', '.join(SERVICES)}")
    return tuple(name for name in SERVICES if name in names)


def start_all(
    dir: Path | str, only: str | Iterable[str] | None = None, *, detached: bool = False
) -> Bench:
    """Start the bench (or the ``only`` services) and write bench.json / env.sh."""
    workdir = Path(dir).resolve()
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    bench = Bench(
        dir=workdir,
        detached=detached,
        sendgrid_admin_key=new_api_key()[1],
        gateway_admin_token=new_gateway_token(),
        twilio_account_sid=new_twilio_sid("AC"),
        twilio_auth_token=new_auth_token(),
        stripe_management_key=new_stripe_key(),
    )
    names = parse_only(only)
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        futures = {name: pool.submit(start) for name, start in _starters(bench, names).items()}
    errors = []
    for name, future in futures.items():
        try:
            setattr(bench, name, future.result())
        except Exception as exc:  # noqa: BLE001 - collected, re-raised below
            errors.append(exc)
    if errors:
        bench.stop()
        raise errors[0]
    write_state(bench)
    bench.wrote_state = True
    if not detached:
        atexit.register(bench.stop)
    return bench


__all__ = ["SERVICES", "Bench", "parse_only", "start_all"]
