"""Mints the demo IdP's fixture tokens with joserfc (an independent JOSE implementation).

Run from this folder: python3 make_tokens.py
The keys (signing-*.pem, jwks.json) were made with `bridgekeeper keys generate`; they are demo keys,
published on purpose, and must never be trusted outside tests and the demo configuration.
All tokens are issued at 2026-11-21T12:00:00Z (1795262400) and live 300 s: verify them with
`--at 1795262460` (a minute later).
"""
import json
from joserfc import jwt
from joserfc.jwk import import_key

ISSUER = "https://idp.demo.bridgekeeper.test"
BROKER = "https://broker.demo.bridgekeeper.test"
IAT = 1795262400

es256 = import_key(open("signing-es256.pem").read(), "EC", {"kid": "demo-es256"})
rs256 = import_key(open("signing-rs256.pem").read(), "RSA", {"kid": "demo-rs256"})

tokens = {
    "id-jag.jwt": ({"alg": "ES256", "typ": "oauth-id-jag+jwt", "kid": "demo-es256"}, {
        "iss": ISSUER, "sub": "00u-alice", "aud": BROKER, "client_id": "mcp-client-demo",
        "jti": "idjag-0001", "iat": IAT, "exp": IAT + 300,
        "resource": "https://mcp.demo.bridgekeeper.test/github", "scope": "repo:read issues:write",
        "email": "alice@example.com",
    }, es256),
    "id-token.jwt": ({"alg": "RS256", "typ": "JWT", "kid": "demo-rs256"}, {
        "iss": ISSUER, "sub": "00u-alice", "aud": "upstream-client-demo", "iat": IAT, "exp": IAT + 300,
        "auth_time": IAT - 5, "nonce": "n-0S6_WzA2Mj", "groups": ["engineering", "mcp-users"],
    }, rs256),
    "access-token.jwt": ({"alg": "ES256", "typ": "at+jwt", "kid": "demo-es256"}, {
        "iss": ISSUER, "sub": "00u-alice", "aud": "https://mcp.demo.bridgekeeper.test/github",
        "client_id": "mcp-client-demo", "jti": "at-0001", "iat": IAT, "exp": IAT + 300, "scope": "repo:read",
    }, es256),
}

for name, (header, claims, key) in tokens.items():
    with open(name, "w") as out:
        out.write(jwt.encode(header, claims, key) + "\n")
print("wrote", ", ".join(tokens))
