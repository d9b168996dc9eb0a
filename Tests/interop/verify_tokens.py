"""Verifies tokens minted by Bridgekeeper with two independent JOSE libraries: joserfc and PyJWT.

Usage: python3 verify_tokens.py JWKS_FILE TOKENS_FILE
TOKENS_FILE has one "ALG TOKEN" pair a line. Each token is verified with the public key from the
JWKS chosen by its kid, with the algorithm pinned to ALG (never read from the token). Prints one
line per token and verifier and, last, "N passed, N failed"; exits non-zero on any failure.
"""
import json
import sys

import jwt as pyjwt
from joserfc import jws as rfc_jws
from joserfc.jwk import KeySet

jwks = json.load(open(sys.argv[1]))
keyset = KeySet.import_key_set(jwks)
pyjwk = {k["kid"]: pyjwt.PyJWK(k) for k in jwks["keys"]}
passed = failed = 0
for line in open(sys.argv[2]):
    if not line.strip():
        continue
    alg, token = line.split()
    header = pyjwt.get_unverified_header(token)
    for name in ("joserfc", "pyjwt"):
        try:
            if name == "joserfc":
                obj = rfc_jws.deserialize_compact(token, keyset, algorithms=[alg])
                claims = json.loads(obj.payload)
            else:
                claims = pyjwt.decode(token, pyjwk[header["kid"]], algorithms=[alg],
                                      options={"verify_aud": False, "verify_exp": False, "verify_iat": False})
            assert claims["sub"] == "interop-subject", claims
            print(f"ok {name} {alg} typ={header.get('typ')}")
            passed += 1
        except Exception as error:  # report every failure, keep going
            print(f"FAIL {name} {alg}: {type(error).__name__}: {error}")
            failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
