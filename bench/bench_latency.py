"""Event latency of one live stream on CPU: a window's last sample reaching the engine -> its event.

One FileSource paced in real time (20 ms blocks, as a capture callback delivers them) plays
~60 s of speech-heavy synthetic audio (espeak-ng + sox, cached under ~/.cache/ser-live/bench)
through the product's Engine. The figure is the engine's own `latency_ms` of every event
(measured from `Window.ready_at`). Targets (issue): p50 <= 20 ms, p99 <= 60 ms.

Baseline in the same run: the bare model call for one window (`Classifier.predict_windows`,
batch 1, calls 50 ms apart from a thread of its own, as the classifier worker makes them),
timed before and after the stream; the ratio latency / model call is the engine's
overhead factor (queueing, batching, event building), comparable across noisy machines.
Also shown: the engine's lag behind real time (status messages), and CPU use.

    .venv/bin/python bench/bench_latency.py [--model models] [--seconds 60] [--threads N] [--json FILE]
"""
from __future__ import annotations

import argparse
import statistics

from common import (DEFAULT_MODEL, CountingClassifier, CpuMeter, StampBus, TimedSource,
                    engine_lags_ms, in_thread, load_classifier, machine_line, model_call_ms, pct,
                    recording_file, sample_windows, speech_share, write_json)

P50_TARGET_MS, P99_TARGET_MS = 20.0, 60.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL), help="model folder (default: models/)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the live stream")
    ap.add_argument("--block", type=float, default=0.02, help="capture block, seconds")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's, as the product)")
    ap.add_argument("--repeats", type=int, default=200, help="bare model calls for the baseline")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    from ser_live.audio.sources import FileSource
    from ser_live.engine import Engine, EngineConfig

    path = recording_file("latency", args.seconds, seed=1, pauses=(0.15, 0.6), noise_db=-45)
    clf = load_classifier(args.model, args.threads)
    print(machine_line())
    print(f"stream: {path} ({args.seconds:.0f} s, {100 * speech_share(path):.0f}% speech frames), "
          f"{args.block * 1000:.0f} ms blocks, real time")
    wins = sample_windows(path)
    base_before = in_thread(model_call_ms, clf, wins, args.repeats // 2, gap_s=0.05)

    bus = StampBus()
    src = TimedSource(FileSource(path, realtime=True, block_s=args.block, name="live"))
    counting = CountingClassifier(clf)
    engine = Engine([src], counting, EngineConfig(), bus=bus)
    meter = CpuMeter(engine=engine._engine_thread, classifier=engine._worker_thread)
    engine.start()
    while not engine.wait(0.5):
        meter.poll()
    cpu = meter.read()
    if engine.error:
        raise engine.error
    base_after = in_thread(model_call_ms, clf, wins, args.repeats // 2, gap_s=0.05)

    lat = [m.latency_ms for _, m in bus.events]
    lags = engine_lags_ms(bus, [src])
    base = base_before + base_after
    summ = engine.summaries["live"]
    res = {
        "events": len(lat), "stream_s": summ.duration_s, "speech_s": summ.speech_s,
        "overruns": summ.overruns,
        "latency_p50_ms": pct(lat, 50), "latency_p90_ms": pct(lat, 90),
        "latency_p99_ms": pct(lat, 99), "latency_max_ms": max(lat) if lat else float("nan"),
        "model_call_median_ms": statistics.median(base), "model_call_p99_ms": pct(base, 99),
        "model_call_median_before_ms": statistics.median(base_before),
        "model_call_median_after_ms": statistics.median(base_after),
        "in_engine_model_call_median_ms": 1000 * statistics.median(counting.call_s or [float("nan")]),
        "in_engine_mean_batch": sum(counting.batches) / max(1, len(counting.batches)),
        "lag_p50_ms": pct(lags, 50), "lag_p99_ms": pct(lags, 99),
        **cpu,
    }
    res["ratio_p50_over_model_call"] = res["latency_p50_ms"] / res["model_call_median_ms"]
    res["ratio_p99_over_model_call_p99"] = res["latency_p99_ms"] / res["model_call_p99_ms"]
    res["pass"] = bool(lat) and res["latency_p50_ms"] <= P50_TARGET_MS and res["latency_p99_ms"] <= P99_TARGET_MS

    print(f"events: {len(lat)} from {summ.duration_s:.1f} s of stream ({summ.speech_s:.1f} s speech), "
          f"overruns {summ.overruns}")
    print(f"event latency:  p50 {res['latency_p50_ms']:.1f} ms (target <= {P50_TARGET_MS:.0f})   "
          f"p90 {res['latency_p90_ms']:.1f}   p99 {res['latency_p99_ms']:.1f} ms (target <= "
          f"{P99_TARGET_MS:.0f})   max {res['latency_max_ms']:.1f}")
    print(f"baseline, bare model call (batch 1): median {res['model_call_median_ms']:.2f} ms "
          f"(before {res['model_call_median_before_ms']:.2f}, after {res['model_call_median_after_ms']:.2f})"
          f"   p99 {res['model_call_p99_ms']:.2f} ms")
    print(f"model calls inside the engine: median {res['in_engine_model_call_median_ms']:.2f} ms, "
          f"mean batch {res['in_engine_mean_batch']:.2f}")
    print(f"ratio latency / model call: p50 {res['ratio_p50_over_model_call']:.2f}x   "
          f"p99 {res['ratio_p99_over_model_call_p99']:.2f}x")
    print(f"engine lag behind real time: p50 {res['lag_p50_ms']:.1f} ms   p99 {res['lag_p99_ms']:.1f} ms")
    print(f"CPU: process {100 * cpu['process_cores']:.0f}% of one core, engine thread "
          f"{cpu['engine_thread_pct']:.1f}%, classifier thread {cpu['classifier_thread_pct']:.1f}% "
          f"(torch pool threads not counted), "
          f"machine busy {cpu['machine_busy_pct']:.0f}%")
    print("PASS" if res["pass"] else "FAIL")
    write_json(args.json, res)


if __name__ == "__main__":
    main()
