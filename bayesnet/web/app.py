"""The ASGI application behind ``bayesnet serve``: the JSON API of :mod:`bayesnet.web.api` and the page.

Routes
------
``GET /``                    the page (``static/index.html``); the case is in the address's query string
``GET /static/...``          the page's script and style sheet, shipped in the package
``GET /api/nodes``           the vocabulary (as ``bayesnet nodes --json``) and the knowledge base's identity
``GET /api/provenance``      every number with its source and quote; ``?node=N&parent=P`` to narrow
``POST /api/posteriors``     ``{"evidence": {...}}`` -> the ranked differential and P(no modelled condition)
``POST /api/explain``        ``{"evidence": {...}, "condition": C}`` -> weights of evidence and the numbers behind them
``POST /api/next``           ``{"evidence": {...}, "top": 10}`` -> the next best findings
``POST /api/sensitivity``    ``{"evidence": {...}, "condition": C, "top": 12}`` -> the tornado's parameters
``POST /api/montecarlo``     ``{"evidence": {...}, "draws": 2000, "seed": 0}`` -> 90% intervals

Bad input gets status 400 and ``{"error": message}``, the message the command line prints; a body
over :data:`MAX_BODY` bytes gets 413; with ``allowed_hosts``, a request addressed to another host
gets 400. Posterior requests are answered on the event loop (about a millisecond each); the slower
analyses run one at a time in a worker thread, so the differential's requests are not queued behind them.
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bayesnet.errors import BayesnetError
from bayesnet.web import api

if TYPE_CHECKING:  # pragma: no cover
    from bayesnet.model import Model

__all__ = ["create_app", "warm_up", "warm_case", "loopback_hosts", "MAX_BODY", "STATIC"]

#: the largest request body accepted, in bytes (a case with every node observed is about 6 KB)
MAX_BODY = 64 * 1024

STATIC = Path(str(resources.files("bayesnet.web"))) / "static"

#: served with every response: the page loads nothing from anywhere but this server
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}

class BodyTooLarge(BayesnetError):
    """A request body over the size limit."""


def warm_case(model: Model) -> dict:
    """An example case from the model's own vocabulary for :func:`warm_up`: a presenting finding
    present, one finding present, one with soft evidence, an ordered finding's first state and a
    context node, so that every compiled path the page uses runs once."""
    specs = [model.node(name) for name in model.findings]
    binary = [s for s in specs if tuple(s.states) == ("absent", "present")]
    presenting = [s.name for s in binary if s.presenting][:1]
    others = [s.name for s in binary if not s.presenting]
    ordered = [s for s in specs if tuple(s.states) != ("absent", "present")][:1]
    case: dict = {name: "present" for name in presenting + others[:1]}
    case.update({name: [0.3, 0.9] for name in others[1:2]})
    case.update({s.name: s.states[0] for s in ordered})
    case.update({name: model.states(name)[-1] for name in model.context[:1]})
    return case


def warm_up(model: Model) -> None:
    """Answer one case through every analysis the page uses, so that numba compiles (or loads from its
    cache) every kernel before the first request rather than during it. A case the model finds
    impossible is answered with its items dropped one by one from the end."""
    case = warm_case(model)
    while True:
        try:
            api.posteriors(model, {"evidence": case})
            break
        except BayesnetError:
            if not case:
                raise
            case.popitem()
    request = {"evidence": case}
    api.explain(model, {**request, "condition": model.conditions[0]})
    api.next_findings(model, request)
    api.sensitivity(model, request)
    api.montecarlo(model, {**request, "draws": 10})


def _json(payload: Any, status: int = 200) -> Response:
    body = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status_code=status, media_type="application/json")


def _error(message: str, status: int) -> Response:
    return _json({"error": message}, status)


async def read_json(request: Request) -> Any:
    """The request body decoded as JSON (``None`` when empty), read at most :data:`MAX_BODY` bytes."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise BodyTooLarge(f"the request body must be at most {MAX_BODY} bytes, got {length} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge(f"the request body must be at most {MAX_BODY} bytes, got more")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        return None
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise api.RequestError("the request body must be JSON in UTF-8, got bytes that are not UTF-8") from None
    except RecursionError:
        raise api.RequestError("the request body is JSON nested too deeply") from None
    except ValueError as error:
        raise api.RequestError(f"the request body must be JSON, e.g. "
                               f'{{"evidence": {{"mineral_soft_tissue": "present"}}}}; it is not: {error}') from None


def loopback_hosts(port: int) -> list[str]:
    """The ``Host`` header values of a server on the loopback address (a page on another site that
    points its own name at 127.0.0.1 sends its name, and is refused)."""
    return ["127.0.0.1", "localhost", "[::1]"] + [f"{h}:{port}" for h in ("127.0.0.1", "localhost", "[::1]")]


def create_app(model: Model, allowed_hosts: list[str] | None = None) -> Starlette:
    """The web application serving ``model`` (load it, and call :func:`warm_up`, before serving).

    ``allowed_hosts``: the ``Host`` header values answered (default: any); others get 400.
    """
    nodes_body = _json(api.nodes(model)).body
    heavy = anyio.CapacityLimiter(1)

    def answer(function: Callable[[Model, Any], dict], threaded: bool) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                payload = await read_json(request)
                if threaded:
                    result = await anyio.to_thread.run_sync(function, model, payload, limiter=heavy)
                else:
                    result = function(model, payload)
            except BodyTooLarge as error:
                return _error(str(error), 413)
            except BayesnetError as error:
                return _error(str(error), 400)
            return _json(result)
        return endpoint

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    async def nodes(request: Request) -> Response:
        return Response(nodes_body, media_type="application/json")

    async def provenance(request: Request) -> Response:
        query = request.query_params
        unknown = sorted(set(query) - {"node", "parent"})
        try:
            if unknown:
                raise api.RequestError(f"unknown query parameter {unknown[0]!r}; valid: node, parent")
            return _json(api.provenance(model, query.get("node"), query.get("parent")))
        except BayesnetError as error:
            return _error(str(error), 400)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        if error.status_code == 405:
            allowed = {k.lower(): v for k, v in (error.headers or {}).items()}.get("allow")
            message = f"{request.method} is not allowed on {request.url.path}" + (f"; use {allowed}" if allowed else "")
        elif error.status_code == 404:
            message = f"no such page or endpoint: {request.url.path}"
        else:
            message = str(error.detail)
        return _error(message, error.status_code)

    async def internal_error(request: Request, error: Exception) -> Response:
        return _error(f"internal error ({type(error).__name__}); this is a bug in bayesnet, please report it", 500)

    routes = [
        Route("/", page),
        Route("/api/nodes", nodes),
        Route("/api/provenance", provenance),
        Route("/api/posteriors", answer(api.posteriors, threaded=False), methods=["POST"]),
        Route("/api/explain", answer(api.explain, threaded=True), methods=["POST"]),
        Route("/api/next", answer(api.next_findings, threaded=True), methods=["POST"]),
        Route("/api/sensitivity", answer(api.sensitivity, threaded=True), methods=["POST"]),
        Route("/api/montecarlo", answer(api.montecarlo, threaded=True), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: internal_error})
    app.state.model = model
    app.add_middleware(SecurityHeaders)
    if allowed_hosts is not None:
        app.add_middleware(KnownHosts, allowed_hosts=allowed_hosts)
    return app


class KnownHosts:
    """Pure ASGI middleware: a request whose ``Host`` header is not one of ``allowed_hosts`` gets 400."""

    def __init__(self, app, allowed_hosts: list[str]):
        self.app = app
        self.allowed = {h.lower() for h in allowed_hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = next((v.decode("latin-1").lower() for k, v in scope["headers"] if k == b"host"), "")
            if host not in self.allowed:
                response = _error(f"this server answers requests for {', '.join(sorted(self.allowed))} only, "
                                  f"got host {host!r}", 400)
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)


class SecurityHeaders:
    """Pure ASGI middleware: :data:`SECURITY_HEADERS` on every response that does not set them itself."""

    def __init__(self, app):
        self.app = app
        self.raw = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.raw if k not in present]
                if extra:
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
