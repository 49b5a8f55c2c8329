"""The dashboard's web application (Starlette): static pages plus a JSON API under ``/api/``.

Every API route resolves the caller's role from the ``Authorization: Bearer <token>`` header
(401 without a valid token), picks the run (``?run=<name>`` for a sweep or a folder of runs),
maps the role to its base directory (the run directory for the researcher, ``views/<role>/``
for the others; 403 when the run has no view for the role, or the route is the researcher's
only) and reads through :class:`~cosim.results.rundir.RunDir` only. Responses are cached per role,
route and query, so revisiting a page of a year-long run is instant.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from cosim.dashboard import data
from cosim.dashboard.access import RESEARCHER, Access, Role
from cosim.errors import InputError
from cosim.results.rundir import RunDir

__all__ = ["Dashboard", "bind", "create_app", "plotly_js"]

_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
}
_CACHE_ENTRIES = 512


def plotly_js() -> Path:
    """Path of ``plotly.min.js`` shipped inside the installed ``plotly`` package (no CDN).

    Raises
    ------
    InputError
        If the ``plotly`` package is not installed (``pip install 'cosim[dashboard]'``).
    """
    try:
        import plotly
    except ImportError:
        raise InputError(
            None, "plotly", "the dashboard needs its extra: pip install 'cosim[dashboard]'"
        ) from None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise InputError(path, "plotly", "plotly.min.js not found in the plotly package")
    return path


class Dashboard:
    """The served results: a run, a sweep or a folder of runs, and who may read what.

    Parameters
    ----------
    root : str or Path
        Run directory, sweep directory (``sweep.csv``) or a folder of run directories.
    access : Access
        Token issuer and checker.
    currency : str
        Label of money amounts.
    """

    def __init__(self, root: str | Path, access: Access, currency: str = "currency") -> None:
        self.root = RunDir(root)
        if self.root.kind == "empty":
            raise InputError(
                root,
                "(directory)",
                "expected a run directory, a sweep directory or a folder of runs",
            )
        self.access = access
        self.currency = currency
        self.runs = self.root.runs()
        if not self.runs:
            raise InputError(root, "(directory)", "no completed run in this directory")
        self.default_run = next(iter(self.runs))
        #: run name -> roles with a view in it (read once: views are written with the run)
        self.views = {name: frozenset(run.views()) for name, run in self.runs.items()}
        self.tables = data.TableCache()
        self._cache: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
        self._pending: dict[tuple[str, ...], threading.Lock] = {}
        self._lock = threading.Lock()

    def roles(self) -> list[str]:
        """The researcher plus every role with a view in any run."""
        views = frozenset().union(*self.views.values())
        return [RESEARCHER, *sorted(views, key=_role_key)]

    def source(self, role: Role, run_name: str | None) -> data.Source:
        """The role's view of one run; :class:`PermissionError` if the run has none."""
        name = run_name or self.default_run
        run = self.runs.get(name)
        if run is None:
            raise LookupError(f"no run named {name!r}")
        if role.kind == RESEARCHER:
            return data.Source(run, role, self.currency, self.tables)
        if role.name not in self.views[name]:
            raise PermissionError(f"run {name!r} has no view for role {role.name}")
        return data.Source(run.view(role.name), role, self.currency, self.tables)

    def cached(self, key: tuple[str, ...], compute: Callable[[], Any]) -> bytes:
        """JSON bytes of ``compute()``, cached by ``key`` (computed once even if asked twice
        at the same time)."""
        with self._lock:
            pending = self._pending.setdefault(key, threading.Lock())
        with pending:
            with self._lock:
                if key in self._cache:
                    self._cache.move_to_end(key)
                    return self._cache[key]
            body = data.dumps(compute())
            with self._lock:
                self._cache[key] = body
                self._pending.pop(key, None)
                while len(self._cache) > _CACHE_ENTRIES:
                    self._cache.popitem(last=False)
        return body

    def warm(self) -> None:
        """Compute the researcher's heavy pages of the first run ahead of the first visit.

        Reading a year of bus and line results takes seconds, and so does the network's first
        build (importing pandapower). ``cosim serve`` calls this before printing the URL.
        Errors are left for the page's own request, which reports them.
        """
        role = Role(RESEARCHER, RESEARCHER)
        for route in (
            "grid/heatmap",
            "grid/band",
            "grid/duration",
            "grid/map",
            "market",
            "participants",
        ):
            handler = _HANDLERS[route]
            try:
                src = self.source(role, None)
                self.cached(
                    request_key(role, route, {"run": self.default_run}),
                    functools.partial(handler, src, {}),
                )
            except Exception:  # the page's own request reports it
                continue


def request_key(role: Role, route: str, params: dict[str, str]) -> tuple[str, ...]:
    """Cache key of an API answer: role, route and the query (sorted)."""
    return (role.name, route, *sorted(f"{k}={v}" for k, v in params.items()))


def _role_key(role: str) -> tuple[str, int]:
    head, _, tail = role.rpartition("_")
    return (head, int(tail)) if tail.isdigit() else (role, -1)


def _json(body: bytes, status: int = 200) -> Response:
    return Response(
        body,
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **_HEADERS},
    )


def _error(status: int, message: str) -> Response:
    return JSONResponse(
        {"error": message}, status_code=status, headers={"Cache-Control": "no-store", **_HEADERS}
    )


Params = dict[str, str]
Handler = Callable[[data.Source, Params], Any]


def _freq(params: Params) -> str:
    value = params.get("freq", "auto")
    if value not in ("auto", "slot", "day", "week"):
        raise ValueError("freq: expected auto, slot, day or week")
    return value


def _participant(src: data.Source, params: Params) -> Any:
    allowed = data.participants_list(src)
    if allowed is None:
        return None
    raw = params.get("participant")
    if raw is None:
        return {"participants": allowed, "series": None}
    try:
        p = int(raw)
    except ValueError:
        raise ValueError("participant: expected an integer") from None
    if p not in allowed:
        return {"participants": allowed, "series": None}
    return {"participants": allowed, "series": data.participant_series(src, p, _freq(params))}


#: Per-run routes: name -> handler(source, query parameters).
_HANDLERS: dict[str, Handler] = {
    "summary": lambda s, p: data.overview(s),
    "grid/band": lambda s, p: data.grid_band(s, _freq(p)),
    "grid/heatmap": lambda s, p: data.heatmap(s, _freq(p)),
    "grid/duration": lambda s, p: data.duration(s),
    "grid/map": lambda s, p: data.grid_map(s),
    "market": lambda s, p: data.market(s, _freq(p)),
    "settlement": lambda s, p: data.settlement(s),
    "participants": _participant,
    "aggregates": lambda s, p: data.aggregates(s, _freq(p)),
}


def create_app(dash: Dashboard) -> Starlette:
    """The Starlette application serving ``dash``."""
    static = resources.files("cosim.dashboard") / "static"

    def role_of(request: Request) -> Role | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        return dash.access.role_of(token.strip()) if scheme.lower() == "bearer" else None

    def admit(request: Request, researcher_only: bool = False) -> Role | Response:
        """The caller's role, or the 401/403 answer: every API route starts here."""
        role = role_of(request)
        if role is None:
            return _error(401, "missing or invalid access token")
        if researcher_only and role.kind != RESEARCHER:
            return _error(403, f"not available to role {role.name}")
        if role.name not in dash.roles():
            return _error(403, f"no run here has a view for role {role.name}")
        return role

    def run_route(route: str) -> Callable[[Request], Any]:
        handler = _HANDLERS[route]

        def endpoint(request: Request) -> Response:
            role = admit(request)
            if isinstance(role, Response):
                return role
            params = dict(request.query_params)
            params.setdefault("run", dash.default_run)
            try:
                src = dash.source(role, params["run"])
            except LookupError as exc:
                return _error(404, str(exc))
            except PermissionError as exc:
                return _error(403, str(exc))
            try:
                body = dash.cached(request_key(role, route, params), lambda: handler(src, params))
            except InputError as exc:
                return _error(422, exc.one_line())
            except ValueError as exc:
                return _error(400, str(exc))
            return _json(body)

        return endpoint

    def whoami(request: Request) -> Response:
        role = admit(request)
        if isinstance(role, Response):
            return role
        runs = [
            name
            for name, run in dash.runs.items()
            if role.kind == RESEARCHER or role.name in dash.views[name]
        ]
        return _json(
            data.dumps(
                {
                    "role": role.name,
                    "kind": dash.root.kind,
                    "root": dash.root.name,
                    "runs": runs,
                    "sweep": dash.root.kind == "sweep" and role.kind == RESEARCHER,
                    "currency": dash.currency,
                }
            )
        )

    def sweep(request: Request) -> Response:
        role = admit(request, researcher_only=True)
        if isinstance(role, Response):
            return role
        if dash.root.kind != "sweep":
            return _error(404, "not a sweep directory")
        x = request.query_params.get("x")
        try:
            body = dash.cached(
                ("sweep", x or ""), functools.partial(data.sweep, dash.root, x, dash.currency)
            )
        except ValueError as exc:
            return _error(400, str(exc))
        return _json(body)

    def compare(request: Request) -> Response:
        role = admit(request)
        if isinstance(role, Response):
            return role
        wanted = [r for r in request.query_params.get("runs", "").split(",") if r]
        out: dict[str, Any] = {}
        for name in wanted or list(dash.runs)[:8]:
            try:
                src = dash.source(role, name)
            except (LookupError, PermissionError):
                continue
            out[name] = dash.cached(
                (role.name, "metrics", name), functools.partial(data.run_metrics, src)
            )
        body = b"{" + b",".join(data.dumps(k) + b":" + v for k, v in out.items()) + b"}"
        return _json(body)

    def tokens(request: Request) -> Response:
        role = admit(request, researcher_only=True)
        if isinstance(role, Response):
            return role
        return _json(data.dumps({r: dash.access.token(r) for r in dash.roles()}))

    def index(request: Request) -> Response:
        return Response(
            (static / "index.html").read_bytes(), media_type="text/html", headers=_HEADERS
        )

    def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "plotly.min.js":
            return FileResponse(plotly_js(), media_type="text/javascript", headers=_HEADERS)
        if name not in ("app.js", "style.css"):
            return _error(404, "not found")
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        return Response((static / name).read_bytes(), media_type=kind, headers=_HEADERS)

    def api_missing(request: Request) -> Response:
        if role_of(request) is None:
            return _error(401, "missing or invalid access token")
        return _error(404, "no such API route")

    routes = [
        Route("/", index),
        Route("/static/{name}", asset),
        Route("/api/whoami", whoami),
        *(Route(f"/api/{name}", run_route(name)) for name in _HANDLERS),
        Route("/api/sweep", sweep),
        Route("/api/compare", compare),
        Route("/api/tokens", tokens),
        Route("/api/{rest:path}", api_missing),
    ]
    return Starlette(routes=routes)


#: Every API route (the tests check each one's 401/403 answers).
API_ROUTES = (
    "whoami", "summary", "grid/band", "grid/heatmap", "grid/duration", "grid/map", "market",
    "settlement", "participants", "aggregates", "sweep", "compare", "tokens",
)  # fmt: skip


def bind(host: str = "127.0.0.1", port: int = 8050, allow_remote: bool = False) -> socket.socket:
    """A listening TCP socket; refuses a non-loopback address unless ``allow_remote``.

    Parameters
    ----------
    host : str
        Address to bind (``127.0.0.1`` by default; ``::1`` and ``localhost`` are loopback too).
    port : int
        Port; 0 picks a free one.
    allow_remote : bool
        Permit binding an address other machines can reach.

    Raises
    ------
    InputError
        Non-loopback ``host`` without ``allow_remote``, or the port cannot be bound.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(None, "--host", f"an address to bind, got {host!r} ({exc})") from None
    family, _, _, _, address = infos[0]
    if not allow_remote and not ipaddress.ip_address(address[0]).is_loopback:
        raise InputError(
            None,
            "--host",
            f"a loopback address (got {host}); pass --allow-remote to serve other machines "
            "(anyone who can reach the port and holds a token can read the results)",
        )
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise InputError(None, "--port", f"a free port on {host} (binding {port}: {exc})") from None
    sock.listen(128)
    return sock


def serve(app: Starlette, sock: socket.socket) -> Any:
    """A uvicorn server for ``app`` on ``sock`` (call ``.run(sockets=[sock])`` to start)."""
    import uvicorn

    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    return uvicorn.Server(config)
