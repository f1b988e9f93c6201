"""A finished probe run's results in the shapes people and notebooks read: the layers x
targets R² heatmap, and the export (JSON, or CSV with one row per score). Web-safe."""

SCORES = ("r2", "r2_std", "corr", "corr_std", "rmse", "rmse_std")


def heatmap(run):
    """Layers x targets R² of a run, targets in the order they were probed."""
    names = [spec["name"] for spec in run.target_specs]
    cells = {(r.layer, r.target): r.r2 for r in run.results.all()}
    layers = sorted({layer for layer, _ in cells})
    return {"layers": layers, "targets": names, "r2": [[cells.get((layer, t)) for t in names] for layer in layers]}


def export(run):
    """A run's results for notebooks: {"layers": {layer: {target: scores}}, "weighted": ...}."""
    layers = {}
    for result in run.results.all():
        layers.setdefault(str(result.layer), {})[result.target] = {
            name: getattr(result, name) for name in SCORES
        }
    return {"run": run.pk, "space": run.space_id, "dataset": run.dataset.slug if run.dataset_id else None,
            "targets": run.target_specs, "samples": {"tracks": run.tracks, "windows": run.windows},
            "layers": layers, "weighted": run.weighted, "baseline": run.baseline}


def csv_rows(exported):
    """The export flattened: one row per (layer, target), then one per weighted target
    (layer "weighted", its layer weights joined by spaces)."""
    header = ["layer", "target", *SCORES, "gain", "weights"]
    rows = [header]
    for layer, by_target in exported["layers"].items():
        for target, scores in by_target.items():
            rows.append([layer, target, *(scores[name] for name in SCORES), "", ""])
    for target, scores in exported["weighted"].items():
        weights = " ".join(f"{w:.4f}" for w in scores.get("weights") or [] if w is not None)
        rows.append(["weighted", target, *(scores.get(name) for name in SCORES), scores.get("gain"), weights])
    return rows
