# apikeys.rotation: an application reading its own key (here: the sendgrid record), e.g.
# through Vault Agent with the template {{ with secret "secret/data/apikeys/sendgrid" }}{{ .Data.data.key }}{{ end }}
path "secret/data/apikeys/sendgrid" {
  capabilities = ["read"]
}
