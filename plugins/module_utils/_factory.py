# Internal to this collection: not a public API; may change without notice.
"""Which provider class serves an ``apikeys_provider`` value."""
from __future__ import annotations

from typing import Any, Optional

from ._errors import ConfigError
from .evidence._base import Evidence
from .evidence._clock import ClockOnly
from .evidence._http_versions import HttpVersionsEvidence
from .evidence._prometheus import PrometheusEvidence
from .evidence._provider import ProviderEvidence
from .providers._aws_iam import AwsIamProvider
from .providers._base import Provider
from .providers._http_gateway import HttpGatewayProvider
from .providers._sendgrid import SendGridProvider
from .providers._stripe import StripeProvider
from .providers._twilio import TwilioProvider

PROVIDERS: dict[str, type[Provider]] = {
    "aws_iam": AwsIamProvider,
    "http": HttpGatewayProvider,
    "sendgrid": SendGridProvider,
    "stripe": StripeProvider,
    "twilio": TwilioProvider,
}

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


EVIDENCE: dict[str, type[Evidence]] = {
    "provider": ProviderEvidence,
    "prometheus": PrometheusEvidence,
    "http": HttpVersionsEvidence,
    "none": ClockOnly,
}


def make_evidence(key: str, options: Any, provider: Provider) -> Evidence:
    if not isinstance(options, dict):
        raise ConfigError(key, "apikeys_usage_evidence", "must be a mapping with a 'source'")
    source = options.get("source")
    if not isinstance(source, str) or source not in EVIDENCE:
        raise ConfigError(key, "apikeys_usage_evidence.source", f"one of {', '.join(sorted(EVIDENCE))}")
    cls = EVIDENCE[source]
    cls.validate_options(key, options)
    if cls is ProviderEvidence:
        return ProviderEvidence(key, options, provider)
    return cls(key, options)
