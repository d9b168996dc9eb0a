"""Verifies a JWT Bridgekeeper signs with two independent JOSE libraries: joserfc and PyJWT.

Usage: python3 verify_minted.py --issuer URL --audience AUD (--token JWT | --token -)
                                [--kind access-token|id-jag]

--kind access-token (the default): an access token, checked as an MCP server or gateway would
(RFC 9068 §4): JWKS at ISSUER/jwks.json, header `typ` `at+jwt`, `iss` equal to ISSUER, AUD is the
resource.
--kind id-jag: an ID-JAG from Bridgekeeper's bridge issuer, checked as the third-party
authorization server that trusts the bridge would (ID-JAG draft; RFC 7523 §3): JWKS at
ISSUER/bridge/jwks.json, header `typ` `oauth-id-jag+jwt`, `iss` equal to ISSUER/bridge, AUD is the
third party's issuer.

Each library gets the JWKS on its own (joserfc from a urllib fetch, PyJWT through its
`PyJWKClient`), picks the key by the token's `kid`, and checks: header `typ` and `alg` ES256 (the
algorithm is pinned, never taken from the token), the signature, `iss`, `aud` equal to (or, for an
array, containing) AUD, and `exp` in the future; `sub`, `client_id`, `iat` and `jti` must be present.

Prints one JSON object: {"kind", "jwks_uri", "expected_issuer", "joserfc": {...}, "pyjwt": {...}}, each library with
"ok" and either "header" and "claims" or "error". Exit 0 when both accept the token, 1 when
either rejects it, 2 on bad usage, 3 when a library cannot be imported.
"""
import argparse
import json
import sys
import urllib.request

try:
    import jwt as pyjwt
    from joserfc import jwt as rfc_jwt
    from joserfc.jwk import KeySet
except ImportError as error:
    print(json.dumps({"error": f"cannot import joserfc or PyJWT: {error} (run scripts/install-deps)"}))
    sys.exit(3)

ALGORITHM = "ES256"
REQUIRED = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"]
# kind: (header typ, path of the issuer below --issuer, whose JWKS is at <that issuer>/jwks.json)
KINDS = {"access-token": ("at+jwt", ""), "id-jag": ("oauth-id-jag+jwt", "/bridge")}


def check_header(header: dict, typ: str) -> None:
    if header.get("typ") != typ:
        raise ValueError(f"header typ is {header.get('typ')!r}, not {typ!r}")
    if header.get("alg") != ALGORITHM:
        raise ValueError(f"header alg is {header.get('alg')!r}, not {ALGORITHM!r}")


def verify_with_joserfc(token: str, jwks: dict, issuer: str, audience: str, typ: str) -> dict:
    decoded = rfc_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=[ALGORITHM])
    check_header(decoded.header, typ)
    registry = rfc_jwt.JWTClaimsRegistry(
        leeway=0,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        **{name: {"essential": True} for name in REQUIRED if name not in ("iss", "aud")},
    )
    registry.validate(decoded.claims)  # also checks exp (and nbf, iat when present) against now
    return {"header": decoded.header, "claims": decoded.claims}


def verify_with_pyjwt(token: str, jwks_uri: str, issuer: str, audience: str, typ: str) -> dict:
    header = pyjwt.get_unverified_header(token)
    check_header(header, typ)
    key = pyjwt.PyJWKClient(jwks_uri, cache_keys=False).get_signing_key_from_jwt(token)
    claims = pyjwt.decode(token, key, algorithms=[ALGORITHM], issuer=issuer, audience=audience,
                          options={"require": REQUIRED, "verify_exp": True, "verify_iat": True}, leeway=0)
    return {"header": header, "claims": claims}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--audience", required=True,
                        help="what the verifier expects in aud: the resource (access token) or the third party's issuer (ID-JAG)")
    parser.add_argument("--token", required=True, help="the token, or - to read it from standard input")
    parser.add_argument("--kind", default="access-token", choices=sorted(KINDS))
    args = parser.parse_args()
    token = sys.stdin.read().strip() if args.token == "-" else args.token

    typ, issuer_path = KINDS[args.kind]
    issuer = args.issuer.rstrip("/") + issuer_path if issuer_path else args.issuer
    jwks_uri = f"{issuer.rstrip('/')}/jwks.json"
    with urllib.request.urlopen(jwks_uri, timeout=10) as response:
        jwks = json.load(response)

    result = {"kind": args.kind, "jwks_uri": jwks_uri, "expected_issuer": issuer}
    for name, verify in (("joserfc", lambda: verify_with_joserfc(token, jwks, issuer, args.audience, typ)),
                         ("pyjwt", lambda: verify_with_pyjwt(token, jwks_uri, issuer, args.audience, typ))):
        try:
            result[name] = {"ok": True, **verify()}
        except Exception as error:  # report each library's own rejection
            result[name] = {"ok": False, "error": f"{type(error).__module__}.{type(error).__name__}: {error}"}
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0 if result["joserfc"]["ok"] and result["pyjwt"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
