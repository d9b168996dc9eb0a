"""A small IdP stand-in on loopback for BridgekeeperFetch's tests (standard library only).

Usage: python3 idp_server.py DIR   (DIR holds jwks-a.json and jwks-b.json)
Prints the port on the first line of stdout, then serves until its standard input closes (the test
process holds it, so the server never outlives the tests):
  /jwks          jwks-a.json, Cache-Control: max-age=600
  /jwks-nocache  jwks-a.json, Cache-Control: no-cache
  /redirect      302 to /jwks
  /big           2 MiB of JSON-ish bytes
  /slow          jwks-a.json after 3 s
  /error         500
  /not-jwks      200 with a JSON body that is not a JWK Set
  /counted       jwks-a.json and counts the request; /count answers the number
  /rotating      jwks-a.json until /rotate is requested, then jwks-b.json
  /flaky         jwks-a.json until /break is requested, then 503
"""
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

root = sys.argv[1]
state = {"count": 0, "rotated": False, "broken": False}
lock = threading.Lock()


def read(name):
    with open(os.path.join(root, name), "rb") as f:
        return f.read()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path
        json = {"Content-Type": "application/json"}
        if path == "/jwks":
            self.send(200, read("jwks-a.json"), {**json, "Cache-Control": "public, max-age=600"})
        elif path == "/jwks-nocache":
            self.send(200, read("jwks-a.json"), {**json, "Cache-Control": "no-cache"})
        elif path == "/redirect":
            self.send(302, b"", {"Location": "/jwks"})
        elif path == "/big":
            self.send(200, b"[" + b"0," * (1 << 20) + b"0]", json)
        elif path == "/slow":
            time.sleep(3)
            self.send(200, read("jwks-a.json"), json)
        elif path == "/error":
            self.send(500, b"oops")
        elif path == "/not-jwks":
            self.send(200, b'{"issuer":"https://idp.example.com"}', json)
        elif path == "/counted":
            with lock:
                state["count"] += 1
            self.send(200, read("jwks-a.json"), {**json, "Cache-Control": "max-age=600"})
        elif path == "/count":
            with lock:
                self.send(200, str(state["count"]).encode())
        elif path == "/rotating":
            self.send(200, read("jwks-b.json" if state["rotated"] else "jwks-a.json"), {**json, "Cache-Control": "max-age=600"})
        elif path == "/rotate":
            state["rotated"] = True
            self.send(204)
        elif path == "/flaky":
            if state["broken"]:
                self.send(503, b"down")
            else:
                self.send(200, read("jwks-a.json"), {**json, "Cache-Control": "max-age=60"})
        elif path == "/break":
            state["broken"] = True
            self.send(204)
        else:
            self.send(404)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients abort /big and /slow on purpose


def exit_with_parent():
    sys.stdin.read()  # returns when the test process (which holds our stdin) goes away
    os._exit(0)


threading.Thread(target=exit_with_parent, daemon=True).start()
server = QuietServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
