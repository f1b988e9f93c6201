"""Demo tracks imported before the demo corpus named every work: their work cell held the
music21 corpus path. Rename them as catalog/demo_corpus.py now names them."""

from django.db import migrations

# corpus path (the old work value) -> readable work name
RENAMED = {
    "monteverdi/madrigal.3.1": "Madrigals, Book 3 No. 1",
    "joplin/maple_leaf_rag": "Maple Leaf Rag",
}


def rename(apps, schema_editor, names):
    Track = apps.get_model("catalog", "Track")
    for old, new in names.items():
        Track.objects.filter(dataset__source_kind="demo", work=old).update(work=new)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_track_album_year_genre_number")]

    operations = [
        migrations.RunPython(
            lambda apps, editor: rename(apps, editor, RENAMED),
            lambda apps, editor: rename(apps, editor, {new: old for old, new in RENAMED.items()}),
        ),
    ]
