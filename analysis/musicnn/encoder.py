"""musicnn as the platform's encoder: windows in, nine layers and 50 tag scores out.

Windows of its own, as musicnn's extractor cuts a track: the 3 s patches the models
were trained on, 187 frames of 256 samples at 16 kHz (WINDOW_SECONDS = 2.992 s), one
after the other without overlap, plus, by the platform's windowing rule
(analysis.pipeline), one last window aligned to the end so that no audio is dropped.
Each window runs through the network once, so the work grows with the audio's length
and no more. Frames are computed on the window (centred, zero-padded at its ends; the
188th frame, centred on the next window's first sample, is left to that window), so
the window at 0 s has exactly the extractor's frames and a later one differs only in
its first frame, which sees none of the previous window's samples. A track shorter
than one window is one window of its own length: the network is convolutional in time
and pools over whatever it is given.

A window's vector for a layer is the time mean of the frame-level layers (timbral,
temporal, cnn1-3) and the pooled and dense layers as they are (mean_pool, max_pool,
penultimate, taggram: 50 tag probabilities). Layers have different widths; every vector
is zero-padded to the widest (753), which leaves cosine unchanged. The track's tags are
its mean taggram.

The weights come from the musicnn wheel's own checkpoint files (`MESS_MUSICNN_MODEL`:
MSD_musicnn, trained on the Million Song Dataset, or MTT_musicnn, MagnaTagATune), the tag
names from the wheel's configuration.py; neither is downloaded or copied into MESS. The
model is loaded once per worker process.
"""

import ast
import functools
import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import torch

from analysis.conf import setting
from analysis.musicnn.checkpoint import CheckpointError, read_checkpoint
from analysis.musicnn.frontend import HOP, N_FFT, SAMPLE_RATE, log_mel
from analysis.musicnn.network import FRAME_OUTPUTS, N_FRAMES, OUTPUTS, Musicnn
from analysis.pipeline import extract

MODELS = {"MSD_musicnn": "MSD_LABELS", "MTT_musicnn": "MTT_LABELS"}
DIM = max(OUTPUTS.values())
WINDOW_SECONDS = N_FRAMES * HOP / SAMPLE_RATE  # one patch: 187 frames
# Part of the space's identity with the weights: bump when windows, patches or layers change.
FEATURES_VERSION = b"musicnn-features-v1"


class MusicnnLoadError(Exception):
    """musicnn cannot be loaded here; the message says why and what to do."""


class MusicnnEncoder:
    """Stands where a loaded MERT model does when a space is named and a track encoded."""

    encoder = "musicnn"
    revision = None  # the wheel's version is in weights_hash (its checkpoint's bytes)
    sample_rate = SAMPLE_RATE
    do_normalize = False
    layer_names = list(OUTPUTS)
    layer_dims = list(OUTPUTS.values())  # before the padding to DIM
    num_layers = len(OUTPUTS)
    dim = DIM
    min_samples = N_FFT
    own_windows = (WINDOW_SECONDS, 0.0)  # (seconds, overlap): the platform's settings do not apply

    def __init__(self, model_id, network, labels, weights_hash):
        self.model_id = model_id
        self.network = network
        self.labels = labels
        self.weights_hash = weights_hash

    def encode(self, path, **options):
        """Extraction of the audio file at `path` (analysis.pipeline.extract), with tags."""
        result = extract(path, self, batch_size=setting("MUSICNN_BATCH_SIZE"), **options)
        taggram = result.track_mean[self.layer_names.index("taggram"), : len(self.labels)]
        result.tags = dict(zip(self.labels, taggram.tolist()))
        return result

    def forward_windows(self, windows, keep_frames=False):
        """[batch, samples] float32 windows -> ([batch, layers, DIM] float32, None)."""
        if keep_frames:
            raise ValueError("musicnn keeps no per-frame hidden states; only MERT does.")
        with torch.inference_mode():
            outputs = self.network(log_mel(torch.from_numpy(windows))[:, :N_FRAMES])
        means = np.zeros((len(windows), self.num_layers, DIM), dtype=np.float32)
        for layer, name in enumerate(self.layer_names):
            vectors = outputs[name].mean(dim=1) if name in FRAME_OUTPUTS else outputs[name]
            means[:, layer, : vectors.shape[1]] = vectors.numpy()
        return means, None


def load_musicnn(model_id=None):
    """The musicnn encoder named by `model_id` or MESS_MUSICNN_MODEL."""
    return _load(model_id or setting("MUSICNN_MODEL"))


@functools.lru_cache(maxsize=2)
def _load(model_id):
    if model_id not in MODELS:
        raise MusicnnLoadError(f"MESS_MUSICNN_MODEL must be one of {', '.join(MODELS)}, not {model_id!r}.")
    package = wheel_directory()
    prefix = f"{package / model_id}/"  # the checkpoint's files are named ".index", ".data-*"
    try:
        variables = read_checkpoint(prefix)
    except CheckpointError as exc:
        raise MusicnnLoadError(f"musicnn's {model_id} checkpoint cannot be read: {exc}") from exc
    network = Musicnn().load_tensorflow(variables).eval()
    digest = hashlib.sha256(FEATURES_VERSION)
    digest.update(Path(f"{prefix}.data-00000-of-00001").read_bytes())
    return MusicnnEncoder(model_id, network, tag_names(package, MODELS[model_id]), digest.hexdigest())


def wheel_directory():
    """The installed musicnn package's folder (found, not imported: its code needs TensorFlow)."""
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise MusicnnLoadError(
            "musicnn's weights are not installed: pip install --no-deps musicnn==0.1.0 "
            "(requirements/musicnn.txt; `make` does it)."
        )
    return Path(spec.submodule_search_locations[0])


def tag_names(package, variable):
    """The list assigned to `variable` in the wheel's configuration.py, read without running it."""
    source = (package / "configuration.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == variable for t in node.targets):
            return [str(name) for name in ast.literal_eval(node.value)]
    raise MusicnnLoadError(f"musicnn's configuration.py defines no {variable}.")
