# Internal to this collection: not a public API; may change without notice.
"""The scrubber: every secret a task holds, hidden from every text and value that leaves it.

A secret is registered the moment the task obtains it (an option marked ``no_log``, a credential read
from the environment, a token a login returned, a key read from the store or created at the provider).
Holders whose secrets change during a task (a Vault client that logs in again) are *tracked*: asked
for their current secrets at each scrub.

Besides the secret itself, the forms in which an API could echo it are hidden too: URL-encoded,
JSON-escaped, base64 on its own, and base64 inside a longer value (HTTP Basic ``base64(user:secret)``,
where the secret starts at any offset: the base64 characters that depend only on the secret's bytes
are hidden, for each of the three alignments).
"""
from __future__ import annotations

import base64
import functools
import json
from typing import Any, Callable, Iterable
from urllib.parse import quote, quote_plus

HIDDEN = "<hidden>"
#: shorter values are not scrubbed (hiding them would mangle every text, and they protect nothing)
MIN_SECRET = 4
#: base64 forms inside a longer value are hidden only for secrets this long (so the core is >= 8 chars)
MIN_EMBEDDED = 9


def _embedded_base64(secret: bytes) -> set[str]:
    """The base64 characters fixed by ``secret`` alone when it starts at any byte offset of a longer value."""
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode()
        first = 1 if offset else 0  # the first 4-char group mixes the unknown prefix in
        last = (offset + len(secret)) // 3  # groups after this one mix the unknown suffix in
        core = encoded[4 * first:4 * last]
        if len(core) >= 8:
            cores.update((core, core.replace("+", "-").replace("/", "_")))
    return cores


@functools.lru_cache(maxsize=1024)
def forms(secret: str) -> frozenset[str]:
    """The secret and the encodings under which a provider or a library could echo it.

    Computed once per secret in this process: every step of every key of a batch holds the same Vault token
    and provider credential (the cache lives as long as the process, which holds these values anyway)."""
    found = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    raw = secret.encode()
    plain = base64.b64encode(raw).decode()
    found.update((plain, plain.rstrip("="), base64.urlsafe_b64encode(raw).decode().rstrip("=")))
    if len(raw) >= MIN_EMBEDDED:
        found.update(_embedded_base64(raw))
    return frozenset(f for f in found if len(f) >= MIN_SECRET)


class Scrubber:
    """The secrets of one task, and the holders (callables) asked for theirs at each scrub."""

    def __init__(self) -> None:
        self._forms: dict[str, frozenset[str]] = {}
        self._holders: list[Callable[[], Iterable[Any]]] = []
        self._ordered: list[str] = []  # every form, longest first (rebuilt when a secret is added)

    def remember(self, secret: Any) -> None:
        text = str(secret) if secret is not None else ""
        if len(text) >= MIN_SECRET and text not in self._forms:
            self._forms[text] = forms(text)
            # longest first: a form contained in another must not leave the rest of the longer one behind
            self._ordered = sorted({f for fs in self._forms.values() for f in fs}, key=len, reverse=True)

    def remember_all(self, secrets: Iterable[Any]) -> None:
        for secret in secrets:
            self.remember(secret)

    def track(self, holder: Callable[[], Iterable[Any]]) -> None:
        """``holder()`` returns the secrets it holds now; asked again at every scrub."""
        self._holders.append(holder)
        self._refresh()

    def _refresh(self) -> None:
        for holder in self._holders:
            try:
                held = list(holder() or ())
            except Exception:  # pylint: disable=broad-except  # a holder must never break the error path
                continue
            self.remember_all(held)

    def scrub(self, text: Any) -> str:
        self._refresh()
        return self._hide(str(text))

    def _hide(self, text: str) -> str:
        for form in self._ordered:
            if form in text:
                text = text.replace(form, HIDDEN)
        return text

    def scrub_value(self, value: Any) -> Any:
        """``value`` with every string in it (keys included) scrubbed; other scalars as they are."""
        self._refresh()
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._hide(value)
        if isinstance(value, dict):
            return {self._walk(k): self._walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self._walk(v) for v in value)
        return value

    def holds(self, text: str) -> bool:
        """Does ``text`` contain a known secret in any of its forms? (a last check before writing it out)"""
        return self.scrub(text) != text
