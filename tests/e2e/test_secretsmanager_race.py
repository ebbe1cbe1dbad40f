"""Two runs on one Secrets Manager key at the same instant, 20 times: exactly one wins, the loser leaves nothing.

Secrets Manager has no check-and-set; the store's conditional write (docs/stores.md) is the label move
UpdateSecretVersionStage(AWSCURRENT, RemoveFromVersionId=<version read>), which moto refuses, as AWS documents,
when the label has left that version. Both runs read the record, stop just before their first write (the
intent), and are let go together.
"""
from __future__ import annotations


from .conftest import World
from .secretsmanager import current, rotator, sm_key, stages

ROUNDS = 20


def test_two_rotations_at_the_same_instant_twenty_times(world: World) -> None:
    credentials = rotator(world)
    outcomes = []
    for number in range(ROUNDS):
        key, name = sm_key(world)
        results = [(run.rc, run.stdout) for run in world.race(key.host, world.tmp / f"gate-{number}", credentials)]

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
