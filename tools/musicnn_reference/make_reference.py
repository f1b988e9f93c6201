"""Run musicnn's ORIGINAL TensorFlow graph and write reference outputs.

Writes ``tests/fixtures/musicnn_reference.npz``, against which the PyTorch
port of musicnn (``analysis/musicnn``) is tested. The inputs are the
deterministic synthetic signals of ``tests/musicnn_reference_inputs.py``.

Setup (a separate venv; the app's environment does not need TensorFlow)::

    python3.11 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install -r tools/musicnn_reference/requirements.txt
    /tmp/tfvenv/bin/pip install --no-deps musicnn==0.1.0   # wheel holds the TF1 checkpoints

Regenerate (from the repository root)::

    TF_USE_LEGACY_KERAS=1 /tmp/tfvenv/bin/python tools/musicnn_reference/make_reference.py

``TF_USE_LEGACY_KERAS=1`` is required: musicnn builds its graph with
``tf.compat.v1.layers``, which Keras 3 lacks; tf-keras provides it.

What is computed, per model in (MSD_musicnn, MTT_musicnn) and per input:

- the log-mel exactly as musicnn's ``extractor.batch_data`` computes it
  (librosa 0.11 melspectrogram, sr 16000, n_fft 512, hop 256, 96 mels,
  center=True with constant padding; then ``log10(10000 * mel + 1)``), EXCEPT
  that it stays in float32. musicnn casts the mel to float16 first; on loud
  bins (mel > 65504 / 10000 ~ 6.55) ``10000 * mel`` overflows to inf and the
  patch's features become NaN. This script prints how often that would
  happen but stores the float32 results.
- non-overlapping 187-frame patches starting at frame 0, as batch_data does
  (``range(0, T - 187 + 1, 187)``);
- the graph built with ``musicnn.models.define_model`` in tf.compat.v1 graph
  mode and restored from the wheel's ``<model>/`` checkpoint with
  ``tf.compat.v1.train.Saver`` exactly as ``extractor.extractor`` does. We do
  not call ``extractor.extractor`` itself: besides the float16 cast, its loop
  over later batches never updates cnn1/cnn2/cnn3 (it re-appends the first
  batch's values). Every output is sess.run for each patch separately.

Stored (float32, leading patch axis), keys ``"{model}/{input}/{name}"``:

- ``mel``: log-mel rows at KEPT_FRAMES of each patch, [P, 11, 96];
  ``mel_mean``: its mean over all 187 frames, [P, 96];
- frame-level layers at KEPT_FRAMES: ``timbral`` [P, 11, 408], ``temporal``
  [P, 11, 153], ``cnn1``/``cnn2``/``cnn3`` [P, 11, 64]; and ``{name}_mean``,
  the mean over all 187 frames of each, [P, C];
- pooled, in full: ``mean_pool`` [P, 753], ``max_pool`` [P, 753],
  ``penultimate`` [P, 200], ``taggram`` (sigmoid of the logits) [P, 50].
"""

import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# tf.compat.v1.layers deprecation warnings, one per layer
warnings.filterwarnings("ignore", category=UserWarning, module=r"musicnn\.")
if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
    sys.exit("Run with TF_USE_LEGACY_KERAS=1 (musicnn needs tf.compat.v1.layers; see the docstring).")

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.compat.v1.disable_eager_execution()

import musicnn  # noqa: E402
from musicnn import configuration as config  # noqa: E402
from musicnn import models  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)
from tests.musicnn_reference_inputs import (  # noqa: E402
    KEPT_FRAMES,
    N_FRAMES,
    SAMPLE_RATE,
    reference_inputs,
)

OUT_PATH = os.path.join(REPO_ROOT, "tests", "fixtures", "musicnn_reference.npz")
MODELS = ("MSD_musicnn", "MTT_musicnn")
OUTPUT_NAMES = ("taggram", "timbral", "temporal", "cnn1", "cnn2", "cnn3",
                "mean_pool", "max_pool", "penultimate")
FRAME_LEVEL = ("timbral", "temporal", "cnn1", "cnn2", "cnn3")
FLOAT16_OVERFLOW = float(np.finfo(np.float16).max) / 10000.0  # ~6.55


def mel_power(audio):
    """musicnn's melspectrogram, [T, 96], float32 (before the log)."""
    assert SAMPLE_RATE == config.SR
    return librosa.feature.melspectrogram(
        y=audio, sr=SAMPLE_RATE, hop_length=config.FFT_HOP,
        n_fft=config.FFT_SIZE, n_mels=config.N_MELS).T


def log_mel(mel, float16_cast=False):
    if float16_cast:  # musicnn's (buggy) path, only for the diagnostic
        mel = mel.astype(np.float16)
        with np.errstate(over="ignore"):
            return np.log10(10000 * mel + 1)
    return np.log10(10000 * mel.astype(np.float32) + 1).astype(np.float32)


def patches(rep):
    """Non-overlapping N_FRAMES patches from frame 0, as batch_data does."""
    starts = range(0, rep.shape[0] - N_FRAMES + 1, N_FRAMES)
    return np.stack([rep[s:s + N_FRAMES] for s in starts])


def build(model, labels):
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, config.N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        out = models.define_model(x, is_training, model, len(labels))
        logits, rest = out[0], out[1:]
        tensors = dict(zip(OUTPUT_NAMES, (tf.nn.sigmoid(logits),) + tuple(rest)))
    sess = tf.compat.v1.Session()
    sess.run(tf.compat.v1.global_variables_initializer())
    saver = tf.compat.v1.train.Saver()
    saver.restore(sess, os.path.dirname(musicnn.__file__) + "/" + model + "/")
    return sess, x, is_training, tensors


def run_patch(sess, x, is_training, tensors, patch):
    vals = sess.run(tensors, feed_dict={x: patch[None], is_training: False})
    # squeeze the batch axis; cnn1/2/3 come out [1, T, 64, 1]
    return {k: np.asarray(v, dtype=np.float32).reshape(
        (v.shape[1], v.shape[2]) if k in FRAME_LEVEL else (v.shape[-1],))
        for k, v in vals.items()}


def main():
    inputs = reference_inputs()
    kept = list(KEPT_FRAMES)
    arrays = {}
    rows = []
    for model in MODELS:
        labels = config.MSD_LABELS if model.startswith("MSD") else config.MTT_LABELS
        sess, x, is_training, tensors = build(model, labels)
        for name, audio in inputs.items():
            mel = mel_power(audio)
            rep = log_mel(mel)
            batch = patches(rep)
            per_patch = [run_patch(sess, x, is_training, tensors, p) for p in batch]
            key = f"{model}/{name}"
            arrays[f"{key}/mel"] = batch[:, kept, :]
            arrays[f"{key}/mel_mean"] = batch.mean(axis=1)
            for out_name in OUTPUT_NAMES:
                stacked = np.stack([o[out_name] for o in per_patch])
                if out_name in FRAME_LEVEL:
                    arrays[f"{key}/{out_name}"] = stacked[:, kept, :]
                    arrays[f"{key}/{out_name}_mean"] = stacked.mean(axis=1)
                else:
                    arrays[f"{key}/{out_name}"] = stacked

            # Diagnostic: musicnn's float16 cast on the same audio.
            rep16 = log_mel(mel, float16_cast=True)
            batch16 = patches(rep16).astype(np.float32)
            n_inf = int(np.isinf(batch16).sum())
            bad_feats = 0  # non-finite output values (front end inf, mid-end on NaN)
            nan_patches = 0  # patches whose taggram is NaN
            if n_inf:
                for p in batch16:
                    o16 = run_patch(sess, x, is_training, tensors, p)
                    bad_feats += sum(int((~np.isfinite(v)).sum()) for v in o16.values())
                    nan_patches += int(np.isnan(o16["taggram"]).any())
            mean_tags = np.stack([o["taggram"] for o in per_patch]).mean(axis=0)
            top = np.argsort(-mean_tags)[:3]
            mel_patches = patches(mel)
            rows.append((model, name, batch.shape[0], float(mel_patches.max()), float(batch.max()),
                         int((mel_patches > FLOAT16_OVERFLOW).sum()), n_inf, bad_feats, nan_patches,
                         ", ".join(f"{labels[i]} {mean_tags[i]:.3f}" for i in top)))
        sess.close()

    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
    bad = [k for k, v in arrays.items() if not np.all(np.isfinite(v))]
    if bad:
        sys.exit(f"non-finite values in {bad}")
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    np.savez_compressed(OUT_PATH, **arrays)

    print("Per model and input, over the patches' frames: P patches; max mel power;"
          " max log-mel; bins with mel > 6.55;\nwith musicnn's float16 cast: inf log-mel bins,"
          " non-finite output values, patches with a NaN taggram.")
    print(f"{'model':12} {'input':6} {'P':>2} {'max mel':>8} {'max log':>7} {'>6.55':>5} "
          f"{'f16 inf':>7} {'f16 !fin':>8} {'NaN P':>5}  top 3 tags (float32, mean over patches)")
    for m, n, p, mx, lmx, over, ninf, nbad, npat, tags in rows:
        print(f"{m:12} {n:6} {p:2d} {mx:8.3f} {lmx:7.3f} {over:5d} {ninf:7d} {nbad:8d} "
              f"{npat:2d}/{p:<2d}  {tags}")
    print(f"wrote {os.path.relpath(OUT_PATH, REPO_ROOT)}: {len(arrays)} arrays, "
          f"{os.path.getsize(OUT_PATH) / 1024:.1f} KiB, all finite")


if __name__ == "__main__":
    main()
