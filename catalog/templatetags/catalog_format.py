"""Display helpers shared by the catalogue pages and the admin."""

from django import template

register = template.Library()


@register.filter("duration")
def format_duration(seconds):
    """Seconds as m:ss, or h:mm:ss from an hour up (whole seconds, rounded)."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
