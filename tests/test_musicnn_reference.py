"""The PyTorch musicnn equals musicnn's own TensorFlow graph.

tests/fixtures/musicnn_reference.npz holds every exposed layer of the original graph
(TensorFlow 2.21, the wheel's code and checkpoints) for the generated inputs of
tests/musicnn_reference_inputs.py; tools/musicnn_reference/make_reference.py wrote it
and regenerates it. Here the same audio goes through analysis.musicnn: the log-mel front
end, then the network on the same 187-frame patches."""

from pathlib import Path

import numpy as np
import pytest
import torch

from analysis.musicnn.checkpoint import read_checkpoint
from analysis.musicnn.encoder import MODELS, load_musicnn, wheel_directory
from analysis.musicnn.frontend import log_mel
from analysis.musicnn.network import FRAME_OUTPUTS, N_FRAMES, OUTPUTS, Musicnn
from tests.musicnn_reference_inputs import KEPT_FRAMES, reference_inputs

REFERENCE = np.load(Path(__file__).parent / "fixtures" / "musicnn_reference.npz")
# float32 throughout on both sides; the tolerance is relative to each layer's own scale.
TOLERANCE = 5e-5  # measured: at most 7e-6


def ported(model, audio):
    """(log-mel patches [P, 187, 96], {layer: output}) as musicnn's batch_data cuts them."""
    mel = log_mel(torch.from_numpy(audio)[None])[0]
    patches = torch.stack([mel[start : start + N_FRAMES] for start in range(0, len(mel) - N_FRAMES + 1, N_FRAMES)])
    with torch.inference_mode():
        outputs = load_musicnn(model).network(patches)
    return patches.numpy(), {name: value.numpy() for name, value in outputs.items()}


def assert_close(actual, expected, what):
    scale = max(float(np.abs(expected).max()), 1e-3)
    worst = float(np.abs(actual - expected).max())
    assert worst <= TOLERANCE * scale, f"{what}: off by {worst:.2e} (scale {scale:.2f})"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("name", ["chord", "loud"])
def test_every_layer_equals_the_tensorflow_graph(model, name):
    audio = reference_inputs()[name]
    patches, outputs = ported(model, audio)
    expected = {key.rsplit("/", 1)[1]: REFERENCE[key] for key in REFERENCE.files if key.startswith(f"{model}/{name}/")}
    assert len(patches) == len(expected["taggram"]) > 0
    assert_close(patches[:, KEPT_FRAMES], expected["mel"], "log-mel")
    assert_close(patches.mean(axis=1), expected["mel_mean"], "log-mel mean")
    for layer in OUTPUTS:
        if layer in FRAME_OUTPUTS:
            assert_close(outputs[layer][:, KEPT_FRAMES], expected[layer], layer)
            assert_close(outputs[layer].mean(axis=1), expected[f"{layer}_mean"], f"{layer} time mean")
        else:
            assert_close(outputs[layer], expected[layer], layer)


def test_the_comparison_would_catch_a_wrong_port():
    """A 1 % error in one batch norm's scale fails the comparison."""
    network = Musicnn().load_tensorflow(read_checkpoint(f"{wheel_directory() / 'MTT_musicnn'}/")).eval()
    with torch.no_grad():
        network.dense_norm.scale.mul_(1.01)
    mel = log_mel(torch.from_numpy(reference_inputs()["chord"])[None])[0]
    with torch.inference_mode():
        penultimate = network(mel[None, :N_FRAMES])["penultimate"].numpy()
    with pytest.raises(AssertionError, match="penultimate"):
        assert_close(penultimate, REFERENCE["MTT_musicnn/chord/penultimate"][:1], "penultimate")
