"""Read user-supplied emotion corpora in their native folder layouts, with no manifest.

People download RAVDESS, CREMA-D, TESS, SAVEE or EmoDB and point the trainer at the folder;
the labels live only in the file names. Each corpus is one row of `LAYOUTS`: a regular
expression over "<parent folder>/<file stem>" plus code tables. The parent folder takes part
because TESS and SAVEE put the speaker there (TESS's `OAF_neutral/OA_bite_neutral.wav` is
misnamed upstream; SAVEE's original release is `DC/a01.wav`).

Regex groups: `speaker` (file name) and `dir_speaker` (folder; wins when present),
`emotion`, optional `intensity` and `sentence`; any other group is only checked against
`skip`. Files that match no layout, or carry a code or label outside the unified set, are
skipped with a one-line warning, never an exception: a corpus download always has strays.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, TypeVar

from ..audio.io import AUDIO_EXTENSIONS
from ..labels import UnknownLabelError, normalize_label
from .data import ClipRecord, DataError


_T = TypeVar("_T")


class _Unusable(Exception):
    """A file name that parses as a corpus but cannot become a training record (why: message)."""


@dataclass(frozen=True)
class Layout:
    """One corpus' naming convention. Table keys are lower-case codes as they appear in names."""

    corpus: str
    pattern: re.Pattern[str]
    #: emotion code -> the corpus' own label name, mapped onto the unified set by normalize_label.
    emotions: Mapping[str, str]
    #: speaker code -> (speaker id without the corpus prefix, gender "m"/"f");
    #: None accepts any code with unknown gender "".
    speakers: Mapping[str, tuple[str, str]] | None = None
    intensities: Mapping[str, str] = field(default_factory=dict)
    #: group -> code -> why files with that code are not used.
    skip: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def record(self, path: Path, match: re.Match[str]) -> ClipRecord:
        """Turn a matched file name into a record, or raise _Unusable saying why not."""
        groups = match.groupdict()
        for group, reasons in self.skip.items():
            reason = reasons.get(groups[group].lower())
            if reason:
                raise _Unusable(f"{self.corpus}: {reason}")
        code = groups.get("dir_speaker") or groups["speaker"]
        speaker, gender = ((code, "") if self.speakers is None
                           else self._look(self.speakers, code, "speaker"))
        emotion_name = self._look(self.emotions, groups["emotion"], "emotion")
        try:
            emotion = normalize_label(emotion_name)
        except UnknownLabelError:
            raise _Unusable(
                f"{self.corpus}: emotion {emotion_name!r} has no unified label") from None
        intensity = groups.get("intensity")
        return ClipRecord(
            path=path, corpus=self.corpus, speaker=f"{self.corpus}-{speaker}", emotion=emotion,
            gender=gender, sentence_id=groups.get("sentence") or "",
            intensity=self._look(self.intensities, intensity, "intensity") if intensity else "")

    def _look(self, table: Mapping[str, _T], code: str, what: str) -> _T:
        """Table lookup that turns a missing code into a warning, not a KeyError."""
        try:
            return table[code.lower()]
        except KeyError:
            raise _Unusable(f"{self.corpus}: unknown {what} code {code!r}") from None


_RAVDESS_EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
_EMODB_MALE = ("03", "10", "11", "12", "15")
_TESS_EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "ps")

LAYOUTS: dict[str, Layout] = {layout.corpus: layout for layout in (
    # Actor_01/03-01-05-02-01-01-01: modality-channel-emotion-intensity-statement-repetition-actor.
    Layout(
        corpus="ravdess",
        pattern=re.compile(r"[^/]*/\d\d-(?P<channel>\d\d)-(?P<emotion>\d\d)-(?P<intensity>\d\d)"
                           r"-(?P<sentence>\d\d)-\d\d-(?P<speaker>\d\d)"),
        emotions={f"{i:02d}": name for i, name in enumerate(_RAVDESS_EMOTIONS, start=1)},
        speakers={f"{i:02d}": (f"{i:02d}", "m" if i % 2 else "f") for i in range(1, 25)},
        intensities={"01": "normal", "02": "strong"},
        skip={"channel": {"02": "song (vocal channel 02), not speech"}},
    ),
    # AudioWAV/1001_DFA_ANG_XX. One popular mirror names a file 1040_ITH_SAD_X, hence "x".
    Layout(
        corpus="cremad",
        pattern=re.compile(r"[^/]*/(?P<speaker>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})"
                           r"_(?P<intensity>[A-Z]{1,2})"),
        emotions={"ang": "angry", "dis": "disgust", "fea": "fearful", "hap": "happy",
                  "neu": "neutral", "sad": "sad"},
        intensities={"lo": "low", "md": "medium", "hi": "high", "xx": "unspecified",
                     "x": "unspecified"},
    ),
    # OAF_angry/OAF_back_angry; folder names vary in case (OAF_Fear, YAF_pleasant_surprised).
    Layout(
        corpus="tess",
        pattern=re.compile(r"(?:(?P<dir_speaker>[OY]AF)_[^/]*|[^/]*)/(?P<speaker>[OY]AF?)"
                           r"_(?P<sentence>[a-z]+)_(?P<emotion>[a-z]+)", re.IGNORECASE),
        emotions={name: name for name in _TESS_EMOTIONS},
        speakers={"oaf": ("OAF", "f"), "oa": ("OAF", "f"), "yaf": ("YAF", "f")},
    ),
    # ALL/DC_a01 or DC/a01; sentence numbers restart per emotion, so the id keeps the code.
    Layout(
        corpus="savee",
        pattern=re.compile(r"(?:(?P<dir_speaker>[A-Z]{2})/|[^/]*/(?P<speaker>[A-Z]{2})_)"
                           r"(?P<sentence>(?P<emotion>sa|su|[a-z])\d\d)"),
        emotions={"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "n": "neutral",
                  "sa": "sadness", "su": "surprise"},
        speakers={code.lower(): (code, "m") for code in ("DC", "JE", "JK", "KL")},
    ),
    # wav/03a01Fa: speaker, text code, German emotion initial, version letter.
    Layout(
        corpus="emodb",
        pattern=re.compile(r"[^/]*/(?P<speaker>\d\d)(?P<sentence>[a-z]\d\d)"
                           r"(?P<emotion>[A-Z])[a-z]"),
        emotions={"w": "anger", "l": "boredom", "e": "disgust", "a": "fear", "f": "happiness",
                  "t": "sadness", "n": "neutral"},
        speakers={code: (code, "m" if code in _EMODB_MALE else "f")
                  for code in ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")},
    ),
)}


def _parse(path: Path, layouts: list[Layout]) -> ClipRecord:
    """The record for `path` under the first layout whose pattern matches, or _Unusable."""
    if path.suffix.lower() not in AUDIO_EXTENSIONS:
        raise _Unusable("not an audio file")
    key = f"{path.parent.name}/{path.stem}"
    for layout in layouts:
        match = layout.pattern.fullmatch(key)
        if match:
            return layout.record(path, match)
    names = ", ".join(layout.corpus for layout in layouts)
    raise _Unusable(f"file name matches no known corpus layout ({names})")


def _layouts(corpus: str | None) -> list[Layout]:
    if corpus is None:
        return list(LAYOUTS.values())
    if corpus.lower() not in LAYOUTS:
        raise DataError(f"unknown corpus layout {corpus!r}; known: {', '.join(LAYOUTS)}")
    return [LAYOUTS[corpus.lower()]]


def parse_name(path: Path, corpus: str | None = None) -> ClipRecord | None:
    """The record one file's name describes, or None if it is not a usable clip of any layout."""
    try:
        return _parse(Path(path), _layouts(corpus))
    except _Unusable:
        return None


def scan_corpus(root: Path, corpus: str | None = None) -> tuple[list[ClipRecord], list[str]]:
    """All usable clips under `root` (recursively) and, per skipped audio file, one line
    saying which and why.

    `corpus=None` detects the layout per file, so a folder holding several corpora works.
    Hidden files and `__MACOSX` folders (zip debris, not audio) are ignored silently. A second
    copy of the same clip (same corpus, speaker and file stem, e.g. a .wav beside its .flac or
    a download that ships two folders of the same files) is skipped with a warning, so it is
    not counted twice.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: corpus folder not found")
    layouts = _layouts(corpus)
    records: list[ClipRecord] = []
    warnings: list[str] = []
    seen: dict[tuple[str, str, str], Path] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if (path.suffix.lower() not in AUDIO_EXTENSIONS or not path.is_file()
                or any(p.startswith(".") or p == "__MACOSX" for p in rel)):
            continue
        try:
            record = _parse(path, layouts)
        except _Unusable as exc:
            warnings.append(f"{path}: {exc}")
            continue
        key = (record.corpus, record.speaker, path.stem.lower())
        if key in seen:
            warnings.append(f"{path}: same clip as {seen[key]}")
            continue
        seen[key] = path
        records.append(record)
    return records, warnings
