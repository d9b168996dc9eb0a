"""An independent Shared Signals receiver for Bridgekeeper's revocation feed (issue 7).

Usage: python3 feed_receiver.py --issuer URL --client-id ID --client-secret SECRET

Written from SSF 1.0, RFC 8936 and CAEP 1.0, with joserfc for the JOSE: it reads
ISSUER/.well-known/ssf-configuration (its issuer must be ISSUER), creates a poll stream with HTTP
Basic client credentials (RFC 6749 §2.3.1), polls it with returnImmediately, verifies every SET with
joserfc against ISSUER/jwks.json (header typ secevent+jwt, alg ES256 pinned, iss ISSUER, aud the
client id, iat and jti present, no exp, one CAEP session-revoked event), acknowledges them all,
polls again (which must return no SET: acknowledged SETs are not delivered again), and deletes the
stream.

Prints one JSON object: {"stream_id", "sets": [{"jti", "sub_id", "event_timestamp"}], "after_ack": N,
"deleted": true}. Exit 0 on success, 1 when a check fails (with "error"), 3 when joserfc is missing.
"""
import argparse
import base64
import json
import sys
import urllib.parse
import urllib.request

try:
    from joserfc import jwt as rfc_jwt
    from joserfc.jwk import KeySet
except ImportError as error:
    print(json.dumps({"error": f"cannot import joserfc: {error}"}))
    sys.exit(3)

SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
POLL = "urn:ietf:rfc:8936"


def call(method, url, authorization=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if authorization:
        request.add_header("Authorization", authorization)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return response.status, (json.loads(text) if text else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    args = parser.parse_args()
    quote = lambda value: urllib.parse.quote(value, safe="")
    basic = "Basic " + base64.b64encode(f"{quote(args.client_id)}:{quote(args.client_secret)}".encode()).decode()
    out = {}
    try:
        _, configuration = call("GET", args.issuer + "/.well-known/ssf-configuration")
        if configuration.get("issuer") != args.issuer:
            raise ValueError(f"configuration issuer {configuration.get('issuer')!r}")
        if POLL not in configuration.get("delivery_methods_supported", []):
            raise ValueError("no poll delivery")
        _, jwks = call("GET", configuration["jwks_uri"])
        keys = KeySet.import_key_set(jwks)
        status, stream = call("POST", configuration["configuration_endpoint"], basic,
                              {"delivery": {"method": POLL}, "events_requested": [SESSION_REVOKED], "description": "python receiver"})
        if status != 201:
            raise ValueError(f"stream creation answered {status}")
        out["stream_id"] = stream["stream_id"]
        endpoint = stream["delivery"]["endpoint_url"]
        _, answer = call("POST", endpoint, basic, {"returnImmediately": True, "maxEvents": 100})
        sets = []
        for jti, compact in answer["sets"].items():
            decoded = rfc_jwt.decode(compact, keys, algorithms=["ES256"])
            if decoded.header.get("typ") != "secevent+jwt":
                raise ValueError(f"typ {decoded.header.get('typ')!r}")
            registry = rfc_jwt.JWTClaimsRegistry(iss={"essential": True, "value": args.issuer},
                                                 aud={"essential": True, "value": args.client_id},
                                                 iat={"essential": True}, jti={"essential": True, "value": jti})
            registry.validate(decoded.claims)
            claims = decoded.claims
            if "exp" in claims or "sub" in claims:
                raise ValueError("a SET carries exp or sub")
            events = claims["events"]
            if list(events) != [SESSION_REVOKED]:
                raise ValueError(f"events {list(events)}")
            sets.append({"jti": jti, "sub_id": claims["sub_id"], "event_timestamp": events[SESSION_REVOKED]["event_timestamp"]})
        out["sets"] = sets
        _, after = call("POST", endpoint, basic, {"returnImmediately": True, "ack": [s["jti"] for s in sets]})
        out["after_ack"] = len(after["sets"])
        status, _ = call("DELETE", configuration["configuration_endpoint"] + "?stream_id=" + quote(stream["stream_id"]), basic)
        out["deleted"] = status == 204
    except Exception as error:  # every failure is reported, not raised
        out["error"] = f"{type(error).__name__}: {error}"
        print(json.dumps(out))
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
