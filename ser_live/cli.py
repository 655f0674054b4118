"""`ser-live` command line. Heavy modules are imported inside each command, so `--help` is instant."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any, Callable, Sequence


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def prepare_output(path: str | Path, flag: str, folder: bool = False,
                   inputs: Sequence[str | Path | None] = ()) -> Path:
    """Create an output folder (`folder`) or an output file's folder before any work.

    A path that cannot be written then fails in a second with a one-line error naming the
    option, instead of after minutes of evaluation or analysis whose results it would lose.
    An output file that is one of the command's `inputs` is refused: opening it for writing
    would erase the recording (or manifest) before it was read.
    """
    import os

    p = Path(path)
    if not folder and p.is_file():
        for src in filter(None, inputs):  # None: an input not given
            if Path(src).is_file() and os.path.samefile(p, src):
                raise CliError(f"{flag} {path}: is the input {src}; writing there would erase it")
    where = p if folder else p.parent
    existing = next((d for d in (where, *where.parents) if d.exists()), None)
    if existing is not None and not existing.is_dir():
        raise CliError(f"{flag} {path}: {existing} is a file, not a folder")
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"{flag} {path}: cannot create the folder {where} "
                       f"({exc.strerror or type(exc).__name__})") from None
    if not folder and p.is_dir():
        raise CliError(f"{flag} {path}: is a folder; expected a file name")
    return p


def _command_line() -> str:
    """This invocation as a user would type it, for reports that say how to reproduce them."""
    import shlex

    return "ser-live " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _records(args: argparse.Namespace, split: str | None, all_corpora: bool = False):
    """Clips from --manifest and/or --data (native corpus folders), filtered by --corpus
    unless `all_corpora`."""
    from .train.data import read_manifest, select

    records = []
    if getattr(args, "manifest", None):
        records += read_manifest(args.manifest, args.root)
    else:
        refuse_unused(args, ("--root",), "not used without --manifest (the manifest's paths are "
                      "relative to it; --data folders need none)")
    for folder in getattr(args, "data", None) or []:
        from .train.layouts import LAYOUTS, scan_corpus

        if not Path(folder).is_dir():
            raise CliError(f"{folder}: corpus folder not found")
        found, warnings = scan_corpus(Path(folder))
        for w in warnings:
            print(f"skipped: {w}", file=sys.stderr)
        if not found:
            raise CliError(f"--data {folder}: no audio files named as in a known corpus layout "
                           f"({', '.join(LAYOUTS)}; see README, Your own corpora)")
        records += found
    if not records:
        raise CliError("no clips: give --manifest FILE or --data DIR")
    corpus = None if all_corpora else args.corpus
    chosen = select(records, split=split, corpus=corpus)
    if not chosen:
        asked = " and ".join(f"{k} {v}" for k, v in (("split", split), ("corpus", corpus)) if v)
        raise CliError(f"no clips with {asked}: the data has corpora "
                       f"{', '.join(sorted({r.corpus for r in records}))} and splits "
                       f"{', '.join(sorted({r.split or repr('') for r in records}))}")
    return chosen


def given_options(**options: Any) -> dict[str, Any]:
    """The options the user gave; those left out (None) take the config class's own default,
    so that options can be told apart from defaults, and defaults live in one place."""
    return {k: v for k, v in options.items() if v is not None}


def cmd_train(args: argparse.Namespace) -> int:
    if args.ema >= 1.0:  # an average that never moves from the first step's weights
        raise CliError(f"--ema: expected a decay below 1, got {args.ema}")
    if args.mixup and args.teacher:
        # the teacher's targets would have to be mixed like the inputs; not done
        raise CliError("--mixup cannot be combined with --teacher")
    if args.init:
        refuse_unused(args, ("--unidirectional", "--channels", "--time-strides", "--top-db", "--compression"),
                      "not used with --init (the checkpoint's architecture and features are kept)")
    if args.compression == "pcen":
        refuse_unused(args, ("--top-db",), "not used with --compression pcen (it floors the log-mel)")
    if not args.teacher:
        refuse_unused(args, ("--distill",), "weighs the targets of --teacher CHECKPOINT, which is not given")
    records = _records(args, split="train")  # bad input fails here, before torch loads

    from .features import FeatureConfig
    from .model.net import NetConfig
    from .train.data import default_cache_dir
    from .train.loop import BEST, LAST, TrainConfig, train

    # a finished run is hours of work: replaced only when asked, and never the checkpoint the
    # new run starts from or learns from
    out = Path(args.out)
    written = {(out / f).resolve() for f in (BEST, LAST)}
    for flag, src in (("--init", args.init), ("--teacher", args.teacher)):
        if src and Path(src).resolve() in written:
            raise CliError(f"--out {args.out}: the run would overwrite {flag} {src}")
    held = [f for f in (BEST, LAST) if (out / f).exists()]
    if held and not args.overwrite:
        raise CliError(f"--out {args.out}: holds a run ({', '.join(held)}); choose another folder, "
                       "or --overwrite to replace it")
    out = prepare_output(args.out, "--out", folder=True)
    features = FeatureConfig(**given_options(top_db=args.top_db, compression=args.compression))
    net = NetConfig(bidirectional=not args.unidirectional, features=features,
                    **given_options(channels=args.channels, time_strides=args.time_strides))
    cfg = TrainConfig(out_dir=out, epochs=args.epochs, batch_size=args.batch_size,
                      lr=args.lr, seed=args.seed, split_seed=args.split_seed, workers=args.workers,
                      threads=args.threads, device=args.device, samples_per_epoch=args.samples_per_epoch,
                      patience=args.patience, progress=not args.no_progress,
                      init=Path(args.init) if args.init else None,
                      noise_consistency=args.noise_consistency,
                      teacher=Path(args.teacher) if args.teacher else None,
                      sampling=args.sampling, ema=args.ema, mixup=args.mixup, net=net,
                      **given_options(distill=args.distill))
    train(records, cfg, default_cache_dir(), command=_command_line())
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .train.export import export

    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():  # said before the output folder is made
        raise CliError(f"{checkpoint}: no such checkpoint")
    export(checkpoint, prepare_output(args.out, "--out", folder=True), onnx=args.onnx,
           command=_command_line())
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .train.evaluate import evaluate

    if args.corrupt != "none":  # the report would set a clean baseline beside a corrupted model
        refuse_unused(args, ("--baseline",), f"not used with --corrupt {args.corrupt} (the seed "
                      "baseline scores the clean clips)")

    # the baseline learns from every training corpus, as the model did
    baseline_train = _records(args, split="train", all_corpora=True) if args.baseline else ()
    # corpora in their native layouts carry no split: all their clips count as `train`
    split = args.split if args.split is not None else ("test" if args.manifest else "")
    if split == "val":
        from .train.evaluate import validation_records

        records = validation_records(_records(args, split="train"), Path(args.model))
    else:
        records = _records(args, split=split or None)
    inputs = [args.manifest, *(Path(args.model) / f for f in ("model.json", "model.pt"))]
    evaluate(records, Path(args.model), args.classes, prepare_output(args.out, "--out", inputs=inputs),
             baseline=args.baseline, train_records=baseline_train, corrupt=args.corrupt,
             command=_command_line(), **given_options(device=args.device, precision=args.precision))
    return 0  # no clips to score is a DataError, reported as a one-line error


def cmd_model_card(args: argparse.Namespace) -> int:
    from .train.model_card import write_model_card

    print(write_model_card(Path(args.model)))
    return 0


def cmd_corpus_report(args: argparse.Namespace) -> int:
    from .train.corpus_report import corpus_report

    records = _records(args, split=None)
    for p in corpus_report(records, prepare_output(args.out, "--out", folder=True)):
        print(p)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import json

    from .analyze import expand_inputs
    from .audio.io import AudioLoadError, load_audio
    from .events import rounded_views
    from .labels import derived_views
    from .vad import speech_span

    files = expand_inputs(args.files)
    if not files:
        raise CliError("no audio files found in " + ", ".join(args.files))
    clf = _classifier(args)
    failed = 0
    for path in files:
        try:
            audio = load_audio(path)
        except AudioLoadError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            failed += 1
            continue
        span = speech_span(audio)
        if span is None:  # an emotion of silence or hum would be noise: say there is no speech
            row = {"file": str(path), "speech": False, "label": None, "confidence": None, "probs": None,
                   "valence3": None, "arousal": None, "valence": None}
        else:
            probs = clf.predict_clip(audio[span[0]:span[1]])
            top = int(probs.argmax())
            row = {"file": str(path), "speech": True, "label": clf.labels[top],
                   "confidence": round(float(probs[top]), 4),
                   "probs": {lbl: round(float(p), 4) for lbl, p in zip(clf.labels, probs)},
                   **rounded_views(derived_views(clf.labels, probs))}
        print(json.dumps(row), flush=True)
    if failed:
        print(f"{failed} of {len(files)} file(s) could not be read", file=sys.stderr)
    return 1 if failed else 0


DEMO_AUDIO = Path(__file__).resolve().parent.parent / "assets" / "demo_call.wav"


def _engine_config(args: argparse.Namespace):
    from .engine import EngineConfig

    return EngineConfig(**given_options(hop_s=args.hop, vad_aggressiveness=args.vad,
                                        vad_frame_ms=args.vad_frame_ms, smoothing=args.smooth))


def refuse_unused(args: argparse.Namespace, flags: Sequence[str], why: str) -> None:
    """Refuse `flags` the user gave that the rest of the command line makes moot: ignored,
    they mislead (`--input-device` beside `--input FILE` monitored the file, not the
    microphone the user named). Given means not None and not False; 0 is a value given."""
    given = [f for f in flags if (v := getattr(args, f[2:].replace("-", "_"), None)) is not None
             and v is not False]
    if given:
        raise CliError(f"{', '.join(given)}: {why}")


def refuse_mono_split(args: argparse.Namespace, channels: int, what: str) -> None:
    """`--split-channels` on one channel would give one stream with no word said: the agent
    and the customer of a call recorded in mono cannot be told apart that way."""
    if args.split_channels and channels < 2:
        raise CliError(f"--split-channels: {what} has one channel, nothing to split")


def _open_sources(args: argparse.Namespace) -> list:
    """The sources `monitor` reads: --input FILE | - | the input device."""
    names = args.stream_names
    channels = args.channels or 1
    if args.input and args.input != "-":
        from .audio.sources import FileSource

        refuse_unused(args, ("--input-device", "--rate", "--channels", "--encoding"), "not used with "
                      "--input FILE (the file is the source, and its header says how it is encoded)")
        src = FileSource(args.input, realtime=args.realtime, split=args.split_channels, names=names)
        refuse_mono_split(args, src.channels, args.input)
        return [src]
    refuse_mono_split(args, channels, "the input (--channels 1)")
    if args.input == "-":
        from .audio.sources import StdinSource

        refuse_unused(args, ("--input-device", "--realtime"), "not used with --input - (stdin is the "
                      "source, and it is live already)")
        return [StdinSource(rate=args.rate or 16000, channels=channels, split=args.split_channels,
                            names=names, **given_options(encoding=args.encoding))]
    refuse_unused(args, ("--realtime",), "paces --input FILE; a device is live already")
    refuse_unused(args, ("--encoding",), "describes raw audio on --input -; a device gives samples")
    try:
        from .audio.sources import MicSource
        import sounddevice as sd
    except OSError as exc:  # PortAudio missing
        raise CliError(f"audio capture unavailable ({exc}); run scripts/setup.sh") from None
    device = int(args.input_device) if args.input_device and args.input_device.isdigit() else args.input_device
    if device is None:
        try:
            sd.query_devices(kind="input")
        except (ValueError, sd.PortAudioError):
            raise CliError(f"no input device found; for the bundled demo call run: "
                           f"ser-live monitor --input {DEMO_AUDIO} --realtime") from None
    return [MicSource(device, channels=channels, split=args.split_channels, rate=args.rate,
                      names=names)]


def cmd_monitor(args: argparse.Namespace) -> int:
    import signal

    from .engine import Engine
    from .sinks.jsonl import FollowedFile, JsonlSink, TextSink
    from .sinks.ws_cli import check_ws_arguments, start_broadcaster
    from .ui.app import display_available

    check_ws_arguments(args)
    ui = not args.headless and display_available()
    if not ui:
        refuse_unused(args, ("--overlay", "--history", "--negative-alert", "--follow"),
                      "not used with --headless (they set up the window)" if args.headless else
                      "not used: there is no display to show a window on, so the monitor runs headless")
    out_path = (prepare_output(args.out, "--out", inputs=[args.input])  # before a device opens
                if args.out else None)
    sources = _open_sources(args)
    engine = Engine(sources, _classifier(args), _engine_config(args))
    # appended to: a monitor restarted with the same --out keeps the sessions before; and
    # followed through log rotation
    out = FollowedFile(out_path) if out_path else (None if ui else sys.stdout)
    sink = None
    if out is not None:  # output that cannot be written stops the monitor: it is the point of it
        sink = (JsonlSink if args.format == "jsonl" else TextSink)(out, on_error=lambda _: engine.stop())
        engine.bus.attach(sink, name="output")
    broadcaster = start_broadcaster(engine, args)  # None unless --ws or --ws-publish
    try:
        if ui:
            from .ui.app import run_monitor_ui

            return run_monitor_ui(engine, args.overlay, args)
        signal.signal(signal.SIGTERM, lambda *_: engine.stop())
        engine.run()
    finally:
        engine.bus.close()
        if broadcaster:
            broadcaster.close()
        if out is not None and out is not sys.stdout:
            try:
                out.close()
            except OSError:  # the flush of a failed file: said below
                pass
    if sink is not None and sink.error is not None:
        raise sink.error  # main() says it like any other output that cannot be written
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    import csv
    import json

    from .analyze import analyze_file, expand_inputs, plot_timeline
    from .audio.io import AudioLoadError

    files = expand_inputs(args.files)
    if not files:
        raise CliError("no audio files found in " + ", ".join(args.files))
    if args.plot:
        prepare_output(args.plot, "--plot", folder=True)
    clf = _classifier(args)
    cfg = _engine_config(args)
    out = (open(prepare_output(args.out, "--out", inputs=files), "w", encoding="utf-8", newline="")
           if args.out else sys.stdout)
    writer = None
    everything: list[dict] = []
    failed = 0
    for path in files:
        try:
            events, summaries = analyze_file(path, clf, cfg, split=args.split_channels)
        except AudioLoadError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            failed += 1
            continue
        rows = [{"file": str(path), **e.to_dict()} for e in events]
        sums = [{"file": str(path), **s.to_dict()} for s in summaries]
        if args.format == "jsonl":
            for r in rows + sums:
                out.write(json.dumps(r, separators=(",", ":")) + "\n")
        elif args.format == "csv":
            if writer is None:
                writer = csv.writer(out)
                writer.writerow(["file", "stream", "t_start", "t_end", "label", "confidence",
                                 *clf.labels, "valence3", "arousal", "valence"])
            for e in events:
                writer.writerow([str(path), e.stream, e.t_start, e.t_end, e.label, e.confidence,
                                 *[e.probs[lbl] for lbl in clf.labels],
                                 max(e.valence3, key=e.valence3.get), e.arousal, e.valence])
        else:
            everything.append({"file": str(path), "events": rows, "summaries": sums})
        out.flush()
        if args.plot:
            for s in summaries:
                stream_events = [e for e in events if e.stream == s.stream]
                png = _unique(Path(args.plot) / f"{s.stream.replace(':', '_')}.timeline.png")
                plot_timeline(stream_events, clf.labels, png, f"{path.name}: {s.stream}", s.duration_s)
                print(f"wrote {png}", file=sys.stderr)
    if args.format == "json":
        json.dump(everything, out, indent=1)
        out.write("\n")
    if out is not sys.stdout:
        out.close()
    if failed:
        print(f"{failed} of {len(files)} file(s) failed", file=sys.stderr)
    return 1 if failed else 0


def _unique(path: Path) -> Path:
    """`path`, or `name-2.ext`, `name-3.ext`... if it exists (same-named files in other folders)."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(path.name.replace(".timeline.png", f"-{n}.timeline.png"))
    return candidate


def cmd_devices(args: argparse.Namespace) -> int:
    try:
        import sounddevice as sd
    except OSError as exc:
        raise CliError(f"audio capture unavailable ({exc}); run scripts/setup.sh") from None
    found = 0
    default_in = sd.default.device[0]
    for i, d in enumerate(sd.query_devices()):
        if d["max_input_channels"] > 0:
            found += 1
            mark = "*" if i == default_in else " "
            print(f"{mark} {i:3d}  {d['name']}  ({d['max_input_channels']} ch, "
                  f"{d['default_samplerate']:.0f} Hz)")
    if not found:
        print(f"no input devices; try: ser-live monitor --input {DEMO_AUDIO} --realtime")
        return 1
    return 0


def _int_triple(text: str) -> tuple[int, int, int]:
    """argparse type for "16,32,64": three positive integers."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected three positive integers like 16,32,64, got {text!r}")
    return values  # type: ignore[return-value]


def _distinct_items(text: str, noun: str, example: str, least: int) -> list[str]:
    """Comma-separated `text` as `least` or more distinct, non-empty items (stripped)."""
    items = [c.strip() for c in text.split(",")]
    repeated = [c for i, c in enumerate(items) if c in items[:i]]
    if "" in items:
        got = f"an empty {noun} in {text!r}"
    elif repeated:
        got = f"{repeated[0]!r} twice"
    elif len(items) < least:
        got = f"only {text!r}"
    else:
        return items
    count = "two or more distinct" if least == 2 else "distinct"
    raise argparse.ArgumentTypeError(f"expected {count} {noun}s like {example}, got {got}")


def _label_set(text: str) -> list[str]:
    """argparse type for `evaluate --classes`: two or more distinct labels. With one, every
    clip would be scored right (the argmax among one label); a repeated one added an empty
    row to the confusion matrix and lowered UA."""
    return _distinct_items(text, "label", "angry,sad", 2)


def _stream_ids(text: str) -> list[str]:
    """argparse type for `--stream-names`: distinct, non-empty ids. Two streams with one id
    would be one stream to every viewer (the engine refused them with a traceback), and an
    empty id cannot be asked for with `--stream`."""
    return _distinct_items(text, "stream id", "agent,customer", 1)


def add_stream_names(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stream-names", type=_stream_ids, metavar="A,B",
                   help="stream ids, one per stream (e.g. agent,customer)")


def number(cast: Callable[[str], float], low: float, high: float = math.inf,
           above: bool = False) -> Callable[[str], float]:
    """argparse type: a finite number of type `cast` from `low` (strictly `above` it) up to
    `high`. A zero hop or a NaN weight would otherwise reach the engine, which loops forever on
    one or fails deep inside on the other."""
    what = "a whole number" if cast is int else "a number"
    if high == math.inf:
        what += f" above {low:g}" if above else f" of at least {low:g}"
    else:
        what += f" above {low:g} and at most {high:g}" if above else f" from {low:g} to {high:g}"

    def parse(text: str) -> float:
        try:
            value = cast(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value > low if above else value >= low) and value <= high):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_fraction = number(float, 0.0, 1.0)
_positive = number(float, 0.0, above=True)
_count = number(int, 1)


#: torch CPU threads of the engine commands' model unless --threads says otherwise: one is
#: fastest for the small batches of live monitoring on a machine that also runs capture and VAD
ENGINE_THREADS = 1


def _classifier(args: argparse.Namespace):
    """The model the command's --model, --device, --precision (and --threads) ask for; options
    left out take the Classifier's defaults. Commands without --threads (predict) leave torch's
    thread count as it is."""
    from .model.runtime import Classifier

    threads = None
    if "threads" in args:
        threads = ENGINE_THREADS if args.threads is None else args.threads
    return Classifier(args.model, threads=threads,
                      **given_options(device=args.device, precision=args.precision))


def _add_runtime_args(p: argparse.ArgumentParser) -> None:
    """Where and in what arithmetic the model runs."""
    from .model.runtime import PRECISIONS

    # no parser defaults (None: the Classifier's own), so that a command where no model runs
    # can tell these options apart from defaults and refuse them
    p.add_argument("--device", choices=["auto", "cpu", "cuda"],
                   help="where the model runs (default auto: CUDA when there is a GPU)")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="the network's arithmetic (default auto: bf16 on CPUs with native bfloat16 "
                        "(AVX512-BF16, AMX), else fp32)")


def _add_engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    _add_runtime_args(p)
    # defaults (None) live in EngineConfig and ENGINE_THREADS, as for the runtime options
    p.add_argument("--threads", type=_count, help=f"torch CPU threads for the model (default {ENGINE_THREADS})")
    p.add_argument("--hop", type=_positive, help="seconds between windows inside speech (default 0.5)")
    p.add_argument("--vad", type=int, choices=[0, 1, 2, 3], help="webrtcvad aggressiveness (default 2)")
    p.add_argument("--vad-frame-ms", type=int, choices=[10, 20, 30], help="VAD frame length (default 30)")
    p.add_argument("--smooth", type=number(float, 0.0, 1.0, above=True), metavar="ALPHA",
                   help="EMA weight of the newest window (default 1: no smoothing)")
    p.add_argument("--split-channels", action="store_true",
                   help="one stream per channel (e.g. agent / customer of a stereo call)")


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", help="manifest CSV (path, corpus, speaker, emotion, split, ...)")
    p.add_argument("--root", help="folder the manifest's paths are relative to (default: its folder)")
    p.add_argument("--data", action="append", metavar="DIR",
                   help="a corpus in its native layout (RAVDESS, CREMA-D, TESS, SAVEE, EmoDB); repeatable")
    p.add_argument("--corpus", help="keep only these corpora (comma-separated names)")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .model.runtime import DEFAULT_MODEL_DIR
    from .sinks.ws_cli import add_serve_parser, add_ws_arguments
    from .ui.app import add_dashboard_parser, add_ui_args

    parser = argparse.ArgumentParser(prog="ser-live", description=(
        "Real-time speech emotion monitor: listens, finds speech, classifies each 2 s window."))
    parser.add_argument("--version", action="version", version=f"ser-live {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("train", help="train the CNN+LSTM on a manifest or native corpora")
    _add_data_args(p)
    p.add_argument("--out", default="runs/default", help="run folder for checkpoints and curves")
    p.add_argument("--epochs", type=_count, default=40)
    p.add_argument("--batch-size", type=_count, default=64)
    p.add_argument("--lr", type=_positive, default=2e-3)
    p.add_argument("--patience", type=_count, default=10, help="early-stopping patience in epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split-seed", type=int, metavar="SEED",
                   help="seed of the validation speakers' draw (default: --seed), to compare "
                        "seeds of one recipe on the same speakers")
    p.add_argument("--samples-per-epoch", type=_count, help="default: one per training clip")
    p.add_argument("--init", metavar="CHECKPOINT",
                   help="fine-tune from this checkpoint (validated on the same speakers: same data and "
                        "split seed; its architecture and features are kept)")
    p.add_argument("--noise-consistency", type=number(float, 0.0), default=0.0, metavar="WEIGHT",
                   help="also train on a white-noise copy of each batch and penalise "
                        "disagreement between the two (0: off)")
    p.add_argument("--workers", type=number(int, 0), default=1, help="data-loader worker processes")
    p.add_argument("--threads", type=_count, help="torch CPU threads")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--teacher", metavar="CHECKPOINT",
                   help="distil from this finished run (validated on the same speakers: same data and split seed)")
    p.add_argument("--distill", type=_fraction, metavar="WEIGHT",
                   help="weight of the teacher's soft targets against the labels (with --teacher; "
                        "default 0.5)")
    p.add_argument("--sampling", default="class", choices=["class", "class-speaker"],
                   help="draw every emotion equally often; class-speaker: also every speaker "
                        "equally often within an emotion")
    p.add_argument("--ema", type=_fraction, default=0.0, metavar="DECAY",
                   help="validate and keep an exponential moving average of the weights with "
                        "this decay per step, e.g. 0.999 (0: off)")
    p.add_argument("--mixup", type=number(float, 0.0), default=0.0, metavar="ALPHA",
                   help="mix each training window's log-mel with another's, labels alike, in "
                        "Beta(ALPHA, ALPHA) proportions, e.g. 0.4 (0: off; not with --teacher)")
    p.add_argument("--unidirectional", action="store_true", help="one-directional LSTM")
    p.add_argument("--channels", type=_int_triple, metavar="A,B,C",
                   help="channels of the three conv blocks (default 16,32,64)")
    p.add_argument("--time-strides", type=_int_triple, metavar="A,B,C",
                   help="time strides of the three conv blocks (default 2,2,1: 40 ms LSTM steps; "
                        "2,2,2: 80 ms)")
    p.add_argument("--top-db", type=_positive, metavar="DB",
                   help="floor of the log-mel, in dB below each window's peak: fewer dB hide "
                        "more of what noise would cover (default 80)")
    p.add_argument("--compression", choices=["log", "pcen"],
                   help="of the mel power: log (log-mel, floored --top-db below the peak; the "
                        "default) or pcen (per-channel energy normalisation, which flattens steady "
                        "background noise)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (refused otherwise: hours of training lost)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export", help="write the TorchScript model, metadata and model card")
    p.add_argument("checkpoint", help="checkpoint from `train` (e.g. runs/default/best.pt)")
    p.add_argument("--out", default=str(DEFAULT_MODEL_DIR), help="model folder")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("evaluate", help="score a model on labelled clips (UA, WA, macro-F1, confusion)")
    _add_data_args(p)
    p.add_argument("--split", default=None,
                   help="split to score (default: test with --manifest; every clip of --data folders "
                        "alone, which have no test split; '' for all; 'val': the model's validation speakers)")
    p.add_argument("--classes", type=_label_set, metavar="A,B,...",
                   help="restrict clips and argmax to these labels, comma-separated")
    p.add_argument("--model", default=str(DEFAULT_MODEL_DIR), help="model folder")
    p.add_argument("--out", default="report.json", help="report JSON (confusion PNG beside it)")
    p.add_argument("--baseline", action="store_true",
                   help="also train and score the seed projects' MFCC+MLP on the train split")
    p.add_argument("--corrupt", choices=["none", "noise10", "telephone"], default="none",
                   help="score under white noise at 10 dB SNR or telephone simulation")
    _add_runtime_args(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("model-card", help="rewrite MODEL/README.md from model.json and reports/*.json")
    p.add_argument("model", nargs="?", default=str(DEFAULT_MODEL_DIR), help="model folder")
    p.set_defaults(func=cmd_model_card)

    p = sub.add_parser("predict", help="one emotion prediction per audio file (JSON lines)")
    p.add_argument("files", nargs="+", metavar="FILE|DIR",
                   help="audio files, or folders of them; a file without speech gets label null")
    p.add_argument("--model", default=str(DEFAULT_MODEL_DIR), help="model folder")
    _add_runtime_args(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("monitor", help="live emotion monitoring of a microphone, file or pipe")
    p.add_argument("--input-device", metavar="NAME|INDEX", help="input device (see `ser-live devices`)")
    p.add_argument("--input", metavar="FILE|-", help="read a file, or raw 16-bit PCM from stdin ('-')")
    p.add_argument("--realtime", action="store_true", help="play --input FILE at real-time pace")
    p.add_argument("--rate", type=_count, help="sample rate of stdin PCM or the device (default: 16000 / device's)")
    p.add_argument("--channels", type=_count, help="channels of stdin PCM or the device (default 1)")
    p.add_argument("--encoding", choices=["s16le", "mulaw", "alaw"],
                   help="samples on --input -: 16-bit little-endian PCM (the default), or G.711 "
                        "mu-law / A-law bytes as phone systems carry them")
    p.add_argument("--headless", action="store_true",
                   help="no window even when a display is available: messages to stdout or --out")
    add_stream_names(p)
    p.add_argument("--format", choices=["jsonl", "text"], default="jsonl")
    p.add_argument("--out", metavar="FILE",
                   help="append messages to this file instead of writing them to stdout")
    _add_engine_args(p)
    add_ws_arguments(p)
    add_ui_args(p)
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("analyze", help="offline analysis of recordings: events, summaries, timelines")
    p.add_argument("files", nargs="+", metavar="FILE|DIR")
    p.add_argument("--format", choices=["jsonl", "csv", "json"], default="jsonl")
    p.add_argument("--out", metavar="FILE", help="write results here instead of stdout")
    p.add_argument("--plot", metavar="DIR", help="write a timeline PNG per file (and stream) here")
    _add_engine_args(p)
    p.set_defaults(func=cmd_analyze)

    add_dashboard_parser(sub)

    p = sub.add_parser("devices", help="list audio input devices")
    p.set_defaults(func=cmd_devices)

    add_serve_parser(sub)

    p = sub.add_parser("corpus-report", help="plots of a corpus: counts, durations, examples")
    _add_data_args(p)
    p.add_argument("--out", default="corpus-report", help="folder for the PNGs")
    p.set_defaults(func=cmd_corpus_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of stdout went away (`ser-live monitor | head`): stop quietly with the
        # status a shell gives a command that SIGPIPE ended, and keep Python's exit-time flush
        # of stdout from failing again
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # known error types become one line; anything else is a bug
        import errno

        from .errors import USER_ERRORS

        if isinstance(exc, USER_ERRORS):
            print(f"ser-live {args.command}: error: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG,
                                                      errno.EIO, errno.EROFS):
            # output that cannot be written (a full disk): the command's output is what failed
            where = exc.filename or getattr(args, "out", None) or "stdout"
            print(f"ser-live {args.command}: error: {where}: cannot write ({exc.strerror})", file=sys.stderr)
            return 2
        raise
