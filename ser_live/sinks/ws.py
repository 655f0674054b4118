"""Websocket broadcaster, publish hub and the supervisor page's web server.

One asyncio loop on a thread of its own serves, on one port:

- `GET /` (and `/app.js`, `/style.css`, `/schema/messages.schema.json`): the supervisor page,
  static files from `ser_live/web/` (no build step, no CDN); `GET /healthz`: a JSON health line;
- `/ws`: the event feed. Messages are JSON text frames described by the versioned JSON Schema
  `ser_live/web/schema/messages.schema.json` (`SCHEMA_VERSION`): `hello` on connect, then
  `event`, `status`, `summary`, `heartbeat`, `streams`, `dropped`, `subscribed`;
- `/publish` (hub only, `ser-live serve`): other `ser-live monitor --ws-publish URL` processes
  push their engine's messages here, and the hub fans them out like its own.

Only events leave the machine, never audio. Threads: the engine publishes into its EventBus
(never blocks); `attach()` takes a bounded Subscription whose pump thread serialises each
message once and hands batches to the loop with `call_soon_threadsafe`. In the loop every
client has a bounded deque: a slow client loses its oldest messages (counted, and reported to
it in a `dropped` message and in every `heartbeat`), a dead one is dropped by the websocket
keepalive, and no client ever waits for another or for the engine.

Security: binds 127.0.0.1 by default; any other address needs a token (`--token` or
$SER_LIVE_WS_TOKEN), checked (constant time) before anything but the close is sent. Browser
Origins must be the page's own or in `--allow-origin`; on a loopback bind the Host header
must be a loopback name (DNS rebinding). `--max-clients`; TLS with `--tls-cert/--tls-key`.

Close codes: 1003 binary frame, 1007 invalid UTF-8, 1009 frame over 16 KiB, 1011 keepalive
timeout, 1013 server full, 1001 server shutting down, 4400 bad message, 4401 missing or wrong
token, 4404 unknown stream in a subscription, 4408 no authentication in time, 4409 (hub) a
publisher's stream id is already taken.

Publishing into a hub is `ws_publish.Publisher`; the command-line options and `serve` are in
`ws_cli`.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import parse_qs, urlsplit

SCHEMA_VERSION = 1
WEB_DIR = Path(__file__).resolve().parents[1] / "web"
SCHEMA_FILE = WEB_DIR / "schema" / "messages.schema.json"
TOKEN_ENV = "SER_LIVE_WS_TOKEN"
DEFAULT_PORT = 8765

CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED = 1003
CLOSE_TOO_BIG = 1009
CLOSE_TRY_LATER = 1013
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_UNKNOWN_STREAM = 4404
CLOSE_AUTH_TIMEOUT = 4408
CLOSE_CONFLICT = 4409

ENGINE_TYPES = frozenset({"event", "status", "summary"})
#: a client whose socket holds more unsent bytes than this gets messages through its queue
DIRECT_WRITE_LIMIT = 64 * 1024
_STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
           "/index.html": ("index.html", "text/html; charset=utf-8"),
           "/app.js": ("app.js", "text/javascript; charset=utf-8"),
           "/style.css": ("style.css", "text/css; charset=utf-8"),
           "/schema/messages.schema.json": ("schema/messages.schema.json", "application/schema+json")}
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def to_json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def connect_error(exc: BaseException) -> str:
    """One line on a client's failed connection attempt (a banner, a log line). An untrusted
    TLS certificate names its fix, since retrying alone never cures it."""
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"TLS certificate not trusted ({exc.verify_message}); "
                "pass the CA that signed it with --tls-ca FILE")
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _iso_now() -> str:
    from ..events import iso_now

    return iso_now()


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_hostport(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """'HOST:PORT', ':PORT', 'PORT' or '[::1]:PORT' -> (host, port)."""
    text = text.strip()
    if text.isdigit():
        return default_host, int(text)
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return (host.strip("[]") or default_host), int(port)


@dataclass
class WsConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT           # 0: any free port (see Broadcaster.port)
    token: str | None = None
    allow_origins: Sequence[str] = ()  # "*" allows any Origin
    max_clients: int = 256
    tls_cert: str | None = None
    tls_key: str | None = None
    queue_size: int = 256              # messages waiting per client before the oldest go
    heartbeat_s: float = 5.0
    auth_timeout_s: float = 5.0
    max_frame_bytes: int = 16 * 1024   # anything a client or publisher may send
    ping_interval_s: float | None = 20.0
    ping_timeout_s: float | None = 20.0
    hub: bool = False                  # accept publishers on /publish

    def check(self) -> None:
        if not is_loopback(self.host) and not self.token:
            raise ValueError(f"binding {self.host} (not loopback) requires a token: "
                             f"--token or ${TOKEN_ENV}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("TLS needs both --tls-cert and --tls-key")
        if self.max_clients < 1 or self.queue_size < 1:
            raise ValueError("max clients and queue size must be positive")


class _Close(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass(eq=False)
class _Client:
    ws: Any
    queue: deque
    streams: frozenset | None = None   # None: all streams
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0
    unreported: int = 0
    sent: int = 0
    sending: bool = False              # the sender task is inside an awaited send

    def writable_now(self) -> bool:
        """Nothing of this client's is waiting or in flight and its socket keeps up: a new
        message can be written straight away, in order, without a task switch."""
        transport = getattr(self.ws, "transport", None)
        return (not self.queue and not self.sending and not self.unreported
                and transport is not None and transport.get_write_buffer_size() < DIRECT_WRITE_LIMIT)

    def offer(self, text: str) -> None:
        if len(self.queue) == self.queue.maxlen:
            self.dropped += 1
            self.unreported += 1
        self.queue.append(text)
        self.wake.set()


class Broadcaster:
    """The websocket server. `start()` runs it on its own thread; `attach(bus)` feeds it."""

    def __init__(self, cfg: WsConfig = WsConfig(), model: dict | None = None,
                 labels: Sequence[str] | None = None) -> None:
        from ..labels import COLORS, LABELS, VALENCE3_GROUPS

        cfg.check()
        self.cfg = cfg
        self.labels = list(labels or LABELS)
        self.model = model
        self._colors = {lbl: COLORS.get(lbl, "#9e9e9e") for lbl in set(self.labels) | set(LABELS)}
        self._groups = {k: list(v) for k, v in VALENCE3_GROUPS.items()}
        self.streams: dict[str, dict] = {}        # id -> {"id", "source", "model", "labels", "ended"}
        self._last: dict[tuple[str, str], str] = {}  # (stream, type) -> last text, replayed on join
        self._clients: set[_Client] = set()
        self._publishers: dict[Any, list[str]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._pumps: list[tuple[Any, Any, threading.Thread]] = []
        self._error: BaseException | None = None
        self._started = time.monotonic()
        self.port = cfg.port
        self.stats = {"connections": 0, "rejected": 0, "messages_in": 0, "dropped": 0}
        self._static = {path: ((WEB_DIR / name).read_bytes(), ctype) for path, (name, ctype) in _STATIC.items()}

    # ---- life cycle (any thread) ---------------------------------------------------------
    def start(self, timeout: float = 10.0) -> "Broadcaster":
        self._thread = threading.Thread(target=self._run, name="ws-broadcaster", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("websocket server did not start in time")
        if self._error:
            raise self._error
        return self

    @property
    def url(self) -> str:
        scheme = "https" if self.cfg.tls_cert else "http"
        host = f"[{self.cfg.host}]" if ":" in self.cfg.host else self.cfg.host
        return f"{scheme}://{host}:{self.port}/"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "ws"

    def close(self, timeout: float = 5.0) -> None:
        """Stop the pumps (after they drain), tell clients 1001 and stop the loop."""
        for bus, sub, thread in self._pumps:
            bus.unsubscribe(sub)
            thread.join(timeout)
        self._pumps.clear()
        if self._loop and self._stopped and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(timeout)

    def __enter__(self) -> "Broadcaster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- feeding (any thread) ------------------------------------------------------------
    def add_streams(self, streams: Iterable[str], source: str = "local", model: str | None = None,
                    labels: Sequence[str] | None = None) -> None:
        infos = [{"id": s, "source": source, "model": model, "labels": list(labels or self.labels),
                  "ended": False} for s in streams]
        self._call(self._register, infos, None)

    def attach(self, bus: Any, streams: Iterable[str] | None = None, maxlen: int = 4096,
               model: str | None = None, labels: Sequence[str] | None = None) -> Any:
        """Subscribe to an engine's EventBus (bounded; never blocks the engine) and forward."""
        if streams is not None:
            self.add_streams(streams, "local", model or (self.model or {}).get("name"), labels)
        sub = bus.attach(self._forward, maxlen, name="ws-pump", batch=512)
        self._pumps.append((bus, sub, sub.thread))
        return sub

    def publish(self, msg: Any) -> None:
        """Forward one message (an engine message or its dict) from any thread."""
        item = self._encode(msg)
        if item:
            self._call(self._fanout, [item])

    def _encode(self, msg: Any) -> tuple[str, str, str] | None:
        d = msg if isinstance(msg, dict) else msg.to_dict()
        if d.get("type") not in ENGINE_TYPES:
            return None
        return d["stream"], d["type"], to_json(d)

    def _forward(self, msgs: list[Any]) -> None:
        """A burst from the bus (pump thread): encoded once, handed to the loop in one call."""
        batch = [item for item in map(self._encode, msgs) if item]
        if batch:
            self._call(self._fanout, batch)

    def _call(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # loop closed meanwhile
            pass

    # ---- loop thread ---------------------------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        ssl_ctx = None
        if self.cfg.tls_cert:
            import ssl

            ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_ctx.load_cert_chain(self.cfg.tls_cert, self.cfg.tls_key)
            # No TLS 1.3 session tickets: a ticket that lands while a threaded client (websockets'
            # sync client, `ser-live dashboard --remote`) is still writing its upgrade request makes
            # its reader thread call SSL_read beside that SSL_write, which OpenSSL does not allow;
            # about 1 handshake in 4000 then hung under CPU load. Long-lived connections gain
            # nothing from resumption anyway.
            ssl_ctx.num_tickets = 0
        server = await serve(self._handle, self.cfg.host, self.cfg.port, process_request=self._http,
                             compression=None, max_size=self.cfg.max_frame_bytes, max_queue=16,
                             ping_interval=self.cfg.ping_interval_s, ping_timeout=self.cfg.ping_timeout_s,
                             ssl=ssl_ctx, server_header=None, close_timeout=1)
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        hb = asyncio.create_task(self._heartbeats())
        self._ready.set()
        await self._stopped.wait()
        hb.cancel()
        server.close(close_connections=False)
        peers = [c.ws for c in self._clients] + list(self._publishers)
        await asyncio.gather(*(self._close_ws(ws, CLOSE_GOING_AWAY, "server shutting down") for ws in peers))
        server.close()  # whatever is left (connections still in their HTTP exchange)
        try:
            await asyncio.wait_for(server.wait_closed(), 1.0)
        except asyncio.TimeoutError:
            pass

    @staticmethod
    async def _close_ws(ws: Any, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(ws.close(code, reason), 1.0)
        except Exception:  # noqa: BLE001 - closing a dead peer
            pass

    def _http(self, connection: Any, request: Any) -> Any:
        """HTTP side: static page, health, and the checks made before any websocket exists."""
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        path = urlsplit(request.path).path
        host = (request.headers.get("Host") or "").strip()
        if is_loopback(self.cfg.host) and _hostname(host) not in _LOOPBACK_NAMES | {self.cfg.host}:
            return connection.respond(403, "Host not allowed on a loopback server\n")
        if path in ("/ws", "/publish"):
            if path == "/publish" and not self.cfg.hub:
                return connection.respond(404, "not a hub: /publish is served by `ser-live serve`\n")
            origin = request.headers.get("Origin")
            if not self._origin_ok(origin, host):
                self.stats["rejected"] += 1
                return connection.respond(403, f"Origin {origin} not allowed (see --allow-origin)\n")
            return None
        if request.headers.get("Upgrade", "").lower() == "websocket":
            # a websocket client pointed at the page (ws://HOST:PORT/) would otherwise be
            # told "HTTP 200", which explains nothing
            return connection.respond(404, f"no websocket at {path}: the event feed is /ws"
                                           f"{' (monitors publish to /publish)' if self.cfg.hub else ''}\n")
        if path == "/healthz":
            body = to_json({"ok": True, "schema_version": SCHEMA_VERSION, "clients": len(self._clients),
                          "streams": sorted(self.streams), "publishers": len(self._publishers),
                          "uptime_s": round(time.monotonic() - self._started, 1)}).encode()
            ctype = "application/json"
        elif path in self._static:
            body, ctype = self._static[path]
        else:
            return connection.respond(404, "not found\n")
        headers = Headers([("Content-Type", ctype), ("Content-Length", str(len(body))),
                           ("Cache-Control", "no-cache"), ("X-Content-Type-Options", "nosniff"),
                           ("Content-Security-Policy",
                            "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:")])
        return Response(200, "OK", headers, body)

    def _origin_ok(self, origin: str | None, host: str) -> bool:
        if origin is None or "*" in self.cfg.allow_origins or origin in self.cfg.allow_origins:
            return True
        return urlsplit(origin).netloc == host and bool(host)  # the page this server served

    # ---- connections ---------------------------------------------------------------------
    async def _handle(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        path = urlsplit(ws.request.path).path
        self.stats["connections"] += 1
        try:
            if path == "/publish":
                await self._auth(ws)
                await self._serve_publisher(ws)
            else:
                if len(self._clients) >= self.cfg.max_clients:
                    raise _Close(CLOSE_TRY_LATER, f"server full ({self.cfg.max_clients} clients)")
                await self._auth(ws)
                await self._serve_client(ws)
        except _Close as exc:
            self.stats["rejected"] += 1
            await self._close_ws(ws, exc.code, exc.reason)
        except ConnectionClosed:
            pass

    async def _auth(self, ws: Any) -> None:
        """Token from `Authorization: Bearer T` or a first message {"type":"auth","token":T}."""
        if not self.cfg.token:
            return
        header = ws.request.headers.get("Authorization") or ""
        if header:
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        else:
            try:
                raw = await asyncio.wait_for(ws.recv(), self.cfg.auth_timeout_s)
            except asyncio.TimeoutError:
                raise _Close(CLOSE_AUTH_TIMEOUT, "authentication timed out") from None
            msg = self._parse(raw)
            if msg.get("type") != "auth":
                raise _Close(CLOSE_UNAUTHORIZED, "authentication required: send {\"type\":\"auth\",\"token\":...}")
            token = msg.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self.cfg.token.encode()):
            raise _Close(CLOSE_UNAUTHORIZED, "invalid token")

    def _parse(self, raw: Any) -> dict:
        if not isinstance(raw, str):
            raise _Close(CLOSE_UNSUPPORTED, "binary frames are not supported; send JSON text")
        try:  # strict: Python reads NaN/Infinity, browsers' JSON.parse (which gets the relay) fails
            msg = json.loads(raw, parse_constant=_refuse_constant)
        except ValueError:
            raise _Close(CLOSE_BAD_REQUEST, "not JSON (NaN and Infinity are not JSON either)") from None
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            raise _Close(CLOSE_BAD_REQUEST, "a message is a JSON object with a string 'type'")
        return msg

    def _subscription(self, streams: Any) -> frozenset | None:
        if streams is None or streams == "*" or streams == ["*"]:
            return None
        if isinstance(streams, str):
            streams = [s for s in streams.split(",") if s]
        if not isinstance(streams, list) or not all(isinstance(s, str) for s in streams) or not streams:
            raise _Close(CLOSE_BAD_REQUEST, "'streams' is '*' or a non-empty list of stream ids")
        unknown = [s for s in streams if s not in self.streams]
        if unknown:
            raise _Close(CLOSE_UNKNOWN_STREAM, f"unknown stream: {','.join(unknown)}"[:120])
        return frozenset(streams)

    def _hello(self, client: _Client) -> str:
        return to_json({"type": "hello", "schema_version": SCHEMA_VERSION, "time": _iso_now(),
                      "server": _server_name(), "model": self.model, "labels": self.labels,
                      "colors": self._colors, "valence3_groups": self._groups,
                      "streams": list(self.streams.values()),
                      "subscribed": "*" if client.streams is None else sorted(client.streams),
                      "heartbeat_s": self.cfg.heartbeat_s, "queue_size": self.cfg.queue_size})

    async def _serve_client(self, ws: Any) -> None:
        query = parse_qs(urlsplit(ws.request.path).query)
        client = _Client(ws, deque(maxlen=self.cfg.queue_size))
        client.streams = self._subscription(query["streams"][0] if "streams" in query else None)
        await ws.send(self._hello(client))
        for (stream, _type), text in list(self._last.items()):  # the current state, at once
            if client.streams is None or stream in client.streams:
                client.queue.append(text)
        self._clients.add(client)
        sender = asyncio.create_task(self._sender(client))
        try:
            async for raw in ws:
                msg = self._parse(raw)
                if msg["type"] == "subscribe":
                    client.streams = self._subscription(msg.get("streams"))
                    client.offer(to_json({"type": "subscribed", "subscribed": "*" if client.streams is None
                                        else sorted(client.streams)}))
                elif msg["type"] != "auth":  # a repeated auth is harmless
                    raise _Close(CLOSE_BAD_REQUEST, f"unknown message type {msg['type'][:40]!r}")
        finally:
            self._clients.discard(client)
            sender.cancel()

    async def _sender(self, client: _Client) -> None:
        from websockets.exceptions import ConnectionClosed

        q, ws = client.queue, client.ws
        try:
            while True:
                await client.wake.wait()
                client.wake.clear()
                while q:
                    client.sending = True
                    if client.unreported:
                        n, client.unreported = client.unreported, 0
                        self.stats["dropped"] += n
                        await ws.send(to_json({"type": "dropped", "count": n, "total": client.dropped}))
                    await ws.send(q.popleft())
                    client.sent += 1
                client.sending = False
        except ConnectionClosed:
            pass

    def _fanout(self, batch: list[tuple[str, str, str]]) -> None:
        from websockets.asyncio.server import broadcast

        for stream, typ, text in batch:
            if stream not in self.streams:
                self._register([{"id": stream, "source": "local", "model": (self.model or {}).get("name"),
                                 "labels": self.labels, "ended": False}], None)
            if typ == "summary":
                self.streams[stream]["ended"] = True
            self._last[(stream, typ)] = text
            # one encoding, written at once to every client that keeps up; the others get it
            # through their bounded queue, behind what they are still waiting for
            direct = []
            for c in self._clients:
                if c.streams is None or stream in c.streams:
                    if c.writable_now():
                        direct.append(c.ws)
                        c.sent += 1
                    else:
                        c.offer(text)
            if direct:
                broadcast(direct, text)

    def _register(self, infos: list[dict], owner: Any) -> None:
        changed = False
        for info in infos:
            if self.streams.get(info["id"]) != info:
                self.streams[info["id"]] = info
                changed = True
        if changed:
            self._broadcast_streams()

    def _broadcast_streams(self) -> None:
        text = to_json({"type": "streams", "time": _iso_now(), "streams": list(self.streams.values())})
        for c in self._clients:
            c.offer(text)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.heartbeat_s)
            now, up = _iso_now(), round(time.monotonic() - self._started, 1)
            for c in list(self._clients):
                c.offer(to_json({"type": "heartbeat", "time": now, "uptime_s": up,
                               "clients": len(self._clients), "dropped": c.dropped,
                               "queued": len(c.queue)}))

    # ---- hub: publishers -----------------------------------------------------------------
    async def _serve_publisher(self, ws: Any) -> None:
        """{"type":"announce","streams":[...],"model":..,"labels":[..]} then engine messages."""
        try:
            raw = await asyncio.wait_for(ws.recv(), self.cfg.auth_timeout_s)
        except asyncio.TimeoutError:
            raise _Close(CLOSE_AUTH_TIMEOUT, "no announce in time") from None
        msg = self._parse(raw)
        streams = msg.get("streams")
        if msg["type"] != "announce" or not isinstance(streams, list) or not streams or \
                not all(isinstance(s, str) and 0 < len(s) <= 200 for s in streams):
            raise _Close(CLOSE_BAD_REQUEST, "a publisher first sends {\"type\":\"announce\",\"streams\":[...]}")
        taken = [s for s in streams if any(s in owned for owned in self._publishers.values())]
        if taken:
            raise _Close(CLOSE_CONFLICT, f"stream id already published: {','.join(taken)}"[:120])
        labels = msg.get("labels") if isinstance(msg.get("labels"), list) else self.labels
        model = msg.get("model") if isinstance(msg.get("model"), str) else None
        peer = ws.remote_address[0] if ws.remote_address else "?"
        self._publishers[ws] = list(streams)
        self._register([{"id": s, "source": f"publisher {peer}", "model": model,
                         "labels": [str(x) for x in labels], "ended": False} for s in streams], ws)
        await ws.send(to_json({"type": "announced", "streams": streams}))
        try:
            async for raw in ws:
                m = self._parse(raw)
                if m["type"] not in ENGINE_TYPES or m.get("stream") not in streams:
                    raise _Close(CLOSE_BAD_REQUEST, "publishers send event/status/summary of announced streams")
                self.stats["messages_in"] += 1
                self._fanout([(m["stream"], m["type"], raw)])
        finally:
            del self._publishers[ws]
            for s in streams:
                self.streams.pop(s, None)
                self._last.pop((s, "event"), None)
                self._last.pop((s, "status"), None)
                self._last.pop((s, "summary"), None)
            self._broadcast_streams()


def _hostname(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[: host_header.find("]") + 1]
    return host_header.rsplit(":", 1)[0] if ":" in host_header else host_header


def _server_name() -> str:
    from .. import __version__

    return f"ser-live {__version__}"
