"""Extraction benchmark: `python -m bench.extraction [--quick]`.

Builds a MERT-v1-95M-shaped checkpoint with random weights (same shapes, so the same
speed as the real one) in a temp dir, loads it through analysis.mert.load_mert, and
times, each in its own subprocess so peak RSS is its own:
  naive   MERT's model-card loop: librosa.load + librosa.resample, one 5 s window at a
          time, batch 1, torch.no_grad, fp32, hidden states stacked then time-averaged;
  exact   analysis.pipeline.extract in fp32;
  fast    analysis.pipeline.extract with bfloat16 autocast (where the CPU has bf16);
on a generated 60 s 44.1 kHz stereo track with 50% overlap, then the fast pipeline on a
30-minute track (5 minutes with --quick, time scaled up) for peak memory.
Needs no Django settings: everything is passed explicitly.
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


def child(args):
    import torch

    if args.variant == "naive":
        seconds, means = run_naive(args.model, args.audio, args.device)
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


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.extraction", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="long-track memory on 5 minutes instead of 30")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the throughput track")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--perturbation", type=float, default=0.0, help="noise added to every random weight")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto, for every variant")
    parser.add_argument("--child", dest="variant", choices=["naive", "exact", "fast"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--audio", help=argparse.SUPPRESS)
    parser.add_argument("--means", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        return child(args)

    from analysis.mert import cpu_has_bf16
    from tests.mert_checkpoint import build_checkpoint

    with tempfile.TemporaryDirectory(prefix="mess-bench-") as scratch:
        scratch = Path(scratch)
        print("building a random-weight MERT-v1-95M-shaped checkpoint...", file=sys.stderr)
        # transformers' own initialisation, as a checkpoint fresh from training code would
        # have; the tests' extra weight noise (--perturbation) makes bf16 drift larger.
        build_checkpoint(scratch / "model", perturbation=args.perturbation, **FULL_SIZE)
        write_music(scratch / "track.wav", args.seconds)
        rows = {}
        for variant in ("naive", "exact", "fast"):
            print(f"{variant} on {args.seconds:.0f} s...", file=sys.stderr)
            rows[variant] = measure(variant, scratch / "model", scratch / "track.wav",
                                    scratch / f"{variant}.npy", args.batch_size, args.device)
        reference = np.load(scratch / "naive.npy")
        long_seconds = 300.0 if args.quick else 1800.0
        print(f"fast on {long_seconds / 60:.0f} min...", file=sys.stderr)
        write_music(scratch / "long.wav", long_seconds, seed=1)
        long = measure("fast", scratch / "model", scratch / "long.wav", scratch / "long.npy", args.batch_size,
                       args.device)

        print(f"\nMERT-v1-95M shape, random weights (+{args.perturbation:g} noise), device {args.device}, "
              f"CPU bf16: {cpu_has_bf16()}, "
              f"{args.seconds:.0f} s 44.1 kHz stereo, {WINDOW_SECONDS:.0f} s windows, {OVERLAP:.0%} overlap, "
              f"batch {args.batch_size}")
        print(f"{'variant':<16}{'wall s':>8}{'audio s/s':>11}{'vs naive':>10}{'peak RSS MB':>13}{'GPU MB':>8}"
              f"{'min cos':>10}{'mean cos':>10}")
        for variant, row in rows.items():
            similarity = cosine(np.load(scratch / f"{variant}.npy"), reference)
            label = "naive (fp32)" if variant == "naive" else f"pipeline {variant}"
            print(f"{label:<16}{row['seconds']:>8.1f}{args.seconds / row['seconds']:>11.2f}"
                  f"{rows['naive']['seconds'] / row['seconds']:>9.2f}x{row['peak_rss'] / 2**20:>13.0f}"
                  f"{row['gpu_peak'] / 2**20:>8.0f}"
                  f"{similarity.min():>10.6f}{similarity.mean():>10.6f}")
        estimate = " (measured)" if not args.quick else f"; 30 min estimated {long['seconds'] * 6 / 60:.1f} min wall"
        print(f"\npipeline fast on {long_seconds / 60:.0f} min: {long['seconds']:.0f} s wall, "
              f"{long_seconds / long['seconds']:.2f} audio s/s, peak RSS {long['peak_rss'] / 2**20:.0f} MB{estimate}")


if __name__ == "__main__":
    main()
