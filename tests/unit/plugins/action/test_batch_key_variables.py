"""A key's variables in the batch (_batch.KeyVariables): exactly what ``hostvars[key][name]`` renders, read from a real
inventory (host vars, group_vars with templates, a nested template, extra vars), each template text compiled once."""
from __future__ import annotations

from typing import Any

import pytest
import yaml
from ansible._internal._datatag._tags import TrustedAsTemplate
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.hostvars import HostVars
from ansible.vars.manager import VariableManager

from ansible_collections.apikeys.rotation.plugins.plugin_utils import _batch as batch

GROUP_VARS = {
    "apikeys_provider": "http",
    "apikeys_provider_options": {"admin_url": "http://127.0.0.1:8001", "path_params": {
        "consumer": "{{ inventory_hostname | replace('_', '-') }}"}, "retries": 3, "list": ["{{ team }}-a", 2]},
    "apikeys_vault_path": "secret/{{ team }}/{{ inventory_hostname }}",
    "apikeys_grace_period": "{{ apikeys_rotation_frequency }}",
    "team": "payments",
    "not_ours": "{{ undefined_on_purpose }}",
}


def hostvars_of(tmp_path: Any, extra: dict[str, Any] | None = None) -> tuple[Any, DataLoader]:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text(yaml.safe_dump(GROUP_VARS))
    (tmp_path / "group_vars" / "web.yml").write_text(yaml.safe_dump({"team": "web"}))
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {
        "key_a": {"apikeys_rotation_frequency": "30d"}, "key_b": {"apikeys_rotation_frequency": "60d"},
        "key_c": {"apikeys_rotation_frequency": "90d", "apikeys_vault_path": "secret/literal/c"}},
        "children": {"web": {"hosts": {"key_b": None}}}}}))
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(tmp_path / "hosts.yml")])
    manager = VariableManager(loader=loader, inventory=inventory)
    if extra:
        manager._extra_vars = extra  # what -e gives (the property has no setter)
    return HostVars(inventory=inventory, variable_manager=manager, loader=loader), loader


def ansible_view(hostvars: Any, key: str) -> dict[str, Any]:
    """What the batch read before: every apikeys_* variable through hostvars[key], as plain data."""
    own = hostvars[key]
    return {name: batch.plain(own[name]) for name in own.keys() if batch.is_apikeys(name)}


EXTRA = "secret/extra/{{ inventory_hostname }}"


@pytest.mark.parametrize("extra, vault_path", [
    (None, "secret/web/key_b"),
    ({"apikeys_vault_path": TrustedAsTemplate().tag(EXTRA)}, "secret/extra/key_b"),  # -e: trusted, rendered
    ({"apikeys_vault_path": EXTRA}, EXTRA),  # not trusted as a template: never rendered, by either path
])
def test_each_key_reads_exactly_what_hostvars_renders(tmp_path: Any, extra: Any, vault_path: str) -> None:
    hostvars, loader = hostvars_of(tmp_path, extra)
    read = batch.KeyVariables(hostvars, loader)
    assert read.engine is not None, "ansible-core 2.19: the compiling-once engine is used"
    for key in ("key_a", "key_b", "key_c", "key_a"):
        assert read(key) == ansible_view(hostvars, key), key
    b = read("key_b")
    assert b["apikeys_provider_options"]["path_params"]["consumer"] == "key-b"
    assert b["apikeys_provider_options"]["list"] == ["web-a", 2] and b["apikeys_grace_period"] == "60d"
    assert b["apikeys_vault_path"] == vault_path
    assert "team" not in b and "not_ours" not in b, "only apikeys_* variables (an unrelated broken one is never rendered)"


def test_a_template_text_is_compiled_once_for_the_run(tmp_path: Any) -> None:
    hostvars, loader = hostvars_of(tmp_path)
    read = batch.KeyVariables(hostvars, loader)
    for key in ("key_a", "key_b", "key_c"):
        read(key)
    texts = sorted(text for text, _options in read.engine.compiled)
    assert texts == sorted(set(texts)), "one compiled template per distinct text"
    assert "{{ inventory_hostname | replace('_', '-') }}" in texts


def test_a_plain_mapping_or_an_unknown_host_falls_back_to_ansibles_own_view() -> None:
    read = batch.KeyVariables({"k": {"apikeys_provider": "http", "other": 1}}, None)
    assert read.engine is None and read("k") == {"apikeys_provider": "http"}
