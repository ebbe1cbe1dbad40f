"""The AWS Secrets Manager store against moto's in-process Secrets Manager (the bench's moto server: tests/e2e).

Each test checks what AWS itself would show (labels, versions, tags), read with raw boto3 calls.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ansible_collections.apikeys.rotation.plugins.module_utils._config import KeyConfig
from ansible_collections.apikeys.rotation.plugins.module_utils._errors import CasConflict, RotationRefused, \
    StoreError, StoreUnavailable
from ansible_collections.apikeys.rotation.plugins.module_utils._rotation import Rotation
from ansible_collections.apikeys.rotation.plugins.module_utils._session import Session
from ansible_collections.apikeys.rotation.plugins.module_utils._retry import RetryPolicy
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._aws_secretsmanager import PENDING_PREFIX, \
    SecretsManagerStore
from ansible_collections.apikeys.rotation.plugins.module_utils.stores._base import ABSENT
from ansible_collections.apikeys.rotation.tests.unit.fakes import Clock, FakeProvider

NAME = "apikeys/mailer"
REGION = "us-east-1"
SECRET_ACCESS_KEY = "aws-SECRET-canary-7f3e"


@pytest.fixture(name="mocked", scope="module")
def fixture_mocked() -> Iterator[Any]:
    """One in-process moto for the module (starting one costs ~2 s); each test removes its secret."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
            patch.delenv(name, raising=False)
        with mock_aws():  # sets fake credentials of its own: ours are set inside
            patch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTEST")
            patch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
            yield boto3.client("secretsmanager", region_name=REGION)


@pytest.fixture(name="aws")
def fixture_aws(mocked: Any) -> Iterator[Any]:
    yield mocked
    try:
        mocked.delete_secret(SecretId=NAME, ForceDeleteWithoutRecovery=True)
    except ClientError:
        pass


def make_store() -> SecretsManagerStore:
    return SecretsManagerStore("mailer", {"region": REGION},
                               retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02, max_total=1.0))


def stages(aws: Any, name: str = NAME) -> dict[str, list[str]]:
    return aws.describe_secret(SecretId=name)["VersionIdsToStages"]


def current(aws: Any, name: str = NAME) -> dict[str, Any]:
    """What a consumer reads: the AWSCURRENT version (named: moto's default version does not follow the label)."""
    return json.loads(aws.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"])


def test_the_first_record_creates_the_secret_and_is_current(aws):
    store = make_store()
    version = store.write(NAME, {"key": "sk-1", "key_id": "k1"}, cas=ABSENT)
    entry = store.read(NAME)
    assert entry is not None and entry.version == version and entry.data == {"key": "sk-1", "key_id": "k1"}
    assert current(aws) == {"key": "sk-1", "key_id": "k1"}
    assert "AWSCURRENT" in stages(aws)[version]


def test_a_record_that_must_not_exist_but_does_is_a_conflict(aws):
    aws.create_secret(Name=NAME, SecretString=json.dumps({"key": "theirs"}))
    with pytest.raises(CasConflict):
        make_store().write(NAME, {"key": "mine"}, cas=ABSENT)
    assert current(aws) == {"key": "theirs"}


def test_a_secret_created_empty_gets_its_first_value(aws):
    aws.create_secret(Name=NAME, Description="made by terraform")
    store = make_store()
    assert store.read(NAME) is None
    version = store.write(NAME, {"key": "sk-1"}, cas=None)
    assert "AWSCURRENT" in stages(aws)[version] and current(aws) == {"key": "sk-1"}


def test_each_write_is_a_new_current_version_and_aws_moves_awsprevious(aws):
    store = make_store()
    first = store.write(NAME, {"key": "sk-1"}, cas=ABSENT)
    second = store.write(NAME, {"key": "sk-2"}, cas=first)
    labels = stages(aws)
    assert "AWSCURRENT" in labels[second] and "AWSPREVIOUS" in labels[first]
    assert current(aws) == {"key": "sk-2"}


def test_of_two_writers_that_read_one_version_exactly_one_wins_and_the_loser_leaves_no_label(aws):
    store = make_store()
    first = store.write(NAME, {"key": "sk-1"}, cas=ABSENT)
    winner = store.write(NAME, {"key": "sk-1", "lease_owner": "a"}, cas=first)
    with pytest.raises(CasConflict):
        make_store().write(NAME, {"key": "sk-1", "lease_owner": "b"}, cas=first)
    assert current(aws)["lease_owner"] == "a"
    labelled = stages(aws)
    assert "AWSCURRENT" in labelled[winner]
    everything = aws.list_secret_version_ids(SecretId=NAME, IncludeDeprecated=True)["Versions"]
    losers = [v for v in everything if v["VersionId"] not in (first, winner)]
    assert len(losers) == 1 and not losers[0].get("VersionStages"), "the loser's version has no label"


def test_a_lost_answer_to_the_label_move_is_found_to_be_ours(aws, monkeypatch):
    """The move was made, its answer lost, the retry refused: the store sees AWSCURRENT on its own version."""
    store = make_store()
    first = store.write(NAME, {"key": "sk-1"}, cas=ABSENT)
    real = store.client.update_secret_version_stage
    calls = []

    def lose_first_answer(**kwargs: Any) -> Any:
        calls.append(kwargs)
        answer = real(**kwargs)
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "InternalServiceError"}, "ResponseMetadata": {"HTTPStatusCode": 500}},
                              "UpdateSecretVersionStage")
        return answer

    monkeypatch.setattr(store.client, "update_secret_version_stage", lose_first_answer)
    second = store.write(NAME, {"key": "sk-2"}, cas=first)
    assert len(calls) == 2 and "AWSCURRENT" in stages(aws)[second]


def test_throttling_is_retried_and_a_put_repeated_with_its_token_makes_no_second_version(aws, monkeypatch):
    store = make_store()
    first = store.write(NAME, {"key": "sk-1"}, cas=ABSENT)
    real = store.client.put_secret_value
    calls = []

    def throttled_once(**kwargs: Any) -> Any:
        calls.append(kwargs["ClientRequestToken"])
        answer = real(**kwargs)  # made, then the answer says "throttled": the repeat must be a no-op
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "ThrottlingException"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
                              "PutSecretValue")
        return answer

    monkeypatch.setattr(store.client, "put_secret_value", throttled_once)
    store.write(NAME, {"key": "sk-2"}, cas=first)
    assert len(calls) == 2 and calls[0] == calls[1]
    versions = aws.list_secret_version_ids(SecretId=NAME, IncludeDeprecated=True)["Versions"]
    assert len(versions) == 2


def test_an_unreachable_endpoint_is_store_unavailable_and_not_applied(aws):
    store = SecretsManagerStore("mailer", {"region": REGION, "endpoint_url": "http://127.0.0.1:9", "timeout": 1},
                                retry=RetryPolicy(attempts=2, base_delay=0.01, max_total=1.0))
    with pytest.raises(StoreUnavailable) as caught:
        store.read(NAME)
    assert "unreachable" in str(caught.value) and not caught.value.maybe_applied


def test_the_pending_version_is_named_after_the_rotation_and_labelled_awspending_until_promoted(aws):
    store = make_store()
    first = store.write(NAME, {"key": "sk-1", "key_id": "k1"}, cas=ABSENT)
    intent = store.write(NAME, {"key": "sk-1", "key_id": "k1", "rotation_id": "20260101T000000Z-abc123"}, cas=first)
    pending = store.write(NAME, {"key": "sk-1", "key_id": "k1", "rotation_id": "20260101T000000Z-abc123",
                                 "pending_key": "sk-2", "pending_key_id": "k2"}, cas=intent)
    assert pending == PENDING_PREFIX + "20260101T000000Z-abc123"
    assert set(stages(aws)[pending]) >= {"AWSCURRENT", "AWSPENDING"}
    verified = store.write(NAME, {"key": "sk-1", "key_id": "k1", "rotation_id": "20260101T000000Z-abc123",
                                  "pending_key": "sk-2", "pending_key_id": "k2", "pending_verified_at": "x"},
                           cas=pending)
    assert "AWSPENDING" in stages(aws)[pending] and verified != pending
    promoted = store.write(NAME, {"key": "sk-2", "key_id": "k2", "previous_key": "sk-1", "previous_key_id": "k1"},
                           cas=verified)
    labels = stages(aws)
    assert not any("AWSPENDING" in s for s in labels.values()), labels
    assert "AWSCURRENT" in labels[promoted] and current(aws)["key"] == "sk-2"


def test_native_rotation_enabled_is_refused_and_nothing_changes(aws, monkeypatch):
    store = make_store()
    first = store.write(NAME, {"key": "sk-1"}, cas=ABSENT)
    real = store.client.describe_secret
    monkeypatch.setattr(store.client, "describe_secret", lambda **kw: dict(
        real(**kw), RotationEnabled=True, RotationLambdaARN="arn:aws:lambda:us-east-1:123456789012:function:rot"))
    for attempt in (lambda: store.preflight(NAME), lambda: store.write(NAME, {"key": "sk-2"}, cas=first)):
        with pytest.raises(RotationRefused) as caught:
            attempt()
        assert "own rotation enabled" in str(caught.value) and "two rotators" in str(caught.value)
    assert current(aws) == {"key": "sk-1"} and len(stages(aws)) == 1


def test_a_stuck_awspending_of_another_tool_is_refused_and_nothing_changes(aws):
    store = make_store()
    first = store.write(NAME, {"key": "sk-1"}, cas=ABSENT)
    aws.put_secret_value(SecretId=NAME, ClientRequestToken="other-tool-0000000000000000000000000001",
                         SecretString=json.dumps({"key": "sk-from-lambda"}), VersionStages=["AWSPENDING"])
    before = stages(aws)
    with pytest.raises(RotationRefused) as caught:
        store.preflight(NAME)
    message = str(caught.value)
    assert "AWSPENDING" in message and "other-tool-0000000000000000000000000001" in message
    assert "sk-from-lambda" not in message
    with pytest.raises(RotationRefused):
        store.write(NAME, {"key": "sk-2"}, cas=first)
    assert stages(aws) == before and current(aws) == {"key": "sk-1"}


def test_a_value_that_is_not_a_json_record_is_an_error_that_never_shows_it(aws):
    aws.create_secret(Name=NAME, SecretString="sk-bare-SECRET-value")
    with pytest.raises(StoreError) as caught:
        make_store().read(NAME)
    assert "not a JSON object" in str(caught.value) and "sk-bare" not in str(caught.value)


def test_metadata_is_in_tags_readable_without_the_value(aws):
    store = make_store()
    store.write(NAME, {"key": "sk-1"}, cas=ABSENT)
    store.set_metadata(NAME, {"phase": "idle", "key_id": "k1", "last_error": "key 'mailer': (429) failed"})
    store.set_metadata(NAME, {"phase": "grace", "key_id": "k2"})
    entry = store.read_metadata(NAME)
    assert entry is not None and entry.data == {}
    assert entry.metadata == {"phase": "grace", "key_id": "k2"}
    tags = {t["Key"]: t["Value"] for t in aws.describe_secret(SecretId=NAME)["Tags"]}
    assert tags["apikeys:phase"] == "grace" and "apikeys:last_error" not in tags
    read = store.read(NAME)
    assert read is not None and read.metadata == {"phase": "grace", "key_id": "k2"}, "a read carries the metadata"


def test_the_clock_is_the_date_of_the_last_answer(aws):
    store = make_store()
    assert store.now() is None
    store.write(NAME, {"key": "sk-1"}, cas=ABSENT)
    store.read(NAME)
    assert store.now() is not None and store.now().tzinfo is not None


def test_the_credentials_in_use_are_secrets_to_scrub(aws):
    store = make_store()
    store.read(NAME)
    assert SECRET_ACCESS_KEY in store.secrets()
    given = SecretsManagerStore("k", {"region": REGION, "aws_access_key_id": "AKIAX", "aws_secret_access_key": "shh"})
    assert "shh" in given.secrets()


def test_a_whole_rotation_on_the_store(aws):
    """import, create (intent, pending, verify), promote, revoke: the record at AWSCURRENT after each."""
    store = make_store()
    provider = FakeProvider()
    provider.add("k1", "sk-OLD-canary")
    cfg = KeyConfig(name="mailer", provider="fake", vault_path=NAME, rotation_frequency=86400, grace_period=3600,
                    store="aws_secretsmanager")
    rotation = Rotation(cfg, store, provider, clock=Clock(), sleep=lambda seconds: None)
    rotation.import_key("sk-OLD-canary", "k1")
    assert current(aws)["key"] == "sk-OLD-canary"
    out = rotation.create()
    assert out["changed"] and current(aws)["pending_key_id"] == provider.created[0]
    assert any(v.startswith(PENDING_PREFIX) and "AWSPENDING" in s for v, s in stages(aws).items())
    rotation.promote(out["rotation_id"])
    record = current(aws)
    assert record["key_id"] == provider.created[0] and record["previous_key_id"] == "k1"
    assert not any("AWSPENDING" in s for s in stages(aws).values())
    meta = store.read_metadata(NAME)
    assert meta is not None and meta.metadata["phase"] == "grace"


def test_annotating_the_metadata_keeps_the_rest(aws):
    """Session.annotate (api_key_notify's outcome) merges into the tags, as with Vault's custom_metadata."""
    store = make_store()
    store.write(NAME, {"key": "sk-1", "key_id": "k1"}, cas=ABSENT)
    store.set_metadata(NAME, {"phase": "idle", "key_id": "k1"})
    session = Session(KeyConfig(name="mailer", provider="fake", vault_path=NAME, store="aws_secretsmanager"), store)
    assert session.annotate({"last_notify": "delivered"}) is None
    assert store.read_metadata(NAME).metadata == {"phase": "idle", "key_id": "k1", "last_notify": "delivered"}
