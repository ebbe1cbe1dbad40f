"""Every way to log in to Vault, through ansible-playbook, against OpenBao's real auth backends.

userpass, AppRole (one login per run, counted by OpenBao itself), JWT (a locally generated RSA key pair),
TLS certificate (a second OpenBao with a TLS listener), a token from ~/.vault-token; AWS IAM as far as it
goes here (OpenBao 2.x ships no aws auth method: the signed request is checked by moto's STS instead).
The secrets of each method are looked for in the -vvvv output.
"""
from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import re
import secrets
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Iterator

import hvac
import jwt as pyjwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.bench._ports import free_port
from tests.bench._proc import find_executable, spawn, wait_until

from .conftest import COLLECTIONS, ROOT, Run, World
from .test_canary import assert_nowhere, bench_secrets

ROTATOR_POLICY = (ROOT / "docs" / "policies" / "rotator.hcl").read_text()
#: what a token needs to renew and revoke itself (Vault's default policy grants it; AppRole roles made with
#: token_no_default_policy need it spelled out: docs/vault-auth.md)
SELF_POLICY = """
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
"""
#: a Vault / OpenBao service token as it would appear in output ("s." / "hvs." / "b." and a long body)
TOKEN_SHAPE = re.compile(r"\b(?:hvs|s|b)\.[A-Za-z0-9]{20,}")


def policy(vault: hvac.Client, world: World) -> str:
    name = f"apikeys-rotator-{world.prefix}"
    vault.sys.create_or_update_policy(name=name, policy=ROTATOR_POLICY + SELF_POLICY)
    return name


def enable(vault: hvac.Client, method: str, path: str | None = None) -> str:
    path = path or method
    if f"{path}/" not in vault.sys.list_auth_methods()["data"]:
        vault.sys.enable_auth_method(method, path=path)
    return path


def no_token_env(**env: str) -> dict[str, str]:
    """The bench's root token out of the way: the run must log in with the method under test."""
    return {"VAULT_TOKEN": "", **env}


def assert_no_secret(world: World, run: Run, **hidden: str) -> None:
    """The canary's scan (output, the run's log and every file it wrote) plus anything shaped like a Vault token."""
    assert_nowhere(dict(bench_secrets(world), **hidden), run, world)
    shaped = TOKEN_SHAPE.findall(run.output)
    assert not shaped, f"something token-shaped printed: {len(shaped)} times"


def check_run(world: World, *keys: Any, extra_env: dict[str, str], verbose: bool = False) -> Run:
    """A rotation in check mode: reads each record with the method's token, checks its capabilities, changes nothing."""
    world.groups["auth"] = [k.host for k in keys]
    args = ["--check", "-vvvv"] if verbose else ["--check"]
    return world.playbook("rotate.yml", *args, extra_env=extra_env, secret="auth")


def unchanged(world: World, *keys: Any) -> None:
    for key in keys:
        assert world.record(key).version == 1, f"{key.host}: the record was written"


# -- userpass ------------------------------------------------------------------------------------------


def test_userpass_login_reads_the_records(world: World) -> None:
    vault = world.vault
    mount = enable(vault, "userpass", f"up-{world.prefix}")
    password = secrets.token_urlsafe(18)
    vault.auth.userpass.create_or_update_user("rotator", password, mount_point=mount, policies=[policy(vault, world)])
    keys = [world.key("sendgrid", root="apikeys/", apikeys_vault_auth_method="userpass", apikeys_vault_auth_mount=mount)
            for _number in range(2)]

    run = check_run(world, *keys, extra_env=no_token_env(VAULT_USERNAME="rotator", VAULT_PASSWORD=password),
                    verbose=True)

    assert run.rc == 0, run.output[-3000:]
    unchanged(world, *keys)
    assert_no_secret(world, run, password=password)


def test_a_wrong_password_fails_naming_the_login_without_the_password(world: World) -> None:
    vault = world.vault
    mount = enable(vault, "userpass", f"up-{world.prefix}")
    vault.auth.userpass.create_or_update_user("rotator", secrets.token_urlsafe(18), mount_point=mount,
                                              policies=[policy(vault, world)])
    key = world.key("sendgrid", root="apikeys/", apikeys_vault_auth_method="userpass", apikeys_vault_auth_mount=mount)
    wrong = secrets.token_urlsafe(18)

    run = check_run(world, key, extra_env=no_token_env(VAULT_USERNAME="rotator", VAULT_PASSWORD=wrong))

    assert run.rc != 0
    assert f"userpass login at auth/{mount}" in run.output, run.output[-3000:]
    assert wrong not in run.output
    unchanged(world, key)


# -- AppRole: one login per run ------------------------------------------------------------------------


def approle(world: World, uses: int) -> tuple[str, str, str]:
    vault = world.vault
    enable(vault, "approle")
    role = f"rotator-{world.prefix}"
    vault.auth.approle.create_or_update_approle(role, token_policies=[policy(vault, world)], token_ttl="10m",
                                                token_no_default_policy=True)
    role_id = vault.auth.approle.read_role_id(role)["data"]["role_id"]
    secret_id = vault.write(f"auth/approle/role/{role}/secret-id", num_uses=uses)["data"]["secret_id"]
    return role, role_id, secret_id


def logins(world: World, role: str, secret_id: str, uses: int) -> int:
    """How many logins OpenBao counted against the secret id (it keeps the remaining uses)."""
    left = world.vault.auth.approle.read_secret_id(role, secret_id)["data"]["secret_id_num_uses"]
    return uses - int(left)


def live_tokens(world: World, role: str) -> int:
    vault = world.vault
    accessors = vault.adapter.list("/v1/auth/token/accessors")["data"]["keys"]
    count = 0
    for accessor in accessors:
        try:
            meta = vault.auth.token.lookup_accessor(accessor)["data"].get("meta") or {}
        except hvac.exceptions.InvalidRequest:  # revoked meanwhile
            continue
        count += meta.get("role_name") == role
    return count


def test_approle_logs_in_once_per_run_and_revokes_its_token_at_the_end(world: World) -> None:
    uses = 1000
    role, role_id, secret_id = approle(world, uses)
    keys = [world.key("sendgrid", root="apikeys/", apikeys_vault_auth_method="approle") for _number in range(6)]
    env = no_token_env(VAULT_ROLE_ID=role_id, VAULT_SECRET_ID=secret_id)

    started = time.monotonic()
    run = check_run(world, *keys, extra_env=env, verbose=True)
    cached = time.monotonic() - started

    assert run.rc == 0, run.output[-3000:]
    assert logins(world, role, secret_id, uses) == 1, "one login for six keys and all their tasks"
    assert_no_secret(world, run, secret_id=secret_id, role_id=role_id)
    deadline = time.monotonic() + 10
    while live_tokens(world, role) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live_tokens(world, role) == 0, "the run's token outlived the run"

    started = time.monotonic()
    uncached = check_run(world, *keys, extra_env=dict(env, APIKEYS_VAULT_TOKEN_CACHE="false"))
    took = time.monotonic() - started
    assert uncached.rc == 0, uncached.output[-3000:]
    per_task = logins(world, role, secret_id, uses) - 1
    # without the cache every step that reaches the store logs in by itself: at least once per key (a check-mode
    # rotation's plan reads the record; its create step starts from that read, held for it, and sends nothing)
    assert per_task >= len(keys), "without the cache every step that reaches the store logs in"
    print(f"approle logins for {len(keys)} keys: cached 1 ({cached:.1f} s), uncached {per_task} ({took:.1f} s)")
    unchanged(world, *keys)


def test_a_token_near_its_expiry_is_renewed_by_openbao_not_replaced(world: World) -> None:
    """The store's renewal path against the real token backend (no playbook: the timing is the test's)."""
    import sys
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))
    from ansible_collections.apikeys.rotation.plugins.module_utils.stores._vault_auth import resolve_login
    from ansible_collections.apikeys.rotation.plugins.module_utils.stores._vault_kv2 import VaultKV2Store

    role, role_id, secret_id = approle(world, 10)
    world.vault.write(f"auth/approle/role/{role}", token_ttl="30s", token_max_ttl="10m")
    login = resolve_login("k", {"vault_auth_method": "approle", "vault_role_id": role_id, "vault_secret_id": secret_id,
                                "vault_url": world.bench.openbao.url}, env={})
    cache = _DictCache()
    first = VaultKV2Store(world.bench.openbao.url, login=login, token_cache=False)
    first._cache = cache
    first._authenticate()
    token = first.client.token
    assert TOKEN_SHAPE.fullmatch(token), "the token-shape scan must match this server's tokens"
    cache.entries[login.cache_key]["expires_at"] = time.time() + 3  # as if 27 of its 30 seconds had passed

    later = VaultKV2Store(world.bench.openbao.url, login=login, token_cache=False)
    later._cache = cache
    later._authenticate()

    assert later.client.token == token and later.logins == 0
    assert logins(world, role, secret_id, 10) == 1
    assert cache.entries[login.cache_key]["expires_at"] > time.time() + 20
    renewed = world.vault.auth.token.lookup(token)["data"]
    assert renewed.get("last_renewal_time"), "OpenBao recorded a renewal"


class _DictCache:
    """The broker's interface, in this process."""

    def __init__(self) -> None:
        self.entries: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.entries.get(key)

    def put(self, key: str, entry: Any) -> None:
        self.entries[key] = entry

    def drop(self, key: str, token: str) -> None:
        self.entries.pop(key, None)

    def login_lock(self) -> Any:
        import contextlib
        return contextlib.nullcontext()


# -- JWT -------------------------------------------------------------------------------------------------


def test_jwt_from_a_file_with_a_locally_generated_key_pair(world: World) -> None:
    vault = world.vault
    mount = enable(vault, "jwt", f"jwt-{world.prefix}")
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    vault.write(f"auth/{mount}/config", jwt_validation_pubkeys=[public])
    vault.write(f"auth/{mount}/role/rotator", role_type="jwt", user_claim="sub", bound_audiences=["apikeys"],
                bound_subject="system:serviceaccount:awx:awx-ee", token_policies=[policy(vault, world)], token_ttl="5m")
    now = int(time.time())
    token = pyjwt.encode({"sub": "system:serviceaccount:awx:awx-ee", "aud": "apikeys", "iat": now, "nbf": now - 5,
                          "exp": now + 600, "iss": "https://kubernetes.default.svc"}, private, algorithm="RS256")
    jwt_file = Path(tempfile.mkdtemp(prefix="projected-")) / "token"  # outside the scanned run folders, like a pod's
    jwt_file.write_text(token)
    keys = [world.key("sendgrid", root="apikeys/", apikeys_vault_auth_method="jwt", apikeys_vault_auth_mount=mount)
            for _number in range(2)]

    run = check_run(world, *keys, extra_env=no_token_env(VAULT_AUTH_ROLE="rotator", VAULT_JWT_FILE=str(jwt_file)),
                    verbose=True)

    assert run.rc == 0, run.output[-3000:]
    unchanged(world, *keys)
    try:
        assert_no_secret(world, run, jwt=token, jwt_signature=token.rsplit(".", 1)[1])
    finally:
        shutil.rmtree(jwt_file.parent)


# -- a token left by `bao login` ------------------------------------------------------------------------


def test_a_token_from_the_vault_token_file_is_used_and_not_revoked(world: World) -> None:
    token = world.vault.auth.token.create(policies=[policy(world.vault, world)], ttl="10m")["auth"]["client_token"]
    home = world.tmp / "operator"
    home.mkdir()
    (home / ".vault-token").write_text(token + "\n")  # as `bao login` leaves it
    key = world.key("sendgrid", root="apikeys/")

    run = check_run(world, key, extra_env=no_token_env(HOME=str(home)), verbose=True)

    assert run.rc == 0, run.output[-3000:]
    assert token not in run.output
    time.sleep(1.5)  # the broker's end-of-run revocation would have happened by now, were the token ours
    assert world.vault.auth.token.lookup(token)["data"]["id"] == token, "a token the user supplied stays valid"


def test_no_token_anywhere_fails_before_any_change_naming_the_variables(world: World) -> None:
    key = world.key("sendgrid", root="apikeys/")
    empty = world.tmp / "empty-home"
    empty.mkdir()

    run = check_run(world, key, extra_env=no_token_env(HOME=str(empty)))

    assert run.rc != 0
    assert f"key '{key.host}'" in run.output and "apikeys_vault_token" in run.output and "VAULT_TOKEN" in run.output
    unchanged(world, key)


def test_an_unknown_auth_method_fails_before_any_change(world: World) -> None:
    key = world.key("sendgrid", root="apikeys/", apikeys_vault_auth_method="kerberos")

    run = check_run(world, key, extra_env={})

    assert run.rc != 0
    assert f"key '{key.host}'" in run.output and "apikeys_vault_auth_method" in run.output
    assert "unknown Vault auth method 'kerberos'" in run.output
    unchanged(world, key)


# -- TLS certificate, over a TLS listener -----------------------------------------------------------------


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _issue(subject: str, key: Any, issuer: x509.Name, issuer_key: Any, *, ca: bool = False,
           server: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                        critical=False)
    if not ca:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write_pki(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all made here."""
    folder.mkdir(mode=0o700)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("apikeys test CA", ca_key, _name("apikeys test CA"), ca_key, ca=True)
    files: dict[str, Path] = {}
    for role, server in (("server", True), ("client", False)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(f"apikeys {role}", key, ca.subject, ca_key, server=server)
        files[role] = folder / f"{role}.pem"
        files[role].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files[f"{role}_key"] = folder / f"{role}.key"
        files[f"{role}_key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    files["ca"] = folder / "ca.pem"
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return files


@pytest.fixture
def tls_openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, dict[str, Path]]]:
    """A second dev OpenBao with a TLS listener (server certificate from our CA); yields (url, root token, pki).

    Its folder is not the test's tmp_path (which the canary scans): its banner holds its root token."""
    tmp_path = tmp_path_factory.mktemp("tls-openbao")
    pki = _write_pki(tmp_path / "pki")
    plain, tls, cluster = free_port(), free_port(), free_port()
    config = tmp_path / "tls.hcl"
    config.write_text(f'listener "tcp" {{\n  address = "127.0.0.1:{tls}"\n  cluster_address = "127.0.0.1:{cluster}"\n'
                      f'  tls_cert_file = "{pki["server"]}"\n  tls_key_file = "{pki["server_key"]}"\n}}\n')
    root = "tls-" + secrets.token_urlsafe(16)
    process = spawn([find_executable("bao"), "server", "-dev", f"-dev-listen-address=127.0.0.1:{plain}",
                     "-dev-no-store-token", f"-config={config}"], log=tmp_path / "openbao-tls.log",
                    marker=f"-dev-listen-address=127.0.0.1:{plain}", env={"BAO_DEV_ROOT_TOKEN_ID": root, "PATH": "/usr/bin:/bin"})
    url = f"https://127.0.0.1:{tls}"

    def ready() -> bool:
        try:
            return requests.get(f"{url}/v1/sys/mounts/secret", headers={"X-Vault-Token": root}, verify=str(pki["ca"]),
                                timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(ready, 30, "openbao with a TLS listener", process.alive)
        yield url, root, pki
    finally:
        process.stop()


def _cert_tokens(vault: hvac.Client) -> int:
    """Live tokens made by a cert login."""
    count = 0
    for accessor in vault.adapter.list("/v1/auth/token/accessors")["data"]["keys"]:
        try:
            path = vault.auth.token.lookup_accessor(accessor)["data"].get("path", "")
        except hvac.exceptions.InvalidRequest:  # revoked meanwhile
            continue
        count += path.startswith("auth/cert/login")
    return count


def test_tls_certificate_login_over_a_tls_listener(world: World, tls_openbao: tuple[str, str, dict[str, Path]]) -> None:
    url, root, pki = tls_openbao
    vault = hvac.Client(url=url, token=root, verify=str(pki["ca"]))
    vault.sys.enable_auth_method("cert")
    vault.sys.create_or_update_policy(name="rotator", policy=ROTATOR_POLICY)
    vault.write("auth/cert/certs/rotator", certificate=pki["ca"].read_text(), token_policies=["rotator"], token_ttl="5m")
    settings = dict(apikeys_vault_auth_method="cert", apikeys_vault_role="rotator", apikeys_vault_url=url,
                    apikeys_vault_ca_cert=str(pki["ca"]), apikeys_vault_client_cert=str(pki["client"]),
                    apikeys_vault_client_key=str(pki["client_key"]))
    keys = [world.key("sendgrid", root="apikeys/", record=False, **settings) for _number in range(2)]
    for key in keys:
        record = {"key": key.secret, "key_id": key.key_id, "rotated_at": "2020-01-01T00:00:00Z"}
        vault.secrets.kv.v2.create_or_update_secret(path=key.vault_path.split("/", 1)[1], secret=record,
                                                    mount_point="secret")

    # the count below sees a cert login's token (so that it can fail)
    by_hand = hvac.Client(url=url, verify=str(pki["ca"]), cert=(str(pki["client"]), str(pki["client_key"])))
    by_hand.token = by_hand.adapter.login("/v1/auth/cert/login", use_token=False, json={"name": "rotator"})[
        "auth"]["client_token"]
    assert _cert_tokens(vault) == 1
    by_hand.auth.token.revoke_self()

    run = check_run(world, *keys, extra_env=no_token_env(VAULT_ADDR=url), verbose=True)

    assert run.rc == 0, run.output[-3000:]
    for key in keys:
        answer = vault.secrets.kv.v2.read_secret_version(path=key.vault_path.split("/", 1)[1], mount_point="secret",
                                                         raise_on_deleted_version=True)
        assert answer["data"]["metadata"]["version"] == 1
    assert_no_secret(world, run, root=root)
    # without the client certificate the same run cannot log in: the certificate is what authenticates it
    # the run's token was revoked at its end, over HTTPS with the client certificate
    deadline = time.monotonic() + 10
    while _cert_tokens(vault) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _cert_tokens(vault) == 0, "the run's token outlived the run"
    for key in keys:
        world.hosts[key.host].pop("apikeys_vault_client_key")
        world.hosts[key.host].pop("apikeys_vault_client_cert")
    refused = check_run(world, *keys, extra_env=no_token_env(VAULT_ADDR=url))
    assert refused.rc != 0 and "apikeys_vault_client_cert" in refused.output

    # a token from ANSIBLE_HASHI_VAULT_TOKEN; the server's certificate unchecked only with BAO_SKIP_VERIFY
    for key in keys:
        world.hosts[key.host].update(apikeys_vault_auth_method="token")
        world.hosts[key.host].pop("apikeys_vault_ca_cert")
    unverified = check_run(world, *keys, extra_env=no_token_env(ANSIBLE_HASHI_VAULT_TOKEN=root))
    assert unverified.rc != 0 and "SSLError" in unverified.output, unverified.output[-3000:]
    skipped = check_run(world, *keys, extra_env=no_token_env(ANSIBLE_HASHI_VAULT_TOKEN=root, BAO_SKIP_VERIFY="true"))
    assert skipped.rc == 0, skipped.output[-3000:]
    assert root not in unverified.output + skipped.output


# -- Kubernetes: OpenBao's kubernetes method, a TokenReview emulator standing in for the API server -----------


class _TokenReviews(BaseHTTPRequestHandler):
    """The Kubernetes API server's TokenReview, as OpenBao's kubernetes method calls it: a token is authenticated
    when its RS256 signature verifies with the cluster's service-account key (``issuer_key``). OpenBao itself
    checks no signature when it has no ``pem_keys``: the review is the whole check, as with a real cluster."""

    issuer_key: Any = None
    reviews: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        token = body["spec"]["token"]
        type(self).reviews.append(self.path)
        try:
            claims = pyjwt.decode(token, self.issuer_key, algorithms=["RS256"], options={"verify_aud": False})
            sa = claims["kubernetes.io"]["serviceaccount"]
            status = {"authenticated": True, "user": {
                "username": f"system:serviceaccount:{claims['kubernetes.io']['namespace']}:{sa['name']}",
                "uid": sa["uid"], "groups": ["system:serviceaccounts"]},
                # the audiences the token is valid for: OpenBao wants one of the token's own
                "audiences": [aud for aud in claims["aud"] if aud in body["spec"].get("audiences", [])]}
        except pyjwt.PyJWTError as exc:
            status = {"authenticated": False, "error": type(exc).__name__}
        answer = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 # pylint: disable=redefined-builtin
        pass


def _service_account_token(key: Any) -> str:
    now = int(time.time())
    return pyjwt.encode({"iss": "https://kubernetes.default.svc", "sub": "system:serviceaccount:awx:awx-ee",
                         "aud": ["https://kubernetes.default.svc"], "iat": now, "nbf": now - 5, "exp": now + 600,
                         "kubernetes.io": {"namespace": "awx", "serviceaccount": {"name": "awx-ee", "uid": "7c1f"}}},
                        key, algorithm="RS256")


def test_kubernetes_service_account_token_reviewed_by_an_emulated_api_server(
        world: World, tmp_path_factory: pytest.TempPathFactory) -> None:
    import ssl
    pki = _write_pki(tmp_path_factory.mktemp("k8s") / "pki")
    cluster_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _TokenReviews.issuer_key, _TokenReviews.reviews = cluster_key.public_key(), []
    server = HTTPServer(("127.0.0.1", 0), _TokenReviews)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(pki["server"]), str(pki["server_key"]))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    vault = world.vault
    mount = enable(vault, "kubernetes", f"k8s-{world.prefix}")
    vault.write(f"auth/{mount}/config", kubernetes_host=f"https://127.0.0.1:{server.server_port}",
                kubernetes_ca_cert=pki["ca"].read_text(), disable_local_ca_jwt=True)
    vault.write(f"auth/{mount}/role/rotator", bound_service_account_names=["awx-ee"],
                bound_service_account_namespaces=["awx"], token_policies=[policy(vault, world)], token_ttl="5m")
    pod = Path(tempfile.mkdtemp(prefix="serviceaccount-"))  # outside the scanned run folders, as in a pod
    token_file = pod / "token"
    token_file.write_text(_service_account_token(cluster_key))
    keys = [world.key("sendgrid", root="apikeys/", apikeys_vault_auth_method="kubernetes", apikeys_vault_auth_mount=mount,
                      apikeys_vault_role="rotator", apikeys_vault_jwt_file=str(token_file)) for _number in range(2)]
    try:
        run = check_run(world, *keys, extra_env=no_token_env(), verbose=True)

        assert run.rc == 0, run.output[-3000:]
        assert _TokenReviews.reviews == ["/apis/authentication.k8s.io/v1/tokenreviews"], "one login, reviewed once"
        unchanged(world, *keys)
        assert_no_secret(world, run, service_account_token=token_file.read_text())

        # a token the cluster did not sign is refused by the review, so by OpenBao
        token_file.write_text(_service_account_token(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
        forged = check_run(world, *keys, extra_env=no_token_env())
        assert forged.rc != 0 and f"kubernetes login at auth/{mount}" in forged.output, forged.output[-3000:]
        assert len(_TokenReviews.reviews) >= 2
    finally:
        server.shutdown()
        shutil.rmtree(pod)


# -- AWS IAM: as far as it goes on this bench -------------------------------------------------------------


@pytest.mark.parametrize("method", ["aws", "ldap"])
def test_openbao_ships_no_aws_or_ldap_auth_method(world: World, method: str) -> None:
    """Why aws_iam and ldap are not tested against a real backend here (docs/vault-auth.md)."""
    with pytest.raises(hvac.exceptions.InvalidRequest, match=f"plugin not found in the catalog: {method}"):
        world.vault.sys.enable_auth_method(method, path=f"{method}-{world.prefix}")


class _Capture(BaseHTTPRequestHandler):
    """Stands in for Vault's ``auth/aws/login`` endpoint: keeps the body the collection sends."""

    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).bodies.append({"path": self.path, **json.loads(body)})
        answer = json.dumps({"auth": {"client_token": "s." + "x" * 24, "lease_duration": 60,
                                      "renewable": False}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 # pylint: disable=redefined-builtin
        pass


def test_aws_iam_signed_request_is_accepted_by_sts_but_openbao_has_no_aws_auth(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))
    from ansible_collections.apikeys.rotation.plugins.module_utils.stores._vault_auth import resolve_login

    moto = world.bench.moto
    # The Vault half of the handshake cannot run here (test_openbao_ships_no_aws_or_ldap_auth_method).
    # The collection's half: the login body, captured, is a sts:GetCallerIdentity request that moto's STS
    #    (which checks SigV4 signatures) accepts, exactly as Vault would forward it to its sts_endpoint.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.admin_access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.admin_secret_access_key)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    server = HTTPServer(("127.0.0.1", 0), _Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        login = resolve_login("k", {"vault_auth_method": "aws_iam", "vault_role": "rotator",
                                    "vault_aws_iam_server_id": "vault.example.com"}, env={})
        auth = login.perform(hvac.Client(url=f"http://127.0.0.1:{server.server_port}"))
    finally:
        server.shutdown()
    assert auth["client_token"].startswith("s.")
    sent = _Capture.bodies[-1]
    assert sent["path"] == "/v1/auth/aws/login" and sent["role"] == "rotator"
    assert moto.admin_secret_access_key not in json.dumps(sent)
    headers = {k: v[0] for k, v in json.loads(base64.b64decode(sent["iam_request_headers"])).items()}
    assert headers["X-Vault-AWS-IAM-Server-ID"] == "vault.example.com"
    assert base64.b64decode(sent["iam_request_url"]).decode() == "https://sts.amazonaws.com/"
    body = base64.b64decode(sent["iam_request_body"]).decode()
    assert body == "Action=GetCallerIdentity&Version=2011-06-15"
    answer = requests.post(moto.url + "/", data=body, headers=headers, timeout=5)
    assert answer.status_code == 200, answer.text[:500]
    assert "<Arn>arn:aws:iam::123456789012:user/apikeys-admin</Arn>" in answer.text

    # a tampered signature is refused by the same STS: the check above can fail
    forged = dict(headers, Authorization=headers["Authorization"][:-4] + "0000")
    assert requests.post(moto.url + "/", data=body, headers=forged, timeout=5).status_code == 403
