"""Mints tokens with joserfc for Bridgekeeper to verify (the reverse interop direction).

Usage: python3 mint_tokens.py OUT_DIR
Writes OUT_DIR/jwks.json (public keys) and OUT_DIR/tokens.txt ("ALG TOKEN" a line), one ES256,
ES384, EdDSA, RS256 and PS256 access token each (typ at+jwt), issued at 1795262400.
"""
import json
import sys

from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

out = sys.argv[1]
keys = {
    "ES256": ECKey.generate_key("P-256", {"kid": "rfc-es256"}),
    "ES384": ECKey.generate_key("P-384", {"kid": "rfc-es384"}),
    "EdDSA": OKPKey.generate_key("Ed25519", {"kid": "rfc-ed25519"}),
    "RS256": RSAKey.generate_key(2048, {"kid": "rfc-rs256"}),
    "PS256": RSAKey.generate_key(2048, {"kid": "rfc-ps256"}),
}
claims = {"iss": "https://joserfc.example", "sub": "interop-subject", "aud": "https://mcp.example/github",
          "client_id": "c1", "jti": "j1", "iat": 1795262400, "exp": 1795262700}
with open(f"{out}/tokens.txt", "w") as tokens:
    for alg, key in keys.items():
        header = {"alg": alg, "typ": "at+jwt", "kid": key.kid}
        tokens.write(f"{alg} {jwt.encode(header, claims, key, algorithms=[alg])}\n")
json.dump({"keys": [key.as_dict(private=False) for key in keys.values()]}, open(f"{out}/jwks.json", "w"))
