"""A client for the fake kube-apiserver's JSON line (`url`, `ca`, `clientCert`, `clientKey`): one request, its JSON
answer. For the Python tests that set up or read the fake's objects (Tests/conformance, Tests/image)."""
import json
import ssl
import urllib.request


def call(info, method, path, body=None, content_type="application/json"):
    context = ssl.create_default_context(cafile=info["ca"])
    context.load_cert_chain(info["clientCert"], info["clientKey"])
    request = urllib.request.Request(info["url"] + path, method=method, headers={"Content-Type": content_type},
                                     data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        return json.loads(response.read() or b"null")
