"""Remote mode: the desktop views fed by a websocket feed (the broadcaster of
`ser-live monitor --ws` or the hub of `ser-live serve`) instead of the local engine, so a
supervisor can watch one agent's call: `ser-live dashboard --remote ws://HOST:PORT/`.

`RemoteFeed` is a websocket client (protocol: ser_live/web/README.md) on a daemon thread of
its own. It authenticates as the supervisor page does (`{"type":"auth","token":...}` first; a
server without a token ignores it), subscribes with `/ws?streams=a,b` (or to everything),
and puts every message it receives, as a dict, on a bounded queue (the oldest go when it is
full). `get(timeout=0)` never waits, like the bus Subscription, so `bridge.MessagePump`
drains it on the UI thread; `error_text()` is what the pump shows as the window's banner (a
lost feed being retried, a refused token), as it does for the local engine's controller.

After a drop it reconnects every `retry_s` (2 s). On joining, the server sends the last
`event` / `status` / `summary` of each stream again; a message identical to the last one of
its stream and type already received is dropped, so a reconnect does not count an event
twice. A wrong or missing token (4401, 4408) or a malformed request (4400, HTTP 4xx) stops
the feed with an error instead: retrying cannot help. A stream that is not on the server
(4404; e.g. its monitor has not joined the hub yet) is retried.

`RemoteFeed` needs no Qt; `run_remote_ui` and `dashboard_remote` load it when called.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import Any, Sequence
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..bus import Subscription
from ..sinks.ws import (CLOSE_AUTH_TIMEOUT, CLOSE_BAD_REQUEST, CLOSE_TRY_LATER, CLOSE_UNAUTHORIZED,
                        CLOSE_UNKNOWN_STREAM, ENGINE_TYPES, TOKEN_ENV, connect_error)

RETRY_S = 2.0            # between connection attempts after a drop
QUEUE = 5000             # messages held for the UI (as bridge.UI_QUEUE)
OPEN_TIMEOUT_S = 5.0
HELLO_WAIT_S = 3.0       # how long the CLI waits for `hello` (its labels) before opening a window
_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}


def feed_url(url: str, streams: Sequence[str] | None = None) -> str:
    """The websocket address of a broadcaster: `ws://HOST:PORT/` (or the page's own
    `http(s)://HOST:PORT/`) -> `ws(s)://HOST:PORT/ws`, with `?streams=a,b` when given."""
    parts = urlsplit(url.strip())
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise ValueError(f"expected ws://HOST:PORT/ (or wss://, http://, https://), got {url!r}")
    path = parts.path.rstrip("/")
    if not path.endswith("/ws"):
        path += "/ws"
    query = urlencode({"streams": ",".join(streams)}, safe=",:") if streams else parts.query
    return urlunsplit((scheme, parts.netloc, path, query, ""))


class _Silent(Exception):
    """No message (not even a heartbeat) for too long: the connection is presumed dead."""


class RemoteFeed:
    """Engine messages from a websocket broadcaster, for `MessagePump` (see the module doc).

    State, readable from any thread: `connected` (an Event: set from `hello` until a drop),
    `hello` (the last one), `labels` (its labels), `error` (why it is not connected, or None),
    `fatal` (it gave up), `received` (messages queued), `duplicates` (replays dropped),
    `server_dropped` (messages the server reports this client lost), `dropped` (messages this
    queue lost because the UI fell behind), `connections` (successful connections so far).
    """

    def __init__(self, url: str, token: str | None = None, streams: Sequence[str] | None = None,
                 cafile: str | None = None, retry_s: float = RETRY_S, maxlen: int = QUEUE,
                 open_timeout: float = OPEN_TIMEOUT_S) -> None:
        self.streams = [s for s in (streams or []) if s] or None
        self.url = feed_url(url, self.streams)
        self.token, self.cafile = token, cafile
        self.retry_s, self.open_timeout = float(retry_s), float(open_timeout)
        self._q = Subscription(maxlen)
        self._last: dict[tuple[str, str], str] = {}   # (stream, type) -> last text received
        self._stop = threading.Event()
        self._settled = threading.Event()             # the first attempt ended, one way or another
        self.connected = threading.Event()
        self.hello: dict | None = None
        self.error: str | None = None
        self.fatal = False
        self.received = self.duplicates = self.server_dropped = self.connections = 0
        self._thread = threading.Thread(target=self._run, name="ui-remote-feed", daemon=True)

    # ---- life cycle ------------------------------------------------------------------------
    def start(self) -> "RemoteFeed":
        self._thread.start()
        return self

    def close(self, timeout: float = 3.0) -> None:
        """Disconnect and stop reconnecting; messages already queued can still be read."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self) -> "RemoteFeed":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_ready(self, timeout: float = HELLO_WAIT_S) -> bool:
        """Wait until the first connection has its `hello` or the first attempt failed;
        True if connected."""
        self._settled.wait(timeout)
        return self.connected.is_set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    @property
    def labels(self) -> list[str] | None:
        labels = (self.hello or {}).get("labels")
        return [str(x) for x in labels] if isinstance(labels, list) and labels else None

    @property
    def dropped(self) -> int:
        return self._q.dropped

    # ---- what the UI reads -----------------------------------------------------------------
    def get(self, timeout: float | None = 0) -> dict | None:
        """The next message (a dict), or None; waits at most `timeout` (0: never)."""
        return self._q.get(timeout=timeout)

    def error_text(self) -> str | None:
        """The banner: why the feed is not live (None while it is)."""
        return self.error

    # ---- the connection thread ---------------------------------------------------------------
    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI
        from websockets.sync.client import connect

        ssl_ctx = None
        if self.url.startswith("wss:"):
            import ssl

            ssl_ctx = ssl.create_default_context(cafile=self.cafile)
        while not self._stop.is_set():
            before = self.connections
            try:
                with connect(self.url, ssl=ssl_ctx, open_timeout=self.open_timeout, close_timeout=1,
                             compression=None) as ws:
                    ws.send(json.dumps({"type": "auth", "token": self.token or ""}))
                    self._serve(ws)
                break  # _serve returns only when we are closing
            except ConnectionClosed as exc:
                why, fatal = self._closed(exc)
                if fatal:
                    self._give_up(f"{self.url}: {why}")
                    break
            except InvalidStatus as exc:
                code = exc.response.status_code
                body = exc.response.body.decode("utf-8", "replace").strip() if exc.response.body else ""
                why = f"HTTP {code}" + (f" {body}" if body else "")
                if 400 <= code < 500:
                    self._give_up(f"{self.url} refused the connection: {why}")
                    break
            except InvalidURI as exc:
                self._give_up(f"{self.url}: {exc}")
                break
            except _Silent as exc:
                why = str(exc)
            except Exception as exc:  # noqa: BLE001 - unreachable, TLS, timeouts...: retried
                why = connect_error(exc)
            finally:
                self.connected.clear()
            if self._stop.is_set():
                break
            state = "connection lost" if self.connections > before else "cannot connect"
            self.error = f"{self.url}: {state} ({why}); reconnecting every {self.retry_s:g} s"
            self._settled.set()
            self._stop.wait(self.retry_s)
        self._settled.set()

    def _serve(self, ws: Any) -> None:
        """Read messages until the connection ends (raises) or we are told to stop."""
        heartbeat_s = 0.0
        last = time.monotonic()
        while not self._stop.is_set():
            try:
                raw = ws.recv(timeout=0.25)
            except TimeoutError:
                quiet = time.monotonic() - last
                if heartbeat_s and quiet > 3 * heartbeat_s + 1.0:
                    raise _Silent(f"no heartbeat for {quiet:.0f} s") from None
                continue
            last = time.monotonic()
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            kind = msg.get("type")
            if kind == "hello":
                self.hello, self.error = msg, None
                heartbeat_s = float(msg.get("heartbeat_s") or 0.0)
                self.connections += 1
                self.connected.set()
                self._settled.set()
            elif kind in ENGINE_TYPES and isinstance(raw, str):
                key = (str(msg.get("stream")), kind)
                if self._last.get(key) == raw:   # the server's replay of what we already have
                    self.duplicates += 1
                    continue
                self._last[key] = raw
            elif kind in ("dropped", "heartbeat"):
                self.server_dropped = max(self.server_dropped,
                                          int(msg.get("total", msg.get("dropped", 0)) or 0))
            self._q.put(msg)
            self.received += 1

    def _closed(self, exc: Any) -> tuple[str, bool]:
        """Why the server closed the connection, and whether retrying is pointless."""
        rcvd = exc.rcvd
        if rcvd is None:
            sent = exc.sent
            return ("closed without a close frame" if sent is None
                    else f"{sent.code} {sent.reason}".strip()), False
        code, reason = rcvd.code, rcvd.reason
        if code in (CLOSE_UNAUTHORIZED, CLOSE_AUTH_TIMEOUT):
            if self.token:
                return f"wrong token ({code} {reason}); give the server's token with --token T", True
            return f"this server needs a token ({code} {reason}): --token T or ${TOKEN_ENV}", True
        if code == CLOSE_BAD_REQUEST:
            return f"the server refused our request ({code} {reason})", True
        if code == CLOSE_UNKNOWN_STREAM:
            return f"{reason or 'unknown stream'} on the server (yet)", False
        if code == CLOSE_TRY_LATER:
            return f"server full: {reason}", False
        return f"{code} {reason}".strip(), False

    def _give_up(self, text: str) -> None:
        self.error, self.fatal = text, True
        self._settled.set()


# ---- the dashboard in remote mode -------------------------------------------------------

def stream_ids(values: Sequence[str] | None) -> list[str]:
    """`--stream a --stream b,c` -> ["a", "b", "c"]."""
    return [s.strip() for v in (values or []) for s in v.split(",") if s.strip()]


def open_feed(args: argparse.Namespace) -> RemoteFeed:
    """A started RemoteFeed for `--remote URL [--token T] [--stream ID] [--tls-ca FILE]`."""
    from ..cli import CliError

    token = getattr(args, "token", None) or os.environ.get(TOKEN_ENV) or None
    try:
        feed = RemoteFeed(args.remote, token=token, streams=stream_ids(getattr(args, "stream", None)),
                          cafile=getattr(args, "tls_ca", None))
    except ValueError as exc:
        raise CliError(f"--remote: {exc}") from None
    return feed.start()


def _model_for(feed: RemoteFeed, args: argparse.Namespace | None):
    from ..labels import LABELS
    from .app import make_model

    feed.wait_ready(HELLO_WAIT_S)  # the views draw one curve per label: take the server's
    return make_model(feed.labels or list(LABELS), args)


def run_remote_ui(feed: RemoteFeed, overlay: bool, args: argparse.Namespace | None, settings=None,
                  close_after_s: float | None = None) -> int:
    """Show the dashboard (or the overlay) of a started `feed` until the window closes; the
    caller closes the feed. Returns 0, or 1 if the feed gave up (e.g. a refused token)."""
    from .app import make_window, run_window
    from .bridge import MessagePump

    model = _model_for(feed, args)
    window = make_window(model, overlay, None, f"remote {feed.url}", settings)
    pump = MessagePump(feed, model, [window], controller=feed)  # controller: its error_text()
    run_window(window, pump, close_after_s=close_after_s)
    run_remote_ui.last = (model, window, pump)  # tests look at what was shown
    if feed.fatal:
        print(f"ser-live: {feed.error_text()}", file=sys.stderr)
        return 1
    return 0


def dashboard_remote(args: argparse.Namespace) -> int:
    """`ser-live dashboard --remote URL ...`: no engine, no model; with --screenshot, collect
    the feed for --seconds, then render."""
    from .app import REMOTE_SECONDS, _report_screenshot

    feed = open_feed(args)
    try:
        if not args.screenshot:
            return run_remote_ui(feed, args.overlay, args)
        model = _model_for(feed, args)
        deadline = time.monotonic() + (REMOTE_SECONDS if args.seconds is None else args.seconds)
        while time.monotonic() < deadline and not feed.fatal:
            while (msg := feed.get(timeout=0)) is not None:
                model.feed(msg)
            time.sleep(0.05)
    finally:
        feed.close()
    while (msg := feed.get(timeout=0)) is not None:
        model.feed(msg)
    model.set_engine_error(feed.error_text())
    _report_screenshot(model, args, f"remote {feed.url}")
    if feed.error_text() and not feed.connections:
        print(f"ser-live: {feed.error_text()}", file=sys.stderr)
        return 1
    return 0
