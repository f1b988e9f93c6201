"""Extraction benchmark: `python -m bench.extraction [--encoder mert|musicnn] [--quick]`.

MERT (the default) builds a MERT-v1-95M-shaped checkpoint with random weights (same
shapes, so the same speed as the real one) in a temp dir, loads it through
analysis.mert.load_mert, and times, each in its own subprocess so peak RSS is its own:
  naive   MERT's model-card loop: librosa.load + librosa.resample, one 5 s window at a
          time, batch 1, torch.no_grad, fp32, hidden states stacked then time-averaged;
  exact   analysis.pipeline.extract in fp32;
  fast    analysis.pipeline.extract with bfloat16 autocast (where the CPU has bf16);
on a generated 60 s 44.1 kHz stereo track with 50% overlap, then the fast pipeline on a
30-minute track (5 minutes with --quick, time scaled up) for peak memory.

`--encoder musicnn` times the same way, on the CPU with the wheel's MTT_musicnn weights
(MSD_musicnn is the same network, so the same cost), on a generated 300 s track:
  naive     musicnn's extractor loop without TensorFlow: librosa.load at 16 kHz, the whole
            file's librosa mel spectrogram, log10(10000 x + 1) (in float32: the extractor's
            float16 cast overflows, see analysis/musicnn/frontend.py), non-overlapping
            187-frame patches fed one at a time (batch 1) to the same PyTorch network;
  pipeline  MusicnnEncoder.encode: analysis.pipeline's streamed decode and resampling, the
            encoder's own 2.992 s windows, batches of MESS_MUSICNN_BATCH_SIZE;
then the pipeline on a 30-minute track. Both run one window through the network before
the clock starts: torch's one-time set-up is a worker's once, not every track's. The
pipeline's windows are the extractor's patches (187 frames, 2.992 s), plus one aligned
to the track's end; cosines are over the windows both place at the same time, per layer,
and of the track means. The window at 0 s has the same frames in both; a later one
differs in its first frame, which the pipeline computes on the window alone (zero-padded
before its start, by design: analysis/musicnn/encoder.py).
Needs no Django settings: everything is passed explicitly or is analysis.conf's default.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 44100
WINDOW_SECONDS = 5.0
OVERLAP = 0.5
# MERT-v1-95M: 768 x 12 layers, 12 heads, 3072 ffn, conv 512 x 7, positional conv 128 / 16 groups.
FULL_SIZE = dict(hidden_size=768, num_layers=12, heads=12, intermediate=3072, conv_dim=512, pos_conv=128, pos_groups=16)
MUSICNN_MODEL = "MTT_musicnn"
TRACK_SECONDS = {"mert": 60.0, "musicnn": 300.0}


def write_music(path, seconds, seed=0):
    """Tones, a sweep and noise, stereo, written in one-minute blocks to keep the parent small."""
    rng = np.random.default_rng(seed)
    with sf.SoundFile(path, "w", RATE, 2, subtype="PCM_16") as out:
        for block_start in range(0, round(seconds * RATE), 60 * RATE):
            t = np.arange(block_start, min(block_start + 60 * RATE, round(seconds * RATE))) / RATE
            melody = 0.3 * np.sin(2 * np.pi * (220 + 110 * np.floor(t % 4)) * t)
            sweep = 0.2 * np.sin(2 * np.pi * (100 + 20 * (t % 10)) * t)
            noise = 0.05 * rng.standard_normal((len(t), 2))
            out.write(np.stack([melody + sweep, melody - sweep], axis=1) + noise)


def run_naive(model_dir, audio_path, device):
    import librosa
    import torch
    from transformers import Wav2Vec2FeatureExtractor

    from analysis.mert import load_mert
    from analysis.pipeline import resampled_length, window_starts

    model = load_mert(model_dir, device=device, precision="exact").module
    processor = Wav2Vec2FeatureExtractor.from_pretrained(model_dir)
    rate = processor.sampling_rate
    began = time.perf_counter()
    audio, original_rate = librosa.load(audio_path, sr=None, mono=True)
    audio = librosa.resample(audio, orig_sr=original_rate, target_sr=rate)
    window = round(WINDOW_SECONDS * rate)
    # librosa rounds the resampled length up where soxr rounds half up; windows are placed on
    # the pipeline's length so the two runs' windows line up for the cosine comparison.
    length = resampled_length(sf.info(audio_path).frames, original_rate, rate)
    means = []
    for start in window_starts(length, rate, WINDOW_SECONDS, OVERLAP):
        inputs = processor(audio[start : start + window], sampling_rate=rate, return_tensors="pt").to(model.device)
        with torch.no_grad():
            outputs = model(**inputs, output_hidden_states=True)
        all_layers = torch.stack(outputs.hidden_states).squeeze()
        means.append(all_layers.mean(-2).cpu().numpy())
    return time.perf_counter() - began, np.stack(means)


def run_pipeline(model_dir, audio_path, precision, batch_size, device):
    from analysis.mert import load_mert
    from analysis.pipeline import extract

    model = load_mert(model_dir, device=device, precision=precision)
    began = time.perf_counter()
    result = extract(audio_path, model, window_seconds=WINDOW_SECONDS, overlap=OVERLAP, batch_size=batch_size)
    return time.perf_counter() - began, result.window_means


def warm_musicnn(model_id):
    """The musicnn encoder after one forward pass: torch's one-time set-up (about 1.5 s
    here) is paid once per worker process, not per track, so neither variant times it."""
    from analysis.musicnn.encoder import WINDOW_SECONDS, load_musicnn

    encoder = load_musicnn(model_id)
    encoder.forward_windows(np.zeros((1, round(WINDOW_SECONDS * encoder.sample_rate)), dtype=np.float32))
    return encoder


def run_musicnn_naive(model_id, audio_path):
    import librosa
    import torch

    from analysis.musicnn.frontend import HOP, N_FFT, N_MELS, SAMPLE_RATE
    from analysis.musicnn.network import FRAME_OUTPUTS, N_FRAMES

    encoder = warm_musicnn(model_id)
    began = time.perf_counter()
    audio, rate = librosa.load(audio_path, sr=SAMPLE_RATE)
    mel = librosa.feature.melspectrogram(y=audio, sr=rate, hop_length=HOP, n_fft=N_FFT, n_mels=N_MELS).T
    log_mel = np.log10(10000 * mel + 1)
    means = []
    for start in range(0, len(log_mel) - N_FRAMES + 1, N_FRAMES):
        with torch.no_grad():
            outputs = encoder.network(torch.from_numpy(log_mel[start : start + N_FRAMES])[None])
        # The encoder's window vectors: frame-level layers averaged over time, zero-padded.
        window = np.zeros((encoder.num_layers, encoder.dim), dtype=np.float32)
        for layer, name in enumerate(encoder.layer_names):
            vector = outputs[name][0].mean(0) if name in FRAME_OUTPUTS else outputs[name][0]
            window[layer, : len(vector)] = vector.numpy()
        means.append(window)
    return time.perf_counter() - began, np.stack(means)


def run_musicnn(model_id, audio_path):
    encoder = warm_musicnn(model_id)
    window_seconds, overlap = encoder.own_windows
    began = time.perf_counter()
    result = encoder.encode(audio_path, window_seconds=window_seconds, overlap=overlap)
    return time.perf_counter() - began, result.window_means


def child(args):
    import torch

    if args.variant == "naive":
        seconds, means = run_naive(args.model, args.audio, args.device)
    elif args.variant == "musicnn-naive":
        seconds, means = run_musicnn_naive(args.model, args.audio)
    elif args.variant == "musicnn":
        seconds, means = run_musicnn(args.model, args.audio)
    else:
        seconds, means = run_pipeline(args.model, args.audio, args.variant, args.batch_size, args.device)
    np.save(args.means, means)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    gpu_peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0
    print(json.dumps({"seconds": seconds, "peak_rss": peak, "gpu_peak": gpu_peak}))


def measure(variant, model_dir, audio_path, means_path, batch_size, device):
    command = [sys.executable, "-m", "bench.extraction", "--child", variant, "--model", str(model_dir),
               "--audio", str(audio_path), "--means", str(means_path), "--batch-size", str(batch_size),
               "--device", device]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def cosine(a, b):
    a, b = a.reshape(-1, a.shape[-1]).astype(np.float64), b.reshape(-1, b.shape[-1]).astype(np.float64)
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def run_variants(variants, model, scratch, args):
    """{variant: measure()} on scratch/track.wav, each variant's window means in scratch/VARIANT.npy."""
    rows = {}
    for variant in variants:
        print(f"{variant} on {args.seconds:.0f} s...", file=sys.stderr)
        rows[variant] = measure(variant, model, scratch / "track.wav", scratch / f"{variant}.npy", args.batch_size,
                                args.device)
    return rows


def long_track(variant, model, scratch, args):
    """The summary line of `variant` on a generated 30-minute track (5 with --quick)."""
    long_seconds = 300.0 if args.quick else 1800.0
    print(f"{variant} on {long_seconds / 60:.0f} min...", file=sys.stderr)
    write_music(scratch / "long.wav", long_seconds, seed=1)
    long = measure(variant, model, scratch / "long.wav", scratch / "long.npy", args.batch_size, args.device)
    estimate = " (measured)" if not args.quick else f"; 30 min estimated {long['seconds'] * 6 / 60:.1f} min wall"
    return (f"\npipeline {variant} on {long_seconds / 60:.0f} min: {long['seconds']:.0f} s wall, "
            f"{long_seconds / long['seconds']:.2f} audio s/s, peak RSS {long['peak_rss'] / 2**20:.0f} MB{estimate}")


TIMING_HEADER = f"{'variant':<18}{'wall s':>8}{'audio s/s':>11}{'vs naive':>10}{'peak RSS MB':>13}"


def timing(label, row, reference, seconds):
    """A table row's first columns: wall time, x real time, speed-up over `reference`, peak RSS."""
    return (f"{label:<18}{row['seconds']:>8.1f}{seconds / row['seconds']:>11.2f}"
            f"{reference['seconds'] / row['seconds']:>9.2f}x{row['peak_rss'] / 2**20:>13.0f}")


def bench_mert(args, scratch):
    from analysis.mert import cpu_has_bf16
    from tests.mert_checkpoint import build_checkpoint

    print("building a random-weight MERT-v1-95M-shaped checkpoint...", file=sys.stderr)
    # transformers' own initialisation, as a checkpoint fresh from training code would
    # have; the tests' extra weight noise (--perturbation) makes bf16 drift larger.
    build_checkpoint(scratch / "model", perturbation=args.perturbation, **FULL_SIZE)
    rows = run_variants(("naive", "exact", "fast"), scratch / "model", scratch, args)
    long = long_track("fast", scratch / "model", scratch, args)
    reference = np.load(scratch / "naive.npy")

    print(f"\nMERT-v1-95M shape, random weights (+{args.perturbation:g} noise), device {args.device}, "
          f"CPU bf16: {cpu_has_bf16()}, "
          f"{args.seconds:.0f} s 44.1 kHz stereo, {WINDOW_SECONDS:.0f} s windows, {OVERLAP:.0%} overlap, "
          f"batch {args.batch_size}")
    print(f"{TIMING_HEADER}{'GPU MB':>8}{'min cos':>10}{'mean cos':>10}")
    for variant, row in rows.items():
        similarity = cosine(np.load(scratch / f"{variant}.npy"), reference)
        label = "naive (fp32)" if variant == "naive" else f"pipeline {variant}"
        print(f"{timing(label, row, rows['naive'], args.seconds)}{row['gpu_peak'] / 2**20:>8.0f}"
              f"{similarity.min():>10.6f}{similarity.mean():>10.6f}")
    print(long)


def bench_musicnn(args, scratch):
    from analysis.conf import setting

    rows = run_variants(("musicnn-naive", "musicnn"), MUSICNN_MODEL, scratch, args)
    long = long_track("musicnn", MUSICNN_MODEL, scratch, args)
    naive, pipeline = np.load(scratch / "musicnn-naive.npy"), np.load(scratch / "musicnn.npy")
    # Cosines per layer, min and mean: of the windows both start at the same time, and of the track means.
    aligned = min(len(naive), len(pipeline) - 1)  # the pipeline's last window is aligned to the end
    windows, mean = cosine(pipeline[:aligned], naive[:aligned]), cosine(pipeline.mean(0), naive.mean(0))

    print(f"\nmusicnn ({MUSICNN_MODEL}), CPU, {args.seconds:.0f} s 44.1 kHz stereo, no overlap: naive "
          f"{len(naive)} patches of 187 frames, batch 1; pipeline {len(pipeline)} windows of 2.992 s, "
          f"batch {setting('MUSICNN_BATCH_SIZE')}; cosine to naive over the 9 layers, min / mean")
    print(f"{TIMING_HEADER}{f'cos, {aligned} windows':>24}{'track mean cos':>24}")
    reference = rows["musicnn-naive"]
    print(f"{timing('naive (extractor)', reference, reference, args.seconds)}{'1':>24}{'1':>24}")
    print(timing("pipeline", rows["musicnn"], reference, args.seconds)
          + "".join(f"{f'{c.min():.6f} / {c.mean():.6f}':>24}" for c in (windows, mean)))
    print(long)


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.extraction", description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", choices=["mert", "musicnn"], default="mert")
    parser.add_argument("--quick", action="store_true", help="long-track memory on 5 minutes instead of 30")
    parser.add_argument("--seconds", type=float, help="length of the throughput track (MERT 60, musicnn 300)")
    parser.add_argument("--batch-size", type=int, default=4, help="MERT's windows per batch")
    parser.add_argument("--perturbation", type=float, default=0.0, help="noise added to every random MERT weight")
    parser.add_argument("--device", default="cpu", help="MERT: cpu, cuda, mps or auto, for every variant")
    parser.add_argument("--child", dest="variant", choices=["naive", "exact", "fast", "musicnn-naive", "musicnn"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--audio", help=argparse.SUPPRESS)
    parser.add_argument("--means", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        return child(args)
    args.seconds = args.seconds or TRACK_SECONDS[args.encoder]
    with tempfile.TemporaryDirectory(prefix="mess-bench-") as scratch:
        scratch = Path(scratch)
        write_music(scratch / "track.wav", args.seconds)
        (bench_musicnn if args.encoder == "musicnn" else bench_mert)(args, scratch)


if __name__ == "__main__":
    main()
