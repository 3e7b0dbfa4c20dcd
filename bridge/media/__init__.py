"""Media primitives of the embedded engine: mixer, G.711, tones, WAV, jitter buffer, talk detection.

Everything here works on *frames*: 20 ms of 8 kHz mono audio, 160 signed 16-bit samples in
native byte order (320 bytes). The mixer lives in `bridge.media.mixer`, which picks the Cython
kernel or its pure-Python twin; this module stays import-light so that the twins can be
imported on their own (tests compare them).
"""

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160
FRAME_BYTES = FRAME_SAMPLES * 2  # 320
SILENCE_FRAME = bytes(FRAME_BYTES)

__all__ = ["FRAME_BYTES", "FRAME_MS", "FRAME_SAMPLES", "SAMPLE_RATE", "SILENCE_FRAME"]
