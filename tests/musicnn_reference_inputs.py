"""Deterministic synthetic inputs for the musicnn reference fixture.

Pure numpy (no Django, no torch): shared by
``tools/musicnn_reference/make_reference.py`` (which runs musicnn's original
TensorFlow graph on these signals and writes ``tests/fixtures/musicnn_reference.npz``)
and by the tests of the PyTorch port, which rebuild the same audio and compare.

Inputs (float32, mono, 16 kHz):

- ``"chord"``: 6.5 s, an A major triad (A3, C#4, E4) with decaying harmonics
  and a gentle attack/release envelope over low noise; peak 0.5. Two full
  187-frame patches.
- ``"loud"``: 3.5 s, a full-scale click train at 2 Hz over a loud 55 Hz bass
  sine; peak 0.99. One patch. Its mel power reaches ~78, far above
  65504 / 10000 ~ 6.55, so musicnn's float16 cast before ``10000 * mel``
  overflows to inf in many bins and the patch's features become NaN. (Mel
  power above 6.55 is common: the chord's low bins reach ~17 as well.) The
  reference therefore computes the log-mel in float32.
"""

import numpy as np

SAMPLE_RATE = 16000
N_FRAMES = 187  # frames per musicnn patch (3 s at hop 256)
# Frames of each patch whose frame-level values are stored (edges included,
# to exercise the padding at both ends of a patch).
KEPT_FRAMES = (0, 1, 2, 3, 60, 93, 120, 183, 184, 185, 186)


def _chord(seconds=6.5, seed=1234):
    rng = np.random.default_rng(seed)
    n = int(round(seconds * SAMPLE_RATE))
    t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
    signal = np.zeros(n, dtype=np.float64)
    for f0, phase in ((220.0, 0.1), (277.18, 0.7), (329.63, 1.9)):
        for k in range(1, 9):
            f = f0 * k
            if f >= SAMPLE_RATE / 2:
                break
            amp = 0.8 ** (k - 1) / k
            decay = np.exp(-t * (0.15 + 0.1 * k))
            signal += amp * decay * np.sin(2 * np.pi * f * t + phase * k)
    # gentle envelope: 0.2 s raised-cosine attack, 0.5 s release
    env = np.ones(n)
    a = int(0.2 * SAMPLE_RATE)
    r = int(0.5 * SAMPLE_RATE)
    env[:a] = 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
    env[-r:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(r) / r)
    signal *= env
    signal *= 0.5 / np.max(np.abs(signal))
    signal += 0.003 * rng.standard_normal(n)
    return signal.astype(np.float32)


def _loud(seconds=3.5, seed=5678):
    rng = np.random.default_rng(seed)
    n = int(round(seconds * SAMPLE_RATE))
    t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
    signal = 0.6 * np.sin(2 * np.pi * 55.0 * t)
    # 2 Hz click train: 4 ms exponentially decaying noise bursts
    click_len = int(0.004 * SAMPLE_RATE)
    click_env = np.exp(-np.arange(click_len) / (0.001 * SAMPLE_RATE))
    for start in range(int(0.05 * SAMPLE_RATE), n - click_len, SAMPLE_RATE // 2):
        burst = rng.uniform(-1.0, 1.0, click_len)
        burst[0] = 1.0
        signal[start:start + click_len] += 0.9 * click_env * burst
    signal *= 0.99 / np.max(np.abs(signal))
    return signal.astype(np.float32)


def reference_inputs():
    """Return ``{name: float32 mono audio at SAMPLE_RATE}`` (deterministic)."""
    return {"chord": _chord(), "loud": _loud()}
