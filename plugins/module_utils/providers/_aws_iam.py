# Internal to this collection: not a public API; may change without notice.
"""AWS IAM access keys of one IAM user, through boto3.

IAM allows two access keys per user (an Inactive key still counts), so a
rotation needs the user to hold at most one key when it starts. A new key can
take several seconds before it authenticates (InvalidClientTokenId meanwhile):
the rotation polls ``sts:GetCallerIdentity`` until ``activation_timeout``.
The management identity comes from boto3's usual chain (environment,
profile, instance role).
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any, Callable, Optional, TypeVar

from .._errors import ConfigError, KeyCapReached, ProviderError
from .._aws_clients import HAS_BOTO3, NEEDS_BOTO3, Botocore, botocore_config, load_boto3, shared_client
from .._retry import Retryable, call_with_retry
from ._base import NewKey, Provider, Usage

T = TypeVar("T")
_THROTTLED = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable",
              "InternalFailure", "ServiceFailure"}
_SLOW_DOWN = {"Throttling", "ThrottlingException", "RequestLimitExceeded"}
_REJECTED = {"InvalidClientTokenId", "SignatureDoesNotMatch", "AuthFailure", "UnrecognizedClientException"}
KEYS_PER_USER = 2


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code", "") if isinstance(response, dict) else ""


class AwsIamProvider(Provider):
    name = "aws_iam"
    activation_timeout = 30.0
    activation_interval = 1.0
    options_spec = {"user_name": (True, str), "region": (False, str), "endpoint_url": (False, str),
                    "profile": (False, str)}

    def __init__(self, key: str, options: dict[str, Any], credential: Optional[str] = None) -> None:
        super().__init__(key, options, credential)
        self.user = options["user_name"]
        self.region = options.get("region") or "us-east-1"
        self.endpoint_url = options.get("endpoint_url")
        self._iam = None

    def _boto3(self) -> Any:
        """boto3, imported on first use (a run without an AWS key does not pay ~150 ms for it; _aws_clients)."""
        if not HAS_BOTO3:
            raise ConfigError(self.key, "apikeys_provider", f"provider 'aws_iam' needs {NEEDS_BOTO3}")
        return load_boto3()

    def _config(self) -> Any:
        # botocore's own retries are off: a CreateAccessKey whose answer was lost must not be repeated.
        return botocore_config(retries={"total_max_attempts": 1}, connect_timeout=self.timeout, read_timeout=self.timeout)

    @property
    def iam(self) -> Any:
        if self._iam is None:
            self._boto3()
            # one client per profile, region and endpoint in the process, shared by the keys of a batch
            self._iam, self._boto_session = shared_client("iam", profile=self.options.get("profile"), region=self.region,
                                                          endpoint_url=self.endpoint_url, timeout=self.timeout)
        return self._iam

    def credentials(self) -> list[str]:
        """The management identity's secret key and session token (environment, or what boto3 resolved)."""
        held = super().credentials() + [os.environ.get(n, "") for n in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")]
        session = getattr(self, "_boto_session", None)
        resolved = session.get_credentials() if session is not None else None
        if resolved is not None:
            frozen = resolved.get_frozen_credentials()
            held += [frozen.secret_key or "", frozen.token or ""]
        return [h for h in held if h]

    def _call(self, what: str, fn: Callable[[], T], retry: bool = True) -> T:
        self._boto3()  # Botocore's classes bound (or the clear error when boto3 is missing)

        def attempt() -> T:
            try:
                return fn()
            except Botocore.ClientError as exc:
                error = ProviderError(f"aws_iam: {what} for user {self.user} failed: {_code(exc) or 'error'}")
                if retry and _code(exc) in _THROTTLED:  # a throttle pauses every user of the rate budget
                    raise Retryable(error, throttled=_code(exc) in _SLOW_DOWN) from None
                raise
            except Botocore.BotoCoreError as exc:
                error = ProviderError(f"aws_iam: {what} for user {self.user} failed: {type(exc).__name__}")
                if retry:
                    raise Retryable(error) from None
                raise error from None

        return call_with_retry(attempt, self.retry)

    def create(self, name: str, like_key_id: Optional[str]) -> NewKey:
        try:
            answer = self._call("CreateAccessKey", lambda: self.iam.create_access_key(UserName=self.user), retry=False)
        except Botocore.ClientError as exc:
            if _code(exc) == "LimitExceeded":
                raise KeyCapReached(f"aws_iam: user {self.user} already has {KEYS_PER_USER} access keys "
                                    f"(the limit is {KEYS_PER_USER}); no key was created") from None
            raise ProviderError(f"aws_iam: CreateAccessKey for user {self.user} failed: {_code(exc)}") from None
        key = answer["AccessKey"]
        return NewKey(key_id=key["AccessKeyId"], secret=key["SecretAccessKey"], name=name)

    def revoke(self, key_id: str) -> bool:
        try:
            self._call("DeleteAccessKey", lambda: self.iam.delete_access_key(UserName=self.user, AccessKeyId=key_id))
        except Botocore.ClientError as exc:
            if _code(exc) == "NoSuchEntity":
                return False
            raise ProviderError(f"aws_iam: DeleteAccessKey {key_id} failed: {_code(exc)}") from None
        return True

    def deactivate(self, key_id: str) -> None:
        try:
            self._call("UpdateAccessKey Inactive", lambda: self.iam.update_access_key(
                UserName=self.user, AccessKeyId=key_id, Status="Inactive"))
        except Botocore.ClientError as exc:
            raise ProviderError(f"aws_iam: UpdateAccessKey {key_id} failed: {_code(exc)}") from None

    def accepts(self, secret: str, key_id: str) -> bool:
        boto3 = self._boto3()
        sts = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret,
                                    region_name=self.region).client("sts", endpoint_url=self.endpoint_url,
                                                                    config=self._config())
        try:
            self._call("GetCallerIdentity with the new key", sts.get_caller_identity)
        except Botocore.ClientError as exc:
            if _code(exc) in _REJECTED:
                return False
            raise ProviderError(f"aws_iam: testing key {key_id} failed: {_code(exc)}") from None
        return True

    def _keys(self) -> list[dict[str, Any]]:
        try:
            answer = self._call("ListAccessKeys", lambda: self.iam.list_access_keys(UserName=self.user))
        except Botocore.ClientError as exc:
            raise ProviderError(f"aws_iam: ListAccessKeys for user {self.user} failed: {_code(exc)}") from None
        return list(answer.get("AccessKeyMetadata", []))

    def find_by_name(self, name: str, created_after: datetime, known_ids: set[str]) -> list[str]:
        # IAM keys carry no name: a key of this user created after the intent, and unknown to the record,
        # is the one the interrupted run made (a minute of allowance for clock skew).
        since = created_after - timedelta(minutes=1)
        return [k["AccessKeyId"] for k in self._keys()
                if k["AccessKeyId"] not in known_ids and k["CreateDate"] >= since]

    def usage(self) -> Usage:
        return Usage(count=len(self._keys()), limit=KEYS_PER_USER)

    def last_used(self, key_id: str) -> Optional[datetime]:
        try:
            answer = self._call("GetAccessKeyLastUsed",
                                lambda: self.iam.get_access_key_last_used(AccessKeyId=key_id))
        except Botocore.ClientError as exc:
            raise ProviderError(f"aws_iam: GetAccessKeyLastUsed {key_id} failed: {_code(exc)}") from None
        return answer.get("AccessKeyLastUsed", {}).get("LastUsedDate")
