"""`ser-live analyze` over every supported format, broken files, output formats and plots;
`ser-live monitor` over a file and over a pipe. The real CLI, in subprocesses."""
from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from live_fixtures import (SER_LIVE, SR, Scene, check_events_over_speech, cli_env, run_cli,  # noqa: F401
                           scene, stereo_call, tiny_model_dir, utterances)

GOOD = {  # name: (rate, channels, soundfile format, subtype)
    "a_8k.wav": (8000, 1, "WAV", "PCM_16"),
    "b_44k_stereo.wav": (44100, 2, "WAV", "PCM_16"),
    "c_48k.flac": (48000, 1, "FLAC", "PCM_24"),
    "d_22k.ogg": (22050, 1, "OGG", "VORBIS"),
    "e_44k.mp3": (44100, 1, "MP3", "MPEG_LAYER_III"),
    "f_48k.opus": (48000, 1, "OGG", "OPUS"),
}
BAD = ("empty.wav", "truncated.flac", "notes.wav", "nan_float.wav")


def write_as(path: Path, audio16k: np.ndarray, rate: int, channels: int, fmt: str, subtype: str) -> Path:
    x = audio16k if rate == SR else soxr.resample(audio16k, SR, rate).astype(np.float32)
    if channels > 1:
        x = np.repeat(x[:, None], channels, axis=1)
    sf.write(str(path), x, rate, format=fmt, subtype=subtype)
    return path


@pytest.fixture(scope="module")
def mixed_dir(scene: Scene, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scene in every format, three broken files and a non-audio file, in one folder."""
    d = tmp_path_factory.mktemp("mixed")
    for name, spec in GOOD.items():
        write_as(d / name, scene.audio, *spec)
    (d / "empty.wav").write_bytes(b"")
    data = (d / "c_48k.flac").read_bytes()
    (d / "truncated.flac").write_bytes(data[:len(data) // 2])   # cut mid-stream
    broken = scene.audio.copy()
    broken[3 * SR:3 * SR + 40] = np.nan   # a float file can hold NaN: refused, not turned into events
    sf.write(str(d / "nan_float.wav"), broken, SR, subtype="FLOAT")
    (d / "notes.wav").write_text("these are meeting notes, not audio\n" * 50)
    (d / "README.txt").write_text("not an audio extension: ignored, not an error\n")
    return d


def by_file(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(Path(r["file"]).name, []).append(r)
    return out


def test_analyze_mixed_folder_jsonl_and_plots(mixed_dir: Path, scene: Scene, tiny_model_dir: Path,
                                              tmp_path: Path) -> None:
    plots = tmp_path / "plots"
    r = run_cli("analyze", mixed_dir, "--model", tiny_model_dir, "--format", "jsonl", "--plot", plots)
    assert r.returncode == 1, r                              # some files failed
    rows = by_file(r.json_lines())
    assert set(rows) == set(GOOD), r
    for name, got in rows.items():
        events = [x for x in got if x["type"] == "event"]
        summaries = [x for x in got if x["type"] == "summary"]
        assert len(summaries) == 1 and got[-1]["type"] == "summary", name
        assert summaries[0]["stream"] == name and summaries[0]["events"] == len(events)
        assert summaries[0]["duration_s"] == pytest.approx(scene.duration, abs=0.1), name
        assert all(e["stream"] == name for e in events)
        check_events_over_speech(events, scene.intervals)
    skipped = [ln for ln in r.stderr.splitlines() if ln.startswith("skipped:")]
    assert len(skipped) == len(BAD), r.stderr
    for bad in BAD:
        assert sum(bad in ln for ln in skipped) == 1, f"{bad} not reported:\n{r.stderr}"
    assert "README.txt" not in r.stderr
    assert f"{len(BAD)} of {len(GOOD) + len(BAD)} file(s) failed" in r.stderr
    assert "Traceback" not in r.stderr
    pngs = sorted(p.name for p in plots.glob("*.png"))
    assert pngs == sorted(f"{name}.timeline.png" for name in GOOD)
    for p in plots.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_analyze_all_good_csv_to_file(mixed_dir: Path, scene: Scene, tiny_model_dir: Path,
                                      tmp_path: Path) -> None:
    files = [mixed_dir / "a_8k.wav", mixed_dir / "e_44k.mp3"]
    out = tmp_path / "out.csv"
    r = run_cli("analyze", *files, "--model", tiny_model_dir, "--format", "csv", "--out", out)
    assert r.returncode == 0, r
    assert r.stdout == "" and "skipped" not in r.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    labels = json.loads((tiny_model_dir / "model.json").read_text())["labels"]
    header = ["file", "stream", "t_start", "t_end", "label", "confidence", *labels,
              "valence3", "arousal", "valence"]
    assert list(rows[0]) == header
    got = by_file(rows)
    assert set(got) == {f.name for f in files}
    for name, rs in got.items():
        events = [{k: float(v) if k in ("t_start", "t_end") else v for k, v in row.items()} for row in rs]
        check_events_over_speech(events, scene.intervals)
        for row in rs:
            assert row["label"] in labels and row["valence3"] in ("negative", "neutral", "positive")
            assert sum(float(row[lbl]) for lbl in labels) == pytest.approx(1.0, abs=1e-3)
            assert -1 <= float(row["arousal"]) <= 1 and -1 <= float(row["valence"]) <= 1


def test_analyze_split_channels_json(utterances, tiny_model_dir: Path, tmp_path: Path) -> None:
    """A stereo call, agent left and customer right taking turns: two streams, each with its
    own speech, as one JSON document."""
    stereo, agent, customer = stereo_call(*utterances)
    path = tmp_path / "call.wav"
    sf.write(str(path), soxr.resample(stereo, SR, 44100), 44100, subtype="PCM_16")
    r = run_cli("analyze", path, "--model", tiny_model_dir, "--format", "json", "--split-channels")
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    (entry,) = doc
    assert entry["file"] == str(path)
    streams = {"call.wav:ch0": agent, "call.wav:ch1": customer}
    assert {s["stream"] for s in entry["summaries"]} == set(streams)
    for stream, part in streams.items():
        events = [e for e in entry["events"] if e["stream"] == stream]
        check_events_over_speech(events, part.intervals)
        (s,) = [s for s in entry["summaries"] if s["stream"] == stream]
        assert s["events"] == len(events) > 0 and s["overruns"] == 0


def test_analyze_nothing_to_do(tmp_path: Path, tiny_model_dir: Path) -> None:
    (tmp_path / "empty").mkdir()
    r = run_cli("analyze", tmp_path / "empty", "--model", tiny_model_dir)
    assert r.returncode == 2 and "no audio files" in r.stderr and "Traceback" not in r.stderr, r


def test_monitor_file_jsonl(scene: Scene, tiny_model_dir: Path) -> None:
    r = run_cli("monitor", "--input", scene.path, "--format", "jsonl", "--model", tiny_model_dir)
    assert r.returncode == 0, r
    msgs = r.json_lines()
    assert {m["stream"] for m in msgs} == {scene.path.name}
    check_events_over_speech([m for m in msgs if m["type"] == "event"], scene.intervals)
    statuses = [m for m in msgs if m["type"] == "status"]
    assert statuses and all(s["overruns"] == 0 for s in statuses)
    assert msgs[-1]["type"] == "summary" and msgs[-1]["duration_s"] == pytest.approx(scene.duration, abs=0.05)


def test_monitor_out_appends_so_a_restart_keeps_earlier_sessions(scene: Scene, tiny_model_dir: Path,
                                                                 tmp_path: Path) -> None:
    """An unattended monitor restarted (by systemd, after a reboot) with the same `--out` used
    to truncate the day's events; its log now grows, one summary per session."""
    out = tmp_path / "events.jsonl"
    sessions = []
    for _ in range(2):
        r = run_cli("monitor", "--headless", "--input", scene.path, "--out", out, "--model", tiny_model_dir)
        assert r.returncode == 0 and r.stdout == "", r
        sessions.append(out.read_bytes())
    first, both = sessions
    assert both.startswith(first) and len(both) > len(first)
    msgs = [json.loads(ln) for ln in both.decode().splitlines()]
    assert [m["type"] for m in msgs].count("summary") == 2 and msgs[-1]["type"] == "summary"


def test_monitor_out_follows_log_rotation(scene: Scene, tiny_model_dir: Path, tmp_path: Path) -> None:
    """logrotate renames an unattended monitor's log (and later deletes it): the monitor used to
    write on into the renamed file. Now the lines after the rename go to a new file at the
    path, and none is lost or written twice (the same file read at full speed is the reference)."""
    out, rotated, whole = tmp_path / "events.jsonl", tmp_path / "events.jsonl.1", tmp_path / "whole.jsonl"
    proc = subprocess.Popen([str(SER_LIVE), "monitor", "--headless", "--input", str(scene.path), "--realtime",
                             "--out", str(out), "--model", str(tiny_model_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    try:
        deadline = time.monotonic() + 60
        while not (out.is_file() and '"type":"event"' in out.read_text()):  # the first utterance
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
            time.sleep(0.05)
        out.rename(rotated)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    r = run_cli("monitor", "--headless", "--input", scene.path, "--out", whole, "--model", tiny_model_dir)
    assert r.returncode == 0, r

    def lines(path: Path) -> list[dict]:
        return [json.loads(ln) for ln in path.read_text().splitlines()]

    before, after = lines(rotated), lines(out)
    assert before and after and after[-1]["type"] == "summary"
    assert before[-1]["t" if before[-1]["type"] == "status" else "t_end"] <= scene.intervals[1][0] + 1.0
    events = [(m["t_start"], m["label"]) for m in before + after if m["type"] == "event"]
    assert events == [(m["t_start"], m["label"]) for m in lines(whole) if m["type"] == "event"]
    assert [m["type"] for m in after].count("event") > 0  # the second utterance, after the rename


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
@pytest.mark.parametrize("encoding, sox_type", [("s16le", "s16"), ("mulaw", "ul"), ("alaw", "al")])
def test_monitor_stdin_pcm(scene: Scene, tiny_model_dir: Path, encoding: str, sox_type: str) -> None:
    """8 kHz 16-bit PCM, as a telephony bridge would pipe it, on stdin; or the G.711 bytes a
    phone system carries."""
    pcm = subprocess.run(["sox", str(scene.path), "-t", sox_type, "-r", "8000", "-c", "1", "-"],
                         capture_output=True, check=True).stdout
    r = run_cli("monitor", "--input", "-", "--rate", "8000", "--format", "jsonl", "--encoding", encoding,
                "--model", tiny_model_dir, input=pcm)
    assert r.returncode == 0, r
    msgs = r.json_lines()
    assert {m["stream"] for m in msgs} == {"stdin"}
    check_events_over_speech([m for m in msgs if m["type"] == "event"], scene.intervals)
    assert msgs[-1]["type"] == "summary"
    assert msgs[-1]["duration_s"] == pytest.approx(scene.duration, abs=0.02)


def test_reader_that_goes_away_stops_the_output_quietly(scene: Scene, tiny_model_dir: Path) -> None:
    """`monitor | head -1` on a live-paced source stops the monitor (its output has nowhere to
    go) at once, with the status a shell gives a command SIGPIPE ended and no traceback; so
    does `analyze` writing into a pipe nobody reads."""
    proc = subprocess.Popen([str(SER_LIVE), "monitor", "--input", str(scene.path), "--realtime",
                             "--headless", "--model", str(tiny_model_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    try:
        assert json.loads(proc.stdout.readline())["type"] == "status"
        proc.stdout.close()
        t0 = time.monotonic()
        assert proc.wait(timeout=60) == 141
        assert time.monotonic() - t0 < scene.duration / 2  # not played to the end
        assert proc.stderr.read() == b""
    finally:
        proc.kill()
    proc = subprocess.Popen([str(SER_LIVE), "analyze", str(scene.path), "--model", str(tiny_model_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    proc.stdout.close()
    assert proc.wait(timeout=60) == 141 and proc.stderr.read() == b""


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_output_that_cannot_be_written(scene: Scene, tiny_model_dir: Path) -> None:
    """A full disk behind --out, or behind stdout, is one line naming it, for every command
    that writes results."""
    for command in ("monitor", "analyze"):
        args = ["--input", scene.path] if command == "monitor" else [scene.path]
        r = run_cli(command, *args, "--model", tiny_model_dir, "--out", "/dev/full")
        assert r.returncode == 2, r
        assert r.stderr.strip() == f"ser-live {command}: error: /dev/full: cannot write (No space left on device)"
    with open("/dev/full", "w") as full:
        proc = subprocess.run([str(SER_LIVE), "predict", str(scene.path), "--model", str(tiny_model_dir)],
                              stdout=full, stderr=subprocess.PIPE, env=cli_env(), timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == "ser-live predict: error: stdout: cannot write (No space left on device)"


def test_predict_a_folder_with_silence_and_broken_files(mixed_dir: Path, tiny_model_dir: Path,
                                                        tmp_path: Path) -> None:
    """`predict DIR FILE`: a line per readable file, `speech: false` and nulls for one the VAD
    hears no speech in (an emotion of silence would be noise), each broken file reported and
    skipped (exit 1); a folder without audio is a one-line error."""
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(3 * SR, np.float32), SR)
    r = run_cli("predict", mixed_dir, silent, "--model", tiny_model_dir)
    assert r.returncode == 1, r
    rows = {Path(row["file"]).name: row for row in r.json_lines()}
    assert set(rows) == set(GOOD) | {"silent.wav"}, r
    labels = json.loads((tiny_model_dir / "model.json").read_text())["labels"]
    for name in GOOD:
        row = rows[name]
        assert row["speech"] is True and list(row["probs"]) == labels
        assert sum(row["probs"].values()) == pytest.approx(1.0, abs=1e-3)
        assert row["label"] == max(row["probs"], key=row["probs"].get)
        assert row["confidence"] == row["probs"][row["label"]] and -1 <= row["valence"] <= 1
    assert rows["silent.wav"] == {"file": str(silent), "speech": False, "label": None, "confidence": None,
                                  "probs": None, "valence3": None, "arousal": None, "valence": None}
    skipped = [ln for ln in r.stderr.splitlines() if ln.startswith("skipped: ")]
    assert sorted(Path(ln.split(": ")[1]).name for ln in skipped) == sorted(BAD), r
    assert f"{len(BAD)} of {len(GOOD) + len(BAD) + 1} file(s) could not be read" in r.stderr
    (tmp_path / "none").mkdir()
    r = run_cli("predict", tmp_path / "none", "--model", tiny_model_dir)
    assert r.returncode == 2 and r.stderr.strip().endswith(f"no audio files found in {tmp_path / 'none'}"), r
