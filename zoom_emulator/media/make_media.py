"""Regenerate the emulator's small playable recording fixtures (sample.mp4, sample.m4a).

Run once with PyAV, which ships FFmpeg in its PyPI wheels (`pip install av`); the outputs are
committed, so neither the emulator nor the service depends on PyAV:

    python zoom_emulator/media/make_media.py
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

HERE = Path(__file__).parent
SECONDS, FPS, RATE = 3, 5, 16000


def _tone(t0: int, n: int) -> np.ndarray:
    t = (np.arange(t0, t0 + n) / RATE).astype(np.float32)
    return (0.2 * np.sin(2 * math.pi * 440 * t)).astype(np.float32).reshape(1, -1)


def _audio(container, stream) -> None:
    stream.bit_rate = 16000
    frame_size = stream.codec_context.frame_size or 1024
    for t0 in range(0, SECONDS * RATE, frame_size):
        frame = av.AudioFrame.from_ndarray(_tone(t0, frame_size), format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, t0, Fraction(1, RATE)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def make_mp4(path: Path) -> None:
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 96, 64, "yuv420p"
        video.options = {"preset": "veryslow", "crf": "40"}
        audio = out.add_stream("aac", rate=RATE, layout="mono")
        for i in range(SECONDS * FPS):
            shade = int(255 * i / (SECONDS * FPS))
            img = np.zeros((64, 96, 3), dtype=np.uint8)
            img[:, :, 0], img[:, : 8 + i * 4, 2] = shade, 200
            for packet in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        _audio(out, audio)


def make_m4a(path: Path) -> None:
    with av.open(str(path), "w", format="ipod") as out:
        _audio(out, out.add_stream("aac", rate=RATE, layout="mono"))


if __name__ == "__main__":
    make_mp4(HERE / "sample.mp4")
    make_m4a(HERE / "sample.m4a")
