"""The `ser-live` command line: instant help, and bad input as one line with exit status 2."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import synth
from live_fixtures import cli_env, run_cli

HEAVY = ("torch", "librosa", "matplotlib", "sklearn", "scipy")

PROBE = r"""
import json, sys
from ser_live.cli import build_parser
parser = build_parser()
for argv in (["train", "--help"], ["evaluate", "--help"], ["export", "--help"]):
    try:
        parser.parse_args(argv)
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in %r)))
""" % (HEAVY,)


def test_help_is_instant(cli) -> None:
    runs = [cli("--help") for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, str(r)
        assert "usage: ser-live" in r.stdout
        for command in ("train", "export", "evaluate", "corpus-report"):
            assert command in r.stdout
    fastest = min(r.seconds for r in runs)  # the faster of two: the machine is shared
    assert fastest < 1.0, f"ser-live --help took {fastest:.2f} s"


def test_building_the_parser_imports_nothing_heavy(tmp_path: Path) -> None:
    """In a fresh interpreter: the parser and every sub-command's --help leave torch & co. unloaded."""
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_engine_option_help_gives_the_defaults_that_hold() -> None:
    """The engine options have no parser defaults (so that a dashboard with no model can refuse
    them); their help states the defaults, which must be EngineConfig's and the Classifier's."""
    import dataclasses
    import inspect

    from ser_live.cli import ENGINE_THREADS, build_parser
    from ser_live.engine import EngineConfig
    from ser_live.model.runtime import Classifier

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["monitor"]
    helps = {a.dest: a.help for a in sub._actions}
    defaults = {f.name: f.default for f in dataclasses.fields(EngineConfig)}
    runtime = inspect.signature(Classifier).parameters
    for dest, stated in [("hop", defaults["hop_s"]), ("vad", defaults["vad_aggressiveness"]),
                         ("vad_frame_ms", defaults["vad_frame_ms"]), ("smooth", defaults["smoothing"]),
                         ("threads", ENGINE_THREADS), ("device", runtime["device"].default),
                         ("precision", runtime["precision"].default)]:
        assert sub.get_default(dest) is None, dest
        assert f"(default {stated:g}" in helps[dest] if not isinstance(stated, str) else \
            f"(default {stated}" in helps[dest], (dest, helps[dest])


def test_version(cli) -> None:
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("ser-live "), str(r)


def test_no_command_is_a_usage_error(cli) -> None:
    r = cli()
    assert r.returncode == 2 and "usage:" in r.stderr


def assert_one_line_error(r, *needles: str) -> None:
    assert r.returncode == 2, str(r)
    assert "Traceback" not in r.stderr, str(r)
    lines = r.error_lines()
    assert len(lines) == 1, str(r)
    for n in needles:
        assert n in lines[0], str(r)


def test_train_missing_manifest(cli, tmp_path: Path) -> None:
    r = cli("train", "--manifest", "nowhere/missing.csv", "--out", "run", "--no-progress")
    assert_one_line_error(r, "missing.csv")
    assert not (tmp_path / "run").exists()


def test_train_without_data(cli) -> None:
    r = cli("train", "--out", "run")
    assert_one_line_error(r, "--manifest")


def test_train_bad_manifest_label(cli, tmp_path: Path) -> None:
    m = synth.write_manifest(tmp_path / "m.csv", [
        {"path": "a.wav", "corpus": "c", "speaker": "s", "emotion": "angry", "split": "train"},
        {"path": "b.wav", "corpus": "c", "speaker": "s", "emotion": "grumpy", "split": "train"},
    ])
    r = cli("train", "--manifest", m, "--out", "run")
    assert_one_line_error(r, "m.csv:3", "grumpy")


def test_filters_that_leave_no_clips(cli, tmp_path: Path) -> None:
    """A corpus or split the data does not have is one line that lists what it does have,
    before any model or cache is touched."""
    m = synth.write_manifest(tmp_path / "m.csv", [
        {"path": "a.wav", "corpus": "ravdess", "speaker": "s", "emotion": "angry", "split": "train"},
        {"path": "b.wav", "corpus": "cremad", "speaker": "t", "emotion": "sad", "split": "test"}])
    r = cli("train", "--manifest", m, "--corpus", "savee", "--out", "run")
    assert_one_line_error(r, "no clips with split train and corpus savee", "corpora cremad, ravdess",
                          "splits test, train")
    assert not (tmp_path / "run").exists()
    r = cli("evaluate", "--manifest", m, "--split", "dev", "--out", "rep.json")
    assert_one_line_error(r, "no clips with split dev:")


def test_train_missing_corpus_folder(cli) -> None:
    r = cli("train", "--data", "no/such/corpus", "--out", "run")
    assert_one_line_error(r, "no/such/corpus")


def test_evaluate_missing_model_folder(cli, tmp_path: Path) -> None:
    m = synth.write_manifest(tmp_path / "m.csv", [
        {"path": "a.wav", "corpus": "c", "speaker": "s", "emotion": "angry", "split": "test"}])
    r = cli("evaluate", "--manifest", m, "--model", "no-model-here", "--out", "rep.json")
    assert_one_line_error(r, "no-model-here")
    assert not (tmp_path / "rep.json").exists()


def test_evaluate_missing_manifest(cli) -> None:
    r = cli("evaluate", "--manifest", "gone.csv", "--model", "x", "--out", "rep.json")
    assert_one_line_error(r, "gone.csv")


def test_export_missing_checkpoint(cli, tmp_path: Path) -> None:
    r = cli("export", "runs/none/best.pt", "--out", "model")
    assert_one_line_error(r, "best.pt")
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("argv", [["train", "--epochs", "many"], ["evaluate", "--corrupt", "fire"],
                                  ["frobnicate"]])
def test_argument_errors(cli, argv: list[str]) -> None:
    r = cli(*argv)
    assert r.returncode == 2 and "usage:" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("argv", [
    ["monitor", "--hop", "0"],                 # would cut the same window forever
    ["monitor", "--hop", "nan"],
    ["monitor", "--smooth", "0"],              # the newest window would never count
    ["monitor", "--smooth", "1.5"],
    ["monitor", "--input", "-", "--rate", "0"],
    ["monitor", "--input", "-", "--channels", "0"],
    ["monitor", "--threads", "0"],
    ["monitor", "--ws", "127.0.0.1:0", "--ws-queue", "0"],
    ["analyze", "x.wav", "--hop", "-1"],
    ["dashboard", "--history", "0"],
    ["dashboard", "--negative-alert", "-5"],
    ["serve", "--max-clients", "0"],
    ["train", "--epochs", "0"],
    ["train", "--lr", "inf"],
    ["train", "--workers", "-1"],
])
def test_out_of_range_values_are_refused_before_anything_runs(cli, argv: list[str]) -> None:
    """Range checks at parse time: the option and the value in the error, no traceback, and
    no waiting for a model, a device or a corpus first."""
    r = cli(*argv)
    assert r.returncode == 2 and "Traceback" not in r.stderr, str(r)
    assert f"error: argument {argv[-2]}: expected " in r.stderr and f"got '{argv[-1]}'" in r.stderr, str(r)
    assert r.seconds < 10, str(r)


def test_window_options_where_there_is_no_display(tmp_path: Path) -> None:
    """`monitor --overlay` with no display runs headless: the window options are refused, not
    dropped without a word (`--negative-alert 0` included: zero is a value that was given)."""
    wav = synth.write_wav(tmp_path / "call.wav", np.zeros(16000, np.float32))
    r = run_cli("monitor", "--input", wav, "--negative-alert", "0", "--overlay",
                env=cli_env(QT_QPA_PLATFORM="offscreen"), cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == "", r
    assert r.stderr.splitlines() == ["ser-live monitor: error: --overlay, --negative-alert: not used: "
                                     "there is no display to show a window on, so the monitor runs headless"], r


@pytest.mark.parametrize("device", ["9999", "no such microphone"])
def test_unknown_input_device_points_to_the_list(cli, device: str) -> None:
    r = cli("monitor", "--headless", "--input-device", device)
    assert_one_line_error(r, f"input device {device!r}" if not device.isdigit() else f"input device {device}",
                          "`ser-live devices` lists the inputs")


@pytest.mark.parametrize("classes, got", [
    ("angry", "only 'angry'"),                    # the argmax among one label: always right
    ("angry,sad,angry", "'angry' twice"),         # an empty confusion row that lowered UA
    ("angry,,sad", "an empty label in 'angry,,sad'"),
])
def test_evaluate_classes_must_be_two_or_more_distinct_labels(cli, classes: str, got: str) -> None:
    r = cli("evaluate", "--manifest", "m.csv", "--classes", classes)
    assert r.returncode == 2 and "Traceback" not in r.stderr, str(r)
    assert r.stderr.splitlines()[-1] == ("ser-live evaluate: error: argument --classes: expected two "
                                         f"or more distinct labels like angry,sad, got {got}"), str(r)


@pytest.mark.parametrize("command", ["monitor", "dashboard"])
@pytest.mark.parametrize("names, got", [
    ("agent,agent", "'agent' twice"),         # the engine refused two streams of one id with a traceback
    ("agent,", "an empty stream id in 'agent,'"),  # a stream nobody could pick with --stream
])
def test_stream_names_must_be_distinct_and_named(cli, command: str, names: str, got: str) -> None:
    r = cli(command, "--input" if command == "monitor" else "--replay", "call.wav", "--split-channels",
            "--stream-names", names)
    assert r.returncode == 2 and "Traceback" not in r.stderr, str(r)
    assert r.stderr.splitlines()[-1] == (f"ser-live {command}: error: argument --stream-names: expected "
                                         f"distinct stream ids like agent,customer, got {got}"), str(r)


@pytest.mark.parametrize("argv, flag, why", [
    (["monitor", "--input", "call.wav", "--input-device", "2"], "--input-device", "not used with --input FILE"),
    (["monitor", "--input", "call.wav", "--rate", "8000"], "--rate", "not used with --input FILE"),
    (["monitor", "--input", "call.wav", "--channels", "2"], "--channels", "not used with --input FILE"),
    (["monitor", "--input", "-", "--input-device", "2"], "--input-device", "not used with --input -"),
    (["monitor", "--input", "-", "--realtime"], "--realtime", "not used with --input -"),
    (["monitor", "--realtime"], "--realtime", "paces --input FILE"),
    (["monitor", "--input", "call.wav", "--encoding", "mulaw"], "--encoding", "not used with --input FILE"),
    (["monitor", "--encoding", "alaw"], "--encoding", "describes raw audio on --input -"),
    (["dashboard", "--replay", "call.wav", "--input-device", "2", "--screenshot", "d.png"],
     "--input-device", "not used with --replay FILE"),
    (["dashboard", "--remote", "ws://127.0.0.1:9/", "--replay", "call.wav", "--screenshot", "d.png"],
     "--replay", "not used with --remote URL"),
    (["dashboard", "--remote", "ws://127.0.0.1:9/", "--channels", "2", "--screenshot", "d.png"],
     "--channels", "not used with --remote URL"),
    (["monitor", "--input", "call.wav", "--ws", "127.0.0.1:0", "--ws-publish", "ws://127.0.0.1:9/publish"],
     "--ws", "not used with --ws-publish"),
    (["monitor", "--input", "call.wav", "--ws-publish", "ws://127.0.0.1:9/publish", "--max-clients", "3"],
     "--max-clients", "not used with --ws-publish"),
    (["monitor", "--input", "call.wav", "--ws", "127.0.0.1:0", "--tls-ca", "ca.pem"], "--tls-ca",
     "not used with --ws "),
    (["monitor", "--input", "call.wav", "--token", "s3cret", "--allow-origin", "*"], "--token, --allow-origin",
     "not used without --ws or --ws-publish"),
    (["dashboard", "--replay", "call.wav", "--token", "s3cret", "--screenshot", "d.png"], "--token",
     "not used without --remote URL"),
    (["dashboard", "--replay", "call.wav", "--seconds", "3", "--screenshot", "d.png"], "--seconds",
     "not used without --remote URL"),
    (["dashboard", "--remote", "ws://127.0.0.1:9/", "--seconds", "3"], "--seconds",
     "sets how long --screenshot collects the feed"),
    (["dashboard", "--remote", "ws://127.0.0.1:9/", "--model", "models", "--hop", "1", "--screenshot", "d.png"],
     "--model, --hop", "not used with --remote URL (the feed is the source, and no model is loaded)"),
    (["dashboard", "--remote", "ws://127.0.0.1:9/", "--precision", "fp32", "--stream-names", "a",
      "--screenshot", "d.png"], "--precision, --stream-names", "not used with --remote URL"),
    (["dashboard", "--replay", "msgs.jsonl", "--split-channels", "--screenshot", "d.png"], "--split-channels",
     "not used with --replay msgs.jsonl (recorded engine messages are shown as they are"),
    (["dashboard", "--replay", "msgs.jsonl", "--threads", "2", "--vad", "3", "--screenshot", "d.png"],
     "--threads, --vad", "not used with --replay msgs.jsonl"),
    (["monitor", "--input", "call.wav", "--split-channels"], "--split-channels",
     "call.wav has one channel, nothing to split"),
    (["monitor", "--input", "-", "--split-channels"], "--split-channels",
     "the input (--channels 1) has one channel, nothing to split"),
    (["dashboard", "--replay", "call.wav", "--split-channels", "--screenshot", "d.png"], "--split-channels",
     "call.wav has one channel, nothing to split"),
    (["monitor", "--input", "call.wav", "--overlay", "--history", "30"], "--overlay, --history",
     "not used with --headless"),
    (["train", "--manifest", "m.csv", "--init", "r3.pt", "--top-db", "50"], "--top-db", "not used with --init"),
    (["train", "--manifest", "m.csv", "--init", "r3.pt", "--channels", "8,8,8", "--compression", "pcen"],
     "--channels, --compression", "not used with --init"),
    (["train", "--manifest", "m.csv", "--compression", "pcen", "--top-db", "50"], "--top-db",
     "not used with --compression pcen"),
    (["corpus-report", "--data", "savee", "--root", "corpora"], "--root", "not used without --manifest"),
    (["evaluate", "--manifest", "m.csv", "--corrupt", "noise10", "--baseline"], "--baseline",
     "not used with --corrupt noise10 (the seed baseline scores the clean clips)"),
    (["train", "--manifest", "m.csv", "--distill", "0.8"], "--distill", "weighs the targets of --teacher"),
])
def test_options_that_would_be_ignored_are_refused(cli, tmp_path: Path, argv: list[str], flag: str,
                                                   why: str) -> None:
    """A device named beside a file used to be ignored: the file was monitored and the user
    believed it was the microphone; `train --init r3.pt --top-db 50` fine-tuned at r3's 80 dB.
    Options the rest of the command line makes moot are one line naming them, before any work."""
    synth.write_wav(tmp_path / "call.wav", np.zeros(16000, np.float32))
    (tmp_path / "msgs.jsonl").write_text(json.dumps({"type": "status", "stream": "mic", "t": 0.0}) + "\n")
    r = cli(*argv, "--headless") if argv[0] == "monitor" else cli(*argv)
    assert_one_line_error(r, f"{flag}: {why}")
    assert r.seconds < 10 and not (tmp_path / "d.png").exists(), str(r)


@pytest.mark.parametrize("argv", [
    ["analyze", "call.wav", "--plot", "taken/plots"],
    ["analyze", "call.wav", "--out", "taken/events.csv"],
    ["monitor", "--input", "call.wav", "--headless", "--out", "taken/events.jsonl"],
    ["evaluate", "--manifest", "m.csv", "--out", "taken/report.json"],
    ["train", "--manifest", "m.csv", "--out", "taken/run"],
    ["corpus-report", "--manifest", "m.csv", "--out", "taken"],
    ["dashboard", "--replay", "call.wav", "--screenshot", "taken/dash.png"],
])
def test_unwritable_output_fails_before_the_work(cli, tmp_path: Path, argv: list[str]) -> None:
    """An output path under a regular file is one line naming the option, said before any
    audio is classified or read, so no work is done whose results would then be lost."""
    synth.write_manifest(tmp_path / "m.csv", [
        {"path": "a.wav", "corpus": "c", "speaker": "s", "emotion": "angry", "split": "train"},
        {"path": "b.wav", "corpus": "c", "speaker": "t", "emotion": "sad", "split": "test"}])
    (tmp_path / "taken").write_text("a file where a folder was meant\n")
    (tmp_path / "call.wav").write_text("never opened: the output is checked first\n")
    r = cli(*argv)
    flag = argv[-2]
    assert_one_line_error(r, f"{flag} {argv[-1]}: taken is a file, not a folder")
    assert r.seconds < 15, str(r)


@pytest.mark.parametrize("argv", [
    ["monitor", "--headless", "--input", "call.wav", "--out", "call.wav"],
    ["analyze", "calls", "--out", "calls/b.wav"],                # a folder's file, by another name
    ["dashboard", "--replay", "call.wav", "--screenshot", "same.wav"],  # a symbolic link to it
    ["evaluate", "--manifest", "m.csv", "--out", "m.csv"],
])
def test_output_that_is_an_input_is_refused(cli, tmp_path: Path, argv: list[str]) -> None:
    """`--out` naming the recording itself used to truncate it before it was read: the call
    was lost and the run "succeeded" on nothing. Now one line, and the input is untouched."""
    audio = synth.write_wav(tmp_path / "call.wav", np.zeros(16000, np.float32)).read_bytes()
    (tmp_path / "calls").mkdir()
    (tmp_path / "calls" / "b.wav").write_bytes(audio)
    (tmp_path / "same.wav").symlink_to("call.wav")
    manifest = synth.write_manifest(tmp_path / "m.csv", [
        {"path": "call.wav", "corpus": "c", "speaker": "s", "emotion": "angry", "split": "test"}]).read_bytes()
    r = cli(*argv)
    assert_one_line_error(r, f"{argv[-2]} {argv[-1]}: is the input ", "writing there would erase it")
    assert (tmp_path / "call.wav").read_bytes() == (tmp_path / "calls" / "b.wav").read_bytes() == audio
    assert (tmp_path / "m.csv").read_bytes() == manifest


def test_output_that_is_a_folder(cli, tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    r = cli("analyze", "call.wav", "--out", "reports")
    assert_one_line_error(r, "--out reports: is a folder; expected a file name")


def test_corpus_folder_without_corpus_files(cli, tmp_path: Path) -> None:
    """A folder whose files match no corpus layout is named as the problem (not "give --data"),
    after one line per skipped file."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "call-0001.wav").write_bytes(b"")
    r = cli("train", "--data", "mine", "--out", "run")
    assert r.returncode == 2 and "Traceback" not in r.stderr, str(r)
    assert r.stderr.splitlines() == [
        "skipped: mine/call-0001.wav: file name matches no known corpus layout "
        "(ravdess, cremad, tess, savee, emodb)",
        "ser-live train: error: --data mine: no audio files named as in a known corpus layout "
        "(ravdess, cremad, tess, savee, emodb; see README, Your own corpora)"], str(r)
    assert not (tmp_path / "run").exists()


def test_evaluate_a_native_corpus_scores_all_its_clips(cli, tmp_path: Path, speech) -> None:
    """A user's own SAVEE folder has no test split: `evaluate --data` scores every clip of it
    with the shipped model, restricted to SAVEE's seven emotions; asking for the test split of
    it says which splits there are."""
    for code in ("a", "d", "f", "h", "n", "sa", "su"):
        synth.write_wav(tmp_path / "SAVEE" / "ALL" / f"JK_{code}01.wav", speech)
    classes = "angry,disgust,fearful,happy,neutral,sad,surprised"
    r = cli("evaluate", "--data", "SAVEE", "--classes", classes, "--out", "savee.json")
    assert r.returncode == 0, str(r)
    rep = json.loads((tmp_path / "savee.json").read_text())
    assert rep["n"] == 7 and rep["corpora"] == ["savee"] and rep["labels"] == classes.split(",")
    assert sum(map(sum, rep["confusion"])) == 7
    r = cli("evaluate", "--data", "SAVEE", "--split", "test", "--out", "none.json")
    assert_one_line_error(r, "no clips with split test", "splits train")
