"""The settings: one field per ``PDFQUEUE_*`` key, their defaults and their checks."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any, get_type_hints

from limits import parse_many

from ..reports.choice import parse_template_choice
from ..reports.pack import BUILTIN_PACKS, DEFAULT_PACK, PACK_NAME
from .values import convert

PREFIX = "PDFQUEUE_"
PROFILES = ("development", "staging", "production")
PRIORITIES = ("high", "normal", "low")
STORAGE_BACKENDS = ("local", "drive")
DRIVE_AUTH_MODES = ("service_account", "delegated", "oauth_user")
DRIVE_SCOPES = ("drive.file", "drive")
DRIVE_CHUNK_UNIT = 256 * 1024  # Drive takes resumable chunks in multiples of 256 KiB
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
SYNC_TIMEOUT_MAX = 60
#: The shape of WeasyPrint's pdf_variant names (the renderer checks the name against
#: WeasyPrint itself when it loads; the web process never imports WeasyPrint).
_PDF_VARIANT = re.compile(r"pdf/(a-[1-4][abefu]|ua-[12]|x-(1a|3|4|5g))")
_DOTTED_FACTORY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


class ConfigError(ValueError):
    """A ``PDFQUEUE_*`` setting is missing or invalid; the message says how to fix it."""


@dataclass(frozen=True)
class Settings:
    """Typed view of every ``PDFQUEUE_*`` key (the README lists them with their meaning)."""

    profile: str = "development"
    redis_url: str = "redis://127.0.0.1:6390/0"
    mongo_url: str = "mongodb://127.0.0.1:27890/?directConnection=true"
    mongo_db: str = "workflow"
    mongo_collection: str = "psikotes_v2"
    mongo_code_field: str = "code"
    mongo_product_field: str = "product_id"
    sql_url: str = ""  # empty: SQLite file in the app's instance folder
    api_keys: tuple[str, ...] = ()  # empty: generated into <instance>/api-key (not in production)
    webhook_secret: str = ""  # empty: generated into <instance>/webhook-secret (not in production)
    callback_allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
    default_callback: str = ""
    retry_attempts: int = 3
    retry_intervals: tuple[int, ...] = (10, 60, 300)
    job_timeout: int = 300
    max_queue_size: int = 100
    workers: int = 2
    worker_fork: bool = False  # true: a forked work horse per run, as RQ's default worker
    worker_max_jobs: int = 200  # the job process is replaced after this many jobs
    worker_max_rss_mb: int = 300  # ... or once its resident memory passes this (0: never)
    result_ttl: int = 3600
    failure_ttl: int = 7 * 24 * 3600
    storage: str = "local"
    storage_dir: str = ""  # empty: <instance>/pdfs
    drive_auth: str = "service_account"
    drive_credentials: str = field(default="", repr=False)  # a path, or the JSON itself
    drive_subject: str = ""
    drive_folder_id: str = ""
    drive_share: str = "none"
    drive_scope: str = "drive.file"
    drive_root_url: str = ""  # empty: Google's
    drive_timeout: float = 30.0
    drive_retries: int = 5
    drive_chunk_size: int = 20 * DRIVE_CHUNK_UNIT  # 5 MiB
    public_url: str = ""  # empty: http://127.0.0.1:8000 (required in production)
    webhook_timeout: float = 30.0
    webhook_connect_timeout: float = 5.0
    webhook_retry_schedule: tuple[int, ...] = (5, 30, 120, 600, 1800, 3600, 10800, 21600)
    delivery_workers: int = 1
    reconcile_interval: int = 60
    outage_grace: int = 900  # seconds a job waits for a dead MongoDB, SQL or storage
    batch_max: int = 100
    sync_timeout: int = 55
    rate_limit: str = "1200/minute"
    pdf_variant: str = ""  # empty: a plain PDF
    inline_pdf_max_bytes: int = 10 * 1024 * 1024  # below n8n's 16 MiB request limit
    preview: bool = False  # on anyway outside production
    dashboard_username: str = "admin"
    dashboard_password: str = ""  # empty: generated into <instance>/dashboard-password
    report_packs: tuple[tuple[str, str], ...] = ()  # name=folder or module, beside the built-in
    default_pack: str = DEFAULT_PACK
    template_map: tuple[tuple[str, str], ...] = ()
    template_folder: str = ""  # searched before the default pack's own templates
    default_template: str = ""  # empty: the default pack's own
    context_builder: str = ""  # empty: the default pack's own
    max_body_bytes: int = 64 * 1024
    health_public: bool = True
    initial_job_seconds: float = 5.0
    alert_queue_length: int = 100
    alert_failure_rate: float = 0.05
    alert_avg_seconds: float = 300.0
    alert_outage_seconds: int = 60
    alert_webhook: str = ""
    metrics_public: bool = False
    metrics: bool = False  # mount /metrics (the stand-alone service does)
    dashboard: bool = False  # mount rq-dashboard at /rq (the stand-alone service does)
    instance_path: str = field(default="", metadata={"internal": True})

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, instance_path: str) -> Settings:
        """Build settings from the ``PDFQUEUE_*`` keys of ``config`` (``app.config``).

        Values may be typed (``PDFQUEUE_WORKERS = 4``, a list of API keys) or strings
        as the environment gives them (``"4"``, ``"k1,k2"``); a missing key keeps its
        default. The environment is not read here: that is the app's choice.
        """
        hints = get_type_hints(cls)
        values: dict[str, Any] = {"instance_path": instance_path}
        for f in fields(cls):
            if f.metadata.get("internal"):
                continue
            key = PREFIX + f.name.upper()
            if key not in config:
                continue
            raw: Any = config[key]
            try:
                values[f.name] = convert(hints[f.name], raw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{key}={raw!r} is not valid: {exc}") from exc
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse combinations that would fail later, with the fix in the message."""
        if self.profile not in PROFILES:
            raise ConfigError(f"PDFQUEUE_PROFILE must be one of {', '.join(PROFILES)}")
        if self.storage not in STORAGE_BACKENDS and not _DOTTED_FACTORY.fullmatch(self.storage):
            raise ConfigError(
                f"PDFQUEUE_STORAGE must be one of {', '.join(STORAGE_BACKENDS)}, "
                "or package.module:factory for a backend of your own"
            )
        _validate_drive(self)
        if self.retry_attempts < 0:
            raise ConfigError("PDFQUEUE_RETRY_ATTEMPTS must be 0 or more")
        if self.retry_attempts and len(self.retry_intervals) != self.retry_attempts:
            raise ConfigError(
                f"PDFQUEUE_RETRY_INTERVALS has {len(self.retry_intervals)} values but "
                f"PDFQUEUE_RETRY_ATTEMPTS is {self.retry_attempts}: give one interval per retry"
            )
        if any(i < 0 for i in self.retry_intervals):
            raise ConfigError("PDFQUEUE_RETRY_INTERVALS must not be negative")
        positive = ("job_timeout", "max_queue_size", "workers", "result_ttl", "failure_ttl")
        for name in (
            *positive,
            "delivery_workers",
            "reconcile_interval",
            "batch_max",
            "outage_grace",
            "alert_outage_seconds",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{PREFIX}{name.upper()} must be positive")
        if self.webhook_timeout <= 0 or self.webhook_connect_timeout <= 0:
            raise ConfigError(
                "PDFQUEUE_WEBHOOK_TIMEOUT and PDFQUEUE_WEBHOOK_CONNECT_TIMEOUT must be positive"
            )
        if self.pdf_variant and not _PDF_VARIANT.fullmatch(self.pdf_variant):
            raise ConfigError(
                "PDFQUEUE_PDF_VARIANT must be a WeasyPrint pdf_variant such as pdf/a-3b or pdf/ua-1"
            )
        _validate_packs(self)
        if self.inline_pdf_max_bytes < 0:
            raise ConfigError("PDFQUEUE_INLINE_PDF_MAX_BYTES must be 0 or more (bytes)")
        if not 0 < self.sync_timeout <= SYNC_TIMEOUT_MAX:
            raise ConfigError(
                f"PDFQUEUE_SYNC_TIMEOUT must be 1 to {SYNC_TIMEOUT_MAX} seconds: clients and "
                "proxies give up on a request after a minute"
            )
        if self.alert_queue_length < 0 or self.alert_avg_seconds <= 0:
            raise ConfigError(
                "PDFQUEUE_ALERT_QUEUE_LENGTH must be 0 or more and PDFQUEUE_ALERT_AVG_SECONDS "
                "positive"
            )
        if not 0 <= self.alert_failure_rate < 1:
            raise ConfigError("PDFQUEUE_ALERT_FAILURE_RATE is a fraction from 0 to below 1")
        if any(wait < 0 for wait in self.webhook_retry_schedule):
            raise ConfigError("PDFQUEUE_WEBHOOK_RETRY_SCHEDULE must not be negative")
        try:  # Flask-Limiter would skip a limit it cannot parse, silently, on every request
            parse_many(self.rate_limit)
        except ValueError:
            raise ConfigError(
                "PDFQUEUE_RATE_LIMIT must be in Flask-Limiter's syntax, such as 1200/minute "
                "or 20/second;1200/minute"
            ) from None
        if self.profile == "production":
            missing = [
                PREFIX + name.upper()
                for name in ("api_keys", "webhook_secret", "public_url", "dashboard_password")
                if not getattr(self, name)
            ]
            if self.callback_allowed_hosts == Settings.callback_allowed_hosts:
                missing.append("PDFQUEUE_CALLBACK_ALLOWED_HOSTS (the hosts of your n8n)")
            if missing:
                raise ConfigError(
                    "the production profile refuses to start without " + ", ".join(missing)
                )
        for secret in self.webhook_secrets:
            try:
                if not secret.startswith("whsec_"):
                    raise ValueError
                base64.b64decode(secret.removeprefix("whsec_"), validate=True)
            except ValueError:
                raise ConfigError(
                    "PDFQUEUE_WEBHOOK_SECRET must look like whsec_<base64> (during a rotation, "
                    "the new secret and the old one, separated by a space)"
                ) from None

    @property
    def webhook_secrets(self) -> tuple[str, ...]:
        """The secrets webhooks are signed with: one, or during a rotation the new one and
        the old one (``PDFQUEUE_WEBHOOK_SECRET="whsec_new whsec_old"``)."""
        return tuple(self.webhook_secret.replace(",", " ").split())

    @property
    def preview_enabled(self) -> bool:
        """``/reports/preview`` answers: outside production, or when switched on."""
        return self.preview or self.profile != "production"

    @property
    def base_url(self) -> str:
        """Where the service is reached from outside: the base of status and PDF URLs."""
        return (self.public_url or DEFAULT_PUBLIC_URL).rstrip("/")

    @property
    def delivery_job_timeout(self) -> int:
        """An attempt's RQ time limit: the POST's own timeouts, plus time to record it."""
        return int(self.webhook_connect_timeout + self.webhook_timeout) + 30

    @property
    def webhook_lease(self) -> timedelta:
        """How long a delivery claim holds: longer than any live attempt can take."""
        return timedelta(seconds=self.delivery_job_timeout + 60)

    @property
    def resolved_sql_url(self) -> str:
        """The SQLAlchemy URL, defaulting to a SQLite file in the instance folder."""
        return self.sql_url or f"sqlite:///{Path(self.instance_path) / 'pdfqueue.sqlite3'}"

    @property
    def resolved_storage_dir(self) -> Path:
        """Where local storage keeps PDFs."""
        return Path(self.storage_dir or Path(self.instance_path) / "pdfs")


_DRIVE_SHARE = re.compile(r"anyone|none|domain:[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_HTTP_URL = re.compile(r"https?://[^/\s?#]+(/[^\s?#]*)?")


def _validate_packs(settings: Settings) -> None:
    """Pack names, the default pack, and the template map's ``product=pack`` or
    ``product=template.html`` entries, each with an optional PDF variant after a space.
    The packs themselves are loaded with the renderer (workers, previews)."""
    for name, _location in settings.report_packs:
        if not PACK_NAME.fullmatch(name):
            raise ConfigError(
                f"PDFQUEUE_REPORT_PACKS: {name!r} is not a pack name (letters, digits, - and _)"
            )
    known = sorted({*BUILTIN_PACKS, *(name for name, _ in settings.report_packs)})
    if settings.default_pack not in known:
        raise ConfigError(
            f"PDFQUEUE_DEFAULT_PACK={settings.default_pack!r} is not a report pack: "
            f"{', '.join(known)}"
        )
    for product, text in settings.template_map:
        try:
            choice = parse_template_choice(text)
        except ValueError as exc:
            raise ConfigError(f"PDFQUEUE_TEMPLATE_MAP: product {product!r}: {exc}") from None
        if choice.pack is not None and choice.pack not in known:
            raise ConfigError(
                f"PDFQUEUE_TEMPLATE_MAP: product {product!r} names report pack {choice.pack!r}; "
                f"add it to PDFQUEUE_REPORT_PACKS (known: {', '.join(known)})"
            )
        if choice.pdf_variant and not _PDF_VARIANT.fullmatch(choice.pdf_variant):
            raise ConfigError(
                f"PDFQUEUE_TEMPLATE_MAP: product {product!r} names {choice.pdf_variant!r}, "
                "not a WeasyPrint pdf_variant such as pdf/a-3b or pdf/ua-1"
            )


def _validate_drive(settings: Settings) -> None:
    """The ``PDFQUEUE_DRIVE_*`` keys: their form always, what Drive needs when it is used.
    (The credentials themselves are read and checked by the Drive backend at start.)"""
    if settings.drive_auth not in DRIVE_AUTH_MODES:
        raise ConfigError(f"PDFQUEUE_DRIVE_AUTH must be one of {', '.join(DRIVE_AUTH_MODES)}")
    if not _DRIVE_SHARE.fullmatch(settings.drive_share):
        raise ConfigError(
            "PDFQUEUE_DRIVE_SHARE must be anyone (anyone with the link may read), "
            "domain:<your domain> (e.g. domain:example.com) or none"
        )
    if settings.drive_scope not in DRIVE_SCOPES:
        raise ConfigError(f"PDFQUEUE_DRIVE_SCOPE must be one of {', '.join(DRIVE_SCOPES)}")
    if settings.drive_root_url and not _HTTP_URL.fullmatch(settings.drive_root_url):
        raise ConfigError(
            "PDFQUEUE_DRIVE_ROOT_URL must be an http(s) URL such as https://www.googleapis.com/"
        )
    if settings.drive_timeout <= 0:
        raise ConfigError("PDFQUEUE_DRIVE_TIMEOUT must be positive (seconds)")
    if settings.drive_retries < 0:
        raise ConfigError("PDFQUEUE_DRIVE_RETRIES must be 0 or more")
    if settings.drive_chunk_size <= 0 or settings.drive_chunk_size % DRIVE_CHUNK_UNIT:
        raise ConfigError(
            f"PDFQUEUE_DRIVE_CHUNK_SIZE must be a multiple of {DRIVE_CHUNK_UNIT} bytes (256 KiB)"
        )
    if settings.storage != "drive":
        return
    folder = settings.drive_folder_id.strip()
    if not folder:
        raise ConfigError(
            "PDFQUEUE_DRIVE_FOLDER_ID is required with PDFQUEUE_STORAGE=drive: the id at the "
            "end of the folder's address, drive.google.com/drive/folders/<id>"
        )
    if not re.fullmatch(r"[A-Za-z0-9_-]+", folder):
        found = re.search(r"/folders/([A-Za-z0-9_-]+)", folder)
        hint = f": use {found.group(1)}" if found else ""
        raise ConfigError(
            "PDFQUEUE_DRIVE_FOLDER_ID must be the folder's id, the part after /folders/ in "
            f"its address{hint}"
        )
    if not settings.drive_credentials.strip():
        raise ConfigError(
            "PDFQUEUE_DRIVE_CREDENTIALS is required with PDFQUEUE_STORAGE=drive: the path of "
            "(or the JSON in) a service-account key, or the file `flask pdfqueue drive-login` "
            "writes"
        )
    if settings.drive_auth == "delegated":
        if "@" not in settings.drive_subject:
            raise ConfigError(
                "PDFQUEUE_DRIVE_SUBJECT must be set with PDFQUEUE_DRIVE_AUTH=delegated: the "
                "email of the Workspace user the service account acts as"
            )
    elif settings.drive_subject:
        raise ConfigError(
            "PDFQUEUE_DRIVE_SUBJECT is only used with PDFQUEUE_DRIVE_AUTH=delegated: set that "
            "too, or remove PDFQUEUE_DRIVE_SUBJECT"
        )


def set_defaults(config: MutableMapping[str, Any]) -> None:
    """Give every ``PDFQUEUE_*`` key ``config`` lacks its default (``config.setdefault``),
    so ``app.config`` shows every setting in effect."""
    for f in fields(Settings):
        if not f.metadata.get("internal"):
            config.setdefault(PREFIX + f.name.upper(), f.default)


def from_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``PDFQUEUE_*`` variables of ``environ``, unchanged, for ``app.config.update``.

    Plain strings on purpose, not ``app.config.from_prefixed_env``: that drops the
    prefix and parses each value as JSON, so an API key of digits would become a number
    and ``PDFQUEUE_RETRY_INTERVALS=10`` an int where a list is expected. :class:`Settings`
    converts the strings.
    """
    return {key: value for key, value in environ.items() if key.startswith(PREFIX)}
