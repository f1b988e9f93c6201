"""musicnn as an encoder: the pretrained tagger's TensorFlow checkpoints (shipped in its
PyPI wheel) read without TensorFlow (checkpoint.py), the network in PyTorch (network.py),
its log-mel front end (frontend.py), and the platform's encoder around them (encoder.py).
Worker-only: imports torch."""
