"""Native corpus layouts: labels, speakers, gender and intensity come from file names alone.

Files are empty: parsing never opens them, and empty files keep the fake trees instant.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from ser_live.train.data import DataError, read_manifest
from ser_live.train.layouts import parse_name, scan_corpus

SHARED_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ser-corpus"


def make_tree(root: Path, names: list[str]) -> Path:
    """Create empty files at the given relative paths under root."""
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    return root


def by_name(records) -> dict:
    return {r.path.name: r for r in records}


def test_ravdess(tmp_path: Path) -> None:
    make_tree(tmp_path, [
        "Actor_01/03-01-05-02-01-01-01.wav",   # angry, strong, actor 1 (odd: male)
        "Actor_02/03-01-08-01-02-02-02.flac",  # surprised, normal, actor 2 (even: female)
        "Actor_24/03-01-02-01-01-01-24.wav",   # calm
        "Actor_01/03-02-05-02-01-01-01.wav",   # song: skipped
        "Actor_01/03-01-09-01-01-01-01.wav",   # no such emotion code
    ])
    records, warnings = scan_corpus(tmp_path)
    got = by_name(records)
    assert len(records) == 3
    r = got["03-01-05-02-01-01-01.wav"]
    assert (r.corpus, r.speaker, r.emotion, r.gender, r.intensity, r.sentence_id, r.split) == (
        "ravdess", "ravdess-01", "angry", "m", "strong", "01", "train")
    r = got["03-01-08-01-02-02-02.flac"]
    assert (r.speaker, r.emotion, r.gender, r.intensity, r.sentence_id) == (
        "ravdess-02", "surprised", "f", "normal", "02")
    assert got["03-01-02-01-01-01-24.wav"].emotion == "calm"
    assert len(warnings) == 2
    assert any("03-02-05-02-01-01-01.wav" in w and "song" in w for w in warnings)
    assert any("03-01-09-01-01-01-01.wav" in w and "emotion code '09'" in w for w in warnings)


def test_cremad(tmp_path: Path) -> None:
    make_tree(tmp_path, [
        "AudioWAV/1001_DFA_ANG_XX.wav", "AudioWAV/1002_IEO_HAP_LO.wav",
        "AudioWAV/1003_IEO_SAD_MD.wav", "AudioWAV/1004_IEO_FEA_HI.mp3",
        "AudioWAV/1005_TIE_DIS_XX.ogg", "AudioWAV/1006_ITS_NEU_XX.opus",
        "AudioWAV/1040_ITH_SAD_X.wav",   # misnamed in a popular mirror
        "AudioWAV/1007_DFA_BOR_XX.wav",  # no such emotion code
    ])
    records, warnings = scan_corpus(tmp_path, corpus="cremad")
    got = by_name(records)
    expect = {
        "1001_DFA_ANG_XX.wav": ("cremad-1001", "angry", "unspecified", "DFA"),
        "1002_IEO_HAP_LO.wav": ("cremad-1002", "happy", "low", "IEO"),
        "1003_IEO_SAD_MD.wav": ("cremad-1003", "sad", "medium", "IEO"),
        "1004_IEO_FEA_HI.mp3": ("cremad-1004", "fearful", "high", "IEO"),
        "1005_TIE_DIS_XX.ogg": ("cremad-1005", "disgust", "unspecified", "TIE"),
        "1006_ITS_NEU_XX.opus": ("cremad-1006", "neutral", "unspecified", "ITS"),
        "1040_ITH_SAD_X.wav": ("cremad-1040", "sad", "unspecified", "ITH"),
    }
    assert {n: (r.speaker, r.emotion, r.intensity, r.sentence_id) for n, r in got.items()} == expect
    assert all(r.gender == "" for r in records)  # no demographics table embedded
    assert len(warnings) == 1 and "1007_DFA_BOR_XX.wav" in warnings[0]


def test_tess_speaker_from_folder_and_misnamed_file(tmp_path: Path) -> None:
    make_tree(tmp_path, [
        "TESS Toronto emotional speech set data/OAF_angry/OAF_back_angry.wav",
        "TESS Toronto emotional speech set data/OAF_neutral/OA_bite_neutral.wav",
        "TESS Toronto emotional speech set data/OAF_Fear/OAF_dog_fear.wav",
        "TESS Toronto emotional speech set data/YAF_pleasant_surprised/YAF_jar_ps.wav",
        "TESS Toronto emotional speech set data/YAF_sad/YAF_beg_sad.wav",
        "flat/OA_chair_disgust.opus",   # flat copy: speaker from the file prefix
        "flat/YAF_keen_happy.opus",
        "flat/YAF_keen_bored.opus",     # no such TESS emotion
    ])
    records, warnings = scan_corpus(tmp_path)
    got = by_name(records)
    expect = {
        "OAF_back_angry.wav": ("tess-OAF", "angry", "back"),
        "OA_bite_neutral.wav": ("tess-OAF", "neutral", "bite"),
        "OAF_dog_fear.wav": ("tess-OAF", "fearful", "dog"),
        "YAF_jar_ps.wav": ("tess-YAF", "surprised", "jar"),
        "YAF_beg_sad.wav": ("tess-YAF", "sad", "beg"),
        "OA_chair_disgust.opus": ("tess-OAF", "disgust", "chair"),
        "YAF_keen_happy.opus": ("tess-YAF", "happy", "keen"),
    }
    assert {n: (r.speaker, r.emotion, r.sentence_id) for n, r in got.items()} == expect
    assert {(r.corpus, r.gender, r.intensity) for r in records} == {("tess", "f", "")}
    assert len(warnings) == 1 and "YAF_keen_bored.opus" in warnings[0]


def test_savee_flat_and_speaker_folders(tmp_path: Path) -> None:
    make_tree(tmp_path, [
        "ALL/DC_a01.wav", "ALL/JE_sa03.wav", "ALL/JK_su15.wav", "ALL/KL_n30.wav",
        "AudioData/KL/d02.wav", "AudioData/JE/f07.wav", "AudioData/DC/h11.wav",
        "AudioData/XY/a01.wav",  # not a SAVEE speaker
    ])
    records, warnings = scan_corpus(tmp_path, corpus="savee")
    got = {(r.speaker, r.sentence_id): r.emotion for r in records}
    assert got == {
        ("savee-DC", "a01"): "angry", ("savee-JE", "sa03"): "sad",
        ("savee-JK", "su15"): "surprised", ("savee-KL", "n30"): "neutral",
        ("savee-KL", "d02"): "disgust", ("savee-JE", "f07"): "fearful",
        ("savee-DC", "h11"): "happy",
    }
    assert {r.gender for r in records} == {"m"}
    assert len(warnings) == 1 and "speaker code 'XY'" in warnings[0]


def test_emodb_boredom_is_skipped_with_a_warning(tmp_path: Path) -> None:
    make_tree(tmp_path, [
        "wav/03a01Wa.wav", "wav/08a01Ea.wav", "wav/09b03Ab.wav", "wav/10a04Fc.wav",
        "wav/13b10Ta.wav", "wav/16a07Nd.wav",
        "wav/11b09La.wav",   # boredom: no unified label
        "wav/04a01Wa.wav",   # not an EmoDB speaker
    ])
    records, warnings = scan_corpus(tmp_path)
    got = {r.path.stem: (r.speaker, r.emotion, r.gender, r.sentence_id) for r in records}
    assert got == {
        "03a01Wa": ("emodb-03", "angry", "m", "a01"),
        "08a01Ea": ("emodb-08", "disgust", "f", "a01"),
        "09b03Ab": ("emodb-09", "fearful", "f", "b03"),
        "10a04Fc": ("emodb-10", "happy", "m", "a04"),
        "13b10Ta": ("emodb-13", "sad", "f", "b10"),
        "16a07Nd": ("emodb-16", "neutral", "f", "a07"),
    }
    assert len(warnings) == 2
    assert any("11b09La.wav" in w and "boredom" in w for w in warnings)
    assert any("04a01Wa.wav" in w and "speaker code '04'" in w for w in warnings)


def test_mixed_tree_strays_and_duplicates(tmp_path: Path) -> None:
    """Auto-detection per file; strays warn, non-audio and zip debris are ignored silently."""
    make_tree(tmp_path, [
        "ravdess/Actor_03/03-01-04-01-01-01-03.wav",
        "ravdess/audio_speech_actors_01-24/Actor_03/03-01-04-01-01-01-03.wav",  # second copy
        "crema/1010_WSI_ANG_HI.flac",
        "emodb/wav/12a02Fb.wav",
        "misc/my_recording.wav",
        "misc/README.txt", "misc/labels.csv",
        "__MACOSX/ravdess/._03-01-04-01-01-01-03.wav", "ravdess/.hidden.wav",
    ])
    records, warnings = scan_corpus(tmp_path)
    assert sorted((r.corpus, r.emotion) for r in records) == [
        ("cremad", "angry"), ("emodb", "happy"), ("ravdess", "sad")]
    assert len(warnings) == 2
    assert all("\n" not in w for w in warnings)
    assert any("my_recording.wav" in w and "matches no known corpus layout" in w for w in warnings)
    assert any("same clip as" in w for w in warnings)


def test_forced_corpus_rejects_other_layouts(tmp_path: Path) -> None:
    make_tree(tmp_path, ["x/03-01-05-02-01-01-01.wav", "x/1001_DFA_ANG_XX.wav"])
    records, warnings = scan_corpus(tmp_path, corpus="RAVDESS")
    assert [r.corpus for r in records] == ["ravdess"]
    assert len(warnings) == 1 and "1001_DFA_ANG_XX.wav" in warnings[0]


def test_bad_arguments_raise_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown corpus layout 'iemocap'"):
        scan_corpus(tmp_path, corpus="iemocap")
    with pytest.raises(DataError, match="not found"):
        scan_corpus(tmp_path / "nope")


def test_parse_name_single_file() -> None:
    r = parse_name(Path("Actor_07/03-01-06-02-02-01-07.wav"))
    assert r is not None and (r.speaker, r.emotion, r.gender, r.intensity) == (
        "ravdess-07", "fearful", "m", "strong")
    assert parse_name(Path("OAF_angry/OAF_back_angry.WAV")).emotion == "angry"
    assert parse_name(Path("wav/03a01La.wav")) is None        # boredom
    assert parse_name(Path("x/03-02-01-01-01-01-01.wav")) is None  # song
    assert parse_name(Path("x/hello.wav")) is None
    assert parse_name(Path("x/1001_DFA_ANG_XX.txt")) is None  # not audio
    assert parse_name(Path("x/1001_DFA_ANG_XX.wav"), corpus="tess") is None


@pytest.mark.corpus
@pytest.mark.skipif(not (SHARED_CORPUS / "manifest.csv").is_file(), reason="no shared ser-corpus")
def test_shared_corpus_names_agree_with_its_manifest() -> None:
    """The flat shared copy, parsed by name only, must give the manifest's labels exactly.

    CREMA-D gender is the exception: the manifest has it from the official demographics table,
    which the layout parser does not embed.
    """
    records, warnings = scan_corpus(SHARED_CORPUS)
    assert warnings == []
    manifest = {r.path: r for r in read_manifest(SHARED_CORPUS / "manifest.csv")}
    assert {r.path for r in records} == set(manifest)
    for r in records:
        m = manifest[r.path]
        assert (r.corpus, r.speaker, r.emotion, r.intensity, r.sentence_id) == (
            m.corpus, m.speaker, m.emotion, m.intensity, m.sentence_id), r.path
        assert r.gender == ("" if r.corpus == "cremad" else m.gender), r.path
