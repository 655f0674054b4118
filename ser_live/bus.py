"""Fan-out of engine messages to sinks, each behind its own bounded queue.

`publish` never blocks: a subscriber that falls behind loses its oldest messages (counted in
`dropped`), so a stuck sink cannot stall the classifier or the other sinks.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable


class Subscription:
    """A bounded queue of messages for one consumer."""

    def __init__(self, maxlen: int) -> None:
        self._q: deque = deque(maxlen=maxlen)
        self._cond = threading.Condition()
        self.dropped = 0
        self.closed = False
        self.thread: threading.Thread | None = None  # the sink's thread, for `attach`

    def put(self, msg: Any) -> None:
        with self._cond:
            if len(self._q) == self._q.maxlen:
                self.dropped += 1
            self._q.append(msg)
            self._cond.notify()

    def get(self, timeout: float | None = None) -> Any | None:
        """Next message, or None on timeout or once closed and drained."""
        with self._cond:
            if not self._q and not self.closed:
                self._cond.wait(timeout)
            return self._q.popleft() if self._q else None

    def get_many(self, max_n: int, timeout: float | None = None) -> list[Any]:
        """Up to `max_n` waiting messages, oldest first, after waiting up to `timeout` for one;
        empty on timeout or once closed and drained."""
        with self._cond:
            if not self._q and not self.closed:
                self._cond.wait(timeout)
            return [self._q.popleft() for _ in range(min(max_n, len(self._q)))]

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class EventBus:
    """Publish messages to every subscription; sinks consume on their own threads."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def subscribe(self, maxlen: int = 1000) -> Subscription:
        sub = Subscription(maxlen)
        with self._lock:
            self._subs = [*self._subs, sub]
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs = [s for s in self._subs if s is not sub]
        sub.close()

    def publish(self, msg: Any) -> None:
        for sub in self._subs:  # copy-on-write list: no lock on the hot path
            sub.put(msg)

    def attach(self, handler: Callable[[Any], None], maxlen: int = 1000, name: str = "sink",
               batch: int = 0) -> Subscription:
        """Run `handler(msg)` for every message on a thread of its own; with `batch` > 0,
        `handler(msgs)` with the up to `batch` messages waiting at once (one hand-over per
        burst for sinks that pass messages on to another thread or loop)."""
        sub = self.subscribe(maxlen)

        def pump() -> None:
            while True:
                # one message at a time unless batching: what waits in the queue, not in this
                # thread, is what a stuck sink loses first
                msgs = sub.get_many(batch or 1, timeout=0.5)
                if not msgs:
                    if sub.closed:
                        return
                    continue
                handler(msgs if batch else msgs[0])

        t = threading.Thread(target=pump, name=name, daemon=True)
        t.start()
        sub.thread = t
        self._threads.append(t)
        return sub

    def close(self, timeout: float = 5.0) -> None:
        """Close every subscription and wait for attached sinks to drain."""
        with self._lock:
            subs, self._subs = self._subs, []
        for s in subs:
            s.close()
        for t in self._threads:
            t.join(timeout)
