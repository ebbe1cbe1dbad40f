"""Zero-downtime harness: live API-key consumers under load while the real playbooks rotate their keys.

* :mod:`.consumers` - consumers (threads in a few worker processes) that read their key from
  OpenBao through a TTL cache (:class:`.consumers.VaultSource`) or from a file rendered by an
  agent (:mod:`.agent`), call a provider emulator at a steady rate and count every request.
* :mod:`.keys` - keys made "by hand" at the emulators, their records and the inventory.
* :mod:`.cycles` - rotate -> grace -> revoke-after-grace cycles with ``ansible-playbook``, and the
  two negative controls (revoke at once; grace shorter than the cache TTL).
* :mod:`.scenario` - a whole run (:func:`.scenario.run`) and its summary.

Only key ids are ever printed, logged or returned; secrets stay in OpenBao, in the
consumers' memory and in the agents' 0600 files (removed at the end).
"""
from __future__ import annotations
