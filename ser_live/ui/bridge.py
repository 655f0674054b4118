"""Engine -> UI without blocking the UI thread.

- `EngineController` owns the engine's lifetime: it subscribes to the engine's bus with a
  bounded queue (a UI that falls behind loses its oldest messages, never stalls the engine),
  starts engines on a helper thread (opening a device may take a moment), stops them without
  waiting, and waits for them only in `shutdown()`, after the Qt loop has ended.
- `MessagePump` drains any message source with a non-blocking `get(timeout=0)` (a bus
  `Subscription`, the controller, or later a websocket client's queue) from a QTimer on the UI
  thread, feeds the `SessionModel`, and asks the views to refresh.
The model is never called on the UI thread; the UI thread never waits for the engine.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterable, Protocol

from PyQt6.QtCore import QObject, Qt, QTimer

from .model import SessionModel

UI_QUEUE = 5000          # messages held for the UI; at ~4 per second per stream that is minutes


class MessageSource(Protocol):
    def get(self, timeout: float | None = None) -> Any | None: ...


class EngineController:
    """Start / stop / restart of the engine behind a view. UI-thread methods never block."""

    def __init__(self, engine, model: SessionModel,
                 factory: Callable[[str | None], Any] | None = None,
                 device: str | None = None, devices: Callable[[], list] | None = None,
                 maxlen: int = UI_QUEUE) -> None:
        self.engine = engine
        self.model = model
        self.factory = factory
        self.device = None if device is None else str(device)
        self._devices = devices
        self.maxlen = maxlen
        self._subs: list = []
        self._engines: list = []          # every engine started, for shutdown
        self._started = False
        self._starting = False
        self._error: str | None = None
        self._lock = threading.Lock()

    # ---- state -------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        if self._starting:
            return True
        e = self.engine
        return bool(self._started and e is not None and not e._done.is_set() and not e._stop.is_set())

    def devices(self) -> list[tuple[str, str]]:
        return self._devices() if self._devices else []

    def error_text(self) -> str | None:
        if self._error:
            return self._error
        e = self.engine
        if e is not None and e.error is not None:
            return f"engine stopped: {type(e.error).__name__}: {e.error}"
        return None

    # ---- control (UI thread) -------------------------------------------------------------------
    def start(self, device: str | None = None) -> None:
        """Start the engine (the given one first, then new ones from `factory`), off the UI
        thread. A new device, or a restart after a stop, begins a new session in the model."""
        device = None if device is None else str(device)
        if self.running and (device is None or device == self.device):
            return
        if self._starting:
            return
        if self.running:
            self.stop()
        if device is not None:
            self.device = device
        fresh = not self._started and self.engine is not None
        if not fresh and self.factory is None:
            self._error = "this source cannot be restarted"
            return
        if not fresh:
            self.model.clear()
        self._error = None
        self._starting = True
        threading.Thread(target=self._start, args=(fresh, self.device), name="ui-engine-start",
                         daemon=True).start()

    def _start(self, fresh: bool, device: str | None) -> None:
        try:
            engine = self.engine if fresh else self.factory(device)
            sub = engine.bus.subscribe(maxlen=self.maxlen)
            with self._lock:
                self._subs = [*self._subs, sub]
                self._engines.append(engine)
            engine.start()
            self.engine = engine
            self._started = True
        except Exception as exc:  # a device that cannot be opened: a banner, not a crash
            self._error = f"cannot start: {exc}"
        finally:
            self._starting = False

    def stop(self) -> None:
        """Ask the engine to finish (its summary still arrives); does not wait."""
        if self.engine is not None and self._started:
            self.engine.stop()

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Stop every engine and wait for them (call after the Qt loop has ended)."""
        deadline = time.monotonic() + timeout
        while self._starting and time.monotonic() < deadline:
            time.sleep(0.01)
        ok = True
        for e in self._engines:
            e.stop()
        for e in self._engines:
            ok &= e.wait(max(0.0, deadline - time.monotonic()))
        return ok

    # ---- messages ----------------------------------------------------------------------------
    def get(self, timeout: float | None = 0) -> Any | None:
        """The next message of any engine this controller started; never waits."""
        for sub in self._subs:
            msg = sub.get(timeout=0)
            if msg is not None:
                return msg
        return None


class MessagePump(QObject):
    """A QTimer on the UI thread: drain `source`, feed `model`, refresh `views`."""

    def __init__(self, source: MessageSource, model: SessionModel, views: Iterable = (),
                 interval_ms: int = 33, max_per_tick: int = 2000,
                 controller: EngineController | None = None) -> None:
        super().__init__()
        self.source, self.model = source, model
        self.views = list(views)
        self.controller = controller
        self.max_per_tick = max_per_tick
        self.ticks = 0
        self.messages = 0
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.tick)

    def start(self) -> "MessagePump":
        self.timer.start()
        return self

    def stop(self) -> None:
        self.timer.stop()

    def drain(self) -> int:
        n = 0
        while n < self.max_per_tick:
            msg = self.source.get(timeout=0)
            if msg is None:
                break
            self.model.feed(msg)
            n += 1
        self.messages += n
        if self.controller is not None:
            self.model.set_engine_error(self.controller.error_text())
        return n

    def tick(self) -> None:
        self.drain()
        for v in self.views:
            v.refresh()
        self.ticks += 1
