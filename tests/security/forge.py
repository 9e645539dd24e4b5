"""Tokens an attacker makes: unsigned, HMAC-signed with the issuer's public key, signed with
a key of their own, or a real token with its claims edited after signing."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from oauth import b64url, b64url_decode, compact, jwt_parts


def unsigned(real: str) -> str:
    """The real token's claims under `alg: none`, with no signature."""
    header, claims = jwt_parts(real)
    return compact({**header, "alg": "none"}, claims)


def hs256(real: str, secret: bytes) -> str:
    """The real token's claims, HMAC-SHA256-signed with `secret` (e.g. the public key)."""
    header, claims = jwt_parts(real)
    unsigned_token = compact({**header, "alg": "HS256"}, claims).rstrip(".")
    mac = hmac.new(secret, unsigned_token.encode(), hashlib.sha256).digest()
    return f"{unsigned_token}.{b64url(mac)}"


def es256(header: dict[str, Any], claims: dict[str, Any], key: ec.EllipticCurvePrivateKey | None = None) -> str:
    """Claims signed with ES256 by `key` (a new P-256 key by default)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    token = compact({**header, "alg": "ES256"}, claims).rstrip(".")
    r, s = decode_dss_signature(key.sign(token.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{token}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def edited(real: str, **changes: Any) -> str:
    """The real token with some claims changed and its original signature kept."""
    header, claims = jwt_parts(real)
    signature = real.rsplit(".", 1)[1]
    return compact(header, {**claims, **changes}).rstrip(".") + "." + signature


def public_key_pem(jwk: dict[str, Any]) -> bytes:
    """An EC JWK from the issuer's JWKS as PEM, what an HS/RS confusion attack signs with."""
    x = int.from_bytes(b64url_decode(jwk["x"]), "big")
    y = int.from_bytes(b64url_decode(jwk["y"]), "big")
    key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def jwk_text(jwk: dict[str, Any]) -> bytes:
    return json.dumps(jwk, separators=(",", ":")).encode()

