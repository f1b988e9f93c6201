"""Loading MERT and running it: worker-only (imports torch and transformers).

MERT-v1 checkpoints are HuBERT-shaped (conv feature encoder, feature projection,
transformer encoder) and ship a `config.json` whose `auto_map` points at remote code. We
map that config onto `transformers.HubertConfig` and load the weights into `HubertModel`,
so no code from the checkpoint runs unless MESS_MERT_TRUST_REMOTE_CODE is set. A config using
MERT features HubertModel cannot reproduce (CQT front end, DeepNorm) is refused.

The model is loaded once per worker process (`load_mert` is cached on its arguments).
`weights_hash` is the sha256 of the weight file's bytes: it names the embedding space.
"""

import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModel, HubertConfig, HubertModel

from analysis.conf import setting
from analysis.mert_files import MertLoadError, offline, resolve_files
from analysis.pipeline import extract

PRECISIONS = ("exact", "fast")
DEVICES = ("auto", "cpu", "cuda", "mps")

# HubertConfig knows these; the rest of a MERT config is MERT-only or Hub metadata.
_HUBERT_KEYS = set(HubertConfig().to_dict()) - {
    "model_type", "architectures", "_name_or_path", "transformers_version", "dtype",
}
# Checkpoints saved before torch's parametrized weight_norm name the positional conv weights so.
_OLD_WEIGHT_NORM = {"weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1"}


@dataclass(frozen=True)
class MertModel:
    module: torch.nn.Module
    model_id: str
    revision: str | None  # resolved commit for Hub models, None for a local directory
    weights_hash: str
    num_layers: int  # hidden states returned: transformer layers + 1
    dim: int
    sample_rate: int
    do_normalize: bool
    min_samples: int  # shortest input that yields one frame (the conv front end's receptive field)
    device: str
    precision: str
    compute_dtype: torch.dtype  # what "fast" resolved to here; float32 when exact
    encoder = "mert"
    own_windows = None  # the platform's

    @property
    def layer_names(self):
        return ["input (CNN features)"] + [f"transformer layer {i}" for i in range(1, self.num_layers)]

    @property
    def layer_dims(self):
        return [self.dim] * self.num_layers

    def encode(self, path, **options):
        """Layer embeddings of an audio file: analysis.pipeline.extract with this model."""
        return extract(path, self, **options)

    def forward_windows(self, windows, keep_frames=False):
        """[batch, samples] normalised windows -> (time means [batch, layers, dim] float32,
        and with keep_frames every hidden state [batch, layers, frames, dim] float16)."""
        states = hidden_states(self, windows)
        means = torch.stack([state.float().mean(dim=1) for state in states], dim=1).cpu().numpy()
        frames = torch.stack(states, dim=1).to(torch.float16).cpu().numpy() if keep_frames else None
        return means, frames


def load_mert(model_id=None, *, revision=None, device=None, precision=None, trust_remote_code=None, threads=None):
    """The MERT model named by the arguments, or by settings for those left None."""
    return _load(
        str(model_id if model_id is not None else setting("MERT_MODEL")),
        revision if revision is not None else setting("MERT_REVISION"),
        device or setting("MERT_DEVICE"),
        precision or setting("MERT_PRECISION"),
        bool(trust_remote_code if trust_remote_code is not None else setting("MERT_TRUST_REMOTE_CODE")),
        threads or setting("MERT_THREADS") or os.cpu_count(),
    )


@functools.lru_cache(maxsize=4)
def _load(model_id, revision, device, precision, trust_remote_code, threads):
    if precision not in PRECISIONS:
        raise MertLoadError(f"MESS_MERT_PRECISION must be one of {PRECISIONS}, not {precision!r}.")
    torch.set_num_threads(threads)
    device = resolve_device(device)
    files = resolve_files(model_id, revision)
    config = json.loads(files["config"].read_text())
    preprocessor = json.loads(files["preprocessor"].read_text())

    if trust_remote_code:
        module = AutoModel.from_pretrained(
            model_id, revision=revision, trust_remote_code=True, local_files_only=offline(model_id)
        )
    else:
        module = HubertModel(hubert_config(config, source=model_id))
        _load_weights(module, files["weights"])
    module.to(device).eval()
    if precision == "fast":
        _positional_conv_in_float32(module, device)

    return MertModel(
        module=module,
        model_id=model_id,
        revision=None if Path(model_id).is_dir() else files["config"].parent.name,
        weights_hash=_sha256(files["weights"]),
        num_layers=config["num_hidden_layers"] + 1,
        dim=config["hidden_size"],
        sample_rate=int(preprocessor["sampling_rate"]),
        do_normalize=bool(preprocessor.get("do_normalize", True)),
        min_samples=receptive_field(config["conv_kernel"], config["conv_stride"]),
        device=device,
        precision=precision,
        compute_dtype=_compute_dtype(device) if precision == "fast" else torch.float32,
    )


def _positional_conv_in_float32(module, device):
    """Keep the positional convolution (a weight-normed grouped conv over 128 frames) out of
    the fast dtype: in bfloat16 its long sums alone took the hidden states' cosine to the
    exact ones down to 0.95 (tests/test_pipeline.py), the rest of the model keeps 0.99999."""
    positional = getattr(getattr(module, "encoder", None), "pos_conv_embed", None)
    if positional is None:  # remote code may name it otherwise: left as it is
        return
    forward = positional.forward

    def exact(hidden_states):
        with torch.autocast(device_type=device, enabled=False):
            return forward(hidden_states.float())

    positional.forward = exact


def hubert_config(mert_config, *, source="this checkpoint"):
    """HubertConfig equivalent to a MERT (or plain HuBERT) config.json, or MertLoadError."""
    unsupported = []
    if mert_config.get("feature_extractor_cqt"):
        unsupported.append("feature_extractor_cqt (a CQT front end concatenated to the conv features)")
    if mert_config.get("deepnorm"):
        unsupported.append("deepnorm (scaled residual connections)")
    # attention_relax needs no check: MERT applies it only inside its DeepNorm encoder, and
    # there it subtracts the row maximum before softmax, which leaves the softmax unchanged.
    if unsupported:
        raise MertLoadError(
            f"{source} uses MERT features that transformers' HubertModel cannot reproduce: "
            f"{'; '.join(unsupported)}. Set MESS_MERT_TRUST_REMOTE_CODE=1 to run the "
            "checkpoint's own code, if you trust it."
        )
    return HubertConfig(**{key: value for key, value in mert_config.items() if key in _HUBERT_KEYS})


def receptive_field(kernels, strides):
    field, jump = 1, 1
    for kernel, stride in zip(kernels, strides):
        field += (kernel - 1) * jump
        jump *= stride
    return field


def resolve_device(device):
    if device not in DEVICES:
        raise MertLoadError(f"MESS_MERT_DEVICE must be one of {DEVICES}, not {device!r}.")
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise MertLoadError("MESS_MERT_DEVICE is 'cuda' but torch sees no CUDA GPU; use 'auto' or 'cpu'.")
    if device == "mps" and not torch.backends.mps.is_available():
        raise MertLoadError("MESS_MERT_DEVICE is 'mps' but this torch has no MPS backend; use 'auto' or 'cpu'.")
    return device


def cpu_has_bf16():
    """Native bfloat16 matmuls (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: ask oneDNN, which checks the same instructions
        return torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def _compute_dtype(device):
    if device == "cpu":
        return torch.bfloat16 if cpu_has_bf16() else torch.float32
    return torch.float16


def hidden_states(model, windows):
    """All hidden states for a batch of equal-length, already-normalised windows.

    `windows` is a float32 array [B, N]; returns a tuple of num_layers tensors [B, T, D]
    (float32 or the fast dtype), on the model's device.
    """
    inputs = torch.from_numpy(windows).to(model.device)
    autocast = torch.autocast(
        device_type=model.device,
        dtype=model.compute_dtype,
        enabled=model.compute_dtype != torch.float32,
    )
    with torch.inference_mode(), autocast:
        return model.module(inputs, output_hidden_states=True).hidden_states


def _load_weights(module, path):
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    state = {_current_name(key): value for key, value in state.items()}
    result = module.load_state_dict(state, strict=False)
    # masked_spec_embed only serves training-time masking; a checkpoint may or may not have it.
    missing = [key for key in result.missing_keys if key != "masked_spec_embed"]
    unexpected = [key for key in result.unexpected_keys if key != "masked_spec_embed"]
    if missing or unexpected:
        raise MertLoadError(
            f"{path} does not fit the model its config.json describes: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}."
        )


def _current_name(key):
    prefix, _, last = key.rpartition(".")
    if last in _OLD_WEIGHT_NORM and prefix.endswith("pos_conv_embed.conv"):
        return f"{prefix}.{_OLD_WEIGHT_NORM[last]}"
    return key


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()
