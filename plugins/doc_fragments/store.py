# Copyright: contributors to apikeys.rotation
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # Pairs with module_utils/_argspec.py STORE.
    DOCUMENTATION = r"""
options:
  store:
    description:
      - Which store holds the key's record, at O(vault_path) (the record's location for every store).
      - V(vault_kv2) is HashiCorp Vault or OpenBao KV version 2, configured by the C(vault_*) options.
      - V(aws_secretsmanager) is AWS Secrets Manager, configured by O(store_options); O(vault_path) is then the
        secret's name or ARN. See docs/stores.md.
      - An unknown store stops the task before any request, naming the known ones.
    type: str
    default: vault_kv2
  store_options:
    description:
      - Options of the store, for stores other than V(vault_kv2) (whose options are the C(vault_*) ones).
      - For V(aws_secretsmanager) the keys C(region), C(endpoint_url), C(profile), C(timeout) (seconds per request),
        and C(aws_access_key_id), C(aws_secret_access_key), C(aws_session_token) (prefer boto3's default credential
        chain, which reads the environment, a profile, an instance or container role). An unknown key stops the task.
      - Credentials given here are hidden from every output, as all the store's credentials are.
    type: dict
    default: {}
  vault_url:
    description:
      - Address of the HashiCorp Vault or OpenBao server holding the key records.
      - Falls back to E(ANSIBLE_HASHI_VAULT_ADDR), E(VAULT_ADDR), then E(BAO_ADDR).
      - An C(http://) address is refused unless O(vault_allow_http=true).
    type: str
  vault_namespace:
    description:
      - Vault Enterprise / OpenBao namespace.
      - Falls back to E(ANSIBLE_HASHI_VAULT_NAMESPACE), E(VAULT_NAMESPACE), then E(BAO_NAMESPACE).
    type: str
  vault_ca_cert:
    description:
      - CA bundle that signs the Vault server's certificate.
      - Falls back to E(ANSIBLE_HASHI_VAULT_CA_CERT), E(VAULT_CACERT), then E(BAO_CACERT).
    type: path
  vault_validate_certs:
    description:
      - Verify the Vault server's TLS certificate. Turn off only for a test server.
      - When not set, true unless E(VAULT_SKIP_VERIFY) or E(BAO_SKIP_VERIFY) is set to a true value.
    type: bool
  vault_allow_http:
    description: Allow a plain C(http://) O(vault_url). Only for a local test or demo server.
    type: bool
    default: false
  vault_timeout:
    description: Seconds to wait for one Vault request. Falls back to E(ANSIBLE_HASHI_VAULT_TIMEOUT).
    type: int
    default: 10
  vault_auth_method:
    description:
      - How to log in to Vault, one of C(token), C(approle), C(userpass), C(ldap), C(jwt), C(kubernetes),
        C(aws_iam), C(cert). An unknown one stops the task before any request.
      - Falls back to E(ANSIBLE_HASHI_VAULT_AUTH_METHOD).
      - Every method but C(token) logs in once per run and set of credentials; the run's later tasks reuse
        the token (kept in memory only), which is renewed or replaced when it nears its expiry and revoked
        when the run ends. See docs/vault-auth.md.
    type: str
    default: token
  vault_auth_mount:
    description:
      - Mount point of the auth method; by default its usual one (C(approle), C(userpass), C(ldap), C(jwt),
        C(kubernetes), C(aws) for C(aws_iam), C(cert)).
      - Falls back to E(ANSIBLE_HASHI_VAULT_MOUNT_POINT).
    type: str
  vault_token:
    description:
      - Vault token, used when O(vault_auth_method=token). Never revoked by the collection.
      - Falls back to E(ANSIBLE_HASHI_VAULT_TOKEN), E(VAULT_TOKEN), E(BAO_TOKEN), then to the token file
        O(vault_token_file).
    type: str
  vault_token_file:
    description:
      - File holding a Vault token, read when O(vault_auth_method=token) and no O(vault_token) is set.
      - By default C(~/.vault-token), which C(vault login) and C(bao login) write; or the file
        C($ANSIBLE_HASHI_VAULT_TOKEN_PATH/$ANSIBLE_HASHI_VAULT_TOKEN_FILE) when those are set.
    type: path
  vault_role_id:
    description: AppRole role id. Falls back to E(ANSIBLE_HASHI_VAULT_ROLE_ID), then E(VAULT_ROLE_ID).
    type: str
  vault_secret_id:
    description: AppRole secret id. Falls back to E(ANSIBLE_HASHI_VAULT_SECRET_ID), then E(VAULT_SECRET_ID).
    type: str
  vault_approle_mount:
    description: Mount point of the AppRole auth method (older name of O(vault_auth_mount), used for C(approle) only).
    type: str
  vault_role:
    description:
      - The Vault role to log in as, for C(jwt), C(kubernetes), C(aws_iam) and (optional) C(cert).
      - Falls back to E(VAULT_AUTH_ROLE), then to O(vault_role_id) (as community.hashi_vault does).
    type: str
  vault_username:
    description: User name for C(userpass) and C(ldap). Falls back to E(ANSIBLE_HASHI_VAULT_USERNAME), then E(VAULT_USERNAME).
    type: str
  vault_password:
    description: Password for C(userpass) and C(ldap). Falls back to E(ANSIBLE_HASHI_VAULT_PASSWORD), then E(VAULT_PASSWORD).
    type: str
  vault_jwt:
    description:
      - The JSON Web Token for C(jwt) (a CI job's OIDC token, a Kubernetes service account token) or C(kubernetes).
      - Falls back to E(ANSIBLE_HASHI_VAULT_JWT), then E(VAULT_JWT), then to O(vault_jwt_file).
    type: str
  vault_jwt_file:
    description:
      - File holding the JWT, read at each run (projected tokens rotate). Falls back to E(VAULT_JWT_FILE).
      - For C(kubernetes), defaults to the pod's C(/var/run/secrets/kubernetes.io/serviceaccount/token).
    type: path
  vault_client_cert:
    description:
      - TLS client certificate (PEM) for C(cert), presented on every request, so it also serves a listener
        that requires client certificates.
      - Falls back to E(ANSIBLE_HASHI_VAULT_CERT_AUTH_PUBLIC_KEY), E(VAULT_CLIENT_CERT), then E(BAO_CLIENT_CERT).
    type: path
  vault_client_key:
    description:
      - Private key (PEM) of O(vault_client_cert).
      - Falls back to E(ANSIBLE_HASHI_VAULT_CERT_AUTH_PRIVATE_KEY), E(VAULT_CLIENT_KEY), then E(BAO_CLIENT_KEY).
    type: path
  vault_aws_profile:
    description:
      - For C(aws_iam), the AWS profile whose credentials sign the C(sts:GetCallerIdentity) request. When not set,
        botocore's usual chain (E(AWS_ACCESS_KEY_ID)/E(AWS_SECRET_ACCESS_KEY)/E(AWS_SESSION_TOKEN), E(AWS_PROFILE),
        web identity, container or instance role).
      - Falls back to E(ANSIBLE_HASHI_VAULT_AWS_PROFILE).
    type: str
  vault_aws_region:
    description:
      - For C(aws_iam), the region the request is signed for; must match Vault's C(sts_region). Default C(us-east-1).
      - Falls back to E(ANSIBLE_HASHI_VAULT_AWS_REGION).
    type: str
  vault_aws_iam_server_id:
    description:
      - For C(aws_iam), the C(X-Vault-AWS-IAM-Server-ID) header value, when Vault's C(iam_server_id_header_value) is set.
      - Falls back to E(ANSIBLE_HASHI_VAULT_AWS_IAM_SERVER_ID).
    type: str
  vault_token_cache:
    description:
      - Share one login between the run's tasks through a per-run in-memory token broker (see docs/vault-auth.md).
        With V(false), each task logs in itself.
      - Falls back to E(APIKEYS_VAULT_TOKEN_CACHE).
    type: bool
    default: true
notes:
  - The record must live on a KV version 2 mount. A KV version 1 mount silently ignores
    check-and-set, so it is refused.
  - Every write is conditional on the version read (check-and-set). Of two runs working on one key,
    exactly one wins; the other stops with C(error=conflict) and changes nothing more.
  - With O(store=aws_secretsmanager), each write makes a new version of the secret and moves C(AWSCURRENT)
    to it only if C(AWSCURRENT) is still on the version read (C(UpdateSecretVersionStage) with
    C(RemoveFromVersionId)), which gives the same guarantee. A secret with Secrets Manager's own rotation enabled is refused.
requirements:
  - hvac
  - requests
  - boto3 (for O(store=aws_secretsmanager))
"""
