"""Pushing a monitor's messages into a `ser-live serve` hub (`monitor --ws-publish URL`).

The engine never waits for the network: messages queue in a bounded deque that the
publisher's own asyncio thread drains, reconnecting while the hub is away.
"""
from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections import deque
from typing import Any, Sequence

from .ws import CLOSE_BAD_REQUEST, CLOSE_CONFLICT, CLOSE_UNAUTHORIZED, ENGINE_TYPES, connect_error, to_json


class Publisher:
    """Pushes an engine's messages to a hub's /publish; reconnects; never blocks the engine.

    While disconnected, up to `queue_size` newest messages wait; older ones are dropped and
    counted. A hub out of reach is said on stderr, once per reason, and retried every
    `retry_s`; "connected" follows when it is back. A hub that refuses the token (4401) or the
    announcement (4400) stops it (`error`); one that refuses the stream ids because a live
    publisher holds them (4409) is retried, since that holder may be this very monitor's
    dropped connection, which the hub has not noticed yet.
    """

    def __init__(self, url: str, streams: Sequence[str], token: str | None = None,
                 model: str | None = None, labels: Sequence[str] | None = None,
                 queue_size: int = 1000, retry_s: float = 2.0, cafile: str | None = None) -> None:
        self.url = url.rstrip("/") if url.rstrip("/").endswith("/publish") else url.rstrip("/") + "/publish"
        self.streams, self.token, self.model = list(streams), token, model
        self.labels = list(labels) if labels else None
        self.retry_s, self.cafile = retry_s, cafile
        self._q: deque = deque(maxlen=queue_size)
        self.dropped = 0
        self.sent = 0
        self.error: str | None = None
        self.connected = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop = threading.Event()
        self._pumps: list[tuple[Any, Any]] = []
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="ws-publisher",
                                        daemon=True)

    def start(self) -> "Publisher":
        self._thread.start()
        return self

    def attach(self, bus: Any, maxlen: int = 4096) -> Any:
        def forward(msg: Any) -> None:
            d = msg if isinstance(msg, dict) else msg.to_dict()
            if d.get("type") in ENGINE_TYPES:
                self._put(to_json(d))

        sub = bus.attach(forward, maxlen, name="ws-publish-pump")
        self._pumps.append((bus, sub))
        return sub

    def _put(self, text: str) -> None:
        if len(self._q) == self._q.maxlen:
            self.dropped += 1
        self._q.append(text)  # deque append is thread-safe
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:
                pass

    def close(self, timeout: float = 5.0) -> None:
        """Let the pumps drain, send what is queued (up to `timeout`), disconnect."""
        for bus, sub in self._pumps:
            bus.unsubscribe(sub)
            sub.thread.join(timeout)
        deadline = time.monotonic() + timeout
        while self._q and self.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        if self._loop and self._wake:
            try:
                self._loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:
                pass
        self._thread.join(timeout)

    async def _main(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        ssl_ctx = None
        if self.url.startswith("wss:"):
            import ssl

            ssl_ctx = ssl.create_default_context(cafile=self.cafile)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        while not self._stop.is_set():
            try:
                async with connect(self.url, additional_headers=headers, compression=None,
                                   ssl=ssl_ctx, open_timeout=5, close_timeout=2) as ws:
                    await ws.send(to_json({"type": "announce", "streams": self.streams,
                                         "model": self.model, "labels": self.labels}))
                    await ws.recv()  # "announced", or the close that refuses us
                    if self.error:
                        self._say("connected")
                        self.error = None
                    self.connected.set()
                    await self._pump(ws)
                    return
            except ConnectionClosed as exc:
                rcvd = exc.rcvd
                if rcvd is not None and rcvd.code in (CLOSE_UNAUTHORIZED, CLOSE_BAD_REQUEST):
                    self.error = f"hub refused: {rcvd.code} {rcvd.reason}"
                    self._say(self.error)
                    return
                if rcvd is None:
                    self._retrying("connection lost")
                elif rcvd.code == CLOSE_CONFLICT:  # retried: the holder may be this monitor's
                    # own connection, dropped without the hub noticing yet (its pings find out
                    # within 40 s)
                    self._retrying(f"hub refused: {rcvd.code} {rcvd.reason}")
                else:
                    self._retrying(f"connection lost ({rcvd.code} {rcvd.reason})")
            except Exception as exc:  # noqa: BLE001 - unreachable, TLS, timeouts...: retried
                self._retrying(connect_error(exc))
            finally:
                self.connected.clear()
            await asyncio.sleep(self.retry_s)

    async def _pump(self, ws: Any) -> None:
        """Send what is queued, as it comes, until told to stop. A hub that goes raises its
        ConnectionClosed at once, not at the next message, so a quiet call's monitor still
        says so and reconnects before it has anything to send."""
        assert self._wake is not None
        closed = asyncio.ensure_future(ws.wait_closed())
        try:
            while not self._stop.is_set():
                while self._q:
                    await ws.send(self._q[0])
                    self._q.popleft()  # only once sent: a failed send is retried after reconnecting
                    self.sent += 1
                self._wake.clear()
                if self._q or self._stop.is_set():
                    continue
                woken = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait({woken, closed}, return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                if closed.done():
                    await ws.recv()  # raises the ConnectionClosed that says why
        finally:
            closed.cancel()

    def _retrying(self, why: str) -> None:
        """Record why the hub is out of reach; say it on stderr once per new reason, not once
        per attempt, so an unattended monitor's log shows the outage without filling up."""
        if why != self.error:
            self._say(f"{why}; retrying every {self.retry_s:g} s")
        self.error = why

    def _say(self, text: str) -> None:
        print(f"ser-live: --ws-publish {self.url}: {text}", file=sys.stderr, flush=True)
