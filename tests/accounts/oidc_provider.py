"""A real OpenID Connect provider for the tests, in its own process on a loopback port.

``oidc-provider-mock`` (Flask + Authlib: discovery, authorization page, token endpoint, JWKS,
userinfo, RS256 ID tokens) does the protocol. This launcher adds what SWITCH edu-ID does and
the mock does not, and the faults the bad-input tests need:

- PKCE is required (S256): an authorization request without ``code_challenge`` is refused and
  the token endpoint checks ``code_verifier`` against it, as edu-ID does;
- its pages lose their CDN stylesheet link (a browser test reaches loopback only);
- ``POST /_test/fault`` with ``{"id_token": "expired" | "bad_signature" | "wrong_issuer" | ""}``
  makes the next token responses carry an ID token that is expired, signed by a key that is
  not in the JWKS (same ``kid``), or issued by another issuer (re-signed with the right key).

Run: ``python -m tests.accounts.oidc_provider --port 9400``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain HTTP on loopback

import flask  # noqa: E402
import werkzeug.serving  # noqa: E402
from authlib import jose  # noqa: E402
from oidc_provider_mock import app as mock_app  # noqa: E402
from oidc_provider_mock._storage import storage  # noqa: E402

FAULTS = {"", "expired", "bad_signature", "wrong_issuer"}
state: dict[str, Any] = {"fault": "", "challenges": {}}
OTHER_KEY = jose.RSAKey.generate_key(is_private=True)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
    )


def _sign(header: dict[str, Any], claims: dict[str, Any], key: Any) -> str:
    jws = jose.JsonWebSignature()
    return jws.serialize_compact(  # type: ignore[no-any-return]
        {k: v for k, v in header.items() if k in ("alg", "kid", "typ")},
        json.dumps(claims).encode(),
        key,
    ).decode()


def build(token_max_age: int) -> flask.Flask:
    import datetime as dt

    app = mock_app(access_token_max_age=dt.timedelta(seconds=token_max_age))

    @app.post("/_test/fault")
    def set_fault() -> Any:
        fault = (flask.request.get_json(force=True) or {}).get("id_token", "")
        if fault not in FAULTS:
            return {"error": f"unknown fault {fault!r}"}, 400
        state["fault"] = fault
        return {"id_token": fault}

    @app.before_request
    def require_pkce() -> Any:
        request = flask.request
        challenge = request.args.get("code_challenge")
        method = request.args.get("code_challenge_method")
        if request.path == "/oauth2/authorize" and (method != "S256" or not challenge):
            return "PKCE (S256) is required", 400
        if request.path == "/oauth2/token" and request.form.get("grant_type") == (
            "authorization_code"
        ):
            expected = state["challenges"].get(request.form.get("code", ""))
            verifier = request.form.get("code_verifier", "")
            if expected is not None and _b64(hashlib.sha256(verifier.encode()).digest()) != (
                expected
            ):
                return {"error": "invalid_grant", "error_description": "PKCE mismatch"}, 400
        return None

    @app.after_request
    def remember_and_spoil(response: flask.Response) -> flask.Response:
        request = flask.request
        if response.mimetype == "text/html" and not response.direct_passthrough:
            # The mock's pages link a stylesheet on a CDN: nothing here leaves the machine.
            html = response.get_data(as_text=True)
            response.set_data(re.sub(r"<link[^>]*https://[^>]*>", "", html))
        if request.path == "/oauth2/authorize" and response.status_code in (302, 303):
            code = parse_qs(urlparse(response.headers.get("Location", "")).query).get("code")
            if code:
                state["challenges"][code[0]] = request.args["code_challenge"]
        if request.path == "/oauth2/token" and response.status_code == 200 and state["fault"]:
            body = response.get_json()
            header, claims = _claims(body["id_token"])
            key: Any = storage.jwk
            if state["fault"] == "expired":
                claims["iat"] = int(time.time()) - 7200
                claims["exp"] = int(time.time()) - 3600
            elif state["fault"] == "wrong_issuer":
                claims["iss"] = "http://issuer.invalid"
            elif state["fault"] == "bad_signature":
                key = OTHER_KEY
            body["id_token"] = _sign(header, claims, key)
            response.set_data(json.dumps(body))
        return response

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token-max-age", type=int, default=3600)
    args = parser.parse_args()
    server = werkzeug.serving.make_server(
        "127.0.0.1", args.port, build(args.token_max_age), threaded=True
    )
    print(f"listening on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
