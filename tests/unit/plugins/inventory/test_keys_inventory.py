"""apikeys.rotation.keys: the same hosts, groups and variables as Ansible's yaml plugin, from a file read once, fast.

The inventories are read by the real ``ansible-inventory`` and ``ansible`` commands with the collection installed,
once with ansible-core's ``yaml`` plugin (the file without its ``plugin:`` line) and once with this plugin, enabled
first as docs/fleet.md says and reached through ``auto`` only.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleParserError

from ansible_collections.apikeys.rotation.plugins.inventory import keys as keys_plugin

REPO = Path(__file__).resolve().parents[4]
COLLECTIONS = REPO / ".build" / "collections"
BIN = REPO / ".venv" / "bin"
FIRST = "apikeys.rotation.keys,host_list,script,auto,yaml,ini,toml"
DEFAULT = "host_list,script,auto,yaml,ini,toml"

INVENTORY = """\
all:
  vars:
    apikeys_store: vault
    shared_number: 3
  hosts:
    lone_key:
  children:
    stripe:
      vars:
        apikeys_provider: stripe
      hosts:
        stripe_payments:
          apikeys_vault_path: secret/payments/stripe
          templated: "{{ inventory_hostname }}-x"
          nested: {a: [1, "two", {b: true}], c: null, d: 2.5}
    mail:
      children:
        sendgrid_keys:
          vars:
            apikeys_provider: sendgrid
          hosts:
            sendgrid_mail[01:03]:
              apikeys_vault_path: "secret/mail/{{ inventory_hostname }}"
    emergency_first:
      hosts:
        stripe_payments:
        sendgrid_mail02:
"""


def run(tmp: Path, enabled: str, *command: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_HOME=str(tmp / ".ansible"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_INVENTORY_ENABLED=enabled, ANSIBLE_INVENTORY_UNPARSED_FAILED="1",
               ANSIBLE_LOCAL_TEMP=str(tmp / ".ansible" / "tmp"))
    done = subprocess.run([str(BIN / command[0]), *command[1:]], env=env, cwd=tmp, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def listed(tmp: Path, enabled: str, inventory: Path) -> dict:
    return json.loads(run(tmp, enabled, "ansible-inventory", "-i", str(inventory), "--list"))


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    plain = tmp_path / "plain.yml"
    plain.write_text(INVENTORY)
    ours = tmp_path / "keys.yml"
    ours.write_text("# the key inventory\nplugin: apikeys.rotation.keys\n" + INVENTORY)
    return plain, ours


def test_same_hosts_groups_and_variables_as_the_yaml_plugin(tmp_path: Path, files: tuple[Path, Path]) -> None:
    plain, ours = files
    expected = listed(tmp_path, "yaml", plain)
    assert set(expected["_meta"]["hostvars"]) == {"lone_key", "stripe_payments", "sendgrid_mail01", "sendgrid_mail02",
                                                  "sendgrid_mail03"}
    assert listed(tmp_path, FIRST, ours) == expected
    assert listed(tmp_path, DEFAULT, ours) == expected  # through auto: slower, the same


def test_enabled_first_it_reads_the_file_itself_otherwise_auto_hands_it_over(tmp_path: Path,
                                                                             files: tuple[Path, Path]) -> None:
    _plain, ours = files
    direct = run(tmp_path, FIRST, "ansible-inventory", "-i", str(ours), "--graph", "-vvv")
    assert f"Parsed {ours} inventory source with ansible_collections.apikeys.rotation.plugins.inventory.keys plugin" in direct
    through_auto = run(tmp_path, DEFAULT, "ansible-inventory", "-i", str(ours), "--graph", "-vvv")
    assert f"Parsed {ours} inventory source with auto plugin" in through_auto


def test_the_shipped_example_reads_the_same(tmp_path: Path) -> None:
    """inventories/example (hosts.yml + group_vars/) with the plugin line on top of its hosts.yml."""
    plain = tmp_path / "plain"
    shutil.copytree(REPO / "inventories" / "example", plain)
    ours = tmp_path / "ours"
    shutil.copytree(REPO / "inventories" / "example", ours)
    (ours / "hosts.yml").unlink()
    text = (plain / "hosts.yml").read_text()
    assert text.startswith("---\n")  # the line goes after the document start
    (ours / "keys.yml").write_text("---\nplugin: apikeys.rotation.keys\n" + text[len("---\n"):])
    expected = listed(tmp_path, "yaml", plain / "hosts.yml")
    assert len(expected["_meta"]["hostvars"]) >= 3
    assert listed(tmp_path, FIRST, ours / "keys.yml") == expected


def test_strings_are_templates_as_with_the_yaml_plugin(tmp_path: Path, files: tuple[Path, Path]) -> None:
    """ansible-core 2.19 renders only trusted strings: an untrusted one would print as its own text."""
    _plain, ours = files
    out = run(tmp_path, FIRST, "ansible", "-i", str(ours), "stripe_payments:sendgrid_mail02", "-m", "ansible.builtin.debug",
              "-a", "msg={{ apikeys_vault_path }}|{{ templated | default('-') }}")
    assert '"msg": "secret/payments/stripe|stripe_payments-x"' in out
    assert '"msg": "secret/mail/sendgrid_mail02|-"' in out


def test_a_tag_only_ansible_knows_is_read_by_ansible(tmp_path: Path) -> None:
    text = "all:\n  hosts:\n    k1:\n      literal: !unsafe '{{ not_rendered }}'\n      plain: a\n"
    plain = tmp_path / "plain.yml"
    plain.write_text(text)
    ours = tmp_path / "keys.yml"
    ours.write_text("plugin: apikeys.rotation.keys\n" + text)
    assert listed(tmp_path, FIRST, ours) == listed(tmp_path, "yaml", plain)
    out = run(tmp_path, FIRST, "ansible", "-i", str(ours), "k1", "-m", "ansible.builtin.debug", "-a", "var=literal")
    assert '"literal": "{{ not_rendered }}"' in out


@pytest.mark.parametrize(("text", "ours"), [
    ("plugin: apikeys.rotation.keys\nall:\n", True),
    ("# comment\n---\nplugin: 'apikeys.rotation.keys'  # ours\nall:\n", True),
    ('plugin: "apikeys.rotation.keys"\r\nall:\r\n', True),
    ("all:\n  hosts:\n    k1:\n", False),                         # a yaml plugin inventory
    ("plugin: amazon.aws.aws_ec2\n", False),                      # another plugin's file
    ("all:\n  vars:\n    plugin: apikeys.rotation.keys\n", False),  # not at the top level
])
def test_the_file_is_recognised_by_its_plugin_line(tmp_path: Path, text: str, ours: bool) -> None:
    path = tmp_path / "inventory.yml"
    path.write_text(text)
    assert keys_plugin.InventoryModule().verify_file(str(path)) is ours
    json_path = tmp_path / "inventory.json"
    json_path.write_text(text)
    assert keys_plugin.InventoryModule().verify_file(str(json_path)) is False


@pytest.mark.parametrize("loader", [yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)])
def test_a_yaml_error_names_the_file_and_line_and_quotes_no_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  loader: type) -> None:
    """PyYAML's own message quotes the line (the Python loader does; LibYAML does not)."""
    monkeypatch.setattr(keys_plugin, "_Loader", loader)
    path = tmp_path / "keys.yml"
    path.write_text("plugin: apikeys.rotation.keys\nall:\n  hosts:\n    k1: {apikeys_note: 'value-xyz-123'\n")
    with pytest.raises(AnsibleParserError) as raised:
        keys_plugin.InventoryModule()._read(str(path))
    message = str(raised.value)
    assert str(path) in message and "line 5" in message
    assert "value-xyz-123" not in message


def test_not_a_mapping_is_refused_before_anything_is_added(tmp_path: Path) -> None:
    path = tmp_path / "keys.yml"
    path.write_text("# plugin: apikeys.rotation.keys\n- plugin: apikeys.rotation.keys\n")
    with pytest.raises(AnsibleParserError, match="must be a mapping"):
        keys_plugin.InventoryModule().parse(object(), None, str(path))
