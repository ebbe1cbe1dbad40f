# Internal to this collection: not a public API; may change without notice.
"""Compact JWE (RFC 7516) decryption for Stripe's one-time secrets: RSA-OAEP / RSA-OAEP-256 + A256GCM.

Stripe's Managed API Keys API returns a new live-mode secret once, encrypted to a public key the
caller sent with the create. The collection makes an RSA key pair per rotation, in memory
(:class:`KeyPair`), sends the public half and decrypts the answer here; the private half is never
serialized, stored or printed.

Only what Stripe is documented (or reported) to send is accepted: ``alg`` ``RSA-OAEP`` (OAEP with
SHA-1) or ``RSA-OAEP-256`` (SHA-256), ``enc`` ``A256GCM``, no compression, five segments. Anything
else is refused by name before any decryption, and no error text carries key material, the
ciphertext or the plaintext.
"""
from __future__ import annotations

import base64
import json
from typing import Any, Iterable

from .._errors import ProviderError

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - reported when a Stripe key is rotated
    HAS_CRYPTOGRAPHY = False

#: the key-management algorithms accepted by default, and the hash each uses for OAEP and MGF1
ALGORITHMS: dict[str, str] = {"RSA-OAEP": "sha1", "RSA-OAEP-256": "sha256"}
ENCRYPTION = "A256GCM"
_IV_BYTES, _TAG_BYTES, _CEK_BYTES = 12, 16, 32


class JweError(ProviderError):
    """A JWE that cannot be decrypted: malformed, another algorithm, or not encrypted to our key."""


def _b64url(segment: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (ValueError, TypeError):
        raise JweError(f"the JWE's {what} is not base64url") from None


def _shown(value: Any) -> str:
    """A header value for a message (it is not secret): a short printable string."""
    text = str(value)[:40]
    return repr("".join(c for c in text if c.isprintable()))


class KeyPair:
    """An RSA key pair for one rotation. Only the public half ever leaves this object, as PEM."""

    def __init__(self, bits: int = 2048) -> None:
        if not HAS_CRYPTOGRAPHY:
            raise ProviderError("stripe: decrypting Stripe's answer needs the 'cryptography' Python library")
        self._private = rsa.generate_private_key(public_exponent=65537, key_size=bits)

    def __repr__(self) -> str:
        return "KeyPair(<private key hidden>)"

    def public_pem(self) -> str:
        return self._private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    def decrypt(self, compact: str, algorithms: Iterable[str] = tuple(ALGORITHMS)) -> str:
        return decrypt_compact(compact, self._private, algorithms)


def header_of(compact: str) -> dict[str, Any]:
    """The protected header of a compact JWE (after checking it has five segments)."""
    parts = compact.split(".") if isinstance(compact, str) else []
    if len(parts) != 5:
        raise JweError(f"the secret is not a compact JWE (expected 5 dot-separated segments, found {len(parts)})")
    try:
        header = json.loads(_b64url(parts[0], "protected header"))
    except (ValueError, UnicodeDecodeError):
        raise JweError("the JWE's protected header is not JSON") from None
    if not isinstance(header, dict):
        raise JweError("the JWE's protected header is not a JSON object")
    return header


def decrypt_compact(compact: str, private_key: Any, algorithms: Iterable[str] = tuple(ALGORITHMS)) -> str:
    """The UTF-8 plaintext of a compact JWE encrypted to ``private_key``'s public key."""
    header = header_of(compact)
    allowed = [a for a in algorithms if a in ALGORITHMS]
    alg, enc = header.get("alg"), header.get("enc")
    if alg not in allowed:
        raise JweError(f"the JWE's alg {_shown(alg)} is not one of {', '.join(allowed)}")
    if enc != ENCRYPTION:
        raise JweError(f"the JWE's enc {_shown(enc)} is not {ENCRYPTION}")
    if "zip" in header:
        raise JweError("the JWE is compressed (zip), which this collection does not accept")
    protected, wrapped, iv, ciphertext, tag = compact.split(".")
    wrapped_key = _b64url(wrapped, "encrypted key")
    nonce, body, mac = _b64url(iv, "IV"), _b64url(ciphertext, "ciphertext"), _b64url(tag, "tag")
    if len(nonce) != _IV_BYTES or len(mac) != _TAG_BYTES:
        raise JweError(f"the JWE's IV or tag has the wrong length for {ENCRYPTION}")
    digest = hashes.SHA1() if ALGORITHMS[alg] == "sha1" else hashes.SHA256()  # nosec - RSA-OAEP is OAEP-SHA1 by RFC 7518
    try:
        cek = private_key.decrypt(wrapped_key, padding.OAEP(mgf=padding.MGF1(algorithm=digest), algorithm=digest,
                                                            label=None))
    except ValueError:
        raise JweError(f"the JWE's content key does not decrypt with this rotation's private key ({alg})") from None
    if len(cek) != _CEK_BYTES:
        raise JweError(f"the JWE's content key is not a {ENCRYPTION} key")
    try:
        plain = AESGCM(cek).decrypt(nonce, body + mac, protected.encode("ascii"))
    except (InvalidTag, ValueError):
        raise JweError("the JWE's ciphertext fails its authentication tag (corrupted, or not for this key)") from None
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        raise JweError("the JWE's plaintext is not UTF-8 text") from None
