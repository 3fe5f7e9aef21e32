-- Frozen copy of sql/mysql.sql as released before migrations: the schema databases in
-- the field have. Test data for tests/test_migrations.py; never edit.
--
-- pdf_job_results for MariaDB (10.2 or newer) and MySQL (8.0.16 or newer; expression
-- defaults need 8.0.13).
--
-- The durable record of every accepted PDF job, written before the job reaches
-- Redis so a job survives a Redis loss. Same meaning as what
-- flask_pdfqueue.records.sql creates with metadata.create_all (checked by
-- tests/test_sql_schema.py against MariaDB). Safe to apply more than once.
--
-- Timestamps are DATETIME(6) holding UTC wall-clock time: a plain DATETIME
-- would drop the microseconds, and the default is UTC_TIMESTAMP(6) because
-- CURRENT_TIMESTAMP is the session's local time.

CREATE TABLE IF NOT EXISTS pdf_job_results (
    -- identity and the report the job renders
    job_id               VARCHAR(255) NOT NULL,
    code                 VARCHAR(255) NOT NULL,
    product_id           VARCHAR(255) NOT NULL,

    -- lifecycle
    status               VARCHAR(16)  NOT NULL DEFAULT 'queued',
    stage                VARCHAR(16)  NOT NULL DEFAULT 'queued',
    priority             VARCHAR(8)   NOT NULL DEFAULT 'normal',
    retry_count          INTEGER      NOT NULL DEFAULT 0,
    created_at           DATETIME(6)  NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    started_at           DATETIME(6),
    updated_at           DATETIME(6),
    completed_at         DATETIME(6),

    -- outcome
    google_drive_link    TEXT,
    pdf_url              TEXT,
    storage_key          TEXT,
    error_message        TEXT,
    error_code           VARCHAR(64),

    -- caller's callbacks and the terminal webhook's delivery
    callback_url         TEXT,
    failure_callback_url TEXT,
    metadata_json        TEXT,
    webhook_state        VARCHAR(16),
    webhook_attempts     INTEGER      NOT NULL DEFAULT 0,
    webhook_last_status  INTEGER,

    PRIMARY KEY (job_id),
    -- Lookups by document, by state (reconciler, queue depth) and by age
    -- (retention). Declared here rather than with CREATE INDEX IF NOT EXISTS,
    -- which MySQL lacks.
    KEY idx_code_product (code, product_id),
    KEY idx_status (status),
    KEY idx_created_at (created_at),
    CONSTRAINT ck_pdf_job_results_status
        CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'cancelled'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

