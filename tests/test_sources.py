"""Sources (file, real-time file, stdin pipe) and the engine over them."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

import synth
from live_fixtures import (SR, TOL, Scene, check_events_over_speech, classifier,  # noqa: F401
                           scene, stereo_call, tiny_model_dir, utterances)
from ser_live.audio.io import AudioLoadError
from ser_live.audio.sources import ENCODINGS, FileSource, StdinSource
from ser_live.engine import Engine, EngineConfig

def drain(src, timeout: float = 30.0) -> tuple[list[np.ndarray], int]:
    """Read a started source to its end; the concatenated audio per stream and the read count."""
    parts: list[list[np.ndarray]] = [[] for _ in src.streams]
    reads, t_end = 0, time.monotonic() + timeout
    while (chunks := src.read()) is not None:
        assert len(chunks) == len(src.streams)
        for p, c in zip(parts, chunks):
            assert c.dtype == np.float32 and c.ndim == 1
            p.append(c)
        reads += 1
        if not any(len(c) for c in chunks):
            time.sleep(0.002)
        assert time.monotonic() < t_end, "source did not end"
    return [np.concatenate(p) if p else np.zeros(0, np.float32) for p in parts], reads


def tone(freq: float, seconds: float, rate: int, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def similar(a: np.ndarray, b: np.ndarray, min_corr: float = 0.99) -> None:
    """Same signal up to a few samples of length (resampler edges)."""
    n = min(len(a), len(b))
    assert abs(len(a) - len(b)) <= 8, (len(a), len(b))
    a, b = a[64:n - 64].astype(np.float64), b[64:n - 64].astype(np.float64)
    corr = float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))
    assert corr > min_corr, f"correlation {corr:.4f}"


# --- file source -----------------------------------------------------------------------

@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_file_source_fast_any_rate_to_16k(tmp_path: Path, scene: Scene, rate: int) -> None:
    x = scene.audio if rate == SR else soxr.resample(scene.audio, SR, rate).astype(np.float32)
    path = synth.write_wav(tmp_path / f"r{rate}.wav", x, rate)
    src = FileSource(path)
    assert src.streams == [path.name] and src.rate == rate
    src.start()
    t0 = time.perf_counter()
    (got,), reads = drain(src)
    assert time.perf_counter() - t0 < 3.0          # not paced
    assert reads <= int(len(x) / rate) + 3          # 1 s blocks
    similar(got, scene.audio, 0.98 if rate < SR else 0.995)
    assert src.read() is None                        # stays ended


def test_file_source_realtime_pacing(tmp_path: Path) -> None:
    x = tone(200, 1.5, 44100)
    path = synth.write_wav(tmp_path / "t.wav", x, 44100)
    src = FileSource(path, realtime=True, block_s=0.02)
    src.start()
    t0 = time.monotonic()
    got_at: list[tuple[float, int]] = []
    total = 0
    while (chunks := src.read()) is not None:
        if len(chunks[0]):
            total += len(chunks[0])
            got_at.append((time.monotonic() - t0, total))
        time.sleep(0.005)
    elapsed = time.monotonic() - t0
    assert 1.4 <= elapsed <= 2.2, f"1.5 s file took {elapsed:.2f} s in real time"
    assert abs(total - int(1.5 * SR)) <= 64
    # never ahead of the clock: what has arrived by time t is at most t seconds of audio
    for t, n in got_at:
        assert n / SR <= t + 0.05, f"{n / SR:.2f} s of audio after {t:.2f} s"
    half = [n for t, n in got_at if t < 0.75]
    assert half and half[-1] / SR > 0.5               # and it keeps up


def test_file_source_split_channels(tmp_path: Path) -> None:
    rate = 44100
    left = tone(300, 2.0, rate)
    right = np.concatenate([np.zeros(rate, np.float32), tone(1000, 1.0, rate)])
    path = tmp_path / "call.wav"
    sf.write(str(path), np.stack([left, right], axis=1), rate, subtype="PCM_16")

    src = FileSource(path, split=True)
    assert src.streams == ["call.wav:ch0", "call.wav:ch1"]
    src.start()
    (ch0, ch1), _ = drain(src)
    similar(ch0, soxr.resample(left, rate, SR))
    assert np.abs(ch1[:int(0.9 * SR)]).max() < 1e-3              # the right channel's silence...
    similar(ch1[int(1.1 * SR):], soxr.resample(right, rate, SR)[int(1.1 * SR):])  # ...and its tone

    mixed = FileSource(path, split=False, name="both")
    assert mixed.streams == ["both"]
    mixed.start()
    (mono,), _ = drain(mixed)
    similar(mono, soxr.resample((left + right) / 2, rate, SR))


def test_file_source_errors_name_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("not audio\n" * 100)
    folder = tmp_path / "takes.wav"
    folder.mkdir()
    odd = tmp_path / "take\n2.wav"
    odd.write_text("not audio")
    for p, why in ((tmp_path / "missing.wav", "no such file"), (empty, "empty file"),
                   (text, "cannot decode audio"), (folder, "not a regular file"),
                   (odd, "cannot decode audio")):
        with pytest.raises(AudioLoadError, match=why) as exc:
            FileSource(p)
        assert len(str(exc.value).splitlines()) == 1
        assert p.name.replace("\n", "\\n") in str(exc.value)


def test_file_source_refuses_nan_or_infinite_samples(tmp_path: Path) -> None:
    """A float file with NaN or infinite samples mid-way: the block that holds them raises a
    one-line AudioLoadError naming the file and when, instead of passing NaN on to the model."""
    x = tone(200, 3.0, 22050)
    for bad in (np.nan, np.inf):
        y = x.copy()
        y[int(2.5 * 22050)] = bad
        path = tmp_path / f"{bad}.wav"
        sf.write(str(path), y, 22050, subtype="FLOAT")
        src = FileSource(path)
        src.start()
        got = src.read()[0]                              # the first second is fine
        assert len(got) > 0.9 * SR and np.isfinite(got).all()
        with pytest.raises(AudioLoadError, match=r"NaN or infinite samples \(the first at 2.50 s\)") as exc:
            drain(src)
        assert str(exc.value).startswith(str(path)) and len(str(exc.value).splitlines()) == 1


# --- stdin source ----------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_stdin_source_from_a_sox_pipe(scene: Scene, rate: int) -> None:
    proc = subprocess.Popen(["sox", str(scene.path), "-t", "s16", "-r", str(rate), "-c", "1", "-"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    src = StdinSource(rate=rate, channels=1, stream=proc.stdout)
    assert src.streams == ["stdin"]
    src.start()
    (got,), _ = drain(src)
    proc.wait(10)
    assert proc.returncode == 0
    similar(got, scene.audio, 0.98 if rate < SR else 0.995)


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
@pytest.mark.parametrize("encoding, sox_type", [("mulaw", "ul"), ("alaw", "al")])
def test_stdin_source_reads_g711_phone_audio(scene: Scene, encoding: str, sox_type: str) -> None:
    """Phone systems carry 8 kHz G.711 bytes (mu-law, A-law); read as 16-bit PCM they would be
    noise. sox encodes, the source decodes: the signal comes back."""
    proc = subprocess.Popen(["sox", str(scene.path), "-t", sox_type, "-r", "8000", "-c", "1", "-"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    src = StdinSource(rate=8000, channels=1, stream=proc.stdout, encoding=encoding)
    src.start()
    (got,), _ = drain(src)
    proc.wait(10)
    assert proc.returncode == 0
    similar(got, scene.audio, 0.97)  # a phone band and 8-bit companding


def test_monitor_encoding_choices_are_the_sources() -> None:
    """`monitor --encoding`'s choices are spelled out in cli.py so that --help imports nothing."""
    from ser_live.cli import build_parser

    monitor = next(a for a in build_parser()._actions if a.dest == "command").choices["monitor"]
    assert next(a for a in monitor._actions if a.dest == "encoding").choices == list(ENCODINGS)


def test_stdin_source_stereo_split_from_a_python_pipe(tmp_path: Path) -> None:
    rate = 22050
    left, right = tone(300, 1.5, rate), tone(1200, 1.5, rate, amp=0.2)
    pcm = (np.stack([left, right], axis=1) * 32767).astype("<i2")
    raw = tmp_path / "call.s16"
    raw.write_bytes(pcm.tobytes())
    # a separate process writing in odd-sized pieces: frames split across reads must survive
    writer = ("import sys, time\n"
              f"data = open({str(raw)!r}, 'rb').read()\n"
              "i = 0\n"
              "while i < len(data):\n"
              "    sys.stdout.buffer.write(data[i:i + 1001]); sys.stdout.buffer.flush(); i += 1001\n")
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE)
    src = StdinSource(rate=rate, channels=2, split=True, stream=proc.stdout, name="pipe")
    assert src.streams == ["pipe:ch0", "pipe:ch1"]
    src.start()
    (ch0, ch1), _ = drain(src)
    proc.wait(10)
    similar(ch0, soxr.resample(left, rate, SR))
    similar(ch1, soxr.resample(right, rate, SR))


def _wav_bytes(audio: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, audio, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
def test_stdin_source_skips_a_wav_header(scene: Scene, tmp_path: Path) -> None:
    """`sox call.wav -t wav - | ser-live monitor --input -`: the header is read past, not
    played: the samples are those of the raw PCM pipe, exactly. An odd-sized chunk before the
    data (other writers add LIST chunks) is skipped with its padding byte."""
    wav = subprocess.run(["sox", str(scene.path), "-t", "wav", "-b", "16", "-"],
                         capture_output=True, check=True).stdout
    raw = subprocess.run(["sox", str(scene.path), "-t", "s16", "-"], capture_output=True, check=True).stdout
    at = wav.index(b"data")
    wav = wav[:at] + b"LIST" + (5).to_bytes(4, "little") + b"agent\0" + wav[at:]
    got = []
    for data in (wav, raw):
        (tmp_path / "in").write_bytes(data)
        with open(tmp_path / "in", "rb") as f:
            src = StdinSource(stream=f)
            src.start()
            (audio,), _ = drain(src)
        got.append(audio)
    np.testing.assert_array_equal(got[0], got[1])


@pytest.mark.parametrize("rate, channels, subtype, needle", [
    (44100, 2, "PCM_16", "at 44100 Hz with 2 channel(s), not 16000 Hz with 1: run with --rate 44100 --channels 2"),
    (16000, 1, "FLOAT", "a WAV stream of 32-bit float samples; --input - reads 16-bit PCM, mu-law or A-law"),
    (16000, 1, "PCM_24", "a WAV stream of 24-bit PCM samples"),
    (16000, 1, "ULAW", "a WAV stream of mulaw samples: run with --encoding mulaw"),
    (16000, 1, "ALAW", "a WAV stream of alaw samples: run with --encoding alaw"),
])
def test_stdin_source_refuses_a_wav_stream_it_would_misread(tmp_path: Path, rate: int, channels: int,
                                                           subtype: str, needle: str) -> None:
    from ser_live.audio.sources import SourceError

    audio = np.zeros((rate // 2, channels), np.float32) + 0.1
    (tmp_path / "in").write_bytes(_wav_bytes(audio, rate, subtype))
    with open(tmp_path / "in", "rb") as f:
        src = StdinSource(stream=f)
        src.start()
        with pytest.raises(SourceError, match="^stdin: ") as exc:
            drain(src)
    assert needle in str(exc.value) and len(str(exc.value).splitlines()) == 1


# --- engine ----------------------------------------------------------------------------

def run_engine(sources, classifier, cfg: EngineConfig = EngineConfig()) -> list:
    engine = Engine(sources, classifier, cfg)
    sub = engine.bus.subscribe(maxlen=1_000_000)
    engine.run()
    engine.bus.close()
    msgs = []
    while (m := sub.get(timeout=0)) is not None:
        msgs.append(m.to_dict())
    return msgs


def test_engine_on_a_file(scene: Scene, classifier) -> None:
    msgs = run_engine([FileSource(scene.path, name="call")], classifier)
    events = [m for m in msgs if m["type"] == "event"]
    statuses = [m for m in msgs if m["type"] == "status"]
    summaries = [m for m in msgs if m["type"] == "summary"]
    check_events_over_speech(events, scene.intervals)
    assert all(e["stream"] == "call" and e["label"] in classifier.labels for e in events)
    # status at a steady rate of stream time, speech flagged only around the speech
    ts = [s["t"] for s in statuses]
    # (one per 0.5 s of stream time, or per block read when blocks are longer: 1 s offline)
    assert len(statuses) >= scene.duration - 1 and ts == sorted(ts)
    assert all(s["overruns"] == 0 and s["error"] is None for s in statuses)
    for s in statuses:
        if s["speech"]:
            assert any(s0 - TOL <= s["t"] <= s1 + 0.6 + TOL for s0, s1 in scene.intervals), s
    assert any(s["speech"] for s in statuses) and not statuses[0]["speech"]
    assert [s["stream"] for s in summaries] == ["call"] and msgs[-1]["type"] == "summary"
    (summary,) = summaries
    assert summary["events"] == len(events) and summary["overruns"] == 0
    assert summary["duration_s"] == pytest.approx(scene.duration, abs=0.05)
    speech_s = sum(b - a for a, b in scene.intervals)
    assert speech_s - 0.1 <= summary["speech_s"] <= speech_s + 4 * TOL
    assert sum(summary["share"].values()) == pytest.approx(1.0, abs=1e-3)


def test_engine_split_stereo_call(utterances, classifier, tmp_path: Path) -> None:
    """Agent on the left, customer on the right, taking turns: each stream's events follow
    its own speaker, and each stream gets its summary."""
    stereo, agent, customer = stereo_call(*utterances)
    path = tmp_path / "call.flac"
    sf.write(str(path), stereo, 16000)
    msgs = run_engine([FileSource(path, split=True)], classifier)
    for stream, part in (("call.flac:ch0", agent), ("call.flac:ch1", customer)):
        check_events_over_speech([m for m in msgs if m["type"] == "event" and m["stream"] == stream],
                                 part.intervals)
        (s,) = [m for m in msgs if m["type"] == "summary" and m["stream"] == stream]
        assert s["events"] > 0
    assert {m["stream"] for m in msgs} == {"call.flac:ch0", "call.flac:ch1"}


def test_engine_stop_closes_open_speech_and_summarises(scene: Scene, classifier) -> None:
    src = FileSource(scene.path, realtime=True, name="live")
    engine = Engine([src], classifier)
    sub = engine.bus.subscribe(maxlen=100_000)
    engine.start()
    s0, _ = scene.intervals[0]
    time.sleep(s0 + 1.0)                         # stop in the middle of the first utterance
    engine.stop()
    assert engine.wait(10)
    engine.bus.close()
    msgs = []
    while (m := sub.get(timeout=0)) is not None:
        msgs.append(m.to_dict())
    events = [m for m in msgs if m["type"] == "event"]
    assert events, "the open utterance was not closed on stop"
    assert all(s0 - TOL <= e["t_start"] and e["t_end"] <= s0 + 1.5 for e in events)
    (summary,) = [m for m in msgs if m["type"] == "summary"]
    assert s0 + 0.5 <= summary["duration_s"] <= s0 + 2.0 and summary["events"] == len(events)


def test_engine_over_a_pipe(scene: Scene, classifier) -> None:
    proc = subprocess.Popen([sys.executable, "-c",
                             "import sys, soundfile as sf; "
                             f"x, _ = sf.read({str(scene.path)!r}, dtype='int16'); "
                             "sys.stdout.buffer.write(x.tobytes())"], stdout=subprocess.PIPE)
    msgs = run_engine([StdinSource(rate=SR, stream=proc.stdout)], classifier)
    proc.wait(10)
    check_events_over_speech([m for m in msgs if m["type"] == "event"], scene.intervals)
    assert msgs[-1]["type"] == "summary" and msgs[-1]["stream"] == "stdin"


def test_engine_rejects_duplicate_streams(scene: Scene, classifier) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Engine([FileSource(scene.path, name="x"), FileSource(scene.path, name="x")], classifier)
