# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # Pairs with module_utils/_argspec.py STORE.
    DOCUMENTATION = r"""
options:
  vault_url:
    description:
      - Address of the HashiCorp Vault or OpenBao server holding the key records.
      - Falls back to the E(VAULT_ADDR) environment variable.
      - An C(http://) address is refused unless O(vault_allow_http=true).
    type: str
  vault_token:
    description:
      - Vault token, used when O(vault_auth_method=token). Falls back to E(VAULT_TOKEN).
    type: str
  vault_auth_method:
    description: How to authenticate to Vault.
    type: str
    choices: [token, approle]
    default: token
  vault_role_id:
    description: AppRole role id. Falls back to E(VAULT_ROLE_ID).
    type: str
  vault_secret_id:
    description: AppRole secret id. Falls back to E(VAULT_SECRET_ID).
    type: str
  vault_approle_mount:
    description: Mount point of the AppRole auth method.
    type: str
    default: approle
  vault_namespace:
    description: Vault Enterprise / OpenBao namespace. Falls back to E(VAULT_NAMESPACE).
    type: str
  vault_ca_cert:
    description: CA bundle that signs the Vault server's certificate. Falls back to E(VAULT_CACERT).
    type: path
  vault_validate_certs:
    description: Verify the Vault server's TLS certificate. Turn off only for a test server.
    type: bool
    default: true
  vault_allow_http:
    description: Allow a plain C(http://) O(vault_url). Only for a local test or demo server.
    type: bool
    default: false
  vault_timeout:
    description: Seconds to wait for one Vault request.
    type: int
    default: 10
notes:
  - The record must live on a KV version 2 mount. A KV version 1 mount silently ignores
    check-and-set, so it is refused.
  - Every write is conditional on the version read (check-and-set). Of two runs working on one key,
    exactly one wins; the other stops with C(error=conflict) and changes nothing more.
requirements:
  - hvac
  - requests
"""
