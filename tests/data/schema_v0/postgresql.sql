-- Frozen copy of sql/postgresql.sql as released before migrations: the schema databases in
-- the field have. Test data for tests/test_migrations.py; never edit.
--
-- pdf_job_results for PostgreSQL (9.5 or newer).
--
-- The durable record of every accepted PDF job, written before the job reaches
-- Redis so a job survives a Redis loss. Same meaning as what
-- flask_pdfqueue.records.sql creates with metadata.create_all (checked by
-- tests/test_sql_schema.py). Safe to apply more than once.
--
-- Timestamps are TIMESTAMP WITHOUT TIME ZONE holding UTC wall-clock time; the
-- default is timezone('utc', now()) because CURRENT_TIMESTAMP is session-local.

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
    created_at           TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT timezone('utc', now()),
    started_at           TIMESTAMP WITHOUT TIME ZONE,
    updated_at           TIMESTAMP WITHOUT TIME ZONE,
    completed_at         TIMESTAMP WITHOUT TIME ZONE,

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
    CONSTRAINT ck_pdf_job_results_status
        CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'cancelled'))
);

-- Lookups by document, by state (reconciler, queue depth) and by age (retention).
CREATE INDEX IF NOT EXISTS idx_code_product ON pdf_job_results (code, product_id);
CREATE INDEX IF NOT EXISTS idx_status ON pdf_job_results (status);
CREATE INDEX IF NOT EXISTS idx_created_at ON pdf_job_results (created_at);
