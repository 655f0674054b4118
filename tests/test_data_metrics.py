"""Manifests, speaker-grouped splits, the decoded-clip cache, and the reported scores."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

import synth
from ser_live.audio.io import load_audio
from ser_live.labels import LABELS
from ser_live.train.data import (AudioCache, ClipRecord, DataError, default_cache_dir, load_clip,
                                 read_manifest, select, speaker_split)
from ser_live.train.loop import sampling_weights
from ser_live.train.metrics import scores

HEADER = "path,corpus,speaker,emotion,split\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- read_manifest ---------------------------------------------------------------------

def test_read_manifest(tmp_path: Path) -> None:
    m = write(tmp_path / "data" / "m.csv", HEADER + "a/x.wav,c1,s1,ANG,Train\n"
              "b/y.flac,c1,s2,neutral, test \n")
    recs = read_manifest(m)
    assert [r.emotion for r in recs] == ["angry", "neutral"]
    assert [r.split for r in recs] == ["train", "test"]
    assert recs[0].path == tmp_path / "data" / "a" / "x.wav"  # relative to the manifest
    assert read_manifest(m, root=tmp_path / "elsewhere")[1].path == tmp_path / "elsewhere" / "b" / "y.flac"
    assert recs[0].gender == "" and recs[0].sentence_id == ""


def test_missing_manifest_names_it(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        read_manifest(tmp_path / "nope.csv")
    assert "nope.csv" in str(exc.value) and len(str(exc.value).splitlines()) == 1


def test_missing_column(tmp_path: Path) -> None:
    m = write(tmp_path / "m.csv", "path,corpus,emotion,split\nx.wav,c,angry,train\n")
    with pytest.raises(DataError) as exc:
        read_manifest(m)
    msg = str(exc.value)
    assert "speaker" in msg and "m.csv" in msg and len(msg.splitlines()) == 1


def test_unknown_label_names_line_and_field(tmp_path: Path) -> None:
    m = write(tmp_path / "m.csv", HEADER + "x.wav,c,s1,angry,train\ny.wav,c,s1,bored,train\n")
    with pytest.raises(DataError) as exc:
        read_manifest(m)
    msg = str(exc.value)
    assert len(msg.splitlines()) == 1
    assert "m.csv:3" in msg and "emotion" in msg and "bored" in msg


# --- select / speaker_split --------------------------------------------------------------

def recs_for(corpus: str, speakers: list[tuple[str, str]], split: str = "train",
             per_speaker: int = 3) -> list[ClipRecord]:
    return [ClipRecord(path=Path(f"{corpus}/{spk}/{k}.wav"), corpus=corpus, speaker=f"{corpus}-{spk}",
                       emotion=LABELS[k % 4], split=split, gender=g)
            for spk, g in speakers for k in range(per_speaker)]


def test_select() -> None:
    recs = (recs_for("a", [("1", "m")]) + recs_for("b", [("1", "f")], split="test")
            + recs_for("c", [("1", "f")]))
    assert {r.corpus for r in select(recs, split="train")} == {"a", "c"}
    assert {r.corpus for r in select(recs, corpus="a,b")} == {"a", "b"}
    assert {r.emotion for r in select(recs, labels=["neutral", "sad"])} == {"neutral"}
    assert select(recs) == recs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_speaker_split_is_speaker_disjoint(seed: int) -> None:
    big = recs_for("big", [(f"{i:02d}", "m" if i % 2 else "f") for i in range(20)])
    small = recs_for("tess", [("OAF", "f"), ("YAF", "f")])
    three = recs_for("three", [("a", "m"), ("b", "f"), ("c", "m")])
    train, val = speaker_split(big + small + three, val_fraction=0.15, seed=seed)
    tr_spk, va_spk = {r.speaker for r in train}, {r.speaker for r in val}
    assert not tr_spk & va_spk
    assert len(train) + len(val) == len(big) + len(small) + len(three)
    # < 4 speakers: the corpus stays whole in training
    assert {r.speaker for r in small + three} <= tr_spk
    # the big corpus gives validation speakers of both genders, ~15 %
    va_big = {r.speaker for r in val if r.corpus == "big"}
    assert 2 <= len(va_big) <= 4
    assert {r.gender for r in val} == {"m", "f"}
    # deterministic for a seed
    assert speaker_split(big + small + three, 0.15, seed)[1] == val


def test_speaker_split_refuses_test_records() -> None:
    recs = recs_for("a", [(str(i), "m") for i in range(6)]) + recs_for("a", [("t", "f")], split="test")
    with pytest.raises(DataError, match="test"):
        speaker_split(recs)


@pytest.mark.parametrize("mode", ["class", "class-speaker"])
def test_sampling_weights_share_draws_out(mode: str) -> None:
    # a big corpus of many voices, and one voice with many clips of each emotion and of its own
    rng = np.random.default_rng(0)
    speakers = [f"c{k}" for k in rng.integers(0, 20, 600)] + ["tess"] * 300
    y = np.concatenate([rng.integers(0, 2, 600), rng.integers(0, 3, 300)])
    w = sampling_weights(y, speakers, mode)
    w = w / w.sum()
    assert np.allclose(np.bincount(y, weights=w), 1 / 3)  # every emotion equally often
    spk = np.array(speakers)
    tess = w[spk == "tess"].sum()
    if mode == "class":  # the one voice fills the third class and half of its share of the others
        assert tess == pytest.approx(1 / 3 + 2 / 3 * (100 / (100 + 300)), abs=0.02)
    else:  # within an emotion every voice is one voice: 1/21 of the first two, all of the third
        assert tess == pytest.approx(1 / 3 + 2 / 3 / 21)
        for label in (0, 1):
            shares = [w[(spk == s) & (y == label)].sum() for s in set(speakers)]
            assert np.allclose(shares, 1 / 3 / 21)
    with pytest.raises(ValueError, match="sampling"):
        sampling_weights(y, speakers, "speaker")


# --- AudioCache --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory, espeak) -> Path:
    d = tmp_path_factory.mktemp("clips")
    for i, (voice, text) in enumerate([("en", "Kids are talking by the door."),
                                       ("en+f3", "Dogs are sitting by the door."),
                                       ("en-us", "It is eleven o'clock.")]):
        synth.write_wav(d / f"good{i}.wav", 0.3 * synth.pad(synth.synth(text, voice), 0.6, 0.6))
    (d / "corrupt.wav").write_text("this is not audio, only a text file with a .wav name\n")
    return d


def cache_records(d: Path) -> list[ClipRecord]:
    names = ["good0.wav", "corrupt.wav", "good1.wav", "good2.wav"]
    return [ClipRecord(path=d / n, corpus="t", speaker=f"s{i}", emotion="neutral")
            for i, n in enumerate(names)]


def test_audio_cache_skips_corrupt_and_reuses_disk_copy(tmp_path: Path, clip_dir: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    import shutil

    src = tmp_path / "src"
    shutil.copytree(clip_dir, src)
    recs = cache_records(src)
    cache_dir = tmp_path / "cache"

    first = AudioCache(recs, cache_dir, progress=False)
    assert len(first) == 3
    assert [r.path.name for r in first.records] == ["good0.wav", "good1.wav", "good2.wav"]
    assert [p.name for p, _ in first.failed] == ["corrupt.wav"]
    assert "corrupt.wav" in capsys.readouterr().err
    for i, r in enumerate(first.records):
        clip = first[i]
        assert clip.dtype == np.float32
        np.testing.assert_array_equal(clip, load_clip(r.path))
        # cut to the speech: the 0.6 s of silence each side is (mostly) gone
        full = load_audio(r.path)
        assert 0.5 * 16000 < len(clip) <= len(full) - 0.6 * 16000
    files = list(cache_dir.glob("*.npz"))
    assert len(files) == 1 and not str(files[0]).startswith(str(Path(__file__).parents[1]))

    # the second run reads the disk copy: it works even with the audio files gone
    for p in src.glob("*.wav"):
        p.unlink()
    second = AudioCache(recs, cache_dir, progress=False)
    assert [r.path for r in second.records] == [r.path for r in first.records]
    assert [p for p, _ in second.failed] == [p for p, _ in first.failed]
    for i in range(3):
        np.testing.assert_array_equal(second[i], first[i])
    # the same files named relative to the working folder are the same entry
    relative = [dataclasses.replace(r, path=Path(os.path.relpath(r.path))) for r in recs]
    assert not relative[0].path.is_absolute()
    assert len(AudioCache(relative, cache_dir, progress=False)) == 3

    # a different file list is a different cache entry (and here: nothing decodable)
    third = AudioCache(recs[:2], cache_dir, progress=False)
    assert len(third) == 0 and len(third.failed) == 2


def test_audio_cache_without_disk(clip_dir: Path) -> None:
    c = AudioCache(cache_records(clip_dir), None, progress=False)
    assert len(c) == 3 and len(c.failed) == 1


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SER_LIVE_CACHE", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("SER_LIVE_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "ser-live"


# --- metrics -----------------------------------------------------------------------------

def test_scores_hand_checked() -> None:
    # true 0: 3 right, 1 called 1; true 1: 1 right, 1 called 2; true 2: 4 right; label 3 absent
    y_true = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 2, 2, 2, 2, 2]
    s = scores(y_true, y_pred, ["a", "b", "c", "d"])
    assert s["confusion"] == [[3, 1, 0, 0], [0, 1, 1, 0], [0, 0, 4, 0], [0, 0, 0, 0]]
    assert s["n"] == 10
    assert s["wa"] == pytest.approx(0.8)
    assert s["ua"] == pytest.approx((0.75 + 0.5 + 1.0) / 3)           # d has no recall
    f1 = [2 * 1.0 * 0.75 / 1.75, 0.5, 2 * 0.8 * 1.0 / 1.8]
    assert s["macro_f1"] == pytest.approx(np.mean(f1))
    pc = s["per_class"]
    assert pc["a"] == pytest.approx({"precision": 1.0, "recall": 0.75, "f1": f1[0], "support": 4})
    assert pc["c"]["precision"] == pytest.approx(0.8) and pc["d"]["support"] == 0
    assert s["labels"] == ["a", "b", "c", "d"]


def test_scores_agree_with_sklearn() -> None:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 300)
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, 5, 300))
    s = scores(y, p, list("abcde"))
    assert s["ua"] == pytest.approx(balanced_accuracy_score(y, p))
    assert s["wa"] == pytest.approx(accuracy_score(y, p))
    assert s["macro_f1"] == pytest.approx(f1_score(y, p, average="macro"))


def test_scores_constant_predictor_is_chance() -> None:
    """The reason UA is the headline: all-'neutral' on an unbalanced set has high WA, chance UA."""
    y = [0] * 80 + [1] * 10 + [2] * 10
    s = scores(y, [0] * 100, ["neutral", "sad", "angry"])
    assert s["wa"] == pytest.approx(0.8)
    assert s["ua"] == pytest.approx(1 / 3)


def test_scores_empty() -> None:
    s = scores([], [], ["a", "b"])
    assert s["n"] == 0 and s["ua"] == 0.0 and s["wa"] == 0.0 and s["macro_f1"] == 0.0


# --- the shared corpus -------------------------------------------------------------------

@pytest.mark.corpus
def test_shared_manifest_respects_test_speakers(shared_corpus: Path) -> None:
    recs = read_manifest(shared_corpus / "manifest.csv")
    assert len(recs) > 10_000
    assert {r.emotion for r in recs} <= set(LABELS)
    assert {r.split for r in recs} == {"train", "test"}
    train_spk = {r.speaker for r in recs if r.split == "train"}
    test_spk = {r.speaker for r in recs if r.split == "test"}
    assert test_spk and not train_spk & test_spk
    tr, va = speaker_split(select(recs, split="train"))
    assert va and not {r.speaker for r in tr} & {r.speaker for r in va}
    assert not {r.speaker for r in va} & test_spk
    assert {r.speaker for r in recs if r.corpus == "tess"} <= {r.speaker for r in tr}
    assert {r.corpus for r in va} == {"ravdess", "cremad"}


@pytest.mark.corpus
def test_shared_corpus_clips_decode(shared_corpus: Path, tmp_path: Path) -> None:
    recs = read_manifest(shared_corpus / "manifest.csv")
    pick = [next(r for r in recs if r.corpus == c) for c in ("ravdess", "cremad", "tess")]
    cache = AudioCache(pick, tmp_path, progress=False)
    assert len(cache) == 3 and not cache.failed
    for i in range(3):
        assert cache[i].dtype == np.float32 and 0.3 * 16000 < len(cache[i]) < 6 * 16000
