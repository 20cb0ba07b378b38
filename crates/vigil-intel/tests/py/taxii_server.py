"""The OASIS TAXII 2.1 reference server (medallion, PyPI) on 127.0.0.1, for tests/taxii.rs.

Usage: taxii_server.py DATA.json USER PASSWORD MAX_PAGE_SIZE

Binds a free port, replaces `{BASE}` in the data file with `http://127.0.0.1:PORT` (the
discovery resource lists absolute API root URLs), loads the result into medallion's memory
backend, prints `PORT` on the first line of stdout and serves until killed.
"""
import json
import sys
import tempfile

from werkzeug.serving import make_server

from medallion import application_instance, register_blueprints, set_config


def main():
    data_path, user, password, page_size = sys.argv[1:5]
    server = make_server("127.0.0.1", 0, application_instance, threaded=True)
    base = "http://127.0.0.1:{}".format(server.server_port)
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


if __name__ == "__main__":
    main()
