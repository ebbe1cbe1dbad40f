# Internal to this collection: not a public API; may change without notice.
"""Which provider class serves an ``apikeys_provider`` value, and which evidence class an ``apikeys_usage_evidence``.

Each registry names a module and a class; the module is imported when a key first uses that name
(_lazy_classes.py), so a run imports only the providers and evidence sources its keys use.
"""
from __future__ import annotations

from typing import Any, Optional

from ._errors import ConfigError
from ._lazy_classes import MODULE_UTILS, LazyClasses
from .evidence._base import Evidence
from .providers._base import Provider

PROVIDERS: LazyClasses = LazyClasses(MODULE_UTILS + ".providers", {
    "aws_iam": ("_aws_iam", "AwsIamProvider"),
    "http": ("_http_gateway", "HttpGatewayProvider"),
    "sendgrid": ("_sendgrid", "SendGridProvider"),
    "stripe": ("_stripe", "StripeProvider"),
    "twilio": ("_twilio", "TwilioProvider"),
})

#: providers that cannot be automated (yet), and why: refused, never faked
UNSUPPORTED: dict[str, str] = {}


def provider_class(key: str, name: Any) -> type[Provider]:
    if not isinstance(name, str) or not name:
        raise ConfigError(key, "apikeys_provider", "missing; one of " + ", ".join(sorted(PROVIDERS)))
    if name in UNSUPPORTED:
        raise ConfigError(key, "apikeys_provider", f"provider '{name}' cannot be rotated automatically: "
                          + UNSUPPORTED[name])
    if name not in PROVIDERS:
        raise ConfigError(key, "apikeys_provider",
                          f"unknown provider (known: {', '.join(sorted(PROVIDERS))})")
    return PROVIDERS[name]


def make_provider(key: str, name: str, options: dict[str, Any], credential: Optional[str]) -> Provider:
    cls = provider_class(key, name)
    cls.validate_options(key, options)
    return cls(key, options, credential)


EVIDENCE: LazyClasses = LazyClasses(MODULE_UTILS + ".evidence", {
    "provider": ("_provider", "ProviderEvidence"),
    "prometheus": ("_prometheus", "PrometheusEvidence"),
    "http": ("_http_versions", "HttpVersionsEvidence"),
    "none": ("_clock", "ClockOnly"),
})

#: the evidence source that reads the provider's own last-used data (built with the key's provider)
PROVIDER_EVIDENCE = "provider"


def make_evidence(key: str, options: Any, provider: Provider) -> Evidence:
    if not isinstance(options, dict):
        raise ConfigError(key, "apikeys_usage_evidence", "must be a mapping with a 'source'")
    source = options.get("source")
    if not isinstance(source, str) or source not in EVIDENCE:
        raise ConfigError(key, "apikeys_usage_evidence.source", f"one of {', '.join(sorted(EVIDENCE))}")
    cls = EVIDENCE[source]
    cls.validate_options(key, options)
    if source == PROVIDER_EVIDENCE:
        return cls(key, options, provider)
    return cls(key, options)
