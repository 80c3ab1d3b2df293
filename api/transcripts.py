"""Zoom's transcript (a WebVTT file) as text a page can show beside the recording.

Zoom writes one cue per utterance with the speaker as a "Name: " prefix; WebVTT's own voice tag
(`<v Name>`) is read too. Cues keep their times both as written (`00:01:02.500`) and in seconds, so a
player can seek to them. Anything that is not WebVTT is refused rather than shown as garbage.
"""

from __future__ import annotations

import re

from pydantic import BaseModel

_TIMING = re.compile(r"^\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{3})\s+-->\s+((?:\d+:)?\d{1,2}:\d{2}[.,]\d{3})")
_VOICE = re.compile(r"^<v(?:\.[^\s>]+)*\s+([^>]+)>(.*?)(?:</v>)?$", re.S)
_TAG = re.compile(r"</?[^>]+>")
_SPEAKER = re.compile(r"^([^:\n]{1,80}):\s+(.+)$", re.S)


class TranscriptError(ValueError):
    """The file is not a WebVTT transcript."""


class Cue(BaseModel):
    start: str
    end: str
    start_seconds: float
    end_seconds: float
    speaker: str | None = None
    text: str


class Transcript(BaseModel):
    """`text`: the whole transcript, one "Speaker: words" line per cue; `cues`: each utterance."""

    text: str
    cues: list[Cue]


def _seconds(stamp: str) -> tuple[str, float]:
    parts = stamp.replace(",", ".").split(":")
    hours = int(parts[0]) if len(parts) == 3 else 0
    minutes, seconds = int(parts[-2]), float(parts[-1])
    total = hours * 3600 + minutes * 60 + seconds
    return f"{hours:02d}:{minutes:02d}:{seconds:06.3f}", round(total, 3)


def _speaker_and_text(lines: list[str]) -> tuple[str | None, str]:
    joined = " ".join(line.strip() for line in lines if line.strip())
    voice = _VOICE.match(joined)
    if voice:
        return voice.group(1).strip(), _TAG.sub("", voice.group(2)).strip()
    joined = _TAG.sub("", joined).strip()
    said = _SPEAKER.match(joined)
    if said:
        return said.group(1).strip(), said.group(2).strip()
    return None, joined


def parse_vtt(content: bytes | str) -> Transcript:
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise TranscriptError("the transcript file is not UTF-8 text") from None
    text = content.replace("\r\n", "\n").replace("\r", "\n")
    if not text.lstrip("\ufeff").startswith("WEBVTT"):
        raise TranscriptError("the transcript file is not WebVTT (no WEBVTT header)")
    cues = []
    for block in re.split(r"\n\s*\n", text)[1:]:
        lines = block.strip("\n").split("\n")
        at = next((i for i, line in enumerate(lines[:2]) if _TIMING.match(line)), None)
        if at is None:
            continue  # NOTE, STYLE, REGION or a stray block
        timing = _TIMING.match(lines[at])
        start, start_s = _seconds(timing.group(1))
        end, end_s = _seconds(timing.group(2))
        speaker, words = _speaker_and_text(lines[at + 1:])
        if words:
            cues.append(Cue(start=start, end=end, start_seconds=start_s, end_seconds=end_s,
                            speaker=speaker, text=words))
    return Transcript(
        text="\n".join(f"{c.speaker}: {c.text}" if c.speaker else c.text for c in cues),
        cues=cues,
    )
