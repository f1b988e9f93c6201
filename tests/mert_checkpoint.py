"""A tiny random-weight checkpoint laid out like m-a-p/MERT-v1-95M on the Hub.

config.json is in MERT's own format (model_type "mert_model", auto_map to remote code,
MERT-only keys), the weights use the key names a real MERTModel checkpoint has (including
the pre-parametrization `weight_g`/`weight_v` of the positional conv, as MERT-v1 was saved),
and preprocessor_config.json is MERT's Wav2Vec2FeatureExtractor config. The reference
HubertModel is built here from an explicit HubertConfig, not through analysis.mert, so a
test comparing the two checks the loader's config mapping and key renaming.
"""

import json

import torch
from safetensors.torch import save_file
from transformers import HubertConfig, HubertModel

# MERT-v1 front end: 320x downsampling, 75 frames/s at 24 kHz.
CONV_STRIDE = [5, 2, 2, 2, 2, 2, 2]
CONV_KERNEL = [10, 3, 3, 3, 3, 2, 2]


def mert_config(*, hidden_size, num_layers, heads, intermediate, conv_dim, pos_conv=16, pos_groups=4):
    """A config.json as MERT-v1 ships it, shrunk."""
    return {
        "_name_or_path": "m-a-p/MERT-v1-95M",
        "architectures": ["MERTModel"],
        "auto_map": {"AutoConfig": "configuration_MERT.MERTConfig", "AutoModel": "modeling_MERT.MERTModel"},
        "model_type": "mert_model",
        "activation_dropout": 0.0,
        "apply_spec_augment": True,
        "attention_dropout": 0.1,
        "attention_relax": -1.0,
        "bos_token_id": 1,
        "classifier_proj_size": 256,
        "conv_bias": False,
        "conv_dim": [conv_dim] * 7,
        "conv_kernel": CONV_KERNEL,
        "conv_pos_batch_norm": False,
        "conv_stride": CONV_STRIDE,
        "ctc_loss_reduction": "sum",
        "ctc_zero_infinity": False,
        "deepnorm": False,
        "do_stable_layer_norm": False,
        "eos_token_id": 2,
        "feat_extract_activation": "gelu",
        "feat_extract_norm": "group",
        "feat_proj_dropout": 0.0,
        "feat_proj_layer_norm": True,
        "feature_extractor_cqt": False,
        "feature_extractor_cqt_bins": 336,
        "final_dropout": 0.1,
        "gradient_checkpointing": False,
        "hidden_act": "gelu",
        "hidden_dropout": 0.1,
        "hidden_size": hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": intermediate,
        "layer_norm_eps": 1e-05,
        "layerdrop": 0.1,
        "mask_feature_length": 10,
        "mask_feature_min_masks": 0,
        "mask_feature_prob": 0.0,
        "mask_time_length": 10,
        "mask_time_min_masks": 2,
        "mask_time_prob": 0.05,
        "num_attention_heads": heads,
        "num_conv_pos_embedding_groups": pos_groups,
        "num_conv_pos_embeddings": pos_conv,
        "num_feat_extract_layers": 7,
        "num_hidden_layers": num_layers,
        "pad_token_id": 0,
        "sample_rate": 24000,
        "torch_dtype": "float32",
        "transformers_version": "4.25.1",
        "use_weighted_layer_sum": False,
        "vocab_size": 32,
    }


PREPROCESSOR_CONFIG = {
    "do_normalize": True,
    "feature_extractor_type": "Wav2Vec2FeatureExtractor",
    "feature_size": 1,
    "padding_side": "right",
    "padding_value": 0,
    "return_attention_mask": True,
    "sampling_rate": 24000,
}


def build_checkpoint(
    directory,
    *,
    hidden_size=32,
    num_layers=2,
    heads=4,
    intermediate=64,
    conv_dim=16,
    pos_conv=16,
    pos_groups=4,
    weights="safetensors",
    config_overrides=None,
    seed=0,
    perturbation=0.05,
):
    """Write a MERT-format checkpoint into `directory`; return the fp32 reference HubertModel.

    `perturbation` adds noise of that scale to every weight after transformers' own
    initialisation, so that tests notice any weight the loader drops (norms start at 1/0)."""
    torch.manual_seed(seed)
    reference = HubertModel(
        HubertConfig(
            hidden_size=hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=heads,
            intermediate_size=intermediate,
            conv_dim=[conv_dim] * 7,
            conv_stride=CONV_STRIDE,
            conv_kernel=CONV_KERNEL,
            conv_bias=False,
            feat_extract_norm="group",
            feat_proj_layer_norm=True,
            do_stable_layer_norm=False,
            num_conv_pos_embeddings=pos_conv,
            num_conv_pos_embedding_groups=pos_groups,
            layer_norm_eps=1e-5,
            mask_time_prob=0.05,
        )
    ).eval()
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.add_(torch.randn_like(parameter) * perturbation)

    state = {_saved_name(key): value.contiguous() for key, value in reference.state_dict().items()}
    directory.mkdir(parents=True, exist_ok=True)
    if weights == "safetensors":
        save_file(state, directory / "model.safetensors")
    else:
        torch.save(state, directory / "pytorch_model.bin")
    config = mert_config(
        hidden_size=hidden_size,
        num_layers=num_layers,
        heads=heads,
        intermediate=intermediate,
        conv_dim=conv_dim,
        pos_conv=pos_conv,
        pos_groups=pos_groups,
    )
    (directory / "config.json").write_text(json.dumps({**config, **(config_overrides or {})}, indent=2))
    (directory / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR_CONFIG, indent=2))
    return reference


def _saved_name(key):
    """MERT-v1 was saved with torch.nn.utils.weight_norm, before parametrizations."""
    return key.replace("parametrizations.weight.original0", "weight_g").replace(
        "parametrizations.weight.original1", "weight_v"
    )
