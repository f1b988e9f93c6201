"""Loading MERT checkpoints into HubertModel: from a directory or the Hub cache, offline,
without running the checkpoint's code, and refusing configs HubertModel cannot reproduce."""

import hashlib
import json

import pytest
import torch
from huggingface_hub import constants as hub_constants

from analysis import mert
from analysis.mert import MertLoadError, load_mert
from tests.mert_checkpoint import build_checkpoint

# Importing either would mean the checkpoint's own code ran.
REMOTE_CODE = "raise RuntimeError('remote code ran')\n"


@pytest.fixture
def checkpoint(tmp_path):
    directory = tmp_path / "mert"
    reference = build_checkpoint(directory)
    (directory / "modeling_MERT.py").write_text(REMOTE_CODE)
    (directory / "configuration_MERT.py").write_text(REMOTE_CODE)
    return directory, reference


def assert_same_weights(module, reference):
    loaded, expected = module.state_dict(), reference.state_dict()
    assert loaded.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key


def test_local_directory_loads_into_hubert_without_remote_code(checkpoint):
    directory, reference = checkpoint
    model = load_mert(directory, device="cpu", precision="exact")

    assert type(model.module).__name__ == "HubertModel"
    assert_same_weights(model.module, reference)
    assert model.model_id == str(directory)
    assert model.revision is None
    assert (model.num_layers, model.dim, model.sample_rate, model.do_normalize) == (3, 32, 24000, True)
    assert model.weights_hash == hashlib.sha256((directory / "model.safetensors").read_bytes()).hexdigest()
    assert model.min_samples == 400  # MERT's conv front end sees 400 samples per frame
    assert not model.module.training


def test_pytorch_bin_with_old_weight_norm_names_loads(tmp_path):
    reference = build_checkpoint(tmp_path, weights="bin", hidden_size=48, num_layers=3, heads=6)
    model = load_mert(tmp_path, device="cpu", precision="exact")
    assert_same_weights(model.module, reference)
    assert (model.num_layers, model.dim) == (4, 48)


def test_loads_once_per_process(checkpoint):
    directory, _ = checkpoint
    assert load_mert(directory, device="cpu", precision="exact") is load_mert(
        str(directory), device="cpu", precision="exact"
    )


def test_settings_choose_the_model(checkpoint, settings):
    directory, _ = checkpoint
    settings.MESS_MERT_MODEL = str(directory)
    settings.MESS_MERT_DEVICE = "cpu"
    settings.MESS_MERT_PRECISION = "exact"
    model = load_mert()
    assert (model.model_id, model.device, model.precision) == (str(directory), "cpu", "exact")


def test_hub_cache_works_offline_and_names_the_commit(checkpoint, tmp_path, monkeypatch):
    directory, reference = checkpoint
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--m-a-p--MERT-tiny"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name in ("config.json", "preprocessor_config.json", "model.safetensors"):
        (snapshot / name).write_bytes((directory / name).read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)

    model = load_mert("m-a-p/MERT-tiny", device="cpu", precision="exact")

    assert model.revision == commit
    assert_same_weights(model.module, reference)


def test_model_missing_offline_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(MertLoadError, match="not in the Hugging Face cache.*MERT_MODEL"):
        load_mert("m-a-p/MERT-absent", device="cpu")


@pytest.mark.parametrize(
    ("override", "named"),
    [({"feature_extractor_cqt": True}, "feature_extractor_cqt"), ({"deepnorm": True}, "deepnorm")],
)
def test_configs_hubert_cannot_reproduce_are_refused(tmp_path, override, named):
    build_checkpoint(tmp_path, config_overrides=override)
    with pytest.raises(MertLoadError, match=f"{named}.*MERT_TRUST_REMOTE_CODE"):
        load_mert(tmp_path, device="cpu")


def test_attention_relax_alone_is_accepted(tmp_path):
    """MERT applies attention_relax only in its DeepNorm encoder (refused above)."""
    build_checkpoint(tmp_path, config_overrides={"attention_relax": 32.0})
    assert load_mert(tmp_path, device="cpu").num_layers == 3


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    build_checkpoint(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 1}))
    with pytest.raises(MertLoadError, match="unexpected.*encoder.layers.1"):
        load_mert(tmp_path, device="cpu")


def test_fast_precision_uses_bfloat16_only_where_the_cpu_has_it(checkpoint, monkeypatch):
    directory, _ = checkpoint
    fast = load_mert(directory, device="cpu", precision="fast")
    assert fast.compute_dtype == (torch.bfloat16 if mert.cpu_has_bf16() else torch.float32)

    monkeypatch.setattr(mert, "cpu_has_bf16", lambda: False)
    mert._load.cache_clear()
    assert load_mert(directory, device="cpu", precision="fast").compute_dtype == torch.float32


def test_bad_settings_are_refused_clearly(checkpoint):
    directory, _ = checkpoint
    with pytest.raises(MertLoadError, match="MERT_PRECISION"):
        load_mert(directory, precision="half")
    with pytest.raises(MertLoadError, match="MERT_DEVICE"):
        load_mert(directory, device="tpu")
