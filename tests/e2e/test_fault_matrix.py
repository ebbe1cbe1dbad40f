"""Every step x every fault: the fault is met where it was injected, the first run ends as the protocol
says it must, the old key keeps working, the store's key works, the provider holds no key the store
does not know, and a re-run converges. Each cell's output is scanned for secrets.

The rows are the code's own steps (``_checkpoint``); the expected first-run outcomes are the table
``faults.EXPECTED``. A run of every cell writes its table to tests/output/fault-matrix.md;
docs/fault-matrix.md holds a copy, checked against ``EXPECTED`` by ``test_the_documented_table_is_the_expected_one``.
"""
from __future__ import annotations

import re
from typing import Any, Iterator

import pytest
import requests

from tests.bench.tcpproxy import TcpProxy

from .conftest import ROOT, Key, Run, World
from .faults import EXPECTED, FAULTS, REVOCATION_STEPS, ROTATION_STEPS, STEPS, Faults, Faulty, phase, run_into_fault

ROTATOR_POLICY = (ROOT / "docs" / "policies" / "rotator.hcl").read_text()
RESULTS: dict[tuple[str, str], str] = {}
TABLE_START = "| step \\ fault |"


@pytest.fixture(scope="module")
def proxy(bench: Any) -> Iterator[TcpProxy]:
    """The collection reaches OpenBao through this proxy, so that a test can take the store down."""
    with TcpProxy("127.0.0.1", bench.openbao.port) as running:
        yield running


def table(results: dict[tuple[str, str], str]) -> list[str]:
    lines = [TABLE_START + " " + " | ".join(FAULTS) + " |", "|---" * (len(FAULTS) + 1) + "|"]
    for step in STEPS:
        lines.append(f"| {step} | " + " | ".join(results.get((step, f), "not run") for f in FAULTS) + " |")
    return lines


@pytest.fixture(scope="module", autouse=True)
def write_table() -> Iterator[None]:
    yield
    out = ROOT / "tests" / "output"
    out.mkdir(parents=True, exist_ok=True)
    ran = len(RESULTS)
    note = "every cell" if ran == len(EXPECTED) else f"a partial run: {ran} of {len(EXPECTED)} cells"
    (out / "fault-matrix.md").write_text(f"<!-- {note} -->\n" + "\n".join(table(RESULTS)) + "\n")


def cell(first: str, met: bool, left: str | None = None) -> str:
    """A cell of the table: the first run's outcome, whether it met the fault, and the re-run."""
    worker = f"; its worker finished: {left}" if left else ""
    return first + worker + ("" if met else " (fault not met)") + ", converged"


def test_the_documented_table_is_the_expected_one() -> None:
    """docs/fault-matrix.md shows every step and every fault, and each cell is the asserted outcome."""
    doc = (ROOT / "docs" / "fault-matrix.md").read_text()
    start = doc.index(TABLE_START)
    shown = doc[start:].split("\n\n", 1)[0].strip().splitlines()
    assert shown == table({k: cell(e.outcome, e.met, e.left) for k, e in EXPECTED.items()})


def prepared(world: World, proxy: TcpProxy) -> tuple[Key, str, Faults]:
    """A SendGrid key due for rotation, reached through the proxy, by a token with the rotator policy."""
    key = world.key("sendgrid", root="apikeys/", apikeys_vault_url=proxy.url, apikeys_grace_period="1s",
                    apikeys_clock_skew="0s", apikeys_usage_evidence={"source": "none"})
    key.options.update(max_attempts=2, timeout=1)
    policy = f"apikeys-rotator-{world.prefix}"
    world.vault.sys.create_or_update_policy(name=policy, policy=ROTATOR_POLICY)
    token = world.vault.auth.token.create(policies=[policy], no_default_policy=True, ttl="30m")["auth"]["client_token"]
    return key, token, Faults(world, key, proxy, policy)


def alive(world: World, key: Key) -> dict[str, str]:
    """The provider's live keys of this key, by id: name (from the emulator's own bookkeeping)."""
    keys = requests.get(world.bench.sendgrid.url + "/__emulator/keys", timeout=5).json()
    return {k["id"]: k["name"] for k in keys if not k["revoked"] and k["id"] in world.live_key_ids(key)}


def record_key_ids(data: dict[str, Any]) -> set[str]:
    """Every key id the record knows: current, previous, pending, being revoked."""
    return {data.get(f) for f in ("key_id", "previous_key_id", "pending_key_id", "revoking_key_id")} - {None}


def assert_nothing_unknown(world: World, key: Key, data: dict[str, Any]) -> None:
    known = record_key_ids(data)
    unknown = {i: n for i, n in alive(world, key).items() if i not in known and n != data.get("pending_key_name")}
    assert not unknown, f"keys alive at the provider that the store does not know: {unknown}"


def outcome(run: Run) -> str:
    if run.rc < 0:
        return "killed"
    if run.rc == 0:
        return "completed"
    kinds = sorted(set(re.findall(r'"error": "(\w+)"', run.stdout)))
    return "failed: " + ",".join(kinds or ["?"])


def secrets_of(world: World, *records: dict[str, Any]) -> set[str]:
    found = {world.bench.sendgrid_admin_key, world.bench.openbao.token}
    for data in records:
        found |= {data[f] for f in ("key", "previous_key", "pending_key", "revoking_key") if data.get(f)}
    return found


def into_fault(world: World, faults: Faults, playbook: str, step: str, fault: str, env: dict[str, str],
               **extra_vars: Any) -> tuple[Faulty, bool, bool]:
    """Run into the fault; then see whether it was met (or is still in place, unmet), and clear it."""
    try:
        faulty = run_into_fault(world, playbook, step, fault, faults, env, **extra_vars)
        met = faults.met(fault, faulty)
        in_place = met or faults.in_place(fault, faulty)
    finally:
        faults.clear(ROTATOR_POLICY)
    return faulty, met, in_place


def assert_as_expected(faulty: Faulty, step: str, fault: str, met: bool, in_place: bool) -> None:
    expected = EXPECTED[(step, fault)]
    run = faulty.run
    assert step in faulty.steps, f"the run never reached {step}: {sorted(faulty.steps)}\n{run.output[-3000:]}"
    if expected.met:
        assert met, f"the run reached {step} but did not meet {fault} there\n{run.output[-3000:]}"
    else:
        assert in_place and not met, f"{fault} was not in place after {step}, or was met where nothing can meet it"
    assert outcome(run) == expected.outcome, f"{step} x {fault}\n{run.output[-4000:]}"


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("step", ROTATION_STEPS)
def test_rotation_survives(world: World, proxy: TcpProxy, step: str, fault: str) -> None:
    key, token, faults = prepared(world, proxy)
    env = {"VAULT_TOKEN": token}

    faulty, met, in_place = into_fault(world, faults, "rotate.yml", step, fault, env, secret=key.host)

    assert_as_expected(faulty, step, fault, met, in_place)
    run = faulty.run
    data = world.record(key).data
    left = phase(data) if fault == "orphaned_worker" else None
    assert left == EXPECTED[(step, fault)].left, "the orphaned worker finished its task"
    assert world.works(key, key.secret, key.key_id), "the old key must keep working"
    assert world.works(key, data["key"], data["key_id"]), "the store's current key must work"
    assert_nothing_unknown(world, key, data)

    rerun = world.playbook("rotate.yml", secret=key.host, rotate_resume_after="0s", extra_env=env)

    assert rerun.rc == 0, rerun.output[-3000:]
    final = world.record(key).data
    assert final["previous_key_id"] == key.key_id and final["key_id"] != key.key_id
    assert world.works(key, final["key"], final["key_id"]) and world.works(key, key.secret, key.key_id)
    assert set(alive(world, key)) == {key.key_id, final["key_id"]}, "converged: exactly the two keys of the grace"
    for secret in secrets_of(world, data, final) | {key.secret, token}:
        assert secret not in run.output and secret not in rerun.output, "a secret was printed"
    RESULTS[(step, fault)] = cell(outcome(run), met, left)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("step", REVOCATION_STEPS)
def test_revocation_survives(world: World, proxy: TcpProxy, step: str, fault: str) -> None:
    key, token, faults = prepared(world, proxy)
    env = {"VAULT_TOKEN": token}
    assert world.playbook("rotate.yml", secret=key.host, extra_env=env).rc == 0
    rotated = world.record(key).data
    world.wait_past(rotated["previous_key_revocation_at"])

    faulty, met, in_place = into_fault(world, faults, "revoke_after_grace.yml", step, fault, env, secret=key.host)

    assert_as_expected(faulty, step, fault, met, in_place)
    run = faulty.run
    data = world.record(key).data
    left = phase(data) if fault == "orphaned_worker" else None
    assert left == EXPECTED[(step, fault)].left, "the orphaned worker finished its task"
    assert data["key_id"] == rotated["key_id"] and world.works(key, data["key"], data["key_id"])
    assert_nothing_unknown(world, key, data)

    rerun = world.playbook("revoke_after_grace.yml", secret=key.host, extra_env=env)

    assert rerun.rc == 0, rerun.output[-3000:]
    final = world.record(key).data
    assert "previous_key_id" not in final and set(alive(world, key)) == {rotated["key_id"]}
    assert not world.works(key, key.secret, key.key_id), "converged: the old key is revoked"
    for secret in secrets_of(world, rotated, data, final) | {token}:
        assert secret not in run.output and secret not in rerun.output, "a secret was printed"
    RESULTS[(step, fault)] = cell(outcome(run), met, left)


#: The provider rows (Twilio, Stripe): a fault injected at the provider's emulator for one run, then a re-run.
def faulted_key(world: World, provider: str, playbook: str, timeout: int) -> Key:
    """A key with a 1 s grace and no usage evidence; for a revoke_after_grace row, rotated and past its grace."""
    key = world.key(provider, apikeys_grace_period="1s", apikeys_clock_skew="0s",
                    apikeys_usage_evidence={"source": "none"})
    key.options.update(max_attempts=2, timeout=timeout)
    if playbook == "revoke_after_grace.yml":
        assert world.playbook("rotate.yml", secret=key.host).rc == 0
        world.wait_past(world.record(key).data["previous_key_revocation_at"])
    return key


def run_with_emulator_fault(world: World, url: str, fault: dict[str, Any], playbook: str, key: Key) -> Run:
    """Run ``playbook`` on ``key`` with ``fault`` injected at the emulator at ``url``; assert that it fired."""
    fired = requests.get(url + "/__emulator/faults/fired", timeout=5).json()["by_match"].get(fault["match"], 0)
    requests.post(url + "/__emulator/faults", json=fault, timeout=5).raise_for_status()
    try:
        run = world.playbook(playbook, secret=key.host)
    finally:
        requests.delete(url + "/__emulator/faults", timeout=5).raise_for_status()

    after = requests.get(url + "/__emulator/faults/fired", timeout=5).json()["by_match"].get(fault["match"], 0)
    assert after == fired + fault.get("count", 1), "the fault fired"
    return run


def assert_rerun_converges(world: World, key: Key, playbook: str, run: Run, credential: str, old_key_gone: str) -> None:
    """A re-run (taking over at once) finishes what the faulted run began; neither printed a secret."""
    rerun = world.playbook(playbook, secret=key.host, rotate_resume_after="0s")

    assert rerun.rc == 0, rerun.output[-3000:]
    final = world.record(key).data
    if playbook == "rotate.yml":
        assert final["previous_key_id"] == key.key_id and world.live_key_ids(key) == {key.key_id, final["key_id"]}
    else:
        assert "previous_key_id" not in final and world.live_key_ids(key) == {final["key_id"]}
        assert not world.works(key, key.secret, key.key_id), old_key_gone
    for secret in (key.secret, final["key"], credential):
        assert secret not in run.output and secret not in rerun.output, "a secret was printed"


#: Twilio rows: (playbook, the call the fault hits, the fault, the first run's outcome). The intent of a create
#: that got no clear answer stays for the next run (rotate_resume_after=0s), which looks the key up by name.
TWILIO_FAULTS = {
    "create_5xx": ("rotate.yml", {"match": "POST /v1/Keys", "status": 503}, "failed: provider"),
    "create_429": ("rotate.yml", {"match": "POST /v1/Keys", "status": 429, "retry_after": 0, "count": 2},
                   "failed: provider"),
    "create_lost_answer": ("rotate.yml", {"match": "POST /v1/Keys", "lose_answer": True}, "failed: provider"),
    "test_5xx": ("rotate.yml", {"match": "GET /2010-04-01/Accounts/", "status": 503, "count": 2},
                 "failed: provider"),
    "delete_lost_answer": ("revoke_after_grace.yml", {"match": "DELETE /v1/Keys/", "lose_answer": True},
                           "completed"),
}


@pytest.mark.parametrize("case", sorted(TWILIO_FAULTS))
def test_twilio_survives(world: World, case: str) -> None:
    """A Twilio key through the provider faults: the fault fires, the old key works, no key is left
    alive that the store does not know, and a re-run converges."""
    playbook, fault, expected = TWILIO_FAULTS[case]
    key = faulted_key(world, "twilio", playbook, timeout=1)
    url = world.bench.twilio.url
    run = run_with_emulator_fault(world, url, fault, playbook, key)
    assert outcome(run) == expected, run.output[-3000:]
    data = world.record(key).data
    assert world.works(key, data["key"], data["key_id"]), "the store's current key works"
    if playbook == "rotate.yml":
        assert world.works(key, key.secret, key.key_id), "the old key keeps working"
    known = record_key_ids(data)
    assert world.live_key_ids(key) <= known, "no key alive at Twilio that the store does not know"

    assert_rerun_converges(world, key, playbook, run, world.bench.twilio_auth_token, "the old key is deleted")


#: Stripe rows: (playbook, the fault, how many times it is injected, the first run's outcome, how many new keys
#: the first run may have made). Every Stripe POST carries an Idempotency-Key derived from what it does, so a
#: create or an expiry whose answer was lost, or that met a 5xx or a 429, is retried and REPLAYED by Stripe:
#: the rotation completes with exactly one new key. (A 500 is not retried: Stripe saves it as the key's result.)
STRIPE_FAULTS = {
    "create_503_once": ("rotate.yml", {"match": "POST /v2/iam/api_keys", "status": 503}, "completed"),
    "create_5xx": ("rotate.yml", {"match": "POST /v2/iam/api_keys", "status": 503, "count": 2}, "failed: provider"),
    "create_429": ("rotate.yml", {"match": "POST /v2/iam/api_keys", "status": 429, "retry_after": 0}, "completed"),
    "create_lost_answer": ("rotate.yml", {"match": "POST /v2/iam/api_keys", "lose_answer": True}, "completed"),
    "create_lost_answer_twice": ("rotate.yml", {"match": "POST /v2/iam/api_keys", "lose_answer": True, "count": 2},
                                 "failed: provider"),
    "test_5xx": ("rotate.yml", {"match": "GET /v1/customers", "status": 503, "count": 2}, "failed: provider"),
    "expire_lost_answer": ("revoke_after_grace.yml", {"match": "POST /v2/iam/api_keys/", "lose_answer": True},
                           "completed"),
    "expire_5xx": ("revoke_after_grace.yml", {"match": "POST /v2/iam/api_keys/", "status": 503, "count": 2},
                   "failed: provider"),
}


@pytest.mark.parametrize("case", sorted(STRIPE_FAULTS))
def test_stripe_survives(world: World, case: str) -> None:
    """A Stripe key through the provider faults: the fault fires, the old key works, no key is left alive
    that the store does not know, a retried create or expiry is replayed (one key, not two), a re-run converges."""
    playbook, fault, expected = STRIPE_FAULTS[case]
    key = faulted_key(world, "stripe", playbook, timeout=2)
    url = world.bench.stripe.url
    made_before = {k["id"] for k in requests.get(url + "/__emulator/keys", timeout=5).json()}
    run = run_with_emulator_fault(world, url, fault, playbook, key)
    assert outcome(run) == expected, run.output[-3000:]
    made = [k for k in requests.get(url + "/__emulator/keys", timeout=5).json() if k["id"] not in made_before]
    assert len(made) <= 1, f"a retried create was repeated, not replayed: {made}"
    data = world.record(key).data
    assert world.works(key, data["key"], data["key_id"]), "the store's current key works"
    if playbook == "rotate.yml":
        assert world.works(key, key.secret, key.key_id), "the old key keeps working"
    known = record_key_ids(data)
    assert world.live_key_ids(key) <= known | {k["id"] for k in made if k["name"] == data.get("pending_key_name")}, \
        "no key alive at Stripe that the store does not know (but the intent's, found by name on the re-run)"

    assert_rerun_converges(world, key, playbook, run, world.bench.stripe_management_key,
                           "the old key is expired, and dead")


#: AWS Secrets Manager rows (the record's store, docs/stores.md): (the fault, the first run's outcome). The store is
#: reached through tests/bench/awsfaults.py, which injects faults into named operations; "crash_*" kills the run at
#: that step; "race" is two runs at once. A throttled or 5xx call is retried with its ClientRequestToken (a no-op when
#: repeated); a label move whose answer is lost is found to be the run's own on its retry.
SECRETSMANAGER_FAULTS: dict[str, tuple[dict[str, Any], str]] = {
    "store_unreachable": ({"down": True}, "failed: store_unavailable"),
    "throttled_then_ok": ({"operation": "PutSecretValue", "status": 400, "code": "ThrottlingException", "count": 2},
                          "completed"),
    "throttled_storm": ({"operation": "PutSecretValue", "status": 400, "code": "ThrottlingException", "count": 50},
                        "failed: store_unavailable"),
    "put_5xx_once": ({"operation": "PutSecretValue", "status": 500, "code": "InternalServiceError"}, "completed"),
    "label_move_lost_answer": ({"operation": "UpdateSecretVersionStage", "lose_answer": True}, "completed"),
    "crash_before_pending_write": ({"crash_at": "before_pending_write"}, "killed"),
    "crash_before_verify": ({"crash_at": "before_verify"}, "killed"),
    "race": ({"race": True}, "completed+failed: conflict"),
}


@pytest.fixture(scope="module")
def aws_proxy(bench: Any) -> Iterator[Any]:
    from tests.bench.awsfaults import AwsFaultProxy  # pylint: disable=import-outside-toplevel
    with AwsFaultProxy(bench.moto.url) as running:
        yield running


@pytest.mark.parametrize("case", sorted(SECRETSMANAGER_FAULTS))
def test_secretsmanager_survives(world: World, aws_proxy: Any, case: str) -> None:
    """A key kept in Secrets Manager through the store's faults: the fault fires, the old key works, no key is left
    alive that the record does not know (but the intent's, found by name on the re-run), a re-run converges."""
    from .secretsmanager import current, rotator, sm_key  # pylint: disable=import-outside-toplevel

    fault, expected = SECRETSMANAGER_FAULTS[case]
    key, name = sm_key(world, endpoint_url=aws_proxy.url, apikeys_clock_skew="1s")
    key.options.update(max_attempts=2, timeout=1)
    env = rotator(world)
    operation = fault.get("operation", "")
    before = aws_proxy.fired(operation)
    if "race" in fault:
        runs = world.race(key.host, world.tmp / "gate-race", env)
        got = "+".join(sorted(outcome(r) for r in runs))
        assert got == expected, "\n".join(r.output[-2000:] for r in runs)
        run = next(r for r in runs if r.rc != 0)
    else:
        run_env = dict(env)
        if "crash_at" in fault:
            run_env["APIKEYS_TEST_CRASH_AT"] = fault["crash_at"]
        elif fault.get("down"):
            aws_proxy.down()
        else:
            aws_proxy.add(operation, count=fault.get("count", 1), status=fault.get("status", 0),
                          code=fault.get("code", ""), lose_answer=fault.get("lose_answer", False))
        try:
            run = world.playbook("rotate.yml", extra_env=run_env, secret=key.host)
        finally:
            aws_proxy.clear()
        assert outcome(run) == expected, run.output[-3000:]
    if operation:
        assert aws_proxy.fired(operation) > before, "the fault fired"
    elif fault.get("down"):
        assert "unreachable" in run.output or "no answer" in run.output, "the store was down"
    elif "crash_at" in fault:
        assert run.rc < 0, "the run was killed at the step"

    data = current(world, name)
    assert world.works(key, data["key"], data["key_id"]), "the record's current key works"
    assert world.works(key, key.secret, key.key_id), "the old key keeps working"
    assert_nothing_unknown(world, key, data)

    rerun = world.playbook("rotate.yml", extra_env=env, secret=key.host, rotate_resume_after="0s")

    final = current(world, name)
    if rerun.rc != 0:  # the first run (or the race's winner) already rotated: the re-run finds the key in grace
        assert "awaits revocation" in rerun.output, rerun.output[-3000:]
    assert final["previous_key_id"] == key.key_id and world.live_key_ids(key) == {key.key_id, final["key_id"]}
    for secret in (key.secret, final["key"], env["AWS_SECRET_ACCESS_KEY"]):
        assert secret not in run.output and secret not in rerun.output, "a secret was printed"
