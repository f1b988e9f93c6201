"""Deleting embeddings moves their space's version, whatever deletes them (a track deleted
in the admin, a cascade, raw SQL), so every process's similarity index drops them."""

from django.db import migrations

CREATE = """
CREATE FUNCTION embedding_space_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE analysis_embeddingspace SET version = version + 1
    WHERE id IN (SELECT DISTINCT space_id FROM removed);
    RETURN NULL;
END $$;
CREATE TRIGGER embedding_delete_bumps_version
    AFTER DELETE ON analysis_trackembedding
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION embedding_space_bump_version();
"""

DROP = """
DROP TRIGGER embedding_delete_bumps_version ON analysis_trackembedding;
DROP FUNCTION embedding_space_bump_version();
"""


class Migration(migrations.Migration):
    dependencies = [("analysis", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
