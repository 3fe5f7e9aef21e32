-- The flask-pdfqueue SQL schema for postgresql, at revision 0008.
--
-- Generated from the Alembic migrations in flask_pdfqueue/records/migrations by `make sql`
-- (`flask pdfqueue db sql --dialect postgresql` prints the same); do not edit.
-- Applied to an empty database it gives the schema at head, including the
-- alembic_version row, so `flask pdfqueue db upgrade` carries on from there.
-- A database that already has the tables is migrated with `flask pdfqueue db upgrade`.
-- Timestamps are TIMESTAMP WITHOUT TIME ZONE holding UTC wall-clock time.

BEGIN;

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
    status VARCHAR(16) DEFAULT 'queued' NOT NULL, 
    error_message TEXT, 
    created_at TIMESTAMP WITHOUT TIME ZONE DEFAULT timezone('utc', now()) NOT NULL, 
    completed_at TIMESTAMP WITHOUT TIME ZONE, 
    retry_count INTEGER DEFAULT '0' NOT NULL, 
    priority VARCHAR(8) DEFAULT 'normal' NOT NULL, 
    stage VARCHAR(16) DEFAULT 'queued' NOT NULL, 
    started_at TIMESTAMP WITHOUT TIME ZONE, 
    updated_at TIMESTAMP WITHOUT TIME ZONE, 
    error_code VARCHAR(64), 
    pdf_url TEXT, 
    storage_key TEXT, 
    callback_url TEXT, 
    failure_callback_url TEXT, 
    metadata_json TEXT, 
    webhook_state VARCHAR(16), 
    webhook_attempts INTEGER DEFAULT '0' NOT NULL, 
    webhook_last_status INTEGER, 
    PRIMARY KEY (job_id), 
    CONSTRAINT ck_pdf_job_results_status CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'cancelled'))
);

CREATE INDEX idx_code_product ON pdf_job_results (code, product_id);

CREATE INDEX idx_status ON pdf_job_results (status);

CREATE INDEX idx_created_at ON pdf_job_results (created_at);

INSERT INTO alembic_version (version_num) VALUES ('0001') RETURNING alembic_version.version_num;

-- Running upgrade 0001 -> 0002

CREATE TABLE pdf_job_subscribers (
    id SERIAL NOT NULL, 
    job_id VARCHAR(255) NOT NULL, 
    callback_url TEXT, 
    failure_callback_url TEXT, 
    metadata_json TEXT, 
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
    PRIMARY KEY (id), 
    CONSTRAINT fk_pdf_job_subscribers_job_id_pdf_job_results FOREIGN KEY(job_id) REFERENCES pdf_job_results (job_id)
);

CREATE INDEX idx_subscribers_job ON pdf_job_subscribers (job_id);

CREATE TABLE pdf_webhook_deliveries (
    webhook_id VARCHAR(255) NOT NULL, 
    job_id VARCHAR(255) NOT NULL, 
    subscriber_id INTEGER NOT NULL, 
    event VARCHAR(16) NOT NULL, 
    url TEXT NOT NULL, 
    payload TEXT NOT NULL, 
    state VARCHAR(16) DEFAULT 'pending' NOT NULL, 
    attempts INTEGER DEFAULT '0' NOT NULL, 
    round_attempts INTEGER DEFAULT '0' NOT NULL, 
    next_attempt_at TIMESTAMP WITHOUT TIME ZONE, 
    claimed_at TIMESTAMP WITHOUT TIME ZONE, 
    claim_token VARCHAR(64), 
    last_status INTEGER, 
    last_error TEXT, 
    delivered_at TIMESTAMP WITHOUT TIME ZONE, 
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
    updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
    PRIMARY KEY (webhook_id), 
    CONSTRAINT ck_pdf_webhook_deliveries_state CHECK (state IN ('pending', 'sending', 'delivered', 'failed')), 
    CONSTRAINT fk_pdf_webhook_deliveries_job_id_pdf_job_results FOREIGN KEY(job_id) REFERENCES pdf_job_results (job_id), 
    CONSTRAINT fk_pdf_webhook_deliveries_subscriber_id_pdf_job_subscribers FOREIGN KEY(subscriber_id) REFERENCES pdf_job_subscribers (id)
);

CREATE INDEX idx_deliveries_job ON pdf_webhook_deliveries (job_id);

CREATE UNIQUE INDEX idx_deliveries_subscriber ON pdf_webhook_deliveries (subscriber_id);

CREATE INDEX idx_deliveries_due ON pdf_webhook_deliveries (state, next_attempt_at);

CREATE TABLE pdf_webhook_attempts (
    id SERIAL NOT NULL, 
    webhook_id VARCHAR(255) NOT NULL, 
    attempted_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
    duration_ms INTEGER NOT NULL, 
    http_status INTEGER, 
    error TEXT, 
    PRIMARY KEY (id), 
    CONSTRAINT fk_pdf_webhook_attempts_webhook_id_pdf_webhook_deliveries FOREIGN KEY(webhook_id) REFERENCES pdf_webhook_deliveries (webhook_id)
);

CREATE INDEX idx_attempts_webhook ON pdf_webhook_attempts (webhook_id);

ALTER TABLE pdf_job_results DROP COLUMN callback_url;

ALTER TABLE pdf_job_results DROP COLUMN failure_callback_url;

ALTER TABLE pdf_job_results DROP COLUMN metadata_json;

ALTER TABLE pdf_job_results DROP COLUMN webhook_state;

ALTER TABLE pdf_job_results DROP COLUMN webhook_attempts;

ALTER TABLE pdf_job_results DROP COLUMN webhook_last_status;

ALTER TABLE pdf_job_results ADD COLUMN rq_job_id VARCHAR(255);

ALTER TABLE pdf_job_results ADD COLUMN enqueued_at TIMESTAMP WITHOUT TIME ZONE;

ALTER TABLE pdf_job_results ADD COLUMN mirror_pending BOOLEAN DEFAULT '0' NOT NULL;

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
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
    PRIMARY KEY (client, idempotency_key)
);

CREATE INDEX idx_idempotency_created_at ON pdf_idempotency_keys (created_at);

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';

-- Running upgrade 0003 -> 0004

CREATE INDEX idx_status_priority_started ON pdf_job_results (status, priority, started_at);

CREATE INDEX idx_status_completed_started ON pdf_job_results (status, completed_at, started_at);

UPDATE alembic_version SET version_num='0004' WHERE alembic_version.version_num = '0003';

-- Running upgrade 0004 -> 0005

ALTER TABLE pdf_job_results ADD COLUMN traceparent VARCHAR(55);

ALTER TABLE pdf_job_results ADD COLUMN render_warnings TEXT;

ALTER TABLE pdf_job_subscribers ADD COLUMN deliver VARCHAR(8) DEFAULT 'link' NOT NULL;

ALTER TABLE pdf_job_subscribers ADD COLUMN traceparent VARCHAR(55);

ALTER TABLE pdf_webhook_deliveries ADD COLUMN traceparent VARCHAR(55);

UPDATE alembic_version SET version_num='0005' WHERE alembic_version.version_num = '0004';

-- Running upgrade 0005 -> 0006

ALTER TABLE pdf_job_subscribers ADD COLUMN request_ref VARCHAR(80);

CREATE INDEX idx_subscribers_request_ref ON pdf_job_subscribers (request_ref);

UPDATE alembic_version SET version_num='0006' WHERE alembic_version.version_num = '0005';

-- Running upgrade 0006 -> 0007

ALTER TABLE pdf_webhook_deliveries ALTER COLUMN job_id DROP NOT NULL;

ALTER TABLE pdf_webhook_deliveries ALTER COLUMN subscriber_id DROP NOT NULL;

UPDATE alembic_version SET version_num='0007' WHERE alembic_version.version_num = '0006';

-- Running upgrade 0007 -> 0008

CREATE TABLE pdf_webhook_claims (
    claim_digest VARCHAR(64) NOT NULL, 
    claimed_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
    PRIMARY KEY (claim_digest)
);

CREATE INDEX idx_webhook_claims_claimed_at ON pdf_webhook_claims (claimed_at);

UPDATE alembic_version SET version_num='0008' WHERE alembic_version.version_num = '0007';

COMMIT;

