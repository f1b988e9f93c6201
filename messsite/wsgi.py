import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messsite.settings")
application = get_wsgi_application()

from messsite.database import require_pgvector  # noqa: E402  (needs Django set up)

require_pgvector()
