"""The Vault store's clock offset: what one exchange with sys/health can tell, no more."""
from __future__ import annotations

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils.stores._vault_kv2 import clock_offset


@pytest.mark.parametrize("server, asked, answered", [
    (100, 100.2, 100.3),   # a quick answer, the same clock
    (100, 100.9, 103.5),   # a slow answer (2.6 s on a loaded machine): not a clock error
    (103, 100.9, 103.5),   # the store read its clock at the end of a slow exchange
])
def test_clocks_that_agree_within_the_exchange_have_no_offset(server: float, asked: float, answered: float) -> None:
    assert clock_offset(server, asked, answered) == 0.0


def test_a_store_five_minutes_ahead_is_seen_as_at_least_that() -> None:
    assert clock_offset(400, 100.2, 100.4) == pytest.approx(299.6)


def test_a_store_behind_is_seen_by_the_least_the_exchange_allows() -> None:
    # the store says 40 while the controller asked at 100.2 and got the answer at 100.4: at least 59.2 s behind
    assert clock_offset(40, 100.2, 100.4) == pytest.approx(-59.2)
