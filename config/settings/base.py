"""Settings shared by every environment. Every value comes from an environment variable (see .env.example);
local.py, production.py and test.py only override."""

from pathlib import Path
from typing import Any

import environ

from common.cache import cache_settings

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    env.read_env(str(BASE_DIR / ".env"))

# --- core -----------------------------------------------------------------------------------------------------
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Where the platform keeps its files: uploads, snapshot exports, model artefacts, the embedded broker's folders.
DATA_DIR = Path(env("VALUEFLOW_DATA_DIR", default=str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "common",
    "accounts",
    "labeling",
    "modeling",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A database connection lost mid-request answers 503 + Retry-After with a JSON body (common/middleware.py).
    "common.middleware.DatabaseUnavailableMiddleware",
    # A body over DATA_UPLOAD_MAX_MEMORY_SIZE answers 413 with the limit, in the API's error format.
    "common.middleware.RequestTooLargeMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "common.context_processors.navigation",
            ],
            "builtins": ["template_partials.templatetags.partials"],
            "loaders": [
                (
                    "template_partials.loader.Loader",
                    [
                        "django.template.loaders.filesystem.Loader",
                        "django.template.loaders.app_directories.Loader",
                    ],
                )
            ],
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'valueflow.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# ModelBackend with the per-request user lookup as one prepared statement on PostgreSQL (accounts/backends.py).
# Sessions record the backend that logged them in: those of django.contrib.auth's ModelBackend, from before this
# setting, end once and their users log in again.
AUTHENTICATION_BACKENDS = ["accounts.backends.UserBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Largest file a researcher may upload for import (bytes).
VALUEFLOW_MAX_IMPORT_BYTES = env.int("VALUEFLOW_MAX_IMPORT_BYTES", default=200 * 1024 * 1024)

# --- cache ----------------------------------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    # Redis outages degrade to cache misses instead of failing requests (common/cache.py).
    CACHES = {"default": cache_settings(REDIS_URL)}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Sessions are read from Redis and written through to PostgreSQL: the session lookup every authenticated request
# makes costs a cache hit instead of a database round trip (docs/benchmarks.md, "Load"). Without Redis, sessions
# stay in the database: a per-process memory cache would keep a logged-out session alive in the other processes.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db" if REDIS_URL else "django.contrib.sessions.backends.db"

# --- REST API -------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        # basic auth with the log-in form's failed-attempt limit (accounts/ratelimit.py)
        "accounts.authentication.RateLimitedBasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_RATES": {"login": env("VALUEFLOW_LOGIN_RATE", default="20/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ValueFlow API",
    "DESCRIPTION": "Measure and steer human values in text: taxonomy, texts, ranking campaigns, intensities.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Two choice sets are named "kind" (a judgment's, a model backend's): name their schema enums apart.
    "ENUM_NAME_OVERRIDES": {
        "JudgmentKindEnum": "labeling.models.judgments.Judgment.Kind",
        "BackendKindEnum": "modeling.models.steering.ModelBackend.Kind",
    },
    # Swagger UI and ReDoc assets come from drf-spectacular-sidecar: served locally, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery ---------------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=3600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=3900)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "modeling.tasks.fit_*": {"queue": "refit"},
    "modeling.tasks.hives_*": {"queue": "gpu"},
}
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "jobs-reap-stale": {"task": "common.tasks.jobs_reap_stale", "schedule": 60.0},
    "assignments-expire-stale": {"task": "labeling.tasks.assignments_expire_stale", "schedule": 30.0},
    # quality control and crowd sessions (labeling/services/quality.py, adjudication.py, crowd.py); the stopping
    # sweep also runs after every published fit, sent by the modeling side
    "quality-update": {"task": "labeling.tasks.quality_update", "schedule": 120.0},
    "adjudications-refresh": {"task": "labeling.tasks.adjudications_refresh", "schedule": 300.0},
    "crowd-sessions-time-out": {"task": "labeling.tasks.crowd_sessions_time_out", "schedule": 60.0},
    "campaign-items-apply-stopping": {"task": "labeling.tasks.campaign_items_apply_stopping", "schedule": 300.0},
}
# A RUNNING job whose heartbeat is older than this is considered dead and requeued by the reaper (seconds).
VALUEFLOW_JOB_STALE_AFTER_S = env.int("VALUEFLOW_JOB_STALE_AFTER_S", default=300)

# --- modeling -------------------------------------------------------------------------------------------------
MODELING_ARTIFACTS_DIR = Path(env("MODELING_ARTIFACTS_DIR", default=str(DATA_DIR / "artifacts")))
MODELING_DEVICE = env("MODELING_DEVICE", default="cpu")

# --- logging --------------------------------------------------------------------------------------------------
# DJANGO_LOG_FORMAT=json writes one JSON object per line (common/logging.py) for log collectors; plain is for people.
# The audit trail (role changes, exports and downloads, withdrawals, blocked log-ins) is the "valueflow.audit"
# logger; VALUEFLOW_AUDIT_LOG_FILE also appends it, as JSON lines, to a file of its own.
LOG_FORMAT = env("DJANGO_LOG_FORMAT", default="plain")
VALUEFLOW_AUDIT_LOG_FILE = env("VALUEFLOW_AUDIT_LOG_FILE", default="")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "common.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json" if LOG_FORMAT == "json" else "plain"}
    },
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "valueflow.audit": {"level": "INFO"}},
}
if VALUEFLOW_AUDIT_LOG_FILE:
    LOGGING["handlers"]["audit_file"] = {
        "class": "logging.FileHandler", "filename": VALUEFLOW_AUDIT_LOG_FILE, "formatter": "json",
    }
    LOGGING["loggers"]["valueflow.audit"]["handlers"] = ["audit_file"]

# --- steering evaluations --------------------------------------------------------------------------------------
# A worker claims a batch of an evaluation's work for this long; after a crash, the resumed run waits at most this
# long for the batch the dead worker held (a batch of 24 judge windows takes well under this).
VALUEFLOW_EVALUATION_BATCH_LEASE_S = env.int("VALUEFLOW_EVALUATION_BATCH_LEASE_S", default=900)

# --- security -------------------------------------------------------------------------------------------------
# Failed log-ins allowed per username and client address within the window before further tries get 429.
VALUEFLOW_LOGIN_MAX_FAILURES = env.int("VALUEFLOW_LOGIN_MAX_FAILURES", default=10)
VALUEFLOW_LOGIN_WINDOW_S = env.int("VALUEFLOW_LOGIN_WINDOW_S", default=900)
# Behind a reverse proxy: the request header holding the client's address (e.g. HTTP_X_REAL_IP); empty: REMOTE_ADDR.
VALUEFLOW_CLIENT_IP_HEADER = env("VALUEFLOW_CLIENT_IP_HEADER", default="")
# /metrics (Prometheus) answers a scraper sending "Authorization: Bearer <token>"; without a token, loopback only.
VALUEFLOW_METRICS_TOKEN = env("VALUEFLOW_METRICS_TOKEN", default="")

# --- demo -----------------------------------------------------------------------------------------------------
# Password given to the demo users that `manage.py setup_demo` (and the run command) creates.
VALUEFLOW_DEMO_PASSWORD = env("VALUEFLOW_DEMO_PASSWORD", default="valueflow-demo")

# --- live refit -----------------------------------------------------------------------------------------------
# A value is refit at once when this many judgments arrived since its published fit, otherwise this many seconds
# after the first new one (a burst of judgments then costs one refit).
VALUEFLOW_REFIT_AFTER_JUDGMENTS = env.int("VALUEFLOW_REFIT_AFTER_JUDGMENTS", default=20)
VALUEFLOW_REFIT_AFTER_SECONDS = env.float("VALUEFLOW_REFIT_AFTER_SECONDS", default=10.0)
# The safety net: every 30 s, refit each value whose published fit misses judgments (e.g. its worker died).
CELERY_BEAT_SCHEDULE["refits-catch-up"] = {"task": "modeling.tasks.refits_catch_up", "schedule": 30.0}

# --- HiVES ----------------------------------------------------------------------------------------------------
# True where a Celery worker listens on the "gpu" queue: HiVES training and embedding jobs go there, else "default".
VALUEFLOW_GPU_WORKER = env.bool("VALUEFLOW_GPU_WORKER", default=False)
# The encoder HiVES fine-tunes: "all-MiniLM-L6-v2" (the packaged default), a local model folder, or a model name
# already in the local Hugging Face cache (e.g. Qwen/Qwen3-Embedding-0.6B with VALUEFLOW_HIVES_POOLING=last_token).
VALUEFLOW_HIVES_BASE_MODEL = env("VALUEFLOW_HIVES_BASE_MODEL", default="all-MiniLM-L6-v2")
VALUEFLOW_HIVES_POOLING = env("VALUEFLOW_HIVES_POOLING", default="auto")  # auto: last_token for decoders
VALUEFLOW_HIVES_MAX_LENGTH = env.int("VALUEFLOW_HIVES_MAX_LENGTH", default=256)
# A new version replaces the one in use only if it beats it on this held-out metric: rank_acc, sim_corr, orthogonality.
VALUEFLOW_HIVES_PRIMARY_METRIC = env("VALUEFLOW_HIVES_PRIMARY_METRIC", default="rank_acc")
# Retrain automatically once this many labelled pool items arrived since the newest training run.
VALUEFLOW_HIVES_RETRAIN_AFTER = env.int("VALUEFLOW_HIVES_RETRAIN_AFTER", default=500)
CELERY_BEAT_SCHEDULE["hives-retrain-check"] = {"task": "modeling.tasks.check_hives_retrain", "schedule": 600.0}

# --- steering evaluations -------------------------------------------------------------------------------------
# Human-judged evaluations are scored as their probe campaigns' judgments arrive.
CELERY_BEAT_SCHEDULE["evaluations-collect-human"] = {
    "task": "modeling.tasks.evaluations_collect_human",
    "schedule": 60.0,
}
