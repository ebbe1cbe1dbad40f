"""Install the awx.awx collection for the AWX configuration playbook's checks (syntax-check, ansible-lint).

galaxy.ansible.com is unreachable here; awx.awx ships inside PyPI's ``ansible`` package, whose wheel is
54 MB and installs 21,000 files (~480 MB, ~21 s). Only its ``ansible_collections/awx/awx/`` tree is needed:
this downloads the pinned wheel once with pip (``pip download --no-deps``) and unpacks that tree into the
collections path the tests use. Nothing is vendored in the repository.

    python -m tests.awx.awx_collection      # idempotent; prints where awx.awx is
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / ".build" / "collections"
CACHE = ROOT / ".build" / "cache"
# ansible 12.x is the community package for ansible-core 2.19; 12.3.0 ships awx.awx 24.6.1.
ANSIBLE = "ansible==12.3.0"
AWX_VERSION = "24.6.1"
PREFIX = "ansible_collections/awx/awx/"


def installed(collections: Path = COLLECTIONS) -> bool:
    manifest = collections / PREFIX / "MANIFEST.json"
    return manifest.is_file() and json.loads(manifest.read_text())["collection_info"]["version"] == AWX_VERSION


def ensure(collections: Path = COLLECTIONS) -> Path:
    """awx.awx under ``collections`` (downloaded and unpacked if missing); returns its directory."""
    target = collections / PREFIX
    if installed(collections):
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    wheels = sorted(CACHE.glob("ansible-12.3.0-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                        "--dest", str(CACHE), ANSIBLE], check=True)
        wheels = sorted(CACHE.glob("ansible-12.3.0-*.whl"))
    if target.exists():
        shutil.rmtree(target)
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(collections, [name for name in wheel.namelist() if name.startswith(PREFIX)])
    if not installed(collections):
        raise RuntimeError(f"awx.awx {AWX_VERSION} not found in {wheels[0].name}")
    return target


if __name__ == "__main__":
    print(ensure())
