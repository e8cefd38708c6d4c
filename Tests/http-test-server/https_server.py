#!/usr/bin/env python3
"""A small HTTPS (or HTTP) server for HTTPTransportTests: real TLS (Python's ssl over OpenSSL), real sockets.

Usage: https_server.py DIR [--plain] [--require-client-cert] [--dns-name-only]
Makes a CA, a server certificate for 127.0.0.1/localhost (only localhost with --dns-name-only), a client certificate and a second, untrusted CA in DIR
(openssl CLI), listens on 127.0.0.1 on a free port, and prints one JSON line: {"port", "ca", "caOther", "clientCert",
"clientKey"}. Paths:
  /echo        200; body = request body; headers X-Method, X-Path, X-Authorization, X-Client-CN, X-Header-<name>
  /status/N    status N, body "status N"
  /bytes/N     200 with N bytes of 'x'
  /sleep/MS    waits MS milliseconds, then 200 "slept"
  /hang        never answers (the connection stays open until the client gives up)
"""
import json, os, ssl, subprocess, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_ca(d, name):
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt, "-days", "2",
            "-subj", "/CN=" + name)
    return key, crt


def make_leaf(d, name, ca_key, ca_crt, ext):
    key, csr, crt = (os.path.join(d, name + s) for s in (".key", ".csr", ".crt"))
    extfile = os.path.join(d, name + ".ext")
    with open(extfile, "w") as f:
        f.write(ext)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-out", crt,
            "-days", "2", "-extfile", extfile)
    return key, crt


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, extra=()):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path
        if path.startswith("/hang"):
            time.sleep(3600)
            return
        if path.startswith("/sleep/"):
            time.sleep(int(path.split("/")[2]) / 1000)
            return self.reply(200, b"slept")
        if path.startswith("/status/"):
            n = int(path.split("/")[2])
            return self.reply(n, b"status %d" % n)
        if path.startswith("/bytes/"):
            return self.reply(200, b"x" * int(path.split("/")[2]))
        cn = ""
        cert = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
        if cert:
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        cn = v
        extra = [("X-Method", self.command), ("X-Path", path),
                 ("X-Authorization", self.headers.get("Authorization", "")), ("X-Client-CN", cn)]
        for k, v in self.headers.items():
            extra.append(("X-Header-" + k, v))
        self.reply(200, body, extra)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


def main():
    d = sys.argv[1]
    plain = "--plain" in sys.argv
    require_client = "--require-client-cert" in sys.argv
    san = "DNS:localhost" if "--dns-name-only" in sys.argv else "IP:127.0.0.1,DNS:localhost"
    os.makedirs(d, exist_ok=True)
    ca_key, ca_crt = make_ca(d, "ca")
    _, other_crt = make_ca(d, "other-ca")
    server_key, server_crt = make_leaf(d, "server", ca_key, ca_crt,
                                       f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n")
    client_key, client_crt = make_leaf(d, "client", ca_key, ca_crt, "extendedKeyUsage=clientAuth\n")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if not plain:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(server_crt, server_key)
        context.load_verify_locations(ca_crt)
        context.verify_mode = ssl.CERT_REQUIRED if require_client else ssl.CERT_OPTIONAL
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(json.dumps({"port": server.server_address[1], "ca": ca_crt, "caOther": other_crt,
                      "clientCert": client_crt, "clientKey": client_key}), flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()  # dies with the test
    server.serve_forever()


if __name__ == "__main__":
    main()
