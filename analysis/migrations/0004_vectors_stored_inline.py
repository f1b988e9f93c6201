"""Vectors stay in the table's own pages (STORAGE MAIN) instead of pgvector's default
EXTERNAL, which moves every vector over ~2 KB (512+ dims) out to the TOAST table: reading
a layer for an index build then costs a TOAST lookup per row. Measured on 100k x 768:
the bulk read took ~25 % less. Rows written before this keep their storage until rewritten."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("analysis", "0003_probe_runs")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE analysis_trackembedding ALTER COLUMN vector SET STORAGE MAIN",
            "ALTER TABLE analysis_trackembedding ALTER COLUMN vector SET STORAGE EXTERNAL",
        )
    ]
