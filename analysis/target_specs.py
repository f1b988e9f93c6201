"""The proxy targets probing measures (computed in analysis/targets.py, worker-only):
their names, the musical aspect each stands for, units and how each is computed. Kept
apart from the computation so the web process can name and validate targets."""

from dataclasses import dataclass


@dataclass(frozen=True)
class TargetSpec:
    name: str
    aspect: str  # the musical aspect it stands for: what the aspect map probes it for
    unit: str
    description: str
    source: str = "audio"  # or "midi": needs a score-aligned MIDI file


TARGETS = (
    TargetSpec("spectral_centroid", "brightness", "Hz", "mean spectral centroid of non-silent frames"),
    TargetSpec("spectral_rolloff", "brightness", "Hz", "mean frequency below which 85% of each frame's energy lies"),
    TargetSpec("spectral_bandwidth", "brightness", "Hz", "mean spread of the spectrum around its centroid"),
    TargetSpec("mfcc_1", "timbre", "dB", "mean MFCC 1 (spectral tilt) of 20 over a 128-band mel spectrum"),
    TargetSpec("mfcc_2", "timbre", "dB", "mean MFCC 2"),
    TargetSpec("mfcc_3", "timbre", "dB", "mean MFCC 3"),
    TargetSpec("mfcc_4", "timbre", "dB", "mean MFCC 4"),
    TargetSpec("mfcc_std", "timbre", "dB", "std over frames of MFCCs 1-12, averaged over the coefficients"),
    TargetSpec("spectral_contrast", "timbre", "dB", "mean peak-to-valley contrast over 7 octave bands"),
    TargetSpec(
        "spectral_flatness", "timbre", "dB", "mean spectral flatness (noise-likeness) in dB; 0 dB is white noise"
    ),
    TargetSpec(
        "key_clarity", "harmony", "r", "max correlation of the summed chroma with the 24 Krumhansl-Kessler key profiles"
    ),
    TargetSpec("chroma_entropy", "harmony", "bits", "mean entropy of each frame's pitch-class distribution"),
    TargetSpec(
        "harmonic_change_rate", "harmony", "1/s", "mean speed of the tonal centroid (tonnetz, 0.5 s smoothed)"
    ),
    TargetSpec(
        "tempo", "rhythm", "BPM", "tempo of the mean onset autocorrelation (tempogram), as beat_track estimates it"
    ),
    TargetSpec(
        "pulse_clarity", "rhythm", "ratio", "height of the mean tempogram's strongest peak between 30 and 300 BPM"
    ),
    TargetSpec("onset_density", "rhythm", "1/s", "detected onsets per second"),
    TargetSpec(
        "rms_level", "dynamics", "dBFS", "RMS level (energy mean of frame RMS), floored at -80; a full-scale sine is -3"
    ),
    TargetSpec("dynamic_range", "dynamics", "dB", "95th minus 5th percentile of frame RMS in dB"),
    TargetSpec(
        "attack_sharpness", "articulation", "dB/s", "mean onset strength (mel spectral flux) at detected onsets"
    ),
    TargetSpec(
        "novelty", "structure", "cosine", "mean Foote checkerboard novelty of MFCC+chroma on 0.25 s blocks, 2 s kernel"
    ),
    TargetSpec("note_density", "rhythm", "1/s", "MIDI note onsets per second", source="midi"),
    TargetSpec(
        "velocity_spread", "dynamics", "velocity", "std of MIDI note-on velocities (NaN under two notes)", source="midi"
    ),
    TargetSpec(
        "pedal_ratio", "articulation", "ratio", "fraction of time the sustain pedal (CC64) is at 64 or more",
        source="midi",
    ),
)



def target_names(include_midi=True):
    return [spec.name for spec in TARGETS if include_midi or spec.source == "audio"]


def specs(names):
    """The specs of `names`, in registry order; ValueError naming any unknown one."""
    known = {spec.name: spec for spec in TARGETS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"Unknown target(s) {', '.join(unknown)}; known: {', '.join(known)}.")
    return [spec for spec in TARGETS if spec.name in set(names)]
