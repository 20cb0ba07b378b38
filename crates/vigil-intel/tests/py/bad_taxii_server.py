"""A TAXII 2.1 server that misbehaves on purpose, for tests/taxii.rs: each collection of API
root /bad/ fails differently, some after a good first page.

Also a MISP feed under /misp/ (for tests/misp_feed.rs) whose manifest names two events: the
older is served, the newer answers HTTP 500.

Prints the port on the first line of stdout, then serves on 127.0.0.1 until killed.

Collections (GET /bad/collections/<id>/objects/):
  garbage    page 1 good (next=p2), page 2 is not JSON
  err500     page 1 good (next=p2), page 2 is HTTP 500 with a TAXII error body
  html       HTTP 200 with Content-Type text/html
  loop       page 1 good (next=A), then next=A always answers page 2 (next=A): a loop
  nobjects   an envelope saying more=true with no objects and no next
  bundle     a STIX bundle instead of an envelope (TAXII 2.0 style)
  big        a body of 2 MiB (the test sets a smaller response limit)
  slow       answers after 5 s (the test sets a 1 s timeout)
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

TAXII = "application/taxii+json;version=2.1"


def indicator(n, ip):
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--00000000-0000-4000-8000-%012d" % n,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "pattern": "[ipv4-addr:value = '%s']" % ip,
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
    }


MISP_OK = "5a1c0c5e-0000-4000-8000-0000000000d1"
MISP_FAIL = "5a1c0c5e-0000-4000-8000-0000000000d2"
PAGE1 = [indicator(1, "198.51.100.1"), indicator(2, "198.51.100.2")]
PAGE2 = [indicator(3, "198.51.100.3"), indicator(4, "198.51.100.4")]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body, ctype=TAXII, headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def page(self, objects, more, nxt, first, last):
        env = {"objects": objects, "more": more}
        if nxt:
            env["next"] = nxt
        self.send(200, env, headers=[("X-TAXII-Date-Added-First", first),
                                     ("X-TAXII-Date-Added-Last", last)])

    def misp(self, path):
        if path == "/misp/manifest.json":
            self.send(200, {MISP_OK: {"info": "served", "timestamp": 100},
                            MISP_FAIL: {"info": "fails", "timestamp": 200}}, ctype="application/json")
        elif path == "/misp/%s.json" % MISP_OK:
            event = {"Event": {"uuid": MISP_OK, "info": "served", "Attribute": [
                {"uuid": "5a1c0c5e-2222-4000-8000-000000000001", "type": "ip-dst",
                 "value": "198.51.100.77", "to_ids": True}]}}
            self.send(200, event, ctype="application/json")
        else:
            self.send(500, b"Internal Server Error", ctype="text/plain")

    def do_GET(self):
        url = urlparse(self.path)
        if url.path.startswith("/misp/"):
            self.misp(url.path)
            return
        query = parse_qs(url.query)
        nxt = query.get("next", [None])[0]
        parts = url.path.strip("/").split("/")
        if parts[:2] != ["bad", "collections"] or len(parts) != 4 or parts[3] != "objects":
            self.send(404, {"title": "Not Found", "description": url.path})
            return
        case = parts[2]
        first = "2026-01-01T00:00:01.000000Z"
        last1 = "2026-01-01T00:00:02.000000Z"
        last2 = "2026-01-01T00:00:04.000000Z"
        if case in ("garbage", "err500") and nxt is None:
            self.page(PAGE1, True, "p2", first, last1)
        elif case == "garbage":
            self.send(200, b"<html>oops{{{ not json", ctype=TAXII)
        elif case == "err500":
            self.send(500, {"title": "Backend exploded", "http_status": "500",
                            "description": "the database is on fire"})
        elif case == "html":
            self.send(200, b"<html><body>login here</body></html>", ctype="text/html")
        elif case == "loop" and nxt is None:
            self.page(PAGE1, True, "A", first, last1)
        elif case == "loop":
            self.page(PAGE2, True, "A", "2026-01-01T00:00:03.000000Z", last2)
        elif case == "nobjects":
            self.send(200, {"more": True})
        elif case == "bundle":
            self.send(200, {"type": "bundle", "id": "bundle--1", "objects": PAGE1})
        elif case == "big":
            self.send(200, b"{\"objects\": [" + b" " * (2 << 20) + b"]}")
        elif case == "slow":
            time.sleep(5)
            self.page(PAGE1, False, None, first, last1)
        else:
            self.send(404, {"title": "Unknown collection", "description": case})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
