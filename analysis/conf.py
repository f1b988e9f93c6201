"""Extraction settings, read in one place.

`setting("MERT_MODEL")` is Django's `MESS_MERT_MODEL` (from the environment variable of
the same name, see messsite/settings.py) when Django is configured, and the default
below otherwise, so worker code and the benchmark run with or without a Django project.
"""

from django.conf import settings

DEFAULTS = {
    # Hugging Face id or local directory holding config.json, preprocessor_config.json, weights.
    "MERT_MODEL": "m-a-p/MERT-v1-95M",
    # Hub branch, tag or commit; None means the default branch.
    "MERT_REVISION": None,
    # "auto" picks cuda, then mps, then cpu.
    "MERT_DEVICE": "auto",
    # "exact": fp32 reference. "fast": bfloat16 autocast on CPUs with native bf16, float16 on
    # GPUs; window means stay within cosine 0.9999 of exact, so both share an embedding space.
    "MERT_PRECISION": "fast",
    # Runs the checkpoint's own Python code (AutoModel); off, MERT-v1 loads into HubertModel.
    "MERT_TRUST_REMOTE_CODE": False,
    # torch intra-op threads; None uses every core.
    "MERT_THREADS": None,
    # Windows per forward pass.
    "MERT_BATCH_SIZE": 4,
    # The platform's analysis windows, shared by every encoder (a new setting makes a new space).
    "MERT_WINDOW_SECONDS": 5.0,
    "MERT_OVERLAP": 0.5,
    # musicnn: which of the wheel's checkpoints ("MTT_musicnn" or "MSD_musicnn"; bench/quality chose MTT).
    "MUSICNN_MODEL": "MTT_musicnn",
    # Windows per forward pass (each is two 3 s patches).
    "MUSICNN_BATCH_SIZE": 8,
}


def setting(name):
    if settings.configured:
        return getattr(settings, f"MESS_{name}", DEFAULTS[name])
    return DEFAULTS[name]
