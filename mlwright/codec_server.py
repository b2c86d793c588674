"""`mlwright codec-server`: Temporal's remote codec protocol, so the CLI and Web UI show decoded payloads.

POST /encode and /decode take and return ``{"payloads": [{"metadata": {k: b64}, "data": b64}]}``. Every
call needs the bearer token; the Web UI (which can send no header of its own without single sign-on)
is given an endpoint carrying the token in its path, ``/ui/<token>``. The access log names method,
path (token redacted), status and payload count, never payload contents.
"""

from __future__ import annotations

import logging
import secrets
import time

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from mlwright.codec import EncryptionCodec, PayloadDecryptionError, keyring
from mlwright.codec_token import TOKEN_FILE, codec_token, ui_endpoint
from mlwright.settings import Settings

__all__ = ["TOKEN_FILE", "codec_token", "create_app", "serve", "ui_endpoint"]
log = logging.getLogger("mlwright.codec_server")


def create_app(settings: Settings) -> FastAPI:
    token = codec_token(settings)
    # The server decodes whatever it is sent; plaintext passes through unchanged (the CLI shows it as is).
    codec = EncryptionCodec(keyring(settings), accept_plaintext=True)
    app = FastAPI(title="mlwright codec server", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        started = time.monotonic()
        path = request.url.path.replace(token, "<token>")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > settings.codec_max_body_bytes:
            response: Response = JSONResponse({"error": "request body too large"}, status_code=413)
        elif request.method == "POST" and not _authorised(request, token):
            response = JSONResponse({"error": "missing or invalid bearer token"}, status_code=401,
                                    headers={"WWW-Authenticate": "Bearer"})
        else:
            response = await call_next(request)
        log.info("%s %s %s %.1fms", request.method, path, response.status_code, (time.monotonic() - started) * 1e3)
        return response

    # Added last so it is outermost: preflights are answered before the token check (browsers send none).
    app.add_middleware(CORSMiddleware, allow_origins=[(settings.codec_allowed_origin or settings.ui_url).rstrip("/")],
                       allow_methods=["POST"], allow_headers=["content-type", "x-namespace", "authorization"],
                       allow_credentials=True)

    async def run(request: Request, op: str) -> Response:
        body = await request.body()
        if len(body) > settings.codec_max_body_bytes:  # a chunked body declares no length
            return JSONResponse({"error": "request body too large"}, status_code=413)
        try:
            payloads = json_format.Parse(body, Payloads()).payloads
        except json_format.ParseError:
            return JSONResponse({"error": 'expected {"payloads": [...]}'}, status_code=400)
        try:
            out = await (codec.encode(payloads) if op == "encode" else codec.decode(payloads))
        except PayloadDecryptionError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        log.info("%s %d payloads (namespace %s)", op, len(out), request.headers.get("x-namespace", "-"))
        return JSONResponse(json_format.MessageToDict(Payloads(payloads=out)))

    for prefix in ("", "/ui/{path_token}"):
        app.add_api_route(f"{prefix}/encode", _route(run, "encode"), methods=["POST"])
        app.add_api_route(f"{prefix}/decode", _route(run, "decode"), methods=["POST"])

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"ok": True}

    return app


def _route(run, op: str):
    async def handler(request: Request) -> Response:
        return await run(request, op)

    return handler


def _authorised(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    offered = header[7:] if header[:7].lower() == "bearer " else None
    parts = request.url.path.split("/")
    if offered is None and len(parts) > 2 and parts[1] == "ui":
        offered = parts[2]
    return offered is not None and secrets.compare_digest(offered.encode(), token.encode())


def serve(settings: Settings) -> None:
    import uvicorn

    from mlwright.logs import setup_logging

    setup_logging(settings)
    if not settings.payload_encryption:
        log.warning("MLWRIGHT_PAYLOAD_ENCRYPTION is off: payloads are stored in plaintext; nothing to decode")
    app = create_app(settings)
    log.info("codec server on %s (Web UI endpoint %s/ui/<token>)", settings.codec_url, settings.codec_url)
    # uvicorn's own access log is off: ours redacts the token from UI paths.
    uvicorn.run(app, host=settings.codec_host, port=settings.codec_port, access_log=False, log_level="warning")
