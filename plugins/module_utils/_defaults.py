# Internal to this collection: not a public API; may change without notice.
"""Every default of the protocol, in one place (argument specs, key config and the core read them here)."""
from __future__ import annotations

#: how long a run owns its rotation after its last step (renewed at each step); another run takes
#: over only an expired lease (the modules' ``resume_after``, the role's ``rotate_resume_after``)
LEASE = "10m"
#: allowance between the controller's clock and the store's (and the evidence sources')
CLOCK_SKEW = "30s"
#: what a grace period must add to the consumers' cache TTL
CACHE_MARGIN = "1m"
#: how long a revocation is put off when the new key is not yet seen in use
POSTPONE_BY = "10m"
#: seconds for one call to the store
STORE_TIMEOUT = 10
