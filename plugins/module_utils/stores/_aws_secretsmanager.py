# Internal to this collection: not a public API; may change without notice.
"""AWS Secrets Manager, through boto3: the record is the secret's JSON ``SecretString`` at ``AWSCURRENT``.

Secrets Manager has no check-and-set on a value. The conditional write (docs/stores.md):

1. ``PutSecretValue`` makes a new version, labelled ``apikeys-staged`` only, never ``AWSCURRENT``; its
   ``ClientRequestToken`` (the new version's id) makes a repeated request a no-op;
2. ``UpdateSecretVersionStage`` moves ``AWSCURRENT`` to it with ``RemoveFromVersionId`` = the version read.
   AWS refuses the move when ``AWSCURRENT`` is no longer on that version: the check-and-set. Of two writers
   that read one version, one moves the label; the other's version is left with no label (deprecated,
   never current, never read by a consumer) and its write fails with CasConflict.

A record that must not exist yet is written with ``CreateSecret`` (which fails when the secret exists) or,
for a secret created empty, with the first ``PutSecretValue`` (AWS makes only the first version current).

The version that first holds a rotation's pending key has the id ``apikeys-pending-<rotation id>`` and
carries ``AWSPENDING`` while the record is pending. The non-secret state is in the secret's tags
``apikeys:<field>`` (``DescribeSecret``, no ``GetSecretValue``). A secret with Secrets Manager's own
rotation enabled, or with an ``AWSPENDING`` version that is not this collection's, is refused before any
change. The store's clock is the ``Date`` header of Secrets Manager's last answer (whole seconds).
"""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Optional, TypeVar

from .._aws_clients import HAS_BOTO3, NEEDS_BOTO3, Botocore, botocore_config, load_boto3
from .._errors import CasConflict, ConfigError, RotationRefused, StoreError, StoreForbidden, StoreUnavailable
from .._retry import RetryPolicy, Retryable, call_with_retry
from ._base import Entry, Store, is_absent

T = TypeVar("T")

#: the keys of ``apikeys_store_options``
OPTIONS = ("region", "endpoint_url", "profile", "timeout", "aws_access_key_id", "aws_secret_access_key",
           "aws_session_token")
CREDENTIALS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
CURRENT = "AWSCURRENT"
PENDING = "AWSPENDING"
#: the label of a version written and not (yet) current: moved by each write, never read by consumers
STAGED = "apikeys-staged"
PENDING_PREFIX = "apikeys-pending-"
TAG_PREFIX = "apikeys:"
THROTTLED = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
             "LimitExceededException"}
DENIED = {"AccessDeniedException", "AccessDenied"}
BAD_CREDENTIALS = {"UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException",
                   "SignatureDoesNotMatch", "ExpiredTokenException", "IncompleteSignature"}
_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
_TAG_VALUE = re.compile(r"[^\w\s.:/=+@-]")
#: what the rotator's policy must allow, by call (docs/policies/aws-secretsmanager-rotator.json)
ACTIONS = {"read": "secretsmanager:GetSecretValue", "describe": "secretsmanager:DescribeSecret",
           "put": "secretsmanager:PutSecretValue", "stage": "secretsmanager:UpdateSecretVersionStage",
           "create": "secretsmanager:CreateSecret", "tag": "secretsmanager:TagResource",
           "untag": "secretsmanager:UntagResource"}


class SecretsManagerStore(Store):
    kind = "aws_secretsmanager"

    # -- configuration (stores/_registry.py) --------------------------------------------------------

    @classmethod
    def validate_path(cls, key: str, path: Any) -> str:
        if not isinstance(path, str) or not path.strip():
            raise ConfigError(key, "apikeys_vault_path", "missing: the name (or ARN) of the key's secret in AWS "
                              "Secrets Manager, e.g. apikeys/" + key)
        if not (_NAME.match(path) or _ARN.match(path)):
            raise ConfigError(key, "apikeys_vault_path", "is not a Secrets Manager secret name (1 to 512 of "
                              "A-Z a-z 0-9 / _ + = . @ -) or secret ARN")
        return path

    @classmethod
    def validate_options(cls, key: str, args: dict[str, Any]) -> None:
        options = args.get("store_options")
        if options is None:
            return
        if not isinstance(options, dict):
            raise ConfigError(key, "apikeys_store_options", "must be a mapping")
        unknown = sorted(str(k) for k in options if k not in OPTIONS)
        if unknown:
            raise ConfigError(key, "apikeys_store_options", f"unknown option(s) {', '.join(unknown)} for store "
                              f"aws_secretsmanager (known: {', '.join(OPTIONS)})")
        for name in OPTIONS:
            value = options.get(name)
            if name == "timeout":
                if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                          or value <= 0):
                    raise ConfigError(key, "apikeys_store_options.timeout", "must be a number of seconds > 0")
            elif value is not None and not isinstance(value, str):
                raise ConfigError(key, f"apikeys_store_options.{name}", "must be a string")
        if bool(options.get("aws_access_key_id")) != bool(options.get("aws_secret_access_key")):
            raise ConfigError(key, "apikeys_store_options", "aws_access_key_id and aws_secret_access_key go "
                              "together (or leave both out and let boto3 find the credentials)")
        endpoint = options.get("endpoint_url")
        if endpoint and not str(endpoint).startswith(("https://", "http://")):
            raise ConfigError(key, "apikeys_store_options.endpoint_url", "must be an http(s):// URL")

    @classmethod
    def from_options(cls, key: str, args: dict[str, Any]) -> "SecretsManagerStore":
        if not HAS_BOTO3:
            raise ConfigError(key, "apikeys_store", f"aws_secretsmanager needs {NEEDS_BOTO3}")
        return cls(key, dict(args.get("store_options") or {}))

    def __init__(self, key: str, options: dict[str, Any],
                 retry: RetryPolicy = RetryPolicy(attempts=4, base_delay=0.2, max_total=10.0)) -> None:
        self.key = key
        self.options = options
        self.retry = retry
        self._client: Any = None
        self._session: Any = None
        self._date: Optional[datetime] = None

    # -- plumbing -----------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The boto3 client, made on first use (credentials: the options, else boto3's default chain)."""
        if self._client is None:
            # boto3 imported on first use (_aws_clients.load_boto3): stores/_registry imports this module for
            # every run, and a run without a Secrets Manager key must not pay for boto3
            boto3 = load_boto3()
            given = {n: self.options[n] for n in CREDENTIALS if self.options.get(n)}
            try:
                self._session = boto3.session.Session(profile_name=self.options.get("profile") or None,
                                                      region_name=self.options.get("region") or None, **given)
                timeout = float(self.options.get("timeout") or 10)
                config = botocore_config(connect_timeout=timeout, read_timeout=timeout, retries={"total_max_attempts": 1})
                self._client = self._session.client("secretsmanager", endpoint_url=self.options.get("endpoint_url"),
                                                    config=config)
            except Botocore.NoRegionError:
                raise ConfigError(self.key, "apikeys_store_options.region", "no AWS region: set it, or AWS_REGION "
                                  "(AWS_DEFAULT_REGION, the profile's region)") from None
            except Botocore.BotoCoreError as exc:  # e.g. an unknown profile
                raise ConfigError(self.key, "apikeys_store_options", f"boto3 cannot be set up: "
                                  f"{type(exc).__name__}") from None
        return self._client

    def secrets(self) -> list[str]:
        """The secret access key and session token in use (from the options or boto3's chain)."""
        held = [str(self.options[n]) for n in ("aws_secret_access_key", "aws_session_token") if self.options.get(n)]
        if self._session is not None:
            try:
                credentials = self._session.get_credentials()
            except Exception:  # pylint: disable=broad-except  # nothing resolved: nothing more to hide
                credentials = None
            if credentials is not None:
                held.extend(s for s in (credentials.secret_key, credentials.token) if s)
        return held

    def _call(self, what: str, action: str, fn: Callable[[], T], maybe_applied: bool = True) -> T:
        """One Secrets Manager call: throttling, 5xx and lost connections retried; errors made clear.

        ``maybe_applied``: may a request that got no answer have been carried out? (A read cannot change
        anything; a write's token makes its repetition a no-op.)
        """
        def attempt() -> T:
            try:
                answer = fn()
            except Botocore.ClientError as exc:
                raise self._client_error(what, action, exc, maybe_applied) from None
            except Botocore.NoCredentialsError:
                raise StoreForbidden(f"secretsmanager: no AWS credentials found (boto3's chain: environment, "
                                     f"profile, role): {what} not done") from None
            except (Botocore.EndpointConnectionError, Botocore.ConnectTimeoutError) as exc:
                raise Retryable(StoreUnavailable(f"secretsmanager at {self._where()} unreachable "
                                                 f"({type(exc).__name__}): {what} not done")) from None
            except Botocore.BotoCoreError as exc:
                outcome = "may or may not have been done" if maybe_applied else "not done"
                raise Retryable(StoreUnavailable(f"secretsmanager at {self._where()}: no answer "
                                                 f"({type(exc).__name__}): {what} {outcome}",
                                                 maybe_applied=maybe_applied)) from None
            self._clock_from(answer)
            return answer

        return call_with_retry(attempt, self.retry)

    def _client_error(self, what: str, action: str, exc: Any, maybe_applied: bool) -> Exception:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in THROTTLED or status == 429:
            return Retryable(StoreUnavailable(f"secretsmanager: {what}: throttled ({code or status}); retried"),
                             throttled=True)  # the store's rate budget pauses for every user (_budget.py)
        if code in DENIED:
            return StoreForbidden(f"secretsmanager: permission denied ({code}) to {what}: the policy needs "
                                  f"{ACTIONS[action]} on this secret (docs/policies/aws-secretsmanager-rotator.json); "
                                  "nothing more was done")
        if code in BAD_CREDENTIALS:
            return StoreForbidden(f"secretsmanager: the AWS credentials were refused ({code}): {what} not done")
        if status == 403:  # an answer with no error code (e.g. an XML body from an IAM check)
            return StoreForbidden(f"secretsmanager: refused with HTTP 403 (permission denied, or credentials not "
                                  f"accepted) to {what}: the policy needs {ACTIONS[action]} on this secret "
                                  "(docs/policies/aws-secretsmanager-rotator.json); nothing more was done")
        if status >= 500 or code in ("InternalServiceError", "InternalFailure", "ServiceUnavailable"):
            return Retryable(StoreUnavailable(f"secretsmanager: {what} failed ({code or status})",
                                              maybe_applied=maybe_applied))
        return exc  # the caller decides (ResourceNotFoundException, InvalidParameterException...)

    def _where(self) -> str:
        return str(self.options.get("endpoint_url") or self.options.get("region") or "AWS")

    def _clock_from(self, answer: Any) -> None:
        headers = (answer or {}).get("ResponseMetadata", {}).get("HTTPHeaders", {}) if isinstance(answer, dict) \
            else {}
        try:
            self._date = parsedate_to_datetime(headers["date"]).astimezone(timezone.utc)
        except (KeyError, TypeError, ValueError):
            pass

    @staticmethod
    def _code(exc: Exception) -> str:
        return str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")) if isinstance(exc, Botocore.ClientError) \
            else ""

    # -- reads --------------------------------------------------------------------------------------

    def describe(self, path: str) -> Optional[dict[str, Any]]:
        """``DescribeSecret`` (no secret in it), or None when there is no such secret."""
        try:
            return self._call(f"describe {path}", "describe", lambda: self.client.describe_secret(SecretId=path),
                              maybe_applied=False)
        except Botocore.ClientError as exc:
            if self._code(exc) == "ResourceNotFoundException":
                return None
            raise StoreError(f"secretsmanager: describe {path} refused ({self._code(exc)})") from None

    def read(self, path: str) -> Optional[Entry]:
        def fetch() -> Any:
            return self.client.get_secret_value(SecretId=path, VersionStage=CURRENT)

        try:
            answer = self._call(f"read {path}", "read", fetch, maybe_applied=False)
        except Botocore.ClientError as exc:
            code = self._code(exc)
            if code == "ResourceNotFoundException":  # no secret, or a secret with no current version
                return None
            if code == "InvalidRequestException":
                raise StoreError(f"secretsmanager: {path} cannot be read ({code}: is it scheduled for deletion? "
                                 "restore it first)") from None
            raise StoreError(f"secretsmanager: read {path} refused ({code})") from None
        data = _record(path, answer.get("SecretString"))
        # the tags too, as Vault's read carries custom_metadata: a merge of metadata (Session.annotate) keeps the rest
        described = self.describe(path)
        return Entry(data=data, version=answer.get("VersionId"), metadata=_tags(described) if described else {})

    def read_metadata(self, path: str) -> Optional[Entry]:
        """The non-secret state from the tags (``DescribeSecret`` only), or None when there is no record."""
        described = self.describe(path)
        current = _holder(described, CURRENT)
        if described is None or current is None:
            return None
        return Entry(data={}, version=current, metadata=_tags(described))

    def now(self) -> Optional[datetime]:
        """The ``Date`` of Secrets Manager's last answer (AWS checks request signatures against its clock)."""
        return self._date

    # -- checks ---------------------------------------------------------------------------------------

    def preflight(self, path: str) -> None:
        """The secret exists and no other rotator works on it (native rotation, a stuck AWSPENDING)."""
        described = self.describe(path)
        if described is None:
            raise StoreError(f"secretsmanager: no secret {path}; import the key in use first")
        self._refuse_foreign(path, described)

    def _refuse_foreign(self, path: str, described: Optional[dict[str, Any]]) -> None:
        if not described:
            return
        if described.get("DeletedDate"):
            raise StoreError(f"secretsmanager: {path} is scheduled for deletion; restore it first; nothing was "
                             "changed")
        if described.get("RotationEnabled"):
            raise RotationRefused(f"secretsmanager: {path} has Secrets Manager's own rotation enabled "
                                  f"(RotationEnabled, Lambda {described.get('RotationLambdaARN') or '?'}): two "
                                  "rotators on one secret would replace each other's keys and revoke keys in use; "
                                  "turn that rotation off (aws secretsmanager cancel-rotate-secret) or leave this "
                                  "key to it; nothing was changed")
        for version, stages in (described.get("VersionIdsToStages") or {}).items():
            if PENDING in stages and not str(version).startswith(PENDING_PREFIX):
                raise RotationRefused(
                    f"secretsmanager: {path} has a version labelled AWSPENDING ({version}) that this collection "
                    "did not make: another tool's rotation did not finish, and the key in it may be alive. "
                    "Finish it or take the label off (aws secretsmanager update-secret-version-stage "
                    f"--version-stage AWSPENDING --remove-from-version-id {version}) after revoking that key if "
                    "it is not in use; nothing was changed")

    # -- writes ---------------------------------------------------------------------------------------

    def write(self, path: str, data: dict[str, Any], cas: Any) -> str:
        body = json.dumps(data, sort_keys=True, separators=(",", ":"))
        described = self.describe(path)
        self._refuse_foreign(path, described)
        if is_absent(cas):
            return self._create(path, body, described)
        token = _token(data, described)
        self._put(path, token, body)
        self._move_current(path, token, str(cas))
        self._label_pending(path, data, token, described)
        return token

    def _put(self, path: str, token: str, body: str) -> dict[str, Any]:
        """A new version labelled STAGED only (never current by itself); repeated with its token, a no-op."""
        try:
            return self._call(f"write {path}", "put", lambda: self.client.put_secret_value(
                SecretId=path, ClientRequestToken=token, SecretString=body, VersionStages=[STAGED]))
        except Botocore.ClientError as exc:
            code = self._code(exc)
            if code == "ResourceExistsException":  # the version id is taken by another content
                raise CasConflict(f"{path}: version {token} was already written by another writer") from None
            if code == "ResourceNotFoundException":
                raise CasConflict(f"{path} was deleted since it was read") from None
            raise StoreError(f"secretsmanager: write to {path} refused ({code})") from None

    def _move_current(self, path: str, token: str, cas: str) -> None:
        """The check-and-set: AWSCURRENT moves from the version read to ours, or not at all."""
        try:
            self._call(f"make the new version of {path} current", "stage",
                       lambda: self.client.update_secret_version_stage(
                           SecretId=path, VersionStage=CURRENT, MoveToVersionId=token, RemoveFromVersionId=cas))
            return
        except Botocore.ClientError as exc:
            refused = self._code(exc)
        # Refused: AWSCURRENT is no longer on ``cas``. It may be on ours (a retry after a lost answer).
        if _holder(self.describe(path), CURRENT) == token:
            return
        self._unlabel(path, token, STAGED)
        raise CasConflict(f"{path} changed since it was read (version {cas}; {refused}): another run is working "
                          "on this key")

    def _create(self, path: str, body: str, described: Optional[dict[str, Any]]) -> str:
        """The first record: only if the secret has no current version (else another writer was first)."""
        token = "apikeys-" + uuid.uuid4().hex
        if described is None:
            try:
                answer = self._call(f"create {path}", "create", lambda: self.client.create_secret(
                    Name=path, ClientRequestToken=token, SecretString=body,
                    Tags=[{"Key": TAG_PREFIX + "managed_by", "Value": "apikeys.rotation"}]))
                return str(answer.get("VersionId") or token)
            except Botocore.ClientError as exc:
                if self._code(exc) != "ResourceExistsException":
                    raise StoreError(f"secretsmanager: create {path} refused ({self._code(exc)})") from None
                described = self.describe(path)
        if _holder(described, CURRENT) is not None:
            raise CasConflict(f"{path} already holds a value: another writer was first")
        answer = self._put(path, token, body)
        if CURRENT in (answer.get("VersionStages") or []) or _holder(self.describe(path), CURRENT) == token:
            return token
        self._unlabel(path, token, STAGED)
        raise CasConflict(f"{path} got its first value from another writer")

    def _label_pending(self, path: str, data: dict[str, Any], token: str,
                       described: Optional[dict[str, Any]]) -> None:
        """AWSPENDING on this rotation's pending version while the record is pending, on none otherwise.

        Best effort: the record is written; a label not moved now is moved by the next write.
        """
        holder = _holder(described, PENDING)
        wanted = _pending_version(data)
        known = set((described or {}).get("VersionIdsToStages") or {}) | {token}
        try:
            if wanted is not None and wanted in known and holder != wanted:
                self._stage(path, PENDING, move_to=wanted, remove_from=holder)
            elif wanted is None and holder is not None:
                self._stage(path, PENDING, move_to=None, remove_from=holder)
        except (StoreError, Botocore.ClientError):
            pass

    def _unlabel(self, path: str, version: str, label: str) -> None:
        """Best effort: the losing version keeps no label (deprecated: never current, AWS deletes it later)."""
        try:
            self._stage(path, label, move_to=None, remove_from=version)
        except (StoreError, Botocore.ClientError):
            pass

    def _stage(self, path: str, label: str, move_to: Optional[str], remove_from: Optional[str]) -> None:
        given = {"MoveToVersionId": move_to} if move_to else {}
        if remove_from:
            given["RemoveFromVersionId"] = remove_from
        self._call(f"move the label {label} of {path}", "stage", lambda: self.client.update_secret_version_stage(
            SecretId=path, VersionStage=label, **given))

    def set_metadata(self, path: str, metadata: dict[str, str]) -> None:
        """The fields as tags ``apikeys:<field>`` (values cut to Secrets Manager's tag rules); stale ones removed."""
        tags = {TAG_PREFIX + k: _tag_value(v) for k, v in metadata.items() if v not in (None, "")}
        described = self.describe(path)
        if described is None:
            raise StoreError(f"secretsmanager: no secret {path}: metadata not written")
        stale = [k for k in _raw_tags(described) if k.startswith(TAG_PREFIX) and k not in tags]
        self._call(f"tag {path}", "tag", lambda: self.client.tag_resource(
            SecretId=path, Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())]))
        if stale:
            self._call(f"untag {path}", "untag", lambda: self.client.untag_resource(SecretId=path, TagKeys=stale))


# -- helpers ------------------------------------------------------------------------------------------

def _record(path: str, text: Any) -> dict[str, Any]:
    if not isinstance(text, str):
        raise StoreError(f"secretsmanager: {path} holds no SecretString (a binary secret?): not a key record")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):  # never show the value: it may be a bare key
        raise StoreError(f"secretsmanager: the value of {path} is not a JSON object: not a key record of this "
                         "collection")
    return data


def _holder(described: Optional[dict[str, Any]], label: str) -> Optional[str]:
    """The version carrying ``label``, or None."""
    for version, stages in ((described or {}).get("VersionIdsToStages") or {}).items():
        if label in (stages or []):
            return str(version)
    return None


def _pending_version(data: dict[str, Any]) -> Optional[str]:
    """The id of the version that first held this rotation's pending key (None when none is pending)."""
    rotation = data.get("rotation_id")
    if not data.get("pending_key_id") or not isinstance(rotation, str):
        return None
    version = PENDING_PREFIX + rotation
    return version if 32 <= len(version) <= 64 and re.match(r"^[A-Za-z0-9-]+$", version) else None


def _token(data: dict[str, Any], described: Optional[dict[str, Any]]) -> str:
    """The new version's id: ``apikeys-pending-<rotation id>`` for the write that brings a rotation's pending
    key (the same id when that write is repeated: no second version), else a new one."""
    pending = _pending_version(data)
    if pending is not None and pending not in ((described or {}).get("VersionIdsToStages") or {}):
        return pending
    return "apikeys-" + uuid.uuid4().hex


def _raw_tags(described: dict[str, Any]) -> dict[str, str]:
    return {str(t.get("Key")): str(t.get("Value", "")) for t in described.get("Tags") or [] if t.get("Key")}


def _tags(described: dict[str, Any]) -> dict[str, str]:
    return {k[len(TAG_PREFIX):]: v for k, v in _raw_tags(described).items() if k.startswith(TAG_PREFIX)}


def _tag_value(value: Any) -> str:
    """Tag values: 256 characters of letters, digits, spaces and ``_ . : / = + - @``."""
    return _TAG_VALUE.sub("_", str(value))[:256]
