"""The live engine: sources -> speech gate -> windows -> classifier worker -> event bus.

Three kinds of thread, one direction of data:
- capture (sounddevice's callback, or a pipe reader) only copies into a ring buffer;
- the engine thread converts audio, runs the VAD gate and the windower per stream, queues
  ready windows and publishes `status` messages;
- the classifier worker takes every window that is ready (across all streams) as one batch,
  runs the model, and publishes one `event` per window and a `summary` per ended stream.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from .audio.io import SAMPLE_RATE
from .bus import EventBus
from .events import EmotionEvent, Smoother, Status, SummaryBuilder, iso_now
from .vad import SpeechEnd, SpeechGate
from .windows import DEFAULT_HOP_S, Window, Windower


class Source(Protocol):
    streams: list[str]
    overruns: int
    error: str | None

    def start(self) -> None: ...
    def read(self) -> list[np.ndarray] | None: ...
    def stop(self) -> None: ...


class WindowClassifier(Protocol):
    labels: list[str]

    def predict_windows(self, windows: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class EngineConfig:
    hop_s: float = DEFAULT_HOP_S
    vad_aggressiveness: int = 2
    vad_frame_ms: int = 30
    smoothing: float = 1.0        # EMA weight of the newest window; 1 = off
    status_interval_s: float = 0.5
    max_batch: int = 64
    min_speech_s: float = 0.25
    max_pending: int = 128        # windows waiting for the classifier before the engine waits


@dataclass
class _StreamEnd:
    stream: str
    duration_s: float
    overruns: int


class _StreamState:
    """Per-stream gate, windower and status bookkeeping (engine thread only)."""

    def __init__(self, stream: str, cfg: EngineConfig) -> None:
        self.gate = SpeechGate(cfg.vad_aggressiveness, cfg.vad_frame_ms)
        self.windower = Windower(stream, cfg.hop_s, cfg.min_speech_s)
        self.samples = 0
        self.next_status = 0
        self.level_db = -120.0


class Engine:
    """Run sources through the pipeline until they end or `stop()` is called."""

    def __init__(self, sources: Sequence[Source], classifier: WindowClassifier,
                 cfg: EngineConfig = EngineConfig(), bus: EventBus | None = None) -> None:
        self.sources = list(sources)
        self.classifier = classifier
        self.labels = list(classifier.labels)
        self.cfg = cfg
        self.bus = bus or EventBus()
        self.streams = [s for src in self.sources for s in src.streams]
        if len(set(self.streams)) != len(self.streams):
            raise ValueError(f"duplicate stream ids: {self.streams}")
        self.summaries: dict = {}
        self._states = {s: _StreamState(s, cfg) for s in self.streams}
        # bounded: a source read faster than the model runs (offline analysis) must wait for
        # the classifier instead of piling up windows (128 KB each) without limit
        self._queue: queue.Queue = queue.Queue(maxsize=max(cfg.max_pending, cfg.max_batch))
        self._stop = threading.Event()
        self._done = threading.Event()
        self._status_every = int(cfg.status_interval_s * SAMPLE_RATE)
        self._error_status_due: dict[int, float] = {}
        self._engine_thread = threading.Thread(target=self._run_engine, name="engine", daemon=True)
        self._worker_thread = threading.Thread(target=self._run_worker, name="classifier", daemon=True)
        self.error: BaseException | None = None

    # ---- control -------------------------------------------------------------------------
    def start(self) -> "Engine":
        for src in self.sources:
            src.start()
        self._worker_thread.start()
        self._engine_thread.start()
        return self

    def stop(self) -> None:
        """Ask for a clean shutdown: open utterances are closed and summaries still sent."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every stream has ended and its events are out; False on timeout."""
        finished = self._done.wait(timeout)
        if finished:
            self._engine_thread.join()
            self._worker_thread.join()
        return finished

    def run(self) -> dict:
        """Start, wait for the end (Ctrl-C stops cleanly), return the summaries."""
        self.start()
        try:
            while not self.wait(0.2):
                pass
        except KeyboardInterrupt:
            self.stop()
            self.wait()
        if self.error:
            raise self.error
        return self.summaries

    # ---- engine thread -------------------------------------------------------------------
    def _run_engine(self) -> None:
        active = list(self.sources)
        try:
            while active:
                if self._stop.is_set():
                    for src in active:
                        src.stop()
                        self._finish(src)
                    break
                got_audio = False
                for src in list(active):
                    chunks = src.read()
                    if chunks is None:
                        self._finish(src)
                        active.remove(src)
                        continue
                    for stream, chunk in zip(src.streams, chunks):
                        if len(chunk):
                            got_audio = True
                            self._process(stream, chunk, src)
                    if src.error:
                        self._report_error(src)
                if not got_audio:
                    time.sleep(0.002)
        except BaseException as exc:  # surface in run(); never leave the worker waiting
            self.error = exc
            for src in self.sources:
                src.stop()
        finally:
            self._put(None)

    def _put(self, item: object) -> None:
        """Queue for the classifier, waiting while it is behind (never once it has stopped)."""
        while not self._done.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _process(self, stream: str, chunk: np.ndarray, src: Source) -> None:
        st = self._states[stream]
        out = st.gate.push(chunk)
        self._dispatch(st, out.segments)
        st.samples += len(chunk)
        st.level_db = max(st.level_db, out.level_db)
        if st.samples >= st.next_status:
            st.next_status = st.samples + self._status_every
            self.bus.publish(Status(stream=stream, t=round(st.samples / SAMPLE_RATE, 3),
                                    time=iso_now(), speech=out.speech,
                                    level_db=round(st.level_db, 1), overruns=src.overruns,
                                    error=src.error))
            st.level_db = -120.0

    def _report_error(self, src: Source) -> None:
        """A source that delivers nothing (a vanished device being retried) still reports,
        every status interval of wall time, so views can show why the trace stopped."""
        now = time.monotonic()
        if now < self._error_status_due.get(id(src), 0.0):
            return
        self._error_status_due[id(src)] = now + self.cfg.status_interval_s
        for stream in src.streams:
            st = self._states[stream]
            self.bus.publish(Status(stream=stream, t=round(st.samples / SAMPLE_RATE, 3),
                                    time=iso_now(), speech=False, level_db=-120.0,
                                    overruns=src.overruns, error=src.error))

    def _dispatch(self, st: _StreamState, segments: list) -> None:
        """Gate output -> windower -> classifier queue, in stream order."""
        now = time.monotonic()
        for seg in segments:
            windows = (st.windower.end(seg.end, now) if isinstance(seg, SpeechEnd)
                       else st.windower.push(seg.start, seg.audio, now))
            for w in windows:
                self._put(w)

    def _finish(self, src: Source) -> None:
        for stream in src.streams:
            st = self._states[stream]
            self._dispatch(st, st.gate.flush().segments)
            self._put(_StreamEnd(stream, st.samples / SAMPLE_RATE, src.overruns))

    # ---- classifier worker ---------------------------------------------------------------
    def _run_worker(self) -> None:
        smoothers = {s: Smoother(self.cfg.smoothing) for s in self.streams}
        builders = {s: SummaryBuilder(s, self.labels) for s in self.streams}
        running = True
        try:
            while running:
                batch = [self._queue.get()]
                while len(batch) < self.cfg.max_batch:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                windows = [b for b in batch if isinstance(b, Window)]
                probs = (self.classifier.predict_windows(np.stack([w.audio for w in windows]))
                         if windows else None)
                k = 0
                for item in batch:
                    if item is None:
                        running = False
                    elif isinstance(item, Window):
                        self._emit(item, probs[k], smoothers[item.stream], builders[item.stream])
                        k += 1
                    else:
                        summary = builders[item.stream].build(item.duration_s, item.overruns)
                        self.summaries[item.stream] = summary
                        self.bus.publish(summary)
        except BaseException as exc:
            self.error = exc
            self._stop.set()
        finally:
            self._done.set()

    def _emit(self, w: Window, p: np.ndarray, smoother: Smoother, builder: SummaryBuilder) -> None:
        t0, t1 = w.start / SAMPLE_RATE, w.end / SAMPLE_RATE
        smoothed = smoother.update(p, t0, t1) if self.cfg.smoothing < 1.0 else None
        ev = EmotionEvent.from_probs(w.stream, t0, t1, self.labels, p,
                                     (time.monotonic() - w.ready_at) * 1000.0, smoothed)
        builder.add(ev)
        self.bus.publish(ev)
