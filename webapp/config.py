"""Configuration: defaults derived from the project root, overridden by VIGIE_* variables."""

import os
import secrets
import zoneinfo

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Defaults:
    """Default settings; `VIGIE_<NAME>` in the environment overrides `<NAME>`."""

    MODEL_STORE = os.path.join(PROJECT_ROOT, "model_store")
    LOG_DIR = os.path.join(PROJECT_ROOT, "logs")
    INSTANCE_DIR = os.path.join(PROJECT_ROOT, "instance")
    SECRET_KEY = None
    MODEL_SIGNING_KEY = None  # signs model manifests; kept out of the model store
    ADMIN_PASSWORD = None
    HTTPS = False
    LANGUAGES = ("fr", "en")
    BABEL_DEFAULT_LOCALE = "fr"
    TIMEZONE = "Europe/Paris"  # the plant's clock: pages show local times, UTC on hover
    WTF_CSRF_TIME_LIMIT = 8 * 3600  # a form left open during a shift still submits
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    LOG_LEVEL = "INFO"
    STREAM_POLL_INTERVAL = 1.0  # seconds between two looks at a followed file
    ALARM_K, ALARM_N, ALARM_M = 5, 10, 30  # alarm opens at K anomalous of N, closes at M normal
    API_MAX_READINGS = 10_000  # readings in one POST /api/v1/predict
    API_MAX_BODY = 16 * 1024 * 1024  # bytes of one API request body
    MAX_CONTENT_LENGTH = 200 * 1024 * 1024  # largest request body: a /batch upload (413 over)
    BATCH_CHUNK_ROWS = 20_000  # rows read, scored and audited at once in a batch file
    BATCH_STALE_SECONDS = 120  # a batch or training job silent this long is reported failed
    # Batch uploads and their results; several instances must share it (a volume, like the
    # model store). Unset: LOG_DIR/batches.
    BATCH_DIR = None
    WATCH_POLL_SECONDS = 5.0  # seconds between two looks at a watch folder
    LOGIN_MAX_FAILURES_PER_USER = 5  # failed logins for one user name within the window
    LOGIN_MAX_FAILURES_PER_ADDRESS = 20  # failed logins from one address within the window
    LOGIN_THROTTLE_SECONDS = 300  # the window, and how long a refusal lasts at most
    # Unset: the embedded SQLite file instance/vigie.db and the CSV audit files. Set to
    # postgresql://user:password@host/db: users, keys, throttling and the audit in PostgreSQL.
    DATABASE_URL = None
    DATABASE_OWNER_URL = None  # who runs `db upgrade` (owns the tables); default DATABASE_URL
    TRUSTED_PROXIES = 0  # proxies (nginx) in front whose X-Forwarded-* headers are believed
    TRUSTED_PROXY_ADDRESSES = ""  # where they connect from (addresses, networks); "" = anywhere


def load_secret_key(instance_dir, name="secret_key"):
    """The key kept in instance/<name>, generated once with mode 600 (never in the repository)."""
    path = os.path.join(instance_dir, name)
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker created it first: use theirs
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key)
    return key


def checked_timezone(name):
    """The timezone name, refused at start-up when unknown (rather than on the first page)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"VIGIE_TIMEZONE={name!r} is not a known timezone "
                         "(for example Europe/Paris)") from error
    return name


def make_private(path, mode):
    """Restrict `path` to this account; a folder given by its owner keeps working if we cannot."""
    try:
        os.chmod(path, mode)
    except PermissionError:  # a mounted folder we do not own: its owner decides
        pass


def create_private_file(path):
    """Create `path` empty with mode 600 unless it exists, and set 600 on an existing one."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        make_private(path, 0o600)


def finalise(config):
    """Derive settings that depend on others, and create the runtime folders."""
    for name in ("MODEL_STORE", "LOG_DIR", "INSTANCE_DIR"):
        config[name] = os.path.abspath(str(config[name]))
    # The instance folder holds the secret key, the database and passwords: owner only.
    os.makedirs(config["INSTANCE_DIR"], mode=0o700, exist_ok=True)
    make_private(config["INSTANCE_DIR"], 0o700)
    os.makedirs(config["MODEL_STORE"], exist_ok=True)
    os.makedirs(config["LOG_DIR"], exist_ok=True)
    config["BABEL_DEFAULT_TIMEZONE"] = checked_timezone(config["TIMEZONE"])
    config["AUDIT_DIR"] = os.path.join(config["LOG_DIR"], "audit")
    config["BATCH_DIR"] = os.path.abspath(str(config.get("BATCH_DIR")
                                              or os.path.join(config["LOG_DIR"], "batches")))
    config["DATABASE"] = config.get("DATABASE_URL") or os.path.join(config["INSTANCE_DIR"],
                                                                     "vigie.db")
    if not config.get("DATABASE_URL"):
        create_private_file(config["DATABASE"])  # SQLite would create it world-readable (umask)
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or load_secret_key(
            config["INSTANCE_DIR"])
    if not config.get("MODEL_SIGNING_KEY"):
        config["MODEL_SIGNING_KEY"] = load_secret_key(config["INSTANCE_DIR"], "model_signing_key")
    config["MODEL_SIGNING_KEY"] = str(config["MODEL_SIGNING_KEY"])
    https = str(config.get("HTTPS")).lower() in ("1", "true", "yes")
    config["SESSION_COOKIE_SECURE"] = https
    config["REMEMBER_COOKIE_SECURE"] = https
