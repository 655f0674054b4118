"""Entry points of the desktop views: the `dashboard` command, the window behind
`ser-live monitor` (dashboard or `--overlay`), and `python -m ser_live.ui.app dashboard ...`.

Nothing heavy is imported at module level: `add_dashboard_parser` / `add_ui_args` run while
the CLI builds its parser, so `ser-live --help` stays instant. PyQt6 and pyqtgraph load only
when a window is really made.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from .gui_gc import gui_thread_gc

MESSAGE_SUFFIXES = (".jsonl", ".json", ".ndjson")
#: seconds of a remote feed `dashboard --remote URL --screenshot` collects unless --seconds says
REMOTE_SECONDS = 5.0
#: the options of the local engine: moot where the dashboard shows events made elsewhere
ENGINE_FLAGS = ("--model", "--device", "--precision", "--threads", "--hop", "--vad", "--vad-frame-ms",
                "--smooth", "--split-channels", "--stream-names")


# ---- arguments ----------------------------------------------------------------------------
def add_ui_args(p: argparse.ArgumentParser, overlay: bool = True) -> None:
    """The view options, shared by `dashboard` and `monitor`."""
    from ..cli import _positive, number

    if overlay:
        p.add_argument("--overlay", action="store_true",
                       help="a small always-on-top window for agents instead of the dashboard")
    p.add_argument("--history", type=_positive, metavar="SECONDS",
                   help="seconds of emotion trace the dashboard shows (default 60)")
    p.add_argument("--negative-alert", type=number(float, 0.0), metavar="SECONDS",
                   help="colour cue once the caller has sounded negative this long (default 10; "
                        "0: at the first negative window)")
    p.add_argument("--follow", metavar="STREAM",
                   help="the stream the views show first (default: the first one heard)")


def add_dashboard_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `dashboard` subcommand to the CLI's subparsers; sets `func`."""
    from ..cli import _add_engine_args, _count, _positive, add_stream_names

    p = sub.add_parser("dashboard", help="desktop dashboard (or --overlay) of a microphone or a replayed file")
    p.add_argument("--replay", metavar="FILE",
                   help="an audio file (played at real-time pace; at full speed with --screenshot), "
                        "or a JSON-lines file of engine messages")
    p.add_argument("--screenshot", metavar="OUT.png",
                   help="replay FILE (or watch --remote for --seconds), render the window to this "
                        "PNG and exit (no display needed)")
    p.add_argument("--input-device", metavar="NAME|INDEX", help="input device (see `ser-live devices`)")
    p.add_argument("--channels", type=_count, help="channels of the device (default 1)")
    p.add_argument("--rate", type=_count, help="sample rate of the device (default: its own)")
    add_stream_names(p)
    r = p.add_argument_group("remote mode (a websocket feed instead of the local engine; no model is loaded)")
    r.add_argument("--remote", metavar="URL",
                   help="show the feed of a broadcaster (`monitor --ws`, `serve`), e.g. ws://127.0.0.1:8765/")
    r.add_argument("--token", help="the server's token (default: $SER_LIVE_WS_TOKEN)")
    r.add_argument("--stream", action="append", metavar="ID",
                   help="stream id(s) to watch (repeatable or A,B; default: all)")
    r.add_argument("--tls-ca", metavar="FILE", help="CA file that signs the server's certificate (wss://)")
    r.add_argument("--seconds", type=_positive,
                   help=f"with --screenshot: seconds of the feed to collect first (default {REMOTE_SECONDS:g})")
    add_ui_args(p)
    _add_engine_args(p)
    p.set_defaults(func=cmd_dashboard, input=None, realtime=False)  # read by _open_sources
    return p


def display_available() -> bool:
    """Whether Qt can open windows a person sees here: a display, or an on-screen platform
    chosen explicitly (offscreen and minimal render nowhere, so they do not count)."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0] not in ("offscreen", "minimal")
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


# ---- Qt plumbing ----------------------------------------------------------------------------
_APP = None  # the QApplication qt_app() made, held for the life of the process


def qt_app():
    """The process's QApplication, made on first use and then kept: PyQt deletes a
    QApplication with its last Python reference, and windows that outlive it (a screenshot's
    view, dropped after render) then never die or crash when they do."""
    global _APP
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = _APP = QApplication([sys.argv[0] if sys.argv else "ser-live"])
        app.setApplicationName("ser-live")
        app.setOrganizationName("ser-live")
    return app


def make_model(labels: Sequence[str] | None, args: argparse.Namespace | None):
    from ..cli import given_options
    from .model import SessionModel

    # left out (None), the model's own defaults hold; `--negative-alert 0` is a real choice
    return SessionModel(labels=labels, follow=getattr(args, "follow", None),
                        **given_options(history_s=getattr(args, "history", None),
                                        negative_alert_s=getattr(args, "negative_alert", None)))


def _input_devices() -> list[tuple[str, str]]:
    try:
        import sounddevice as sd

        return [(str(i), f"{i}: {d['name']}") for i, d in enumerate(sd.query_devices())
                if d["max_input_channels"] > 0]
    except Exception:  # no PortAudio, no devices: the picker says so
        return []


def _factory(engine, args: argparse.Namespace):
    """New engines like `engine` (same classifier and config), for restarts and new devices."""
    from ..audio.sources import FileSource, MicSource, StdinSource
    from ..engine import Engine

    kinds = {type(s) for s in engine.sources}
    if StdinSource in kinds:
        return None, None  # a pipe is read once
    if MicSource in kinds:
        from ..cli import _open_sources

        def make_mic(device: str | None):
            a = copy.copy(args)
            a.input, a.input_device = None, device if device is not None else a.input_device
            return Engine(_open_sources(a), engine.classifier, engine.cfg)

        return make_mic, _input_devices
    if kinds <= {FileSource}:
        paths = [(s.path, s.realtime) for s in engine.sources]
        split = getattr(args, "split_channels", False)
        names = getattr(args, "stream_names", None)

        def make_file(_device: str | None):
            return Engine([FileSource(p, realtime=rt, split=split, names=names) for p, rt in paths],
                          engine.classifier, engine.cfg)

        return make_file, None
    return None, None


def make_window(model, overlay: bool, controller, source_name: str, settings=None):
    """The overlay (agents) or the dashboard (everyone else) over `model`."""
    if overlay:
        from .overlay import OverlayWindow

        return OverlayWindow(model, settings=settings)
    from .dashboard import DashboardWindow

    return DashboardWindow(model, controller, source_name=source_name)


@gui_thread_gc()
def run_window(window, pump, on_start=None, close_after_s: float | None = None) -> None:
    """Show `window` and run the Qt loop until it closes; Ctrl-C and SIGTERM close it too.
    `on_start` runs just before the pump, so the first messages find the window ready."""
    import signal

    from PyQt6.QtCore import QTimer

    app = qt_app()
    window.closed.connect(app.quit)
    previous = {s: signal.signal(s, lambda *_: window.close()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if on_start is not None:
            on_start()
        pump.start()
        window.show()
        if close_after_s is not None:
            QTimer.singleShot(int(close_after_s * 1000), window.close)
        app.exec()
    finally:
        pump.stop()
        for s, h in previous.items():
            signal.signal(s, h)


def run_monitor_ui(engine, overlay: bool, args: argparse.Namespace, settings=None,
                   close_after_s: float | None = None) -> int:
    """Show the dashboard (or the overlay) of `engine` (constructed, not started): subscribe
    to its bus, start it, run the Qt loop; on close stop the engine and wait for it.
    Ctrl-C / SIGTERM close the window too. Returns 0, or 1 if the engine failed.

    The caller still owns `engine.bus` (close it afterwards if sinks are attached).
    `settings` (a QSettings) and `close_after_s` are for tests and benchmarks."""
    from .bridge import EngineController, MessagePump

    model = make_model(engine.labels, args)
    factory, devices = _factory(engine, args)
    device = getattr(args, "input_device", None)
    ctl = EngineController(engine, model, factory, device=device, devices=devices)
    window = make_window(model, overlay, ctl, ", ".join(engine.streams), settings)
    pump = MessagePump(ctl, model, [window], controller=ctl)
    try:
        run_window(window, pump, on_start=ctl.start, close_after_s=close_after_s)
    finally:
        finished = ctl.shutdown(timeout=10.0)
        pump.drain()  # the summaries, for whoever reads the model after us
    run_monitor_ui.last = (model, window, ctl)  # tests look at what was shown
    if not finished:
        print("ser-live: warning: the engine did not stop within 10 s", file=sys.stderr)
    err = ctl.error_text()
    if err:
        print(f"ser-live: {err}", file=sys.stderr)
        return 1
    return 0


# ---- the dashboard command ----------------------------------------------------------------
def read_messages(path: str | Path) -> tuple[list[dict], list[int]]:
    """Engine messages from a JSON-lines file (as `ser-live monitor` writes them) or a JSON
    export of the dashboard (`{"events": [...], "summaries": [...]}`), and the numbers of the
    lines skipped because they are not JSON objects (a monitor killed mid-line leaves one)."""
    text = Path(path).read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("{") and '"events"' in stripped[:200] and "\n{" not in stripped:
        doc = json.loads(text)
        return [*doc.get("events", []), *doc.get("summaries", [])], []
    msgs, bad = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            msg = None
        if isinstance(msg, dict):
            msgs.append(msg)
        else:
            bad.append(n)
    return msgs, bad


@gui_thread_gc()
def render_screenshot(model, out: str | Path, overlay: bool = False, source_name: str | None = None,
                      size: tuple[int, int] | None = None) -> Path:
    """Render the dashboard (or the overlay) of `model` as it stands to a PNG."""
    from PyQt6.QtCore import QSettings

    app = qt_app()
    if overlay:
        from .overlay import OverlayWindow

        tmp = tempfile.TemporaryDirectory()
        view = OverlayWindow(model, settings=QSettings(str(Path(tmp.name) / "overlay.ini"),
                                                       QSettings.Format.IniFormat))
    else:
        from .dashboard import DashboardWindow

        view = DashboardWindow(model, None, source_name=source_name)
        if size:
            view.resize(*size)
    view.show()
    for _ in range(3):
        view.refresh(force=True)
        app.processEvents()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not view.grab().save(str(out)):
        raise OSError(f"{out}: cannot write PNG")
    view.close()
    return out


def cmd_dashboard(args: argparse.Namespace) -> int:
    from ..cli import (CliError, _classifier, _engine_config, _open_sources, prepare_output,
                       refuse_mono_split, refuse_unused)

    # options the rest of the command line makes moot are refused first, display or not
    device_flags = ("--input-device", "--rate", "--channels")
    replay = Path(args.replay) if args.replay else None
    messages = replay is not None and replay.suffix.lower() in MESSAGE_SUFFIXES
    if args.remote:
        if not args.screenshot:
            refuse_unused(args, ("--seconds",), "sets how long --screenshot collects the feed, "
                          "and --screenshot is not given")
        refuse_unused(args, ("--replay", *device_flags, *ENGINE_FLAGS),
                      "not used with --remote URL (the feed is the source, and no model is loaded)")
    else:
        refuse_unused(args, ("--token", "--tls-ca", "--stream", "--seconds"), "not used without --remote URL")
    if replay is not None:
        refuse_unused(args, device_flags, "not used with --replay FILE (the file is the source)")
    if messages:
        refuse_unused(args, ENGINE_FLAGS, f"not used with --replay {args.replay} (recorded engine "
                      "messages are shown as they are, and no model is loaded)")
    if args.screenshot:
        prepare_output(args.screenshot, "--screenshot", inputs=[args.replay])
    if not display_available():
        if not args.screenshot:
            raise CliError("no display (DISPLAY is not set): use `ser-live monitor --headless`, "
                           "or --screenshot OUT.png to render without one")
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if args.remote:
        from .remote import dashboard_remote

        return dashboard_remote(args)
    if messages:
        return _dashboard_from_messages(args, replay)

    from ..engine import Engine

    if replay is not None:
        from ..audio.sources import FileSource

        sources = [FileSource(replay, realtime=not args.screenshot, split=args.split_channels,
                              names=args.stream_names)]
        refuse_mono_split(args, sources[0].channels, args.replay)
    elif args.screenshot:
        raise CliError("--screenshot needs --replay FILE or --remote URL")
    else:
        sources = _open_sources(args)
    engine = Engine(sources, _classifier(args), _engine_config(args))
    if not args.screenshot:
        return run_monitor_ui(engine, args.overlay, args)
    sub = engine.bus.subscribe(maxlen=10_000_000)  # offline: keep everything
    engine.run()
    engine.bus.close()
    model = make_model(engine.labels, args)
    while (msg := sub.get(timeout=0)) is not None:
        model.feed(msg)
    return _report_screenshot(model, args, ", ".join(engine.streams))


@gui_thread_gc()
def _dashboard_from_messages(args: argparse.Namespace, path: Path) -> int:
    """Show recorded engine messages: the model takes the same dicts a live feed gives."""
    from ..cli import CliError

    try:
        msgs, bad = read_messages(path)
    except (OSError, ValueError) as exc:
        raise CliError(f"{path}: cannot read engine messages ({exc})") from None
    model = make_model(None, args)
    model.feed_all(msgs)
    if bad:
        print(f"ser-live: {path}: skipped {len(bad)} line(s) that are not JSON objects "
              f"(first: line {bad[0]})", file=sys.stderr)
    if model.malformed:
        print(f"ser-live: {path}: skipped {model.malformed} message(s) with missing or "
              "non-numeric fields", file=sys.stderr)
    if args.screenshot:
        return _report_screenshot(model, args, path.name)
    from .dashboard import DashboardWindow
    from .overlay import OverlayWindow

    app = qt_app()
    window = OverlayWindow(model) if args.overlay else DashboardWindow(model, None, source_name=path.name)
    window.closed.connect(app.quit)
    window.show()
    app.exec()
    return 0


def _report_screenshot(model, args: argparse.Namespace, source_name: str) -> int:
    out = render_screenshot(model, args.screenshot, overlay=args.overlay, source_name=source_name)
    st = model.current
    ev = st.current if st else None
    print(json.dumps({"screenshot": str(out), "overlay": bool(args.overlay),
                      "platform": qt_app().platformName(),
                      "stream": st.stream if st else None, "events": len(model.events),
                      "label": ev["label"] if ev else None,
                      "confidence": ev["confidence"] if ev else None,
                      "negative_alert": model.negative_alert()}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m ser_live.ui.app dashboard ...`: the dashboard command on its own, with the
    CLI's error handling (usable before it is wired into `ser-live`)."""
    parser = argparse.ArgumentParser(prog="ser-live")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_dashboard_parser(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from ..errors import USER_ERRORS

        if isinstance(exc, USER_ERRORS):
            print(f"ser-live {args.command}: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
