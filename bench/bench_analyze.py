"""Throughput of offline `analyze` over long recordings: audio seconds per wall second.

--files recordings of --minutes each (synthetic speech with pauses and background noise,
espeak-ng + sox, cached under ~/.cache/ser-live/bench) go through `ser_live.analyze.analyze_file`,
the code behind `ser-live analyze`: decoding, WebRTC VAD, 2 s windows every 0.5 s inside
speech, the TorchScript model in batches, events and summaries. Target (issue): >= 300x real
time. Model loading is done once, before the clock starts (as the CLI does once per run).

Baseline in the same run, a seed-style pipeline over the same files: decode, cut into
consecutive 2 s segments (no VAD), the seed projects' librosa features on each segment
(`seed_vector`: MFCC + chroma + mel, 180 values) and the same model on each segment, one at a
time. Its throughput and our ratio to it are printed. (The seed pipeline classifies every
segment once; ours skips silence but classifies speech 4 times over with its 0.5 s hop.)

--profile N runs cProfile over the engine and classifier threads while analysing the first N
seconds of the first file and prints the top costs of each thread.

    .venv/bin/python bench/bench_analyze.py [--model models] [--files 3] [--minutes 10] \
        [--threads N] [--max-batch B] [--profile SECONDS] [--json FILE]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from common import (DEFAULT_MODEL, SAMPLE_RATE, load_classifier, machine_line, recording_file,
                    write_json)

TARGET_X = 300.0


def ours(files: list[Path], clf, cfg) -> dict:
    from ser_live.analyze import analyze_file

    audio_s = wall = cpu = 0.0
    events = 0
    for f in files:
        t, c = time.perf_counter(), time.process_time()
        evs, sums = analyze_file(f, clf, cfg)
        wall += time.perf_counter() - t
        cpu += time.process_time() - c
        audio_s += sum(s.duration_s for s in sums)
        events += len(evs)
    return {"audio_s": audio_s, "wall_s": wall, "cpu_s": cpu, "events": events,
            "x_realtime": audio_s / wall}


def seed_style(files: list[Path], clf, max_seconds: float | None) -> dict:
    import warnings

    import soundfile as sf

    from ser_live.train.baseline import seed_vector

    warnings.filterwarnings("ignore", message="Trying to estimate tuning")  # chroma on silence

    seg = 2 * SAMPLE_RATE
    seed_vector(np.zeros(seg, np.float32))  # librosa's numba compilation: not timed
    audio_s = wall = 0.0
    n = 0
    for f in files:
        t = time.perf_counter()
        frames = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
        x, _ = sf.read(str(f), dtype="float32", frames=frames if frames else -1)
        for s in range(0, len(x) - seg + 1, seg):
            w = x[s:s + seg]
            seed_vector(w)
            clf.predict_windows(w[None])
            n += 1
        wall += time.perf_counter() - t
        audio_s += len(x) / SAMPLE_RATE
    return {"audio_s": audio_s, "wall_s": wall, "segments": n, "x_realtime": audio_s / wall}


def profile(path: Path, seconds: float, clf, cfg, top: int = 18) -> None:
    """cProfile of the engine and classifier threads over the first `seconds` of `path`."""
    import cProfile
    import io
    import pstats
    import tempfile

    import soundfile as sf

    from ser_live.audio.sources import FileSource
    from ser_live.engine import Engine

    profs = {"engine": cProfile.Profile(), "classifier": cProfile.Profile()}

    class ProfiledEngine(Engine):
        def _run_engine(self) -> None:
            profs["engine"].runcall(super()._run_engine)

        def _run_worker(self) -> None:
            profs["classifier"].runcall(super()._run_worker)

    x, _ = sf.read(str(path), dtype="float32", frames=int(seconds * SAMPLE_RATE))
    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / "part.wav"
        sf.write(str(part), x, SAMPLE_RATE, subtype="PCM_16")
        engine = ProfiledEngine([FileSource(part, realtime=False, name="p")], clf, cfg)
        sub = engine.bus.subscribe(maxlen=10_000_000)  # as analyze_file does
        t = time.perf_counter()
        engine.run()
        wall = time.perf_counter() - t
        engine.bus.close()
        del sub
    print(f"\nprofile: first {len(x) / SAMPLE_RATE:.0f} s of {path.name} in {wall:.2f} s "
          f"({len(x) / SAMPLE_RATE / wall:.0f}x real time under the profiler)")
    for name, p in profs.items():
        s = io.StringIO()
        pstats.Stats(p, stream=s).sort_stats("tottime").print_stats(top)
        lines = s.getvalue().splitlines()
        start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
        total = next((ln for ln in lines if "function calls" in ln), "").strip()
        print(f"--- {name} thread: {total}; top {top} by own time")
        print("\n".join(lines[start:start + top + 1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL), help="model folder (default: models/)")
    ap.add_argument("--files", type=int, default=3, help="number of recordings")
    ap.add_argument("--minutes", type=float, default=10.0, help="length of each recording")
    ap.add_argument("--seed-seconds", type=float,
                    help="time the seed pipeline on only the first S seconds of each file (default: all)")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's, as the product)")
    ap.add_argument("--max-batch", type=int, help="EngineConfig.max_batch (default: the engine's)")
    ap.add_argument("--profile", type=float, metavar="SECONDS",
                    help="also cProfile the engine over the first SECONDS of the first file")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    files = [recording_file("analyze", args.minutes * 60, seed=200 + k, pauses=(0.3, 3.0), noise_db=-40)
             for k in range(args.files)]
    from ser_live.engine import EngineConfig

    cfg = EngineConfig(max_batch=args.max_batch) if args.max_batch else EngineConfig()
    clf = load_classifier(args.model, args.threads)
    print(machine_line())
    print(f"{len(files)} recordings of {args.minutes:g} min under {files[0].parent}; "
          f"engine max_batch {cfg.max_batch}")
    a = ours(files, clf, cfg)
    b = seed_style(files, clf, args.seed_seconds)
    res = {"ours": a, "seed_style": b, "ratio_ours_over_seed": a["x_realtime"] / b["x_realtime"],
           "target_x_realtime": TARGET_X, "pass": a["x_realtime"] >= TARGET_X}
    print(f"ours (analyze):  {a['audio_s']:.0f} s of audio in {a['wall_s']:.2f} s = "
          f"{a['x_realtime']:.0f}x real time (target >= {TARGET_X:.0f}x); {a['events']} events; "
          f"CPU {a['cpu_s'] / a['wall_s']:.2f} cores")
    print(f"seed-style (librosa features + model per 2 s segment): {b['audio_s']:.0f} s in "
          f"{b['wall_s']:.2f} s = {b['x_realtime']:.0f}x real time ({b['segments']} segments)")
    print(f"ratio ours / seed-style: {res['ratio_ours_over_seed']:.1f}x")
    print("PASS" if res["pass"] else "FAIL")
    if args.profile:
        profile(files[0], args.profile, clf, cfg)
    write_json(args.json, res)


if __name__ == "__main__":
    main()
