"""The only settings module: every value comes from the environment, with safe local defaults."""

from datetime import timedelta
from pathlib import Path

import dj_database_url

from portal.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
# A fixed development key only when DEBUG is on; production must set SECRET_KEY (system check E001).
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY and DEBUG:
    SECRET_KEY = "flightdeck-insecure-development-key-change-me"  # noqa: S105 - dev only, checked
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "portal",
    "accounts",
    "catalog",
    "connections",
    "playbooks",
]

MIDDLEWARE = [
    "portal.security.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.security.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.security.LoginRequiredMiddleware",
    "accounts.audit.AuditMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flightdeck"),
        conn_max_age=env_int("FLIGHTDECK_DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

AUTH_USER_MODEL = "accounts.Person"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # no anonymous object permissions: everything needs a login
GUARDIAN_MONKEY_PATCH_USER = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "catalog:item_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Security: production values by default; local `make run` opts out explicitly over plain HTTP.
SECURE_SSL = env_bool("FLIGHTDECK_SECURE_SSL", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_SSL
CSRF_COOKIE_SECURE = SECURE_SSL
SECURE_SSL_REDIRECT = SECURE_SSL
SECURE_HSTS_SECONDS = env_int("FLIGHTDECK_HSTS_SECONDS", 31536000 if SECURE_SSL else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_SSL
SECURE_HSTS_PRELOAD = SECURE_SSL
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /healthz and /readyz are probed over plain HTTP by kubelets inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # htmx sends the token from hx-headers, never reads the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.tokens.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Token scopes (accounts/tokens.py) narrow what a Bearer token may do.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated",
                                   "accounts.tokens.TokenScopePermission"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.errors_api.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Flightdeck API",
    "DESCRIPTION": "Catalog, scrapers, playbooks and connections of the Flightdeck portal.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI from the vendored sidecar package: nothing loads from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# Celery: JSON only, ids only, run state in PostgreSQL (portal/runs.py). Acks late plus
# reject-on-worker-lost, because a child killed by a signal is otherwise acked and forgotten; the
# visibility timeout must be set in the transport options, where Celery reads it.
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("FLIGHTDECK_TASK_SOFT_TIME_LIMIT", 1800)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 300}
CELERY_TASK_DEFAULT_QUEUE = "default"
# One queue per workload, so a long scrape never delays short jobs (dispatch, reaping, health).
CELERY_TASK_ROUTES = {
    "catalog.tasks.scrape": {"queue": "scrape"},
    "playbooks.tasks.run_playbook": {"queue": "playbooks"},
    # Short: it only writes run rows; the runs themselves go to the playbooks queue.
    "playbooks.tasks.dispatch_scheduled": {"queue": "default"},
}
# Runs (portal/runs.py): the heartbeat renews the lease every HEARTBEAT seconds on a thread of
# its own; the reaper runs every REAPER seconds. A dead worker's run is retried or failed within
# LEASE + REAPER seconds.
FLIGHTDECK_RUN_LEASE_SECONDS = env_int("FLIGHTDECK_RUN_LEASE_SECONDS", 30)
FLIGHTDECK_RUN_HEARTBEAT_SECONDS = env_int("FLIGHTDECK_RUN_HEARTBEAT_SECONDS", 10)
FLIGHTDECK_RUN_REAPER_SECONDS = env_int("FLIGHTDECK_RUN_REAPER_SECONDS", 15)
# A queued run nobody claimed for this long lost its message; the reaper sends it again.
FLIGHTDECK_RUN_REDELIVER_AFTER_SECONDS = env_int("FLIGHTDECK_RUN_REDELIVER_AFTER_SECONDS", 300)
# The event dispatcher (portal/outbox.py) LISTENs and also polls this often, as a safety net.
FLIGHTDECK_EVENT_POLL_SECONDS = env_int("FLIGHTDECK_EVENT_POLL_SECONDS", 5)
FLIGHTDECK_EVENT_RETENTION_DAYS = env_int("FLIGHTDECK_EVENT_RETENTION_DAYS", 14)
CELERY_BEAT_SCHEDULE = {
    "prune-events": {"task": "portal.tasks.prune_events", "schedule": 3600.0},
    "dispatch-due-scrapes": {"task": "catalog.tasks.dispatch_due_scrapes", "schedule": 30.0},
    "dispatch-scheduled-playbooks": {"task": "playbooks.tasks.dispatch_scheduled",
                                     "schedule": 30.0},
    "reap-runs": {"task": "portal.tasks.reap_runs",
                  "schedule": float(FLIGHTDECK_RUN_REAPER_SECONDS)},
    # Verdicts that depend on the clock (restart windows, certificate expiry) move on their own.
    "reassess-clock-health": {"task": "catalog.tasks.reassess_clock_health", "schedule": 300.0},
    # Runs nobody approved within their spec's expiresAfter are cancelled (playbooks/approvals.py).
    "expire-approvals": {"task": "playbooks.tasks.expire_approvals", "schedule": 300.0},
}
CELERY_TASK_ALWAYS_EAGER = env_bool("FLIGHTDECK_CELERY_EAGER", False)

# Email (the notification action, later notification channels): SMTP when EMAIL_HOST is set,
# else the console, so a fresh `make run` shows what would have been sent.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"
                        if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "flightdeck@localhost")

# Flightdeck knobs.
FLIGHTDECK_MAX_DOCUMENT_BYTES = env_int("FLIGHTDECK_MAX_DOCUMENT_BYTES", 2 * 1024 * 1024)
FLIGHTDECK_CHANGE_DEDUPE_WINDOW = timedelta(
    seconds=env_int("FLIGHTDECK_CHANGE_DEDUPE_WINDOW_SECONDS", 3600)
)
FLIGHTDECK_DIFF_MAX_BYTES = env_int("FLIGHTDECK_DIFF_MAX_BYTES", 256 * 1024)
FLIGHTDECK_DEMO_DIR = Path(env_str("FLIGHTDECK_DEMO_DIR", str(BASE_DIR / "catalog" / "demo")))
FLIGHTDECK_STATE_DIR = Path(env_str("FLIGHTDECK_STATE_DIR", str(BASE_DIR / ".flightdeck")))
# Fernet keys for connection secrets, newest first (connections/crypto.py); rotation re-encrypts.
FLIGHTDECK_SECRET_KEYS = env_list("FLIGHTDECK_SECRET_KEYS", [])
# Where typed-in secrets go: auto (kubernetes in a pod) | database | kubernetes; kubeconfig
# path of the store cluster, empty = in-cluster service account (connections/secret_store.py).
FLIGHTDECK_SECRET_STORE = env_str("FLIGHTDECK_SECRET_STORE", "auto")
FLIGHTDECK_SECRET_STORE_KUBECONFIG = env_str("FLIGHTDECK_SECRET_STORE_KUBECONFIG", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "portal.logging.JsonFormatter"}},
    # Resolved connection secrets are masked in every record before it is formatted.
    "filters": {"redact": {"()": "connections.redact.RedactingFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json",
                             "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env_str("FLIGHTDECK_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
