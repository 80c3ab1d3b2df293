"""Real media for the playback test.

The emulator's recording files are a deterministic byte pattern (right sizes and checksums, no
pictures), so no browser can play them. To prove the panel really plays what is stored, through
the page-side media route with Range, the test swaps the stored MP4 for a real one of a couple of
seconds, recorded here by Chromium's own MediaRecorder from a canvas (no ffmpeg needed), and the
transcript for a small real WebVTT.
"""

from __future__ import annotations

import base64

RECORD_CANVAS = """async () => {
  const c = document.createElement('canvas'); c.width = 160; c.height = 120;
  document.body.appendChild(c);
  const ctx = c.getContext('2d'); let i = 0;
  const paint = setInterval(() => { ctx.fillStyle = `hsl(${(i++ * 20) % 360},80%,50%)`;
                                    ctx.fillRect(0, 0, 160, 120); }, 40);
  const type = MediaRecorder.isTypeSupported('video/mp4') ? 'video/mp4' : 'video/webm';
  const rec = new MediaRecorder(c.captureStream(25), {mimeType: type});
  const chunks = []; rec.ondataavailable = e => chunks.push(e.data);
  const stopped = new Promise(r => rec.onstop = r);
  rec.start(); await new Promise(r => setTimeout(r, 2500)); rec.stop(); await stopped;
  clearInterval(paint);
  const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
  let s = ''; for (let k = 0; k < bytes.length; k++) s += String.fromCharCode(bytes[k]);
  return btoa(s);
}"""

TRANSCRIPT_VTT = """WEBVTT

1
00:00:00.000 --> 00:00:03.000
Morgan Lee: Thanks for joining today, Riley.

2
00:00:03.500 --> 00:00:07.000
Riley Chen: Happy to help. I mostly compare prices on my phone.
"""


async def playable_video(context) -> bytes:
    """A short real video (MP4 where Chromium can record it, else WebM)."""
    page = await context.new_page()
    try:
        await page.set_content("<!doctype html><body></body>")
        return base64.b64decode(await page.evaluate(RECORD_CANVAS))
    finally:
        await page.close()
