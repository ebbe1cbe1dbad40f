# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory apikeys.rotation.keys: a YAML key inventory in one file, read without Ansible's per-string bookkeeping."""
from __future__ import annotations

DOCUMENTATION = r"""
name: keys
short_description: A key inventory in one YAML file, read fast
version_added: 1.2.0
description:
  - "Reads one YAML file written exactly as for Ansible's C(ansible.builtin.yaml) inventory plugin (groups with
    C(hosts), C(vars) and C(children), host ranges such as C(key[01:20])), with one more line at the top,
    C(plugin: apikeys.rotation.keys) (after the C(---) line if the file has one), and gives the same hosts,
    groups and variables."
  - The difference is the speed. ansible-core's YAML loader records the file, line and column of every string
    it reads, and with the default C(enable_plugins) the C(auto) plugin reads the file once before the C(yaml)
    plugin reads it again. A 1,000-key file (each key with its provider options) costs 1-2 s per reading on
    a 2-core machine, so every run pays 3-4 s before its first task (31-35 s for 10,000 keys), a one-key run
    as much as a fleet run. This plugin reads the file once with PyYAML's LibYAML (C) loader and marks every
    string trusted as a template, as the C(yaml) plugin does (the file is the operator's own configuration).
  - A file with a tag that only Ansible's loader knows (C(!vault), C(!unsafe)) is read with Ansible's loader
    instead, so its values mean what they mean with the C(yaml) plugin (and the file costs as much as with it).
  - Error messages name the file and the YAML line; they do not carry the line and column of each value in
    later errors, as Ansible's loader does. A name written twice in one mapping (a key, a variable) counts once,
    the last one, as with the C(yaml) plugin, but without its warning.
  - To be read directly (and fast), the plugin must come before C(auto) in C(enable_plugins). If it comes only
    through C(auto), the result is the same but C(auto) has already read the file the slow way.
author:
  - apikeys.rotation maintainers (@apikeys)
options:
  plugin:
    description: The name of this plugin, to say that the file is for it.
    type: str
    required: true
    choices: [apikeys.rotation.keys]
notes:
  - "Enable it first, in C(ansible.cfg): C([inventory] enable_plugins = apikeys.rotation.keys, host_list, script,
    auto, yaml, ini, toml), or C(ANSIBLE_INVENTORY_ENABLED=apikeys.rotation.keys,host_list,script,auto,yaml,ini,toml)."
  - "The file is recognised by its line C(plugin: apikeys.rotation.keys) (at the top level, within its first 64 KiB);
    its name can be any C(.yml) or C(.yaml) name."
  - Figures and the command that measured them are in docs/speed.md of the collection.
seealso:
  - name: Fleets, many keys in one run
    description: docs/fleet.md in the collection, the inventory layouts and what each costs.
    link: https://github.com/apikeys/rotation/blob/main/docs/fleet.md
"""

EXAMPLES = r"""
# inventories/production/keys.yml: an Ansible YAML inventory with one more line at the top
plugin: apikeys.rotation.keys
all:
  vars:
    apikeys_store: vault
  children:
    stripe:
      hosts:
        stripe_payments:
          apikeys_provider: stripe
          apikeys_vault_path: secret/payments/stripe
    sendgrid_keys:
      vars:
        apikeys_provider: sendgrid
      hosts:
        sendgrid_mail[01:20]:
          apikeys_vault_path: "secret/mail/{{ inventory_hostname }}"

# ansible.cfg next to the playbooks
# [inventory]
# enable_plugins = apikeys.rotation.keys, host_list, script, auto, yaml, ini, toml
"""

import os
import re
from collections.abc import Mapping

import yaml

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory.yaml import InventoryModule as YamlInventoryModule

try:  # ansible-core 2.19 and later: data is templated only when trusted
    from ansible.template import trust_as_template
    HAS_TRUST = True
except ImportError:  # older ansible-core templates every string
    HAS_TRUST = False

    def trust_as_template(value: str) -> str:
        return value

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # PyYAML built without LibYAML: the same result, slower
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

NAME = "apikeys.rotation.keys"
_HEAD = 65536
_PLUGIN_LINE = re.compile(rb"^plugin:[ \t]*([\"']?)apikeys\.rotation\.keys\1[ \t]*(#.*)?\r?$", re.MULTILINE)


def _trusted(value):
    """The parsed data with every string (not the mapping keys) trusted as a template, as the yaml plugin's are."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    return value


def _where(path: str, exc: yaml.YAMLError) -> str:
    """File, line, column and what is wrong; not PyYAML's quote of the line (a value stays out of the message)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "not valid YAML"
    if mark is None:
        return f"{path}: not valid YAML: {problem}"
    return f"{path}, line {mark.line + 1}, column {mark.column + 1}: not valid YAML: {problem}"


class InventoryModule(YamlInventoryModule):
    """The yaml plugin's groups, hosts and variables, from a file read once with the C loader."""

    NAME = NAME

    def verify_file(self, path: str) -> bool:
        if not path.endswith((".yml", ".yaml")) or not os.path.isfile(path):
            return False
        try:
            with open(path, "rb") as handle:
                head = handle.read(_HEAD)
        except OSError:
            return False
        return _PLUGIN_LINE.search(head) is not None

    def parse(self, inventory, loader, path, cache=True):
        # BaseFileInventoryPlugin.parse: the inventory, the loader, the path (not the yaml plugin's parse)
        super(YamlInventoryModule, self).parse(inventory, loader, path, cache)
        data = self._read(path)
        if not isinstance(data, Mapping):
            raise AnsibleParserError(f"{path}: a key inventory file must be a mapping (plugin: {NAME}, then groups such as all:)")
        self.set_options(direct={"plugin": data.get("plugin")})
        for group in data:
            if group != "plugin":
                self._parse_group(group, data[group])

    def _read(self, path: str):
        try:
            with open(path, "rb") as handle:
                text = handle.read()
        except OSError as exc:
            raise AnsibleParserError(f"{path}: cannot read the key inventory: {exc.strerror}") from None
        try:
            return _trusted(yaml.load(text, Loader=_Loader))  # nosec B506: SafeLoader / CSafeLoader
        except yaml.constructor.ConstructorError as exc:
            if exc.problem and "could not determine a constructor for the tag" in exc.problem:
                # !vault, !unsafe ...: only Ansible's loader knows what they mean
                if HAS_TRUST:
                    return self.loader.load_from_file(path, cache="none", trusted_as_template=True)
                return self.loader.load_from_file(path, cache="none")
            raise AnsibleParserError(_where(path, exc)) from None
        except yaml.YAMLError as exc:
            raise AnsibleParserError(_where(path, exc)) from None
