#!/usr/bin/env python3
"""The legacy monolith of seed 003's strangler example: a small HTTP/JSON
service (Python standard library only) that still owns every path the new
system has not taken over. Sluice stands in front of it (sluice.yaml):
routes it serves itself, and proxy routes that forward everything else here.

  GET  /users            the users signed up on the old system
  GET  /users/{id}       one of them (404 when unknown)
  GET  /orders           the orders
  GET  /orders/{id}      one order (404 when unknown)
  POST /orders           a new order: 201 with it and a Location
  anything else          404

Every answer carries X-Served-By: legacy, so a client can tell which side
answered. State is in memory.

  python3 examples/strangler/legacy.py [--port 8081]
"""
import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

USERS = {"1": {"id": "1", "name": "Grace", "email": "grace@example.com"},
         "2": {"id": "2", "name": "Linus", "email": "linus@example.com"}}
ORDERS = {"1001": {"id": "1001", "userId": "1", "items": ["keyboard"], "total": 49.9}}
LOCK = threading.Lock()


class Legacy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Legacy/1.0"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, doc, extra=()):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", "legacy")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def parts(self):
        return [p for p in urlsplit(self.path).path.split("/") if p]

    def do_GET(self):
        p = self.parts()
        table = {"users": USERS, "orders": ORDERS}.get(p[0]) if p else None
        with LOCK:
            if table is not None and len(p) == 1:
                return self.answer(200, {p[0]: list(table.values())})
            if table is not None and len(p) == 2 and p[1] in table:
                return self.answer(200, table[p[1]])
        self.answer(404, {"message": "legacy: nothing at %s" % urlsplit(self.path).path})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if self.parts() != ["orders"]:
            return self.answer(404, {"message": "legacy: nothing to post at %s" % urlsplit(self.path).path})
        try:
            order = json.loads(raw)
            if not isinstance(order, dict):
                raise ValueError
        except ValueError:
            return self.answer(400, {"message": "legacy: an order is a JSON object"})
        with LOCK:
            order["id"] = str(1001 + len(ORDERS))
            ORDERS[order["id"]] = order
        self.answer(201, order, [("Location", "/orders/" + order["id"])])


def main():
    ap = argparse.ArgumentParser(description="the legacy service of the strangler example")
    ap.add_argument("--port", type=int, default=8081)
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Legacy)
    srv.daemon_threads = True
    print("legacy listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
