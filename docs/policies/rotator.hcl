# apikeys.rotation: the rotator (the identity AWX / cron runs the playbooks with).
# Reads and writes the records under secret/apikeys/, always with check-and-set;
# never deletes or destroys a version. Adjust "secret" and "apikeys" to your mount and prefix.
path "secret/data/apikeys/*" {
  capabilities = ["create", "read", "update"]
}
# custom_metadata: the non-secret state that monitoring reads.
path "secret/metadata/apikeys/*" {
  capabilities = ["read", "update"]
}
# Which mount (and KV version) a path lives on: the collection refuses KV version 1.
path "sys/internal/ui/mounts/secret/*" {
  capabilities = ["read"]
}
# Lets the collection check, before it touches a provider, that this token may write the record.
path "sys/capabilities-self" {
  capabilities = ["update"]
}
# The run's own token: renewed while a long run lasts, revoked when the run ends (docs/vault-auth.md).
# Vault's and OpenBao's "default" policy grants both; a role created without it needs them here.
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
