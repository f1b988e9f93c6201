import math

from django.core.exceptions import ValidationError
from django.db import models


class PinnedAspect(models.Model):
    """A curator's choice of layers for an aspect in a space: it wins over the probing
    evidence and the defaults until it is removed."""

    space = models.ForeignKey("analysis.EmbeddingSpace", on_delete=models.CASCADE, related_name="pinned_aspects")
    aspect = models.CharField(max_length=50)
    layers = models.JSONField(help_text='Layer -> weight, e.g. {"3": 1} or {"2": 0.5, "3": 0.5}.')
    note = models.TextField(blank=True, help_text="Why this choice, for the other curators.")
    pinned_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL)
    pinned_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "aspect"], name="pinned_aspect_unique")]

    def __str__(self):
        return f"{self.aspect} in {self.space} (pinned)"

    def clean(self):
        from recommendations.aspects import DEFAULT_MAP  # aspects reads this model

        if self.aspect not in DEFAULT_MAP:
            raise ValidationError({"aspect": f"Unknown aspect; known aspects: {', '.join(DEFAULT_MAP)}."})
        try:
            layers = {int(layer): float(weight) for layer, weight in self.layers.items()}
        except (AttributeError, TypeError, ValueError):
            raise ValidationError({"layers": 'Write layer -> weight, e.g. {"3": 1} or {"2": 0.5, "3": 0.5}.'}) from None
        if not layers or any(not math.isfinite(w) or w < 0 for w in layers.values()) or sum(layers.values()) <= 0:
            raise ValidationError({"layers": "Give at least one layer a positive weight; no weight may be negative."})
        if self.space_id and any(not 0 <= layer < self.space.num_layers for layer in layers):
            raise ValidationError({"layers": f"{self.space} has layers 0-{self.space.num_layers - 1}."})
