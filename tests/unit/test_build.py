"""The built tarball: ``ansible-galaxy collection build`` ships the collection and none of the local state.

A copy of the checkout's files (as git lists them: tracked, plus untracked ones that .gitignore does not
exclude) gets every kind of local state planted in it - what ansible-lint, Molecule, pytest, Python,
ansible-test, the test bench and the benchmarks leave behind - and is built with the venv's ansible-galaxy
into a temporary directory. galaxy.yml's ``build_ignore`` must keep all of it out.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[2]

# Local state, one path per kind; each is created as a file in the copy and must not be in the tarball.
PLANTED = [
    # ansible-lint / ansible-compat cache, and Molecule's default ephemeral state (no MOLECULE_EPHEMERAL_DIRECTORY)
    ".ansible/x",
    ".ansible/tmp/molecule.a1b2.default/state.yml",
    ".ansible/tmp/molecule.a1b2.default/inventory/ansible_inventory.yml",
    ".ansible/collections/ansible_collections/apikeys/rotation/galaxy.yml",
    # the same when a tool runs from a subdirectory, and the scenario-local state of older Molecule versions
    "extensions/molecule/default/.ansible/tmp/molecule.a1b2.default/state.yml",
    "extensions/molecule/default/.molecule/state.yml",
    ".cache/ansible-compat/x",
    # pytest and Python
    ".pytest_cache/x",
    ".pytest_cache/v/cache/lastfailed",
    "tests/unit/.pytest_cache/v/cache/nodeids",
    "plugins/module_utils/__pycache__/_rotation.cpython-311.pyc",
    "tests/unit/__pycache__/conftest.cpython-311-pytest-8.4.1.pyc",
    "plugins/action/stale.pyc",
    # logs and test output
    "ansible.log",
    "tests/output/x.log",
    "tests/output/junit/python3.11-sanity.xml",
    "tests/e2e/run.log",
    "playbooks/rotate.retry",
    # the development environment and CI
    ".venv/bin/python",
    ".build/collections/ansible_collections/apikeys/rotation/galaxy.yml",
    ".ci/local-override",
    "apikeys-rotation-0.0.9.tar.gz",
    # benchmark results
    "benchmarks/results/rotate_one_key.json",
    # the test bench's state directory (python -m tests.bench up --dir DIR), inside the checkout
    ".bench/bench.json",
    ".bench/env.sh",
    ".bench/openbao.log",
    "tests/bench/state/bench.json",
    "tests/bench/state/env.sh",
    "tests/bench/state/openbao.log",
    "tests/bench/state/sendgrid.requests.log",
    "tests/bench/state/prometheus/tsdb/wal/00000000",
]

# Declared by the collection itself: what an installed collection needs.
ESSENTIALS = [
    "MANIFEST.json",
    "FILES.json",
    "LICENSE",
    "README.md",
    "meta/runtime.yml",
    "plugins/modules/api_key_create.py",
    "plugins/action/api_key_create.py",
    "plugins/doc_fragments/store.py",
    "roles/rotate/tasks/main.yml",
    "roles/rotate/meta/argument_specs.yml",
    "playbooks/rotate.yml",
    "changelogs/changelog.yaml",
]


def _checkout_files() -> list[str]:
    try:
        listed = subprocess.run(
            ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            check=True, capture_output=True, timeout=30,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"needs a git checkout to list the collection's files: {exc}")
    # a tracked file deleted in the work tree (being rewritten) is not there to copy
    return [name for name in listed.decode().split("\0") if name and (REPO / name).is_file()]


def _ansible_galaxy() -> str:
    beside = Path(sys.executable).parent / "ansible-galaxy"  # the venv's, as make runs it
    found = str(beside) if beside.is_file() else shutil.which("ansible-galaxy")
    if found is None:
        pytest.skip("ansible-galaxy not found next to the interpreter or on PATH")
    return found


class Built(NamedTuple):
    members: set[str]  # the tarball's member names
    listed: set[str]  # the names in its FILES.json
    files: list[str]  # the checkout's files that were copied


@pytest.fixture(name="built", scope="module")
def fixture_built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Build a copy of the checkout with local state planted in it."""
    root = tmp_path_factory.mktemp("build")
    src = root / "apikeys_rotation"
    files = _checkout_files()
    for name in files:
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    for name in PLANTED:
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("local state, must not ship\n", encoding="utf-8")
    out = root / "out"
    out.mkdir()
    done = subprocess.run(
        [_ansible_galaxy(), "collection", "build", "--output-path", str(out), str(src)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, f"ansible-galaxy collection build failed:\n{done.stdout}\n{done.stderr}"
    tarballs = list(out.glob("apikeys-rotation-*.tar.gz"))
    assert len(tarballs) == 1, f"expected one tarball in {out}, found {sorted(p.name for p in out.iterdir())}"
    with tarfile.open(tarballs[0]) as tar:
        members = {m.name.removeprefix("./") for m in tar.getmembers()}
        handle = tar.extractfile("FILES.json")
        assert handle is not None, "no FILES.json in the tarball"
        listed = {entry["name"] for entry in json.load(handle)["files"]}
    return Built(members=members, listed=listed, files=files)


# directories and file endings that are local state wherever they appear
STATE_DIRS = {".ansible", ".pytest_cache", "__pycache__", ".venv", ".build", ".ci", ".bench", "tsdb", ".molecule",
              ".cache"}
STATE_ENDINGS = (".log", ".pyc", ".retry", ".tar.gz")


def test_no_local_state_in_the_tarball(built: Built) -> None:
    leaked = {name for name in PLANTED if name in built.members}
    leaked |= {name for name in built.members if set(name.split("/")) & STATE_DIRS or name.endswith(STATE_ENDINGS)}
    assert not leaked, f"local state in the tarball, add it to build_ignore in galaxy.yml: {sorted(leaked)}"


def test_the_collection_is_in_the_tarball(built: Built) -> None:
    missing = [name for name in ESSENTIALS if name not in built.members]
    assert not missing, f"missing from the tarball: {missing}"
    # every module, plugin, role and playbook file of the checkout ships, and FILES.json lists it
    shipped = [name for name in built.files if name.split("/")[0] in ("plugins", "roles", "playbooks", "meta")]
    assert shipped, "no plugin, role or playbook files found in the checkout"
    missing = [name for name in shipped if name not in built.members or name not in built.listed]
    assert not missing, f"collection files missing from the tarball or FILES.json: {missing}"


def test_license_is_the_gpl_v3() -> None:
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.split()[:6] == ["GNU", "GENERAL", "PUBLIC", "LICENSE", "Version", "3,"], text[:200]
    assert "END OF TERMS AND CONDITIONS" in text and "<https://www.gnu.org/licenses/>" in text
