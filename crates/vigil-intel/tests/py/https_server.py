"""HTTPS on 127.0.0.1 for tests/https.rs (and the vigil CLI's tests/intel_url.rs), with a
certificate the test made (rcgen) given as PEM files.

Usage: https_server.py CERT KEY static DIR
       https_server.py CERT KEY taxii DATA.json USER PASSWORD MAX_PAGE_SIZE

Binds a free port, prints `PORT` on the first line of stdout and serves until killed.
`static`: the files of DIR (404 for others); `/status/NNN` answers HTTP NNN with a short
text body; `/redirect?to=URL` answers 302 to URL. `taxii`: the OASIS reference TAXII 2.1 server medallion, as tests/py/taxii_server.py
starts it, but served over TLS by werkzeug itself (`ssl_context`), with `{BASE}` in the data
file replaced by `https://127.0.0.1:PORT`.
"""
import functools
import http.server
import json
import ssl
import sys
import tempfile
import urllib.parse


def tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


class StaticHandler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/redirect?"):
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            self.send_response(302)
            self.send_header("Location", query["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/status/"):
            code = int(self.path.rsplit("/", 1)[1])
            body = "status {} on purpose\n".format(code).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


def serve_static(ctx, directory):
    handler = functools.partial(StaticHandler, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # A client that refuses the certificate makes accept() fail; serve_forever goes on.
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def serve_taxii(ctx, data_path, user, password, page_size):
    from werkzeug.serving import make_server

    from medallion import application_instance, register_blueprints, set_config

    server = make_server("127.0.0.1", 0, application_instance, threaded=True, ssl_context=ctx)
    base = "https://127.0.0.1:{}".format(server.server_port)
    with open(data_path, encoding="utf-8") as f:
        text = f.read().replace("{BASE}", base)
    data = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8")
    data.write(text)
    data.close()
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": data.name,
        },
        "users": {user: password},
        "taxii": {"max_page_size": int(page_size)},
    }
    set_config(application_instance, "users", config)
    set_config(application_instance, "taxii", config)
    set_config(application_instance, "backend", config)
    register_blueprints(application_instance)
    print(server.server_port, flush=True)
    server.serve_forever()


def main():
    cert, key, mode = sys.argv[1:4]
    ctx = tls_context(cert, key)
    if mode == "static":
        serve_static(ctx, sys.argv[4])
    elif mode == "taxii":
        serve_taxii(ctx, *sys.argv[4:8])
    else:
        sys.exit("unknown mode {}".format(mode))


if __name__ == "__main__":
    main()
