# Internal to this collection: not a public API; may change without notice.
"""How this run logs in to Vault / OpenBao: one small function per auth method, one interface.

``resolve_login(key, options)`` reads the ``vault_*`` options (already filled from the inventory and the
environment by the argument spec), checks that the chosen method has every credential it needs, and
returns a ``Login``: what to show (method, mount, role), what to hide (the credentials), a cache key
for the run's token cache, and ``perform(client)``, the one login request. Nothing here touches the
network before ``perform``; a missing credential is a ``ConfigError`` naming the key, the inventory
variable and the environment variables, never the value.

The methods and their wire shapes follow Vault's documented login endpoints (``auth/<mount>/login``),
the same set community.hashi_vault offers: token, approle, userpass, ldap, jwt (OIDC tokens from CI and
Kubernetes service accounts), kubernetes, aws_iam (a signed sts:GetCallerIdentity request) and cert.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from .._errors import ConfigError

#: the default mount of each method (``vault auth enable <type>`` mounts it there)
DEFAULT_MOUNTS = {"approle": "approle", "userpass": "userpass", "ldap": "ldap", "jwt": "jwt",
                  "kubernetes": "kubernetes", "aws_iam": "aws", "cert": "cert"}
METHODS = ("token",) + tuple(DEFAULT_MOUNTS)
#: what ``kubectl`` mounts into every pod; the kubernetes method reads it when no JWT is given
K8S_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"
TOKEN_FILE = ".vault-token"


@dataclass(frozen=True)
class Login:
    """One way to obtain a Vault token. ``token`` is set when the user supplied it (no login)."""

    method: str
    mount: str = ""
    role: str = ""
    token: str = field(default="", repr=False)
    #: credentials to hide from every output (token, secret id, password, JWT, AWS secret key)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    #: the login request: takes an hvac client, returns Vault's answer ({"auth": {...}})
    call: Optional[Callable[[Any], Any]] = field(default=None, repr=False, compare=False)
    #: identity of the login for the run's token cache (a digest: it never holds a credential)
    cache_key: str = ""
    #: where the token came from, for messages ("vault_token", "~/.vault-token", ...)
    source: str = ""

    @property
    def supplied(self) -> bool:
        return self.call is None

    def describe(self) -> str:
        if self.supplied:
            return f"a token from {self.source}"
        role = f" role '{self.role}'" if self.role else ""
        return f"{self.method} login at auth/{self.mount}{role}"

    def perform(self, client: Any) -> dict[str, Any]:
        """Log in once; returns the ``auth`` block: client_token, lease_duration, renewable, accessor."""
        if self.call is None:
            raise ValueError("a supplied token needs no login")
        answer = self.call(client)
        auth = answer.get("auth") if isinstance(answer, dict) else None
        if not isinstance(auth, dict) or not auth.get("client_token"):
            raise ValueError(f"{self.describe()}: Vault's answer holds no token")
        return auth


def _missing(key: str, option: str, envs: tuple[str, ...], why: str) -> ConfigError:
    where = f"apikeys_{option} (or the task's {option})"
    if envs:
        where += " or " + " / ".join(envs)
    return ConfigError(key, f"apikeys_{option}", f"{why}: set {where}; nothing was changed")


def _need(key: str, options: Mapping[str, Any], option: str, envs: tuple[str, ...], why: str) -> str:
    value = options.get(option)
    if value in (None, ""):
        raise _missing(key, option, envs, why)
    return str(value)


def _read_file(key: str, option: str, path: str, what: str) -> str:
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as handle:
            text = handle.read().strip()
    except OSError as exc:
        raise ConfigError(key, f"apikeys_{option}", f"cannot read {what} {path} ({exc.strerror or type(exc).__name__}); "
                                                    "nothing was changed") from None
    if not text:
        raise ConfigError(key, f"apikeys_{option}", f"{what} {path} is empty; nothing was changed")
    return text


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()


def token_file_path(options: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """``vault_token_file``, else ``$ANSIBLE_HASHI_VAULT_TOKEN_PATH/$ANSIBLE_HASHI_VAULT_TOKEN_FILE``, else ~/.vault-token."""
    if options.get("vault_token_file"):
        return os.path.expanduser(str(options["vault_token_file"]))
    folder = env.get("ANSIBLE_HASHI_VAULT_TOKEN_PATH") or env.get("HOME") or os.path.expanduser("~")
    return os.path.join(folder, env.get("ANSIBLE_HASHI_VAULT_TOKEN_FILE") or TOKEN_FILE)


# -- one function per method: check the options, return the Login --------------------------------------


def _token(key: str, o: Mapping[str, Any], env: Mapping[str, str]) -> Login:
    if o.get("vault_token"):
        return Login("token", token=str(o["vault_token"]), secrets=(str(o["vault_token"]),), source="vault_token")
    path = token_file_path(o, env)
    if os.path.isfile(path):
        token = _read_file(key, "vault_token_file", path, "the Vault token file")
        return Login("token", token=token, secrets=(token,), source=path)
    raise _missing(key, "vault_token", ("ANSIBLE_HASHI_VAULT_TOKEN", "VAULT_TOKEN", "BAO_TOKEN"),
                   f"no Vault token (and no token file {path}, which `vault login` / `bao login` write)")


def _approle(key: str, o: Mapping[str, Any], mount: str) -> Login:
    role_id = _need(key, o, "vault_role_id", ("ANSIBLE_HASHI_VAULT_ROLE_ID", "VAULT_ROLE_ID"), "AppRole needs a role id")
    secret_id = _need(key, o, "vault_secret_id", ("ANSIBLE_HASHI_VAULT_SECRET_ID", "VAULT_SECRET_ID"),
                      "AppRole needs a secret id")
    return Login("approle", mount, secrets=(secret_id,), cache_key=_digest("approle", mount, role_id, secret_id),
                 call=lambda c: c.auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=mount,
                                                     use_token=False))


def _password(method: str) -> Callable[[str, Mapping[str, Any], str], Login]:
    """userpass and ldap: the same request (username in the path, password in the body)."""

    def login(key: str, o: Mapping[str, Any], mount: str) -> Login:
        user = _need(key, o, "vault_username", ("ANSIBLE_HASHI_VAULT_USERNAME", "VAULT_USERNAME"),
                     f"{method} needs a user name")
        password = _need(key, o, "vault_password", ("ANSIBLE_HASHI_VAULT_PASSWORD", "VAULT_PASSWORD"),
                         f"{method} needs a password")
        backend = (lambda c: c.auth.userpass) if method == "userpass" else (lambda c: c.auth.ldap)
        return Login(method, mount, role=user, secrets=(password,), cache_key=_digest(method, mount, user, password),
                     call=lambda c: backend(c).login(username=user, password=password, mount_point=mount,
                                                     use_token=False))

    return login


def _role(key: str, o: Mapping[str, Any], method: str) -> str:
    role = o.get("vault_role") or o.get("vault_role_id")
    if not role:
        raise _missing(key, "vault_role", ("VAULT_AUTH_ROLE", "ANSIBLE_HASHI_VAULT_ROLE_ID"),
                       f"{method} needs the name of the Vault role to log in as")
    return str(role)


def _jwt_value(key: str, o: Mapping[str, Any], default_file: str = "") -> str:
    if o.get("vault_jwt"):
        return str(o["vault_jwt"])
    path = o.get("vault_jwt_file") or default_file
    if not path:
        raise _missing(key, "vault_jwt", ("ANSIBLE_HASHI_VAULT_JWT", "VAULT_JWT", "VAULT_JWT_FILE"),
                       "jwt needs a JSON Web Token (or a file holding one: apikeys_vault_jwt_file)")
    return _read_file(key, "vault_jwt_file", str(path), "the JWT file")


def _jwt(key: str, o: Mapping[str, Any], mount: str) -> Login:
    role = _role(key, o, "jwt")
    token = _jwt_value(key, o)
    return Login("jwt", mount, role=role, secrets=(token,), cache_key=_digest("jwt", mount, role, token),
                 call=lambda c: c.auth.jwt.jwt_login(role=role, jwt=token, path=mount, use_token=False))


def _kubernetes(key: str, o: Mapping[str, Any], mount: str) -> Login:
    role = _role(key, o, "kubernetes")
    token = _jwt_value(key, o, default_file=K8S_TOKEN_FILE)
    return Login("kubernetes", mount, role=role, secrets=(token,), cache_key=_digest("kubernetes", mount, role, token),
                 call=lambda c: c.auth.kubernetes.login(role=role, jwt=token, mount_point=mount, use_token=False))


def _aws_iam(key: str, o: Mapping[str, Any], mount: str) -> Login:
    """A sts:GetCallerIdentity request signed with the controller's AWS credentials (botocore's chain)."""
    role = _role(key, o, "aws_iam")
    try:
        import botocore.session
    except ImportError:
        raise ConfigError(key, "apikeys_vault_auth_method", "aws_iam needs botocore (pip install boto3)") from None
    session = botocore.session.Session(profile=o.get("vault_aws_profile") or None)
    try:
        found = session.get_credentials()
    except Exception as exc:  # botocore's profile errors
        raise ConfigError(key, "apikeys_vault_aws_profile", f"no AWS credentials: {type(exc).__name__}; "
                                                            "nothing was changed") from None
    if found is None:
        raise _missing(key, "vault_aws_profile", ("AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"),
                       "aws_iam needs AWS credentials (environment, profile, instance or pod role)")
    creds = found.get_frozen_credentials()
    region = str(o.get("vault_aws_region") or "us-east-1")
    server_id = o.get("vault_aws_iam_server_id") or None
    hidden = tuple(s for s in (creds.secret_key, creds.token) if s)
    return Login("aws_iam", mount, role=role, secrets=hidden,
                 cache_key=_digest("aws_iam", mount, role, creds.access_key, creds.secret_key, region, server_id),
                 call=lambda c: c.auth.aws.iam_login(creds.access_key, creds.secret_key, creds.token,
                                                     header_value=server_id, role=role, use_token=False,
                                                     region=region, mount_point=mount))


def _cert(key: str, o: Mapping[str, Any], mount: str) -> Login:
    """TLS client certificate: the certificate is presented by the client on every request (see client_cert)."""
    _need(key, o, "vault_client_cert", ("ANSIBLE_HASHI_VAULT_CERT_AUTH_PUBLIC_KEY", "VAULT_CLIENT_CERT"),
          "cert needs a client certificate file")
    _need(key, o, "vault_client_key", ("ANSIBLE_HASHI_VAULT_CERT_AUTH_PRIVATE_KEY", "VAULT_CLIENT_KEY"),
          "cert needs the client certificate's private key file")
    for option in ("vault_client_cert", "vault_client_key"):
        if not os.path.isfile(os.path.expanduser(str(o[option]))):
            raise ConfigError(key, f"apikeys_{option}", f"no such file: {o[option]}; nothing was changed")
    role = str(o.get("vault_role") or "")
    body = {"name": role} if role else {}
    return Login("cert", mount, role=role, cache_key=_digest("cert", mount, role, o["vault_client_cert"]),
                 call=lambda c: c.adapter.login(f"/v1/auth/{mount}/login", use_token=False, json=body))


_LOGINS: dict[str, Callable[[str, Mapping[str, Any], str], Login]] = {
    "approle": _approle, "userpass": _password("userpass"), "ldap": _password("ldap"), "jwt": _jwt,
    "kubernetes": _kubernetes, "aws_iam": _aws_iam, "cert": _cert,
}


def resolve_login(key: str, options: Mapping[str, Any], env: Optional[Mapping[str, str]] = None) -> Login:
    """The login the options ask for, with every credential it needs; raises ConfigError before any request."""
    env = os.environ if env is None else env
    method = str(options.get("vault_auth_method") or "token")
    if method not in METHODS:
        raise ConfigError(key, "apikeys_vault_auth_method", f"unknown Vault auth method '{method[:40]}' (from "
                          "apikeys_vault_auth_method or ANSIBLE_HASHI_VAULT_AUTH_METHOD); known: "
                          + ", ".join(METHODS) + "; nothing was changed")
    if method == "token":
        return _token(key, options, env)
    mount = str(options.get("vault_auth_mount") or (options.get("vault_approle_mount") if method == "approle" else "")
                or DEFAULT_MOUNTS[method]).strip("/")
    login = _LOGINS[method](key, options, mount)
    # the same credentials at another server or namespace are another login
    where = _digest(options.get("vault_url"), options.get("vault_namespace"))
    return Login(login.method, login.mount, login.role, login.token, login.secrets, login.call,
                 _digest(login.cache_key, where), login.source)


def verify_setting(options: Mapping[str, Any], env: Optional[Mapping[str, str]] = None) -> Any:
    """requests' ``verify``: the CA file, True, or False (vault_validate_certs false, or VAULT_SKIP_VERIFY set)."""
    env = os.environ if env is None else env
    validate = options.get("vault_validate_certs")
    if validate is None:
        skip = env.get("VAULT_SKIP_VERIFY") or env.get("BAO_SKIP_VERIFY") or ""
        validate = skip.strip().lower() not in ("1", "true", "yes", "on", "t")
    if validate and options.get("vault_ca_cert"):
        return os.path.expanduser(str(options["vault_ca_cert"]))
    return bool(validate)


def client_cert(options: Mapping[str, Any]) -> Optional[tuple[str, str]]:
    """The client certificate presented on every request (cert login, or a listener that requires one)."""
    cert, private = options.get("vault_client_cert"), options.get("vault_client_key")
    if cert and private:
        return os.path.expanduser(str(cert)), os.path.expanduser(str(private))
    return None
