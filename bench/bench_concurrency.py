"""How many simultaneous live streams one Engine serves on this machine's CPU.

For each N in --steps, N FileSources paced in real time (20 ms blocks) run for --duration
seconds in one Engine: speech with pauses (espeak-ng + sox, cached under
~/.cache/ser-live/bench), --files different recordings shared round-robin, and starts
staggered over --stagger seconds so the streams' windows do not fall due together.
A step passes when
  - p99 event latency (`latency_ms`, from Window.ready_at) <= 250 ms (issue target);
  - no audio is dropped: overruns 0, and every stream's summary has its whole duration;
  - the engine keeps up: p99 lag behind real time <= 250 ms. (A FileSource cannot overrun,
    it just hands over a bigger chunk when read late; the lag is what would fill a
    microphone's ring buffer, and it hides from `latency_ms`, which starts when the audio
    reaches the engine.)
Stepping stops at the first failing N (unless --keep-going); the largest passing N is the
figure (goal: 100). Baseline in the same run: the N=1 step (or the smallest N), and every
step's p99 is also shown as a ratio to it. CPU: whole process in cores, the engine thread
(VAD + windowing of every stream, pure Python, bound to one core by the GIL), the classifier
thread (torch's own pool threads not included), and the whole machine.

    .venv/bin/python bench/bench_concurrency.py [--model models] [--steps 1,10,25,50,75,100,150] \
        [--duration 30] [--stagger 2] [--threads N] [--keep-going] [--json FILE]
"""
from __future__ import annotations

import argparse

from common import (DEFAULT_MODEL, CountingClassifier, CpuMeter, StampBus, TimedSource,
                    engine_lags_ms, load_classifier, machine_line, pct, recording_file,
                    speech_share, write_json)

P99_TARGET_MS = 250.0
LAG_TARGET_MS = 250.0


def run_step(n: int, files, durations, clf, args) -> dict:
    from ser_live.audio.sources import FileSource
    from ser_live.engine import Engine, EngineConfig

    sources = [TimedSource(FileSource(files[i % len(files)], realtime=True, block_s=args.block,
                                      name=f"s{i:03d}"), delay_s=args.stagger * i / n)
               for i in range(n)]
    bus = StampBus()
    counting = CountingClassifier(clf)
    engine = Engine(sources, counting, EngineConfig(), bus=bus)
    meter = CpuMeter(engine=engine._engine_thread, classifier=engine._worker_thread)
    engine.start()
    limit = args.duration + args.stagger + max(30.0, args.duration)
    finished = True
    while not engine.wait(0.5):
        meter.poll()
        if meter.read()["wall_s"] > limit:
            engine.stop()
            finished = engine.wait(30)
            break
    cpu = meter.read()
    lat = [m.latency_ms for _, m in bus.events]
    lags = engine_lags_ms(bus, sources)
    want = {s: durations[i % len(files)] for i, src in enumerate(sources) for s in src.streams}
    short = [s for s, d in want.items()
             if s not in engine.summaries or engine.summaries[s].duration_s < d - 0.05]
    overruns = sum(s.overruns for s in engine.summaries.values())
    res = {"n": n, "events": len(lat), "latency_p50_ms": pct(lat, 50), "latency_p99_ms": pct(lat, 99),
           "latency_max_ms": max(lat) if lat else float("nan"),
           "lag_p50_ms": pct(lags, 50), "lag_p99_ms": pct(lags, 99),
           "lag_max_ms": max(lags) if lags else float("nan"),
           "overruns": overruns, "incomplete_streams": len(short), "finished": finished,
           "error": repr(engine.error) if engine.error else None,
           "mean_batch": sum(counting.batches) / max(1, len(counting.batches)),
           "max_batch": max(counting.batches, default=0),
           "model_s": sum(counting.call_s), **cpu}
    res["pass"] = bool(finished and not engine.error and lat and overruns == 0 and not short
                       and res["latency_p99_ms"] <= P99_TARGET_MS and res["lag_p99_ms"] <= LAG_TARGET_MS)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL), help="model folder (default: models/)")
    ap.add_argument("--steps", default="1,10,25,50,75,100,150", help="stream counts to try, in order")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of audio per stream and step")
    ap.add_argument("--stagger", type=float, default=2.0, help="stream starts spread over this many s")
    ap.add_argument("--files", type=int, default=8, help="different recordings, shared round-robin")
    ap.add_argument("--block", type=float, default=0.02, help="capture block, seconds")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's, as the product)")
    ap.add_argument("--keep-going", action="store_true", help="run every step even after a failure")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    import soundfile as sf

    steps = [int(s) for s in args.steps.split(",")]
    files = [recording_file("concurrency", args.duration, seed=100 + k, pauses=(0.3, 2.5), noise_db=-45)
             for k in range(args.files)]
    durations = [sf.info(str(f)).frames / sf.info(str(f)).samplerate for f in files]
    clf = load_classifier(args.model, args.threads)
    print(machine_line())
    print(f"{len(files)} recordings of {args.duration:.0f} s ({100 * speech_share(files[0]):.0f}% speech "
          f"frames in the first), real time, {args.block * 1000:.0f} ms blocks, starts over {args.stagger} s")
    print(f"targets: p99 latency <= {P99_TARGET_MS:.0f} ms, lag p99 <= {LAG_TARGET_MS:.0f} ms, "
          f"overruns 0, all audio processed")
    hdr = (f"{'N':>4} {'events':>7} {'p50 ms':>8} {'p99 ms':>8} {'p99/base':>8} {'max ms':>8} "
           f"{'lag99 ms':>9} {'lagmax':>8} {'batch':>6} {'cores':>6} {'engine%':>8} {'clf%':>6} "
           f"{'machine%':>8} {'ovr':>4} {'short':>5}  result")
    print(hdr)
    results, best, base = [], 0, None
    for n in steps:
        r = run_step(n, files, durations, clf, args)
        base = base or r["latency_p99_ms"]
        r["ratio_p99_over_first_step"] = r["latency_p99_ms"] / base
        results.append(r)
        print(f"{n:>4} {r['events']:>7} {r['latency_p50_ms']:>8.1f} {r['latency_p99_ms']:>8.1f} "
              f"{r['ratio_p99_over_first_step']:>7.1f}x {r['latency_max_ms']:>8.1f} {r['lag_p99_ms']:>9.1f} "
              f"{r['lag_max_ms']:>8.1f} {r['mean_batch']:>6.1f} {r['process_cores']:>6.2f} "
              f"{r['engine_thread_pct']:>8.0f} {r['classifier_thread_pct']:>6.0f} "
              f"{r['machine_busy_pct']:>8.0f} {r['overruns']:>4} {r['incomplete_streams']:>5}  "
              f"{'pass' if r['pass'] else 'FAIL'}{'' if r['finished'] else ' (timed out)'}"
              f"{' ' + r['error'] if r['error'] else ''}", flush=True)
        if r["pass"]:
            best = max(best, n)
        elif not args.keep_going:
            break
    print(f"largest passing N: {best} (goal 100); baseline p99 (N={steps[0]}): {base:.1f} ms")
    write_json(args.json, {"largest_passing_n": best, "steps": results})


if __name__ == "__main__":
    main()
