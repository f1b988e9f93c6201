"""A stack of encoders as one encoder: every member's layers side by side in one space.

No single encoder serves every aspect: a learned tagger (musicnn, MERT) separates timbre,
instrument and genre, while the classic tonal layers find the same work in another
instrument (bench/quality). A stacked space holds both, so probing and retrieval pick,
per aspect, the best layer across them. Worker-only, like its members.

- Layers: the members' in order, named "member:layer" ("musicnn:penultimate",
  "classic:chroma"), so layer numbers say where they come from.
- Windows: one scheme for all members, so a window means the same span in every layer:
  the first member's own windows when it has them (musicnn's 3 s patches), else the
  platform's. Each member decodes and resamples the file at its own rate, so a member's
  window starts can differ from the first member's by a sample's rounding: each window of
  the first member takes the member's window that starts nearest to it.
- Dims: one `dim` per space (the widest member's); narrower layers are zero-padded, which
  changes no cosine. `layer_dims` keeps each layer's own width so that similarity indices
  and window indices hold only that much (docs/encoders.md measures what padding costs).
- Tags: those of the member that tags (musicnn).
- Identity: the members' weights hashes, hashed together; a member's change makes a new space.
"""

import hashlib

import numpy as np

from analysis.models import STACK_SEPARATOR
from analysis.pipeline import Extraction


class StackedEncoder:
    """Stands where a single encoder does when a space is named and a track encoded."""

    revision = None  # the members' are in weights_hash

    def __init__(self, members):
        if len(members) < 2:
            raise ValueError("a stack needs at least two encoders")
        self.members = list(members)
        self.encoder = STACK_SEPARATOR.join(member.encoder for member in self.members)
        self.model_id = STACK_SEPARATOR.join(member.model_id for member in self.members)
        self.weights_hash = hashlib.sha256(
            " ".join(member.weights_hash for member in self.members).encode()
        ).hexdigest()
        self.sample_rate = self.members[0].sample_rate
        self.layer_names = [f"{member.encoder}:{name}" for member in self.members for name in member.layer_names]
        self.layer_dims = [size for member in self.members for size in member.layer_dims]
        self.num_layers = len(self.layer_names)
        self.dim = max(member.dim for member in self.members)
        self.own_windows = next((m.own_windows for m in self.members if m.own_windows), None)

    def encode(self, path, *, window_seconds, overlap, on_progress=None, name=None):
        """Every member's extraction of the file, its layers side by side (module docstring)."""
        results = []
        for position, member in enumerate(self.members):
            results.append(member.encode(
                path, window_seconds=window_seconds, overlap=overlap, name=name,
                on_progress=_share(on_progress, position, len(self.members)),
            ))
        first = results[0]
        window_means = np.zeros((len(first.window_starts), self.num_layers, self.dim), dtype=np.float32)
        layer = 0
        for member, result in zip(self.members, results):
            rows = nearest_windows(result.window_starts, first.window_starts)
            window_means[:, layer : layer + member.num_layers, : member.dim] = result.window_means[rows]
            layer += member.num_layers
        return Extraction(
            window_means=window_means,
            track_mean=window_means.mean(axis=0),
            window_starts=first.window_starts,
            window_seconds=first.window_seconds,
            hop_seconds=first.hop_seconds,
            duration=first.duration,
            tags=next((result.tags for result in results if result.tags is not None), None),
        )


def nearest_windows(starts, wanted):
    """For each start in `wanted` (seconds, ascending), the index of the nearest of `starts`."""
    starts, wanted = np.asarray(starts, dtype=np.float64), np.asarray(wanted, dtype=np.float64)
    after = np.clip(np.searchsorted(starts, wanted), 1, max(len(starts) - 1, 1))
    before = after - 1
    if len(starts) == 1:
        return np.zeros(len(wanted), dtype=np.int64)
    closer_before = np.abs(wanted - starts[before]) <= np.abs(starts[after] - wanted)
    return np.where(closer_before, before, after)


def _share(on_progress, position, members):
    """A member's progress as a share of the whole: members run one after the other."""
    if on_progress is None:
        return None

    def report(done, total):
        # In the member's windows, scaled to the whole (the first member's count is the total).
        whole = total * members
        on_progress(position * total + done, whole)

    return report
