"""Two runs on one Secrets Manager key at the same instant, 20 times: exactly one wins, the loser leaves nothing.

Secrets Manager has no check-and-set; the store's conditional write (docs/stores.md) is the label move
UpdateSecretVersionStage(AWSCURRENT, RemoveFromVersionId=<version read>), which moto refuses, as AWS documents,
when the label has left that version. Both runs read the record, stop just before their first write (the
intent), and are let go together.
"""
from __future__ import annotations

import time

from .conftest import World
from .secretsmanager import current, rotator, sm_key, stages

ROUNDS = 20


def test_two_rotations_at_the_same_instant_twenty_times(world: World) -> None:
    credentials = rotator(world)
    outcomes = []
    for number in range(ROUNDS):
        key, name = sm_key(world)
        gate = world.tmp / f"gate-{number}"
        gate.mkdir()
        env = dict(credentials, APIKEYS_TEST_PAUSE_AT=f"before_intent:{gate}")
        runs = [world.start_playbook("rotate.yml", extra_env=env, secret=key.host) for _twice in range(2)]
        deadline = time.monotonic() + 60
        while len(list(gate.glob("before_intent.reached.*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(list(gate.glob("before_intent.reached.*"))) == 2, "both runs read the record and wait"
        (gate / "before_intent.go").touch()
        results = [(process.wait(timeout=120), process.communicate()[0]) for process, _home in runs]

        winners = [out for rc, out in results if rc == 0]
        losers = [out for rc, out in results if rc != 0]
        assert len(winners) == 1 and len(losers) == 1, [rc for rc, _out in results]
        assert "another run is working on this key" in losers[0] or "is in progress" in losers[0], losers[0]
        data = current(world, name)
        assert data["previous_key_id"] == key.key_id and data["key_id"] != key.key_id
        assert world.live_key_ids(key) == {key.key_id, data["key_id"]}, "no orphan: the loser created nothing"
        labels = {v: s for v, s in stages(world, name).items() if s}  # moto lists unlabelled versions too, AWS not
        assert all({"AWSCURRENT", "AWSPREVIOUS"} & set(s) for s in labels.values()), \
            f"only the current and previous versions carry labels: {labels}"
        outcomes.append("one winner")
    assert outcomes == ["one winner"] * ROUNDS
