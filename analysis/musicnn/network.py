"""musicnn (Pons & Serra, 2019) in PyTorch, weights from the wheel's TensorFlow checkpoint.

The graph of musicnn's `models.build_musicnn` with `num_filt_midend=64,
num_units_backend=200`, in inference mode (batch norms use their moving statistics,
epsilon 0.001 as tf.layers; dropout off). TensorFlow works channels-last on
[batch, time, mel, 1]; here the same numbers run channels-first:

- front end: batch norm of the log-mel input; two timbral convolutions (7 frames x 38
  and x 67 mel bands, 204 filters each; the time axis zero-padded by 3 on both sides,
  'valid' in frequency) and three temporal ones (128, 64, 32 frames x 1 band, 51 filters
  each, 'same' padding: TensorFlow pads (k - 1) // 2 before and the rest after). Each:
  ReLU, batch norm, then max over the frequency axis -> [batch, time, channels];
  timbral = the two timbral maps (408), temporal = the three temporal ones (153);
- mid end: three 7-frame convolutions over time with 64 filters (input 561 = front end),
  each ReLU then batch norm; the 2nd and 3rd add their input (residual). cnn1..cnn3;
- back end: the dense concatenation [front end, cnn1, cnn2, cnn3] (753 channels) pooled
  over time by max and mean, interleaved per channel as TensorFlow flattens [753, 2];
  batch norm, dense 200 + ReLU, batch norm (the "penultimate" layer), dense 50 logits,
  sigmoid (the taggram).
"""

import torch
from torch import nn
from torch.nn import functional as F

EPSILON = 1e-3  # tf.compat.v1.layers.batch_normalization's default
N_MELS = 96
N_FRAMES = 187  # 3 s patches: what the models were trained on
TIMBRAL_BANDS = (int(0.4 * N_MELS), int(0.7 * N_MELS))  # 38, 67
TEMPORAL_FRAMES = (128, 64, 32)
FRONT_FILTERS, TEMPO_FILTERS, MID_FILTERS, PENULTIMATE, TAGS = 204, 51, 64, 200, 50
FRONT_END = 2 * FRONT_FILTERS + 3 * TEMPO_FILTERS  # 561
DENSE = FRONT_END + 3 * MID_FILTERS  # 753
# The layers musicnn's extractor exposes, in the order of its network, with their widths.
OUTPUTS = {
    "timbral": 2 * FRONT_FILTERS,
    "temporal": 3 * TEMPO_FILTERS,
    "cnn1": MID_FILTERS,
    "cnn2": MID_FILTERS,
    "cnn3": MID_FILTERS,
    "mean_pool": DENSE,
    "max_pool": DENSE,
    "penultimate": PENULTIMATE,
    "taggram": TAGS,
}
FRAME_OUTPUTS = ("timbral", "temporal", "cnn1", "cnn2", "cnn3")  # [batch, time, channels]


class BatchNorm(nn.Module):
    """Inference-time batch norm over the last axis, from TF's gamma/beta/moving stats."""

    def __init__(self, size):
        super().__init__()
        self.register_buffer("scale", torch.ones(size))
        self.register_buffer("shift", torch.zeros(size))

    def load(self, variables, name):
        gamma, beta = variables[f"{name}/gamma"], variables[f"{name}/beta"]
        mean, var = variables[f"{name}/moving_mean"], variables[f"{name}/moving_variance"]
        scale = gamma / torch.sqrt(var + EPSILON)
        self.scale.copy_(scale)
        self.shift.copy_(beta - mean * scale)

    def forward(self, x):
        return x * self.scale + self.shift


class Musicnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_norm = BatchNorm(1)
        # Timbral: the time axis padded by 3 on both sides. Temporal: TensorFlow's 'same'.
        self.timbral = nn.ModuleList(FrontEndBlock(FRONT_FILTERS, (7, bands), (3, 3)) for bands in TIMBRAL_BANDS)
        self.temporal = nn.ModuleList(
            FrontEndBlock(TEMPO_FILTERS, (frames, 1), ((frames - 1) // 2, frames - 1 - (frames - 1) // 2))
            for frames in TEMPORAL_FRAMES
        )
        self.mid = nn.ModuleList(nn.Conv1d(size, MID_FILTERS, 7) for size in (FRONT_END, MID_FILTERS, MID_FILTERS))
        self.mid_norms = nn.ModuleList(BatchNorm(MID_FILTERS) for _ in range(3))
        self.pool_norm = BatchNorm(2 * DENSE)
        self.dense = nn.Linear(2 * DENSE, PENULTIMATE)
        self.dense_norm = BatchNorm(PENULTIMATE)
        self.logits = nn.Linear(PENULTIMATE, TAGS)

    @torch.no_grad()
    def load_tensorflow(self, variables):
        """Copy weights from {TF variable name: array} (analysis.musicnn.checkpoint); the
        names follow tf.layers' creation order in models.build_musicnn."""
        variables = {name: torch.from_numpy(value) for name, value in variables.items()}
        self.input_norm.load(variables, "batch_normalization")
        for i, block in enumerate([*self.timbral, *self.temporal]):
            name = f"conv2d_{i}" if i else "conv2d"
            block.load(variables, name, f"batch_normalization_{i + 1}")
        for i, (conv, norm) in enumerate(zip(self.mid, self.mid_norms)):
            # TF kernel [7, channels in, 1, filters]: a 1-D convolution over time.
            conv.weight.copy_(variables[f"conv2d_{i + 5}/kernel"][:, :, 0, :].permute(2, 1, 0))
            conv.bias.copy_(variables[f"conv2d_{i + 5}/bias"])
            norm.load(variables, f"batch_normalization_{i + 6}")
        self.pool_norm.load(variables, "batch_normalization_9")
        self.dense.weight.copy_(variables["dense/kernel"].T)
        self.dense.bias.copy_(variables["dense/bias"])
        self.dense_norm.load(variables, "batch_normalization_10")
        self.logits.weight.copy_(variables["dense_1/kernel"].T)
        self.logits.bias.copy_(variables["dense_1/bias"])
        return self

    def forward(self, log_mel):
        """log_mel: [batch, frames, 96] -> {name: tensor} for every name in OUTPUTS;
        frame-level layers are [batch, frames, channels], the rest [batch, channels]."""
        x = self.input_norm(log_mel.unsqueeze(-1)).squeeze(-1).unsqueeze(1)  # [B, 1, T, 96]
        maps = [block(x) for block in [*self.timbral, *self.temporal]]
        front = torch.cat(maps, dim=2)  # [B, T, 561]

        mids, h = [], front.transpose(1, 2)  # channels first for Conv1d
        for i, (conv, norm) in enumerate(zip(self.mid, self.mid_norms)):
            out = norm(F.relu(conv(F.pad(h, (3, 3)))).transpose(1, 2)).transpose(1, 2)
            h = out if i == 0 else out + h
            mids.append(h.transpose(1, 2))
        dense = torch.cat([front, *mids], dim=2)  # [B, T, 753]

        max_pool, mean_pool = dense.amax(dim=1), dense.mean(dim=1)
        pooled = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # TF's [753, 2] flattened
        penultimate = self.dense_norm(F.relu(self.dense(self.pool_norm(pooled))))
        return {
            "timbral": torch.cat(maps[:2], dim=2),
            "temporal": torch.cat(maps[2:], dim=2),
            "cnn1": mids[0],
            "cnn2": mids[1],
            "cnn3": mids[2],
            "mean_pool": mean_pool,
            "max_pool": max_pool,
            "penultimate": penultimate,
            "taggram": torch.sigmoid(self.logits(penultimate)),
        }


class FrontEndBlock(nn.Module):
    """One front-end convolution of musicnn: conv, ReLU, batch norm, max over frequency.

    [B, 1, T, 96] -> [B, T, filters]. The order is exactly equivalent to, and 1/F of the
    work of, normalising the whole map: ReLU and a per-channel affine map are monotonic,
    so the maximum of the normalised map is the normalised maximum where the scale is
    positive and the normalised minimum where it is negative. The convolution of a
    channel with a negative scale holds its negated weights, so that one max serves both
    (`sign` undoes the negation)."""

    def __init__(self, filters, kernel, time_padding):
        super().__init__()
        self.conv = nn.Conv2d(1, filters, kernel)
        self.norm = BatchNorm(filters)
        self.padding = (0, 0, *time_padding)
        self.register_buffer("sign", torch.ones(filters))

    def load(self, variables, conv_name, norm_name):
        self.norm.load(variables, norm_name)
        self.sign.copy_(torch.where(self.norm.scale >= 0, 1.0, -1.0))
        kernel = variables[f"{conv_name}/kernel"].permute(3, 2, 0, 1)  # TF [time, mel, in, out] -> [out, in, time, mel]
        self.conv.weight.copy_(kernel * self.sign[:, None, None, None])
        self.conv.bias.copy_(variables[f"{conv_name}/bias"] * self.sign)

    def forward(self, x):
        extreme = self.sign[:, None] * self.conv(F.pad(x, self.padding)).amax(dim=3)  # [B, C, T]
        return self.norm(F.relu(extreme).transpose(1, 2))
