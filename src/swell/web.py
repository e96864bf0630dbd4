"""`swell serve`: a read-only web app over a store that a live connector (or an ingest) is filling.

- `/`: what is trending now, updated by server-sent events, and a live timeline of a hashtag;
- `/events`: the trends as server-sent events, every `interval` seconds;
- `/api/trends`, `/api/timeline?hashtag=`: the same as JSON;
- `/campaign?hashtag=...&planned=...`: the campaign report of `swell campaign`.

One task follows the store (rows added since its last look, as `swell trends --follow`) and keeps
the latest trends; every client is sent that, so a hundred clients cost one poll. There are only
GET routes. Bound beyond localhost the app requires a token (`?token=` or `Authorization: Bearer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from pathlib import Path
from urllib.parse import quote

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from swell.follow import StoreFollower
from swell.normalise import normalize_hashtag
from swell.store import Store
from swell.times import BadTime, parse_user_time
from swell.trends import live_trend_stream

LOOPBACK = ("127.0.0.1", "::1", "localhost")
log = logging.getLogger("swell.serve")


def timeline(db: Path, hashtag: str, hours: float = 3.0) -> list[dict]:
    """Posts and distinct accounts per minute with the hashtag, for the last `hours` of the store
    (none while the store is not there yet)."""
    if not db.exists():
        return []
    with Store(db, read_only=True) as store:
        rows = store.con.execute(
            """WITH last AS (SELECT max(created_at) AS t FROM posts)
               SELECT date_trunc('minute', created_at) AS minute, count(*) AS posts,
                      count(DISTINCT author_id) AS accounts
               FROM posts, last
               WHERE list_contains(hashtags, ?) AND created_at > last.t - to_microseconds(CAST(? * 3.6e9 AS BIGINT))
               GROUP BY minute ORDER BY minute""",
            [normalize_hashtag(hashtag), hours],
        ).fetchall()
    return [{"minute": m.isoformat(), "posts": p, "accounts": a} for m, p, a in rows]


def bearer_token(authorization: str) -> str:
    """The token of an `Authorization: Bearer <token>` header (the scheme in any case, RFC 9110), or
    "" for any other header."""
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class TokenCheck(BaseHTTPMiddleware):
    def __init__(self, app, token: str):
        super().__init__(app)
        self.token = token

    async def dispatch(self, request: Request, call_next):
        given = request.query_params.get("token") or bearer_token(request.headers.get("authorization", ""))
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return PlainTextResponse("a token is required: ?token=... or Authorization: Bearer ...", status_code=401)
        return await call_next(request)


def create_app(
    db: Path, *, token: str | None = None, interval_s: float = 2.0, bucket_min: float = 5.0, history_h: float = 6.0
) -> Starlette:
    """The app over the store `db`: a look at the store every `interval_s` seconds, the trends of the
    last `history_h` hours, `bucket_min` minutes the finest scale (as `swell trends` and `swell watch`)."""
    from swell.html_report import render

    follower = StoreFollower(db, live_trend_stream(bucket_min), history_h=history_h)
    query = f"?token={quote(token)}" if token else ""

    async def keep_following() -> None:
        while True:
            try:
                await asyncio.to_thread(follower.look)
            except Exception:  # a store busy for long or not a store: said, and tried again next time
                log.warning("could not read %s", db, exc_info=True)
            await asyncio.sleep(interval_s)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        task = asyncio.create_task(keep_following())
        yield
        task.cancel()

    async def page(request: Request) -> Response:
        html = render("live.html.j2", r={}, charts={}, token_query=query, interval_s=interval_s)
        return HTMLResponse(html)

    async def trends(request: Request) -> Response:
        return JSONResponse(follower.latest)

    async def events(request: Request) -> Response:
        async def stream():
            while not await request.is_disconnected():
                yield b"data: " + orjson.dumps(follower.latest) + b"\n\n"
                await asyncio.sleep(interval_s)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def hashtag_timeline(request: Request) -> Response:
        tag = request.query_params.get("hashtag", "")
        if not tag:
            return JSONResponse({"error": "give ?hashtag="}, status_code=400)
        return JSONResponse({"hashtag": normalize_hashtag(tag), "minutes": await asyncio.to_thread(timeline, db, tag)})

    async def campaign(request: Request) -> Response:
        from swell.campaign import CampaignQuery, analyse
        from swell.html_report import campaign_page

        tags = [t for t in request.query_params.getlist("hashtag") if t]
        if not tags:
            return PlainTextResponse("give ?hashtag=", status_code=400)
        planned = request.query_params.get("planned")
        try:
            planned_us = parse_user_time(planned)
        except BadTime:
            return PlainTextResponse("planned must be an ISO 8601 time", status_code=400)

        def report() -> str:
            with Store(db, read_only=True) as store:
                return campaign_page(analyse(store.engine, CampaignQuery(tags, planned_us=planned_us)))

        if not db.exists():
            return PlainTextResponse(f"the store {db.name} holds no posts yet", status_code=404)
        return HTMLResponse(await asyncio.to_thread(report))

    routes = [
        Route("/", page),
        Route("/events", events),
        Route("/api/trends", trends),
        Route("/api/timeline", hashtag_timeline),
        Route("/campaign", campaign),
    ]
    # Without a token, only requests addressed to this machine by name are served: a web page that
    # rebinds its own domain name to 127.0.0.1 cannot read the app from the user's browser.
    middleware = (
        [Middleware(TokenCheck, token=token)]
        if token
        else [Middleware(TrustedHostMiddleware, allowed_hosts=["localhost", "127.0.0.1", "[::1]", "::1"])]
    )
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.follower = follower  # for tests to wait on its looks
    return app


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on `host` and `port` (0: a free port), before the app starts: a browser or
    a test that connects as soon as the URL is printed waits in the backlog instead of being refused."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
        0
    ]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(128)
    return sock


def url(host: str, sock: socket.socket, token: str | None) -> str:
    """The address to open in a browser: localhost by name, an IPv6 address in brackets, the token."""
    port = sock.getsockname()[1]
    shown = "localhost" if host in LOOPBACK else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={quote(token)}" if token else "")


def run(app: Starlette, sock: socket.socket) -> None:
    import uvicorn

    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
