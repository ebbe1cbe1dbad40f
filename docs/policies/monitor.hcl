# apikeys.rotation: monitoring. Phase, key ids, rotation times and the last error, from
# custom_metadata, with no right to read any key.
path "secret/metadata/apikeys/*" {
  capabilities = ["read", "list"]
}
