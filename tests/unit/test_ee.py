"""The execution environment: ansible-builder renders its build context offline, and finds the collection's needs.

``ansible-builder create`` writes the Containerfile and the files it copies (no network: proxies point nowhere);
``ansible-builder introspect`` reads the collection's meta/execution-environment.yml as the image build does after
installing the collection, and must yield every requirement of requirements.txt and bindep.txt. Building the image
itself needs a container engine and the network (the base image, PyPI, the git repository): not here.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILDER = str(Path(sys.executable).parent / "ansible-builder")
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9", "PIP_NO_INDEX": "1"}


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def test_ansible_builder_create_renders_the_build_context_offline(tmp_path: Path) -> None:
    context = tmp_path / "context"
    done = subprocess.run([BUILDER, "create", "--file", "execution-environment.yml", "--context", str(context),
                           "--output-filename", "Containerfile"], cwd=ROOT, env={**os.environ, **OFFLINE},
                          capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    containerfile = (context / "Containerfile").read_text()
    build = context / "_build"
    assert (build / "requirements.yml").read_text() == (ROOT / "collections" / "requirements.yml").read_text()
    assert (build / "requirements.txt").read_text() == (ROOT / "requirements-ee.txt").read_text()
    spec = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    assert spec["version"] == 3
    # the EE's ansible-core is the one the collection supports
    core = [line for line in requirement_lines(ROOT / "requirements.txt") if line.startswith("ansible-core")]
    assert spec["dependencies"]["ansible_core"]["package_pip"] == core[0]
    assert f'ARG ANSIBLE_INSTALL_REFS="{core[0]} ' in containerfile
    assert f'ARG EE_BASE_IMAGE="{spec["images"]["base_image"]["name"]}"' in containerfile
    assert "ansible-galaxy collection install" in containerfile and "install -y git-core" in containerfile
    assert "introspect.py introspect --user-pip=requirements.txt" in containerfile
    # the plugins' byte code is compiled in the final image, after the collection is copied in
    compiled = containerfile.index("-m compileall -q --invalidation-mode checked-hash "
                                   "/usr/share/ansible/collections/ansible_collections/apikeys/rotation/plugins")
    assert compiled > containerfile.rindex("COPY --from=galaxy /usr/share/ansible /usr/share/ansible")


def test_the_collection_declares_its_python_and_system_requirements(tmp_path: Path) -> None:
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
    installed = tmp_path / "ansible_collections" / "apikeys"
    installed.mkdir(parents=True)
    (installed / "rotation").symlink_to(ROOT)

    done = subprocess.run([BUILDER, "introspect", "--user-pip", str(ROOT / "requirements-ee.txt"), str(tmp_path)],
                          env={**os.environ, **OFFLINE}, capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    found = yaml.safe_load(done.stdout)
    python = {line.split("#")[0].strip() for line in found["python"]}
    wanted = set(requirement_lines(ROOT / "requirements.txt"))
    # ansible-builder leaves out what the image gets otherwise: ansible-core (and pyyaml, which it brings)
    assert wanted - python == {line for line in wanted if line.startswith(("ansible-core", "pyyaml"))}
    assert all("from collection apikeys.rotation" in line for line in found["python"])
    assert {line.split("#")[0].strip() for line in found["system"]} == set(requirement_lines(ROOT / "bindep.txt"))
