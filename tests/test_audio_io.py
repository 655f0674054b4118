"""load_audio on real encoded files: every supported codec, rate and channel count comes out
as 16 kHz mono float32 of the right length and pitch, and every broken file gives a one-line
AudioLoadError that names it (users feed whole folders; one bad file must say which)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser_live.audio.io import SAMPLE_RATE, AudioLoadError, load_audio

SECONDS = 0.5
FREQ = 440.0
HAS_MP3 = "MP3" in sf.available_formats()

# (ext, soundfile format, subtype, rates). libsndfile's Opus encoder takes only
# 8/12/16/24/48 kHz, so 22.05 and 44.1 kHz Opus files do not exist to be read.
CODECS = [
    ("wav", "WAV", "PCM_16", (8000, 22050, 44100, 48000)),
    ("wav", "WAV", "FLOAT", (8000, 22050, 44100, 48000)),
    ("flac", "FLAC", "PCM_16", (8000, 22050, 44100, 48000)),
    ("ogg", "OGG", "VORBIS", (8000, 22050, 44100, 48000)),
    ("opus", "OGG", "OPUS", (8000, 48000)),
    ("mp3", "MP3", "MPEG_LAYER_III", (8000, 22050, 44100, 48000)),
]
NO_MP3 = pytest.mark.skipif(not HAS_MP3, reason="libsndfile built without MP3 (needs >= 1.1)")
CASES = [
    pytest.param(ext, fmt, subtype, rate, channels, id=f"{subtype}-{rate}-{channels}ch",
                 marks=NO_MP3 if fmt == "MP3" else ())
    for ext, fmt, subtype, rates in CODECS
    for rate in rates
    for channels in (1, 2)
]


def tone(rate: int, freq: float = FREQ, seconds: float = SECONDS, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(x: np.ndarray) -> float:
    """Frequency of the strongest FFT bin (Hann window against leakage)."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum)) * SAMPLE_RATE / len(x)


def assert_one_line_naming(exc: pytest.ExceptionInfo, name: str) -> None:
    msg = str(exc.value)
    assert name in msg, msg
    assert len(msg.splitlines()) == 1, msg


@pytest.mark.parametrize(("ext", "fmt", "subtype", "rate", "channels"), CASES)
def test_codecs_rates_and_channels(tmp_path: Path, ext: str, fmt: str, subtype: str,
                                   rate: int, channels: int) -> None:
    mono = tone(rate)
    path = tmp_path / f"tone.{ext}"
    sf.write(path, np.stack([mono] * channels, axis=1), rate, format=fmt, subtype=subtype)

    y = load_audio(path)

    assert y.dtype == np.float32 and y.ndim == 1 and y.flags["C_CONTIGUOUS"]
    assert abs(len(y) / SAMPLE_RATE - SECONDS) <= 0.003
    assert abs(peak_hz(y) - FREQ) <= 2 * SAMPLE_RATE / len(y)
    rms = float(np.sqrt(np.mean(y[len(y) // 10: -len(y) // 10] ** 2)))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.1)  # lossy codecs included


@pytest.mark.parametrize("subtype", ["ULAW", "ALAW", "IMA_ADPCM", "MS_ADPCM", "GSM610", "G721_32",
                                     "NMS_ADPCM_32"])
def test_telephony_codecs_in_wav(tmp_path: Path, subtype: str) -> None:
    """Call recorders write 8 kHz WAV in telephone codecs. GSM 6.10 and the ADPCMs after it
    are not seekable in libsndfile, and a whole-file read failed on them ("frames must be
    specified for non-seekable files"); each is read whole, at the right pitch and level."""
    path = tmp_path / "call.wav"
    sf.write(path, tone(8000, seconds=1.0), 8000, subtype=subtype)

    y = load_audio(path)

    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) / SAMPLE_RATE - 1.0) <= 0.05  # codecs pad to whole blocks of frames
    assert abs(peak_hz(y) - FREQ) <= 2 * SAMPLE_RATE / len(y)
    rms = float(np.sqrt(np.mean(y[len(y) // 10: -len(y) // 10] ** 2)))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.25)


def test_stereo_is_averaged_not_one_channel(tmp_path: Path) -> None:
    """A downmix that kept only the left channel would lose the right one's tone entirely."""
    rate = 44100
    path = tmp_path / "lr.flac"
    sf.write(path, np.stack([tone(rate, 440.0), tone(rate, 1000.0)], axis=1), rate)

    y = load_audio(path)

    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    hz = np.fft.rfftfreq(len(y), 1 / SAMPLE_RATE)
    left, right = (spectrum[np.argmin(np.abs(hz - f))] for f in (440.0, 1000.0))
    assert right == pytest.approx(left, rel=0.05)
    assert float(np.abs(y).max()) == pytest.approx(0.5, abs=0.02)  # mean of two 0.5 tones


def test_resampling_is_band_limited(tmp_path: Path) -> None:
    """A 12 kHz tone cannot exist at 16 kHz; a naive resampler folds it to 4 kHz instead of
    removing it (cymbals and sibilants would turn into spurious mid-band energy)."""
    rate = 44100
    path = tmp_path / "high.wav"
    sf.write(path, tone(rate, 12000.0), rate, subtype="FLOAT")

    y = load_audio(path)

    assert float(np.sqrt(np.mean(y ** 2))) < 0.01 * 0.5 / np.sqrt(2)  # below -40 dB


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
@pytest.mark.parametrize(("name", "args", "rate"), [
    ("ulaw.wav", ["-r", "8000", "-e", "u-law", "-c", "1"], 8000),       # telephone audio
    ("s24.aiff", ["-r", "44100", "-b", "24", "-c", "2"], 44100),       # 24-bit AIFF
])
def test_files_written_by_sox(tmp_path: Path, name: str, args: list[str], rate: int) -> None:
    path = tmp_path / name
    subprocess.run(["sox", "-n", *args, str(path), "synth", str(SECONDS), "sine", str(FREQ)],
                   check=True, timeout=30)
    assert sf.info(path).samplerate == rate

    y = load_audio(path)

    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) / SAMPLE_RATE - SECONDS) <= 0.003
    assert abs(peak_hz(y) - FREQ) <= 4


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_streamed_wav_header_reads_like_a_finished_one(tmp_path: Path) -> None:
    """`espeak-ng --stdout` (like any piped recorder) cannot seek back to fill in the sizes, so
    its header claims ~2 GiB of data. It must decode exactly like the same speech written
    to a file."""
    text = "The quick brown fox jumps over the lazy dog."
    streamed, finished = tmp_path / "streamed.wav", tmp_path / "finished.wav"
    streamed.write_bytes(subprocess.run(["espeak-ng", "--stdout", text], check=True,
                                        capture_output=True, timeout=30).stdout)
    subprocess.run(["espeak-ng", "-w", str(finished), text], check=True, timeout=30)

    a, b = load_audio(streamed), load_audio(finished)

    assert len(a) == len(b) > SAMPLE_RATE  # over a second of speech
    np.testing.assert_array_equal(a, b)


# --- broken files: AudioLoadError, one line, naming the file ------------------------------

def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioLoadError, match="no such file") as exc:
        load_audio(tmp_path / "missing.wav")
    assert_one_line_naming(exc, "missing.wav")


@pytest.mark.parametrize("where", ["folder", "device"])
def test_not_a_regular_file(tmp_path: Path, where: str) -> None:
    """A folder or a device exists: saying "no such file" about it would mislead."""
    path = Path("/dev/null")
    if where == "folder":
        path = tmp_path / "takes.wav"
        path.mkdir()
    with pytest.raises(AudioLoadError, match="not a regular file") as exc:
        load_audio(path)
    assert_one_line_naming(exc, path.name)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.touch()
    with pytest.raises(AudioLoadError, match="empty file") as exc:
        load_audio(path)
    assert_one_line_naming(exc, "empty.wav")


@pytest.mark.parametrize("name", ["notes.wav", "notes.mp3", "notes.flac"])
def test_text_file_renamed_as_audio(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("these are meeting notes, not audio\n" * 50)
    with pytest.raises(AudioLoadError, match="cannot decode audio") as exc:
        load_audio(path)
    assert_one_line_naming(exc, name)


def test_valid_header_without_frames(tmp_path: Path) -> None:
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioLoadError, match="no audio frames") as exc:
        load_audio(path)
    assert_one_line_naming(exc, "silent.wav")


def test_nan_samples(tmp_path: Path) -> None:
    path = tmp_path / "nan.wav"
    x = tone(16000)
    x[100] = np.nan
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioLoadError, match="NaN") as exc:
        load_audio(path)
    assert_one_line_naming(exc, "nan.wav")


def test_control_characters_in_name_stay_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "take\n2.wav"
    path.write_text("not audio")
    with pytest.raises(AudioLoadError) as exc:
        load_audio(path)
    assert_one_line_naming(exc, "take\\n2.wav")


@pytest.mark.timeout(10)
@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_truncated_wav_decodes_the_frames_present(tmp_path: Path, subtype: str) -> None:
    """An interrupted copy of a WAV: the header promises 1 s, half the bytes are there.

    Decision: libsndfile reads the frames that exist and stops, so load_audio returns about
    half a second of the tone rather than failing. That is the useful answer (the audio there
    is intact), and it neither crashes nor waits for the missing bytes."""
    rate = 22050
    full = tmp_path / "full.wav"
    sf.write(full, tone(rate, seconds=1.0), rate, subtype=subtype)
    data = full.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])

    y = load_audio(cut)

    assert abs(len(y) / SAMPLE_RATE - 0.5) <= 0.01
    assert abs(peak_hz(y) - FREQ) <= 4


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("ext", "fmt", "subtype", "rate", "keep"), [
    ("wav", "WAV", "PCM_16", 22050, 20),       # cut inside the header
    ("flac", "FLAC", "PCM_16", 22050, 0.5),     # libsndfile: "flac decoder lost sync"
    ("ogg", "OGG", "VORBIS", 22050, 0.5),       # libsndfile: "file is malformed"
    ("opus", "OGG", "OPUS", 48000, 0.5),
])
def test_truncated_compressed_or_headerless_files_fail_cleanly(
        tmp_path: Path, ext: str, fmt: str, subtype: str, rate: int, keep: float) -> None:
    """Decision: where libsndfile refuses a truncated file outright (FLAC loses sync, Ogg needs
    its last page for the length, a WAV cut inside its header has no format), load_audio says
    so with an AudioLoadError instead of returning part of it or hanging."""
    full = tmp_path / f"full.{ext}"
    sf.write(full, tone(rate, seconds=1.0), rate, format=fmt, subtype=subtype)
    data = full.read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[: int(len(data) * keep) if keep < 1 else int(keep)])

    with pytest.raises(AudioLoadError, match="cannot decode audio") as exc:
        load_audio(cut)
    assert_one_line_naming(exc, f"cut.{ext}")
