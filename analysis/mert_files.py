"""Finding a MERT checkpoint's files (config, preprocessor config, weights) in a directory
or the Hugging Face cache, downloading them when allowed. No torch here, so a launcher
learns whether MERT's weights can be had before paying for loading the model code."""

from pathlib import Path

from huggingface_hub import constants as hub_constants
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

CONFIG_FILE = "config.json"
PREPROCESSOR_FILE = "preprocessor_config.json"
# Preferred first; MERT-v1 repositories ship pytorch_model.bin.
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class MertLoadError(Exception):
    """A model that cannot be loaded as configured, with what to do about it."""


def offline(model_id):
    """Whether only local files may be used: a directory, or HF_HUB_OFFLINE."""
    return Path(model_id).is_dir() or hub_constants.HF_HUB_OFFLINE


def resolve_files(model_id, revision, *, cache_only=False):
    """Local paths of config, preprocessor config and weights: from a directory or the Hub
    cache, downloading what is missing unless offline or `cache_only`."""
    directory = Path(model_id)
    if directory.is_dir():
        found = {"config": directory / CONFIG_FILE, "preprocessor": directory / PREPROCESSOR_FILE}
        weights = [directory / name for name in WEIGHT_FILES if (directory / name).is_file()]
        for path in found.values():
            if not path.is_file():
                raise MertLoadError(f"{directory} has no {path.name}; a MERT model directory needs one.")
        if not weights:
            raise MertLoadError(f"{directory} has no weights ({' or '.join(WEIGHT_FILES)}).")
        return {**found, "weights": weights[0]}

    local_only = cache_only or offline(model_id)

    def download(filename):
        return Path(hf_hub_download(model_id, filename, revision=revision, local_files_only=local_only))

    try:
        found = {"config": download(CONFIG_FILE), "preprocessor": download(PREPROCESSOR_FILE)}
        for name in WEIGHT_FILES:
            try:
                return {**found, "weights": download(name)}
            except (EntryNotFoundError, LocalEntryNotFoundError):
                continue
    except LocalEntryNotFoundError as error:
        raise MertLoadError(
            f"{model_id} is not in the Hugging Face cache and downloads are off (HF_HUB_OFFLINE) "
            "or unreachable: download it once where there is network, or point MESS_MERT_MODEL at a "
            f"directory holding its files. ({error})"
        ) from error
    raise MertLoadError(f"{model_id} has no weights file ({' or '.join(WEIGHT_FILES)}).")
