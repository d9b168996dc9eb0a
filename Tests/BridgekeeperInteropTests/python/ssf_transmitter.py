"""A Shared Signals transmitter for the interop tests, written from SSF 1.0, RFC 8935 and RFC 8936:
its own HTTP server (the standard library's), its own SETs signed by joserfc (RS256, 2048-bit).

It serves what a receiver uses:
  GET  /.well-known/ssf-configuration   the transmitter configuration (SSF 1.0 §7.1)
  GET  /jwks.json                       its public key
  POST /streams                         create a stream (SSF 1.0 §8.1.1.1; bearer token required)
  GET  /streams?stream_id=ID            read it;  DELETE the same deletes it (204)
  GET  /status?stream_id=ID             its status
  POST /verify                          {stream_id, state}: queue/push a verification SET (204)
  POST /poll/ID                         RFC 8936 poll delivery (bearer token required): ack, setErrs,
                                        maxEvents, returnImmediately (a long poll is held up to 10 s)
For push streams each SET is POSTed at once to the stream's endpoint_url with its authorization_header.

And, for the test only (no authentication, loopback):
  POST /control/emit                    {stream_id, event, payload?, sub_id, aud?, iss?}: make and
                                        deliver one SET; answers {jti, push_status?, push_body?}
  GET  /control/streams/ID              {acked, errs, pending, pushes}

Prints {"port": N} on the first line of stdout once it listens on 127.0.0.1:N; serves until killed.

Usage: ssf_transmitter.py --token TOKEN --audience AUD
"""
import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

try:
    from joserfc import jws
    from joserfc.jwk import RSAKey
except ImportError as error:  # pragma: no cover
    print(json.dumps({"error": f"cannot import joserfc: {error} (run scripts/install-deps)"}))
    sys.exit(2)

PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"
SUPPORTED = [
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
    "https://schemas.openid.net/secevent/caep/event-type/credential-change",
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
    "https://schemas.openid.net/secevent/risc/event-type/account-enabled",
    "https://schemas.openid.net/secevent/risc/event-type/account-purged",
]
VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification"


class Transmitter:
    def __init__(self, token, audience):
        self.token = token
        self.audience = audience
        self.key = RSAKey.generate_key(2048, parameters={"kid": "interop-transmitter-1", "alg": "RS256", "use": "sig"}, private=True)
        self.lock = threading.Condition()
        self.streams = {}
        self.issuer = None  # set once the port is known

    def sign(self, claims):
        header = {"alg": "RS256", "typ": "secevent+jwt", "kid": "interop-transmitter-1"}
        return jws.serialize_compact(header, json.dumps(claims).encode(), self.key)

    def make_set(self, stream, event, payload, sub_id, aud=None, iss=None):
        jti = uuid.uuid4().hex
        claims = {
            "iss": iss or self.issuer,
            "aud": aud or stream["config"]["aud"],
            "jti": jti,
            "iat": int(time.time()),
            "txn": uuid.uuid4().hex,
            "sub_id": sub_id,
            "events": {event: payload or {}},
        }
        return jti, self.sign(claims)

    def deliver(self, stream, jti, token):
        """Push at once (answering the receiver's status and body), or queue for polling."""
        delivery = stream["config"]["delivery"]
        if delivery["method"] == PUSH:
            request = urllib.request.Request(delivery["endpoint_url"], data=token.encode(), method="POST", headers={
                "Content-Type": "application/secevent+jwt", "Accept": "application/json",
                "Authorization": delivery["authorization_header"]})
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    result = {"push_status": answer.status, "push_body": answer.read().decode()}
            except urllib.error.HTTPError as error:
                result = {"push_status": error.code, "push_body": error.read().decode()}
            except OSError as error:
                result = {"push_status": 0, "push_body": str(error)}
            with self.lock:
                stream["pushes"].append(dict(result, jti=jti))
            return result
        with self.lock:
            stream["queue"].append((jti, token))
            self.lock.notify_all()
        return {}


class Handler(BaseHTTPRequestHandler):
    server_version = "interop-ssf-transmitter"

    def log_message(self, *args):  # quiet
        pass

    @property
    def t(self):
        return self.server.transmitter

    def reply(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def authorized(self):
        if self.headers.get("Authorization") != f"Bearer {self.t.token}":
            self.reply(401, {"err": "authentication_failed", "description": "bad bearer token"})
            return False
        return True

    def stream(self, query):
        stream_id = (query.get("stream_id") or [""])[0]
        stream = self.t.streams.get(stream_id)
        if stream is None:
            self.reply(404, {"error": "not_found"})
        return stream

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        base = self.t.issuer
        if url.path == "/.well-known/ssf-configuration":
            return self.reply(200, {
                "spec_version": "1_0", "issuer": base, "jwks_uri": base + "/jwks.json",
                "delivery_methods_supported": [PUSH, POLL], "configuration_endpoint": base + "/streams",
                "status_endpoint": base + "/status", "verification_endpoint": base + "/verify",
                "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}], "default_subjects": "ALL"})
        if url.path == "/jwks.json":
            return self.reply(200, {"keys": [self.t.key.as_dict(private=False)]})
        if url.path.startswith("/control/streams/"):
            stream = self.t.streams.get(url.path.rsplit("/", 1)[1])
            if stream is None:
                return self.reply(404, {"error": "not_found"})
            with self.t.lock:
                return self.reply(200, {"acked": stream["acked"], "errs": stream["errs"], "pending": len(stream["queue"]),
                                        "pushes": stream["pushes"], "polls": stream["polls"]})
        if not self.authorized():
            return
        if url.path == "/streams":
            stream = self.stream(query)
            return stream and self.reply(200, stream["config"])
        if url.path == "/status":
            stream = self.stream(query)
            return stream and self.reply(200, {"stream_id": stream["config"]["stream_id"], "status": stream["status"]})
        self.reply(404, {"error": "not_found"})

    def do_DELETE(self):
        url = urlparse(self.path)
        if not self.authorized():
            return
        if url.path == "/streams":
            stream = self.stream(parse_qs(url.query))
            if stream:
                del self.t.streams[stream["config"]["stream_id"]]
                self.reply(204)
            return
        self.reply(404, {"error": "not_found"})

    def do_POST(self):
        url = urlparse(self.path)
        if url.path == "/control/emit":
            request = self.body()
            stream = self.t.streams[request["stream_id"]]
            jti, token = self.t.make_set(stream, request["event"], request.get("payload"), request["sub_id"],
                                         aud=request.get("aud"), iss=request.get("iss"))
            return self.reply(200, dict(self.t.deliver(stream, jti, token), jti=jti))
        if not self.authorized():
            return
        if url.path == "/streams":
            request = self.body()
            delivery = dict(request.get("delivery") or {})
            if delivery.get("method") == PUSH:
                if not delivery.get("endpoint_url") or not delivery.get("authorization_header"):
                    return self.reply(400, {"error": "push needs endpoint_url and authorization_header"})
            elif delivery.get("method") == POLL:
                pass
            else:
                return self.reply(400, {"error": "unsupported delivery method"})
            stream_id = uuid.uuid4().hex[:12]
            if delivery["method"] == POLL:
                delivery["endpoint_url"] = f"{self.t.issuer}/poll/{stream_id}"
            requested = request.get("events_requested") or []
            config = {"stream_id": stream_id, "iss": self.t.issuer, "aud": self.t.audience, "delivery": delivery,
                      "events_supported": SUPPORTED, "events_requested": requested,
                      "events_delivered": [e for e in requested if e in SUPPORTED],
                      "description": request.get("description", ""), "min_verification_interval": 0}
            self.t.streams[stream_id] = {"config": config, "status": "enabled", "queue": [], "acked": [], "errs": {},
                                         "pushes": [], "polls": 0}
            return self.reply(201, config)
        if url.path == "/verify":
            request = self.body()
            stream = self.t.streams.get(request.get("stream_id"))
            if stream is None:
                return self.reply(404, {"error": "not_found"})
            jti, token = self.t.make_set(stream, VERIFICATION, {"state": request.get("state")},
                                         {"format": "opaque", "id": stream["config"]["stream_id"]})
            threading.Thread(target=self.t.deliver, args=(stream, jti, token), daemon=True).start()
            return self.reply(204)
        if url.path.startswith("/poll/"):
            stream = self.t.streams.get(url.path.rsplit("/", 1)[1])
            if stream is None:
                return self.reply(404, {"err": "invalid_request", "description": "no such stream"})
            request = self.body()
            max_events = int(request.get("maxEvents", 10))
            immediately = bool(request.get("returnImmediately", False))
            deadline = time.time() + 10
            with self.t.lock:
                stream["polls"] += 1
                acked = set(request.get("ack") or [])
                errs = request.get("setErrs") or {}
                stream["acked"].extend(sorted(acked))
                stream["errs"].update(errs)
                stream["queue"] = [(j, s) for (j, s) in stream["queue"] if j not in acked and j not in errs]
                while not stream["queue"] and not immediately and max_events > 0 and time.time() < deadline:
                    self.t.lock.wait(timeout=max(0.0, deadline - time.time()))
                batch = stream["queue"][:max_events]
                more = len(stream["queue"]) > len(batch)
            return self.reply(200, {"sets": {j: s for (j, s) in batch}, "moreAvailable": more})
        self.reply(404, {"error": "not_found"})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", required=True)
    parser.add_argument("--audience", required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.transmitter = Transmitter(args.token, args.audience)
    port = server.server_address[1]
    server.transmitter.issuer = f"http://127.0.0.1:{port}"
    print(json.dumps({"port": port}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
