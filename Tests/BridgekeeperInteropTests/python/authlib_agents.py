"""Robot tokens from Bridgekeeper, requested by Authlib (an OAuth client we did not write), with
keys made and assertions signed by joserfc, and the tokens verified by PyJWT.

Usage:
  python3 authlib_agents.py keygen --alg ES256|EdDSA --kid KID --private-out FILE
      Makes a key pair with joserfc; writes the private JWK to FILE and prints {"jwks": {...}} (the
      public JWK Set to register the agent with).
  python3 authlib_agents.py itself --issuer URL --agent ID --key FILE --resource URI
      An agent acting as itself: Authlib's OAuth2Session with its PrivateKeyJWT client
      authentication (RFC 7523 §2.2; `aud` set to the issuer, as rfc7523bis asks) fetches a
      client_credentials token for RESOURCE.
  python3 authlib_agents.py delegate --issuer URL --client-id ID --client-secret S --id-token JWT
                                     --agent ID --key FILE --resource URI
      An agent acting for its owner: the owner's client (Authlib, client_secret_basic) makes an
      RFC 8693 token exchange with the owner's ID token as subject_token and the agent's assertion,
      signed by joserfc with the agent's key, as actor_token.

Each token mode prints one JSON object: {"status", "response" (the token response as Authlib
parsed it, or the error body), "header" and "claims" (the access token as PyJWT verified it against
ISSUER/jwks.json: typ at+jwt, ES256 pinned, iss, aud = RESOURCE, exp)}. Exit 0 on a token that
verifies, 1 on a refusal or a failed verification, 2 on bad usage, 3 when a library is missing.
"""
import argparse
import json
import secrets
import sys
import time

try:
    import jwt as pyjwt
    from authlib.integrations.requests_client import OAuth2Session, OAuthError
    from authlib.oauth2.rfc7523 import PrivateKeyJWT
    from joserfc import jwt as rfc_jwt
    from joserfc.jwk import ECKey, OKPKey, import_key
except ImportError as error:
    print(json.dumps({"error": f"cannot import authlib, joserfc or PyJWT: {error} (run scripts/install-deps)"}))
    sys.exit(3)

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


def keygen(args) -> int:
    if args.alg == "ES256":
        key = ECKey.generate_key("P-256", parameters={"kid": args.kid, "alg": "ES256", "use": "sig"}, private=True)
    elif args.alg == "EdDSA":
        key = OKPKey.generate_key("Ed25519", parameters={"kid": args.kid, "alg": "EdDSA", "use": "sig"}, private=True)
    else:
        print(json.dumps({"error": f"unsupported --alg {args.alg}"}))
        return 2
    with open(args.private_out, "w") as handle:
        json.dump(key.as_dict(private=True), handle)
    print(json.dumps({"jwks": {"keys": [key.as_dict(private=False)]}}))
    return 0


def load_key(path: str):
    with open(path) as handle:
        return import_key(json.load(handle))


def verify(token: str, issuer: str, resource: str) -> dict:
    client = pyjwt.PyJWKClient(issuer + "/jwks.json")
    signing_key = client.get_signing_key_from_jwt(token)
    header = pyjwt.get_unverified_header(token)
    if header.get("typ") != "at+jwt":
        raise ValueError(f"header typ is {header.get('typ')!r}, not 'at+jwt'")
    claims = pyjwt.decode(token, signing_key.key, algorithms=["ES256"], audience=resource, issuer=issuer,
                          options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]})
    return {"header": header, "claims": claims}


def finish(session_call, issuer: str, resource: str) -> int:
    out = {}
    try:
        token = session_call()
    except OAuthError as error:
        out["status"] = "refused"
        out["response"] = {"error": error.error, "error_description": error.description}
        print(json.dumps(out))
        return 1
    out["status"] = "issued"
    out["response"] = dict(token)
    try:
        out.update(verify(token["access_token"], issuer, resource))
    except Exception as error:  # noqa: BLE001 - reported, not raised
        out["status"] = "unverified"
        out["verify_error"] = f"{type(error).__name__}: {error}"
        print(json.dumps(out))
        return 1
    print(json.dumps(out))
    return 0


def itself(args) -> int:
    key = load_key(args.key)
    pem = key.as_pem(private=True).decode()
    alg = key.as_dict().get("alg", "ES256")
    # rfc7523bis: the audience is the authorization server's issuer identifier, not the endpoint URL.
    auth = PrivateKeyJWT(token_endpoint=args.issuer, headers={"kid": key.kid}, alg=alg)
    session = OAuth2Session(args.agent, pem, token_endpoint_auth_method=auth)
    return finish(lambda: session.fetch_token(args.issuer + "/token", grant_type="client_credentials", resource=args.resource),
                  args.issuer, args.resource)


def delegate(args) -> int:
    key = load_key(args.key)
    alg = key.as_dict().get("alg", "ES256")
    now = int(time.time())
    actor = rfc_jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"},
                           {"iss": args.agent, "sub": args.agent, "aud": args.issuer, "jti": secrets.token_urlsafe(16),
                            "iat": now, "exp": now + 60}, key, algorithms=[alg])
    session = OAuth2Session(args.client_id, args.client_secret, token_endpoint_auth_method="client_secret_basic")
    return finish(lambda: session.fetch_token(
        args.issuer + "/token", grant_type=TOKEN_EXCHANGE, subject_token=args.id_token,
        subject_token_type="urn:ietf:params:oauth:token-type:id_token",
        requested_token_type="urn:ietf:params:oauth:token-type:access_token",
        actor_token=actor, actor_token_type=JWT_TYPE, resource=args.resource), args.issuer, args.resource)


def main() -> int:
    parser = argparse.ArgumentParser()
    modes = parser.add_subparsers(dest="mode", required=True)
    k = modes.add_parser("keygen")
    k.add_argument("--alg", required=True)
    k.add_argument("--kid", required=True)
    k.add_argument("--private-out", required=True)
    for name in ("itself", "delegate"):
        m = modes.add_parser(name)
        m.add_argument("--issuer", required=True)
        m.add_argument("--agent", required=True)
        m.add_argument("--key", required=True)
        m.add_argument("--resource", required=True)
        if name == "delegate":
            m.add_argument("--client-id", required=True)
            m.add_argument("--client-secret", required=True)
            m.add_argument("--id-token", required=True)
    args = parser.parse_args()
    return {"keygen": keygen, "itself": itself, "delegate": delegate}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
