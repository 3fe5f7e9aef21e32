-- The flask-pdfqueue SQL schema for mysql, at revision 0008.
--
-- Generated from the Alembic migrations in flask_pdfqueue/records/migrations by `make sql`
-- (`flask pdfqueue db sql --dialect mysql` prints the same); do not edit.
-- Applied to an empty database it gives the schema at head, including the
-- alembic_version row, so `flask pdfqueue db upgrade` carries on from there.
-- A database that already has the tables is migrated with `flask pdfqueue db upgrade`.
-- For MariaDB 10.2 or newer and MySQL 8.0.16 or newer (CHECK constraints;
-- expression defaults need 8.0.13). Timestamps are DATETIME(6) holding UTC.

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001

CREATE TABLE pdf_job_results (
    job_id VARCHAR(255) NOT NULL, 
    code VARCHAR(255) NOT NULL, 
    product_id VARCHAR(255) NOT NULL, 
    google_drive_link TEXT, 
    status VARCHAR(16) NOT NULL DEFAULT 'queued', 
    error_message TEXT, 
    created_at DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)), 
    completed_at DATETIME(6), 
    retry_count INTEGER NOT NULL DEFAULT '0', 
    priority VARCHAR(8) NOT NULL DEFAULT 'normal', 
    stage VARCHAR(16) NOT NULL DEFAULT 'queued', 
    started_at DATETIME(6), 
    updated_at DATETIME(6), 
    error_code VARCHAR(64), 
    pdf_url TEXT, 
    storage_key TEXT, 
    callback_url TEXT, 
    failure_callback_url TEXT, 
    metadata_json TEXT, 
    webhook_state VARCHAR(16), 
    webhook_attempts INTEGER NOT NULL DEFAULT '0', 
    webhook_last_status INTEGER, 
    PRIMARY KEY (job_id), 
    CONSTRAINT ck_pdf_job_results_status CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'cancelled'))
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE INDEX idx_code_product ON pdf_job_results (code, product_id);

CREATE INDEX idx_status ON pdf_job_results (status);

CREATE INDEX idx_created_at ON pdf_job_results (created_at);

INSERT INTO alembic_version (version_num) VALUES ('0001');

-- Running upgrade 0001 -> 0002

CREATE TABLE pdf_job_subscribers (
    id INTEGER NOT NULL AUTO_INCREMENT, 
    job_id VARCHAR(255) NOT NULL, 
    callback_url TEXT, 
    failure_callback_url TEXT, 
    metadata_json TEXT, 
    created_at DATETIME(6) NOT NULL, 
    PRIMARY KEY (id), 
    CONSTRAINT fk_pdf_job_subscribers_job_id_pdf_job_results FOREIGN KEY(job_id) REFERENCES pdf_job_results (job_id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE INDEX idx_subscribers_job ON pdf_job_subscribers (job_id);

CREATE TABLE pdf_webhook_deliveries (
    webhook_id VARCHAR(255) NOT NULL, 
    job_id VARCHAR(255) NOT NULL, 
    subscriber_id INTEGER NOT NULL, 
    event VARCHAR(16) NOT NULL, 
    url TEXT NOT NULL, 
    payload TEXT NOT NULL, 
    state VARCHAR(16) NOT NULL DEFAULT 'pending', 
    attempts INTEGER NOT NULL DEFAULT '0', 
    round_attempts INTEGER NOT NULL DEFAULT '0', 
    next_attempt_at DATETIME(6), 
    claimed_at DATETIME(6), 
    claim_token VARCHAR(64), 
    last_status INTEGER, 
    last_error TEXT, 
    delivered_at DATETIME(6), 
    created_at DATETIME(6) NOT NULL, 
    updated_at DATETIME(6) NOT NULL, 
    PRIMARY KEY (webhook_id), 
    CONSTRAINT ck_pdf_webhook_deliveries_state CHECK (state IN ('pending', 'sending', 'delivered', 'failed')), 
    CONSTRAINT fk_pdf_webhook_deliveries_job_id_pdf_job_results FOREIGN KEY(job_id) REFERENCES pdf_job_results (job_id), 
    CONSTRAINT fk_pdf_webhook_deliveries_subscriber_id_pdf_job_subscribers FOREIGN KEY(subscriber_id) REFERENCES pdf_job_subscribers (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE INDEX idx_deliveries_job ON pdf_webhook_deliveries (job_id);

CREATE UNIQUE INDEX idx_deliveries_subscriber ON pdf_webhook_deliveries (subscriber_id);

CREATE INDEX idx_deliveries_due ON pdf_webhook_deliveries (state, next_attempt_at);

CREATE TABLE pdf_webhook_attempts (
    id INTEGER NOT NULL AUTO_INCREMENT, 
    webhook_id VARCHAR(255) NOT NULL, 
    attempted_at DATETIME(6) NOT NULL, 
    duration_ms INTEGER NOT NULL, 
    http_status INTEGER, 
    error TEXT, 
    PRIMARY KEY (id), 
    CONSTRAINT fk_pdf_webhook_attempts_webhook_id_pdf_webhook_deliveries FOREIGN KEY(webhook_id) REFERENCES pdf_webhook_deliveries (webhook_id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE INDEX idx_attempts_webhook ON pdf_webhook_attempts (webhook_id);

ALTER TABLE pdf_job_results DROP COLUMN callback_url;

ALTER TABLE pdf_job_results DROP COLUMN failure_callback_url;

ALTER TABLE pdf_job_results DROP COLUMN metadata_json;

ALTER TABLE pdf_job_results DROP COLUMN webhook_state;

ALTER TABLE pdf_job_results DROP COLUMN webhook_attempts;

ALTER TABLE pdf_job_results DROP COLUMN webhook_last_status;

ALTER TABLE pdf_job_results ADD COLUMN rq_job_id VARCHAR(255);

ALTER TABLE pdf_job_results ADD COLUMN enqueued_at DATETIME(6);

ALTER TABLE pdf_job_results ADD COLUMN mirror_pending BOOL NOT NULL DEFAULT '0';

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';

-- Running upgrade 0002 -> 0003

ALTER TABLE pdf_job_results ADD COLUMN dedupe_key VARCHAR(64);

CREATE UNIQUE INDEX uq_pdf_job_results_dedupe_key ON pdf_job_results (dedupe_key);

CREATE TABLE pdf_idempotency_keys (
    client VARCHAR(64) NOT NULL, 
    idempotency_key VARCHAR(255) NOT NULL, 
    request_hash VARCHAR(64) NOT NULL, 
    status_code INTEGER, 
    response TEXT, 
    created_at DATETIME(6) NOT NULL, 
    PRIMARY KEY (client, idempotency_key)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE INDEX idx_idempotency_created_at ON pdf_idempotency_keys (created_at);

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';

-- Running upgrade 0003 -> 0004

CREATE INDEX idx_status_priority_started ON pdf_job_results (status, priority, started_at);

CREATE INDEX idx_status_completed_started ON pdf_job_results (status, completed_at, started_at);

UPDATE alembic_version SET version_num='0004' WHERE alembic_version.version_num = '0003';

-- Running upgrade 0004 -> 0005

ALTER TABLE pdf_job_results ADD COLUMN traceparent VARCHAR(55);

ALTER TABLE pdf_job_results ADD COLUMN render_warnings TEXT;

ALTER TABLE pdf_job_subscribers ADD COLUMN deliver VARCHAR(8) NOT NULL DEFAULT 'link';

ALTER TABLE pdf_job_subscribers ADD COLUMN traceparent VARCHAR(55);

ALTER TABLE pdf_webhook_deliveries ADD COLUMN traceparent VARCHAR(55);

ALTER TABLE pdf_webhook_deliveries MODIFY payload LONGTEXT NOT NULL;

UPDATE alembic_version SET version_num='0005' WHERE alembic_version.version_num = '0004';

-- Running upgrade 0005 -> 0006

ALTER TABLE pdf_job_subscribers ADD COLUMN request_ref VARCHAR(80);

CREATE INDEX idx_subscribers_request_ref ON pdf_job_subscribers (request_ref);

UPDATE alembic_version SET version_num='0006' WHERE alembic_version.version_num = '0005';

-- Running upgrade 0006 -> 0007

ALTER TABLE pdf_webhook_deliveries MODIFY job_id VARCHAR(255) NULL;

ALTER TABLE pdf_webhook_deliveries MODIFY subscriber_id INTEGER NULL;

UPDATE alembic_version SET version_num='0007' WHERE alembic_version.version_num = '0006';

-- Running upgrade 0007 -> 0008

CREATE TABLE pdf_webhook_claims (
    claim_digest VARCHAR(64) NOT NULL, 
    claimed_at DATETIME(6) NOT NULL, 
    PRIMARY KEY (claim_digest)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE INDEX idx_webhook_claims_claimed_at ON pdf_webhook_claims (claimed_at);

UPDATE alembic_version SET version_num='0008' WHERE alembic_version.version_num = '0007';

