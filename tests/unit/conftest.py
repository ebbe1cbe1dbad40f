"""Make the collection importable as ``ansible_collections.apikeys.rotation`` for the unit tests.

The repository is linked into ``<repo>/.build/collections/ansible_collections/apikeys/rotation``
(created here when missing) and ``<repo>/.build/collections`` is put first on ``sys.path``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / ".build" / "collections"
LINK = COLLECTIONS / "ansible_collections" / "apikeys" / "rotation"

if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    if LINK.is_symlink():  # dangling link to an old checkout
        LINK.unlink()
    os.symlink(REPO, LINK, target_is_directory=True)

if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
