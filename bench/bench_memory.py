"""Memory over a 1-hour stream: does the engine's resident memory stay flat?

A source that loops a few minutes of synthetic speech with pauses (espeak-ng + sox, cached
under ~/.cache/ser-live/bench) hands the Engine --hours of audio as fast as it is read, in
1 s blocks (as a FileSource does when not in real time), so an hour passes in well under a
minute of wall time. A sink consumes every message on its own thread, as `monitor`'s output
does. RSS (VmRSS from /proc/self/status; psutil is not needed) is taken after the model is
loaded and the engine built ("start"), every --every minutes of stream time (from the engine
thread, with the number of windows waiting for the classifier), and at the end.
Target: growth < 50 MB, checked as steady-state growth from the 10-minute mark to the end
(a leak or an unbounded queue keeps growing; warm-up does not). Growth from start to end is
printed too: it also holds one-time warm-up (torch buffers for the largest batch in the
classifier thread's own malloc arena, the bounded window queue, the sink's queue), and is
checked against the same 50 MB as a second, stricter line. Baseline in the same run: RSS at
start (ratio end/start) and the first-10-minutes growth.

    .venv/bin/python bench/bench_memory.py [--model models] [--hours 1] [--loop-minutes 5] [--json FILE]
"""
from __future__ import annotations

import argparse
import gc
import time

import numpy as np

from common import (DEFAULT_MODEL, SAMPLE_RATE, hwm_mb, load_classifier, machine_line,
                    recording_file, rss_mb, write_json)

GROWTH_TARGET_MB = 50.0


class LoopSource:
    """`total_s` seconds of `audio` looped, 1 s per read; notes RSS every `every_s`."""

    def __init__(self, audio: np.ndarray, total_s: float, every_s: float, name: str = "loop") -> None:
        self.audio = audio
        self.total = int(total_s * SAMPLE_RATE)
        self.block = SAMPLE_RATE
        self.every = int(every_s * SAMPLE_RATE)
        self.streams = [name]
        self.overruns = 0
        self.error = None
        self.engine = None
        self.marks: list[dict] = []
        self._sent = 0
        self._pos = 0
        self._next_mark = 0
        self._t0 = 0.0
        self._stopped = False

    def start(self) -> None:
        self._t0 = time.monotonic()

    def _mark(self) -> None:
        q = self.engine._queue.qsize() if self.engine is not None else 0
        self.marks.append({"stream_s": self._sent / SAMPLE_RATE, "rss_mb": rss_mb(), "queued_windows": q,
                           "wall_s": time.monotonic() - self._t0})

    def read(self):
        if self._sent >= self._next_mark:
            self._mark()
            self._next_mark += self.every
        if self._stopped or self._sent >= self.total:
            return None
        n = min(self.block, self.total - self._sent)
        out = np.empty(n, np.float32)
        k = 0
        while k < n:  # wrap around the loop
            take = min(n - k, len(self.audio) - self._pos)
            out[k:k + take] = self.audio[self._pos:self._pos + take]
            k += take
            self._pos = (self._pos + take) % len(self.audio)
        self._sent += n
        return [out]

    def stop(self) -> None:
        self._stopped = True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL), help="model folder (default: models/)")
    ap.add_argument("--hours", type=float, default=1.0, help="stream length")
    ap.add_argument("--loop-minutes", type=float, default=5.0, help="length of the looped recording")
    ap.add_argument("--every", type=float, default=5.0, help="RSS sample every this many stream minutes")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's, as the product)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    import soundfile as sf

    from ser_live.engine import Engine, EngineConfig

    path = recording_file("memory", args.loop_minutes * 60, seed=300, pauses=(0.3, 2.5), noise_db=-45)
    audio, _ = sf.read(str(path), dtype="float32")
    clf = load_classifier(args.model, args.threads)
    print(machine_line())
    print(f"stream: {args.hours:g} h looping {path.name} ({args.loop_minutes:g} min), as fast as possible")

    src = LoopSource(audio, args.hours * 3600, args.every * 60)
    engine = Engine([src], clf, EngineConfig())
    src.engine = engine
    counts = {"event": 0, "status": 0, "summary": 0}
    engine.bus.attach(lambda m: counts.__setitem__(m.type, counts[m.type] + 1), name="count-sink")
    gc.collect()
    rss_start = rss_mb()
    t = time.perf_counter()
    engine.run()
    wall = time.perf_counter() - t
    engine.bus.close()
    rss_end_live = rss_mb()  # before anything is freed
    gc.collect()
    rss_end = rss_mb()

    marks = src.marks
    at10 = next((m for m in marks if m["stream_s"] >= 600), marks[-1])
    growth = rss_end_live - rss_start
    if at10["stream_s"] < 600:
        print("note: stream shorter than 10 min; the '10 min' figures are at the last mark")
    res = {"stream_s": engine.summaries["loop"].duration_s, "wall_s": wall,
           "x_realtime": engine.summaries["loop"].duration_s / wall, "messages": counts,
           "rss_start_mb": rss_start, "rss_10min_mb": at10["rss_mb"], "rss_end_mb": rss_end_live,
           "rss_end_after_gc_mb": rss_end, "peak_hwm_mb": hwm_mb(), "growth_mb": growth,
           "growth_first_10min_mb": at10["rss_mb"] - rss_start,
           "growth_after_10min_mb": rss_end_live - at10["rss_mb"],
           "max_queued_windows": max(m["queued_windows"] for m in marks), "marks": marks,
           "ratio_end_over_start": rss_end_live / rss_start}
    res["pass"] = res["growth_after_10min_mb"] < GROWTH_TARGET_MB
    res["pass_start_to_end"] = growth < GROWTH_TARGET_MB
    print(f"{res['stream_s'] / 60:.1f} min of stream in {wall:.1f} s ({res['x_realtime']:.0f}x real time); "
          f"{counts['event']} events, {counts['status']} status messages")
    print(f"{'stream min':>10} {'wall s':>7} {'RSS MB':>8} {'queued windows':>15}")
    for m in marks:
        print(f"{m['stream_s'] / 60:>10.1f} {m['wall_s']:>7.1f} {m['rss_mb']:>8.1f} {m['queued_windows']:>15}")
    print(f"RSS: start {rss_start:.1f} MB, after 10 min {at10['rss_mb']:.1f} MB, end {rss_end_live:.1f} MB "
          f"(after gc {rss_end:.1f}), peak {res['peak_hwm_mb']:.1f} MB")
    print(f"steady-state growth, 10 min -> end: {res['growth_after_10min_mb']:+.1f} MB "
          f"(target < {GROWTH_TARGET_MB:.0f} MB): {'PASS' if res['pass'] else 'FAIL'}")
    print(f"growth start -> end, warm-up included: {growth:+.1f} MB (first 10 min "
          f"{res['growth_first_10min_mb']:+.1f} MB; ratio end/start {res['ratio_end_over_start']:.2f}x): "
          f"{'within' if res['pass_start_to_end'] else 'over'} {GROWTH_TARGET_MB:.0f} MB")
    print("PASS" if res["pass"] else "FAIL")
    write_json(args.json, res)


if __name__ == "__main__":
    main()
