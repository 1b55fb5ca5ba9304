"""The codec server (#17.4): Temporal's remote-codec protocol, so the Web UI and ``temporal`` CLI
show decrypted payloads to a Rollcall key holder and ciphertext to everyone else.

``POST /codec/decode`` (viewer) and ``POST /codec/encode`` (operator: encoding crafts inputs) take
and answer ``{"payloads": [...]}`` in the protobuf JSON form, with the namespace in
``X-Namespace``. A browser reaches them from the UI's origin (CORS, ``ROLLCALL_CODEC_CORS_ORIGINS``)
with the key as bearer token, or with the session cookie ``GET``/``POST /codec/login`` sets after
checking a key (HttpOnly, SameSite=Strict, path ``/codec``): in the Web UI's codec settings, turn
on "Include cross-origin credentials".
"""

from __future__ import annotations

import html
from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from temporalio.api.common.v1 import Payloads

from engine.api.auth import Keyring, Role
from engine.api.errors import error_response
from engine.codec import EncryptionCodec, PayloadKeyError

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/codec", tags=["codec"])

#: The cookie ``/codec/login`` sets: the key itself, sent back only to ``/codec/…`` of this host.
SESSION_COOKIE = "rollcall_codec"
SESSION_SECONDS = 8 * 3600
#: Payloads per request: the UI sends one event's payloads at a time.
MAX_PAYLOADS = 1_000


def _codec(request: Request) -> EncryptionCodec | None:
    """The API's codec (``create_app``), None when no payload key is configured."""
    codec: EncryptionCodec | None = request.app.state.codec
    return codec


async def _payloads(request: Request) -> Payloads | JSONResponse:
    try:
        document = await request.json()
        if not isinstance(document, dict):
            raise ParseError("not a JSON object")
        payloads = ParseDict(document, Payloads(), ignore_unknown_fields=True)
    except (ValueError, ParseError, RecursionError) as exc:
        # RecursionError: JSON nested deeper than the parser goes (an attacker's body, not Temporal's).
        first_line = (str(exc).splitlines() or ["not JSON"])[0][:200]
        reason = "nested too deeply" if isinstance(exc, RecursionError) else first_line
        return error_response(422, "INVALID_PAYLOADS", f'expected {{"payloads": [...]}} in protobuf JSON: {reason}')
    if len(payloads.payloads) > MAX_PAYLOADS:
        return error_response(422, "INVALID_PAYLOADS", f"at most {MAX_PAYLOADS} payloads per request")
    return payloads


def _answer(payloads: Payloads) -> JSONResponse:
    return JSONResponse(MessageToDict(payloads))


async def _work(request: Request) -> tuple[Payloads, EncryptionCodec] | JSONResponse:
    """The request's payloads and the codec to apply; or the answer already: an error for a body
    that is not payloads, the payloads unchanged when no key is configured."""
    parsed = await _payloads(request)
    if isinstance(parsed, JSONResponse):
        return parsed
    codec = _codec(request)
    if codec is None:
        return _answer(parsed)
    return parsed, codec


@router.post(
    "/decode",
    summary="Decrypt payloads (Temporal remote-codec protocol)",
    responses={422: {"description": "the body is not a Payloads JSON document"}},
)
async def decode(request: Request) -> JSONResponse:
    """Payloads encrypted with a configured key come back decrypted; others (and any whose key is not
    configured, or that does not authenticate) come back as they were."""
    work = await _work(request)
    if isinstance(work, JSONResponse):
        return work
    parsed, codec = work
    answer = Payloads()
    undecodable = 0
    for payload in parsed.payloads:
        try:
            answer.payloads.append(codec.decrypt(payload))
        except PayloadKeyError:
            undecodable += 1
            answer.payloads.append(payload)
    if undecodable:
        log.warning("codec: payloads left encrypted", count=undecodable, reason="key not configured or tampered")
    return _answer(answer)


@router.post(
    "/encode",
    summary="Encrypt payloads (Temporal remote-codec protocol)",
    responses={422: {"description": "the body is not a Payloads JSON document"}},
)
async def encode(request: Request) -> JSONResponse:
    """Payloads come back encrypted with the first configured key (unchanged when there is none)."""
    work = await _work(request)
    if isinstance(work, JSONResponse):
        return work
    parsed, codec = work
    answer = Payloads()
    answer.payloads.extend(codec.encrypt(payload) for payload in parsed.payloads)
    return _answer(answer)


_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rollcall codec login</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Decode payloads in the Temporal Web UI</h1>
<p>{message}</p>
<form method="post" action="login">
<label>Rollcall API key (viewer or above) <input type="password" name="key" autocomplete="off" required></label>
<button type="submit">Log in</button>
</form>
<p>Then, in the Temporal Web UI, click <em>Codec Server</em>, choose <em>Use my browser setting</em>,
enter this server's <code>/codec</code> address, tick <em>Include cross-origin credentials</em> and apply.</p>
</body></html>
"""


@router.get("/login", response_class=HTMLResponse, summary="The codec login page")
async def login_page() -> HTMLResponse:
    """A form to send an API key to ``POST /codec/login``."""
    return HTMLResponse(_LOGIN_PAGE.format(message="Payloads in Temporal are encrypted."))


@router.post(
    "/login",
    response_class=HTMLResponse,
    summary="Log in to the codec with an API key",
    responses={401: {"description": "not a valid key (JSON error, or the page again for a browser)"}},
)
async def login(request: Request, key: Annotated[str, Form(max_length=512)]) -> Response:
    """Checks the key and sets the codec session cookie (the key, HttpOnly, SameSite=Strict, path
    ``/codec``, 8 hours). A wrong key: 401, the page again for a browser, else JSON ``UNAUTHORIZED``."""
    keyring: Keyring = request.app.state.keyring
    found = keyring.identify(key.strip().encode())
    if found is None or not found.role.includes(Role.VIEWER):
        log.info("codec login refused")
        if "text/html" in request.headers.get("accept", ""):
            page = _LOGIN_PAGE.format(message="That is not a valid Rollcall API key.")
            return HTMLResponse(page, status_code=401)
        return error_response(401, "UNAUTHORIZED", "invalid API key")
    log.info("codec login", key_name=found.name)
    name = html.escape(found.name)
    response = HTMLResponse(_LOGIN_PAGE.format(message=f"Logged in as <b>{name}</b> ({found.role.value})."))
    response.set_cookie(
        SESSION_COOKIE,
        key.strip(),
        max_age=SESSION_SECONDS,
        path="/codec",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response
