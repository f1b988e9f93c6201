"""Build and save the similarity indices of every layer of the active space, before the
web processes start: they then memory-map the saved files instead of each building them."""

import time

from django.core.management.base import BaseCommand, CommandError

from analysis.services import active_space
from recommendations import index, pgsearch


class Command(BaseCommand):
    help = "Build the FAISS index of each layer of the active embedding space and save it under MESS_INDEX_DIR."

    def handle(self, *args, **options):
        space = active_space()
        if space is None:
            raise CommandError("No active embedding space: nothing to index. Extract some tracks first.")
        pgsearch.ensure_hnsw_indexes(space)
        began = time.perf_counter()
        for layer in range(space.num_layers):
            started = time.perf_counter()
            entry = index.load_or_build(space.pk, layer)
            if options["verbosity"] >= 1:
                self.stdout.write(
                    f"{space} layer {layer}: {entry.index.ntotal} tracks, {index.backend_name(entry.index)}, "
                    f"version {entry.version}, {time.perf_counter() - started:.2f} s -> {entry.path}"
                )
        self.stdout.write(
            f"{space.num_layers} layers of {space} indexed ({entry.index.ntotal} tracks, "
            f"{index.backend_name(entry.index)}) in {time.perf_counter() - began:.1f} s, under {index.index_dir()}."
        )
