-- The flask-pdfqueue SQL schema for sqlite, at revision 0008.
--
-- Generated from the Alembic migrations in flask_pdfqueue/records/migrations by `make sql`
-- (`flask pdfqueue db sql --dialect sqlite` prints the same); do not edit.
-- Applied to an empty database it gives the schema at head, including the
-- alembic_version row, so `flask pdfqueue db upgrade` carries on from there.
-- A database that already has the tables is migrated with `flask pdfqueue db upgrade`.
-- Timestamps are UTC text; SQLite's CURRENT_TIMESTAMP is UTC too.

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
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
    completed_at DATETIME, 
    retry_count INTEGER DEFAULT '0' NOT NULL, 
    priority VARCHAR(8) DEFAULT 'normal' NOT NULL, 
    stage VARCHAR(16) DEFAULT 'queued' NOT NULL, 
    started_at DATETIME, 
    updated_at DATETIME, 
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

INSERT INTO alembic_version (version_num) VALUES ('0001') RETURNING version_num;

-- Running upgrade 0001 -> 0002

CREATE TABLE pdf_job_subscribers (
    id INTEGER NOT NULL, 
    job_id VARCHAR(255) NOT NULL, 
    callback_url TEXT, 
    failure_callback_url TEXT, 
    metadata_json TEXT, 
    created_at DATETIME NOT NULL, 
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
    next_attempt_at DATETIME, 
    claimed_at DATETIME, 
    claim_token VARCHAR(64), 
    last_status INTEGER, 
    last_error TEXT, 
    delivered_at DATETIME, 
    created_at DATETIME NOT NULL, 
    updated_at DATETIME NOT NULL, 
    PRIMARY KEY (webhook_id), 
    CONSTRAINT ck_pdf_webhook_deliveries_state CHECK (state IN ('pending', 'sending', 'delivered', 'failed')), 
    CONSTRAINT fk_pdf_webhook_deliveries_job_id_pdf_job_results FOREIGN KEY(job_id) REFERENCES pdf_job_results (job_id), 
    CONSTRAINT fk_pdf_webhook_deliveries_subscriber_id_pdf_job_subscribers FOREIGN KEY(subscriber_id) REFERENCES pdf_job_subscribers (id)
);

CREATE INDEX idx_deliveries_job ON pdf_webhook_deliveries (job_id);

CREATE UNIQUE INDEX idx_deliveries_subscriber ON pdf_webhook_deliveries (subscriber_id);

CREATE INDEX idx_deliveries_due ON pdf_webhook_deliveries (state, next_attempt_at);

CREATE TABLE pdf_webhook_attempts (
    id INTEGER NOT NULL, 
    webhook_id VARCHAR(255) NOT NULL, 
    attempted_at DATETIME NOT NULL, 
    duration_ms INTEGER NOT NULL, 
    http_status INTEGER, 
    error TEXT, 
    PRIMARY KEY (id), 
    CONSTRAINT fk_pdf_webhook_attempts_webhook_id_pdf_webhook_deliveries FOREIGN KEY(webhook_id) REFERENCES pdf_webhook_deliveries (webhook_id)
);

CREATE INDEX idx_attempts_webhook ON pdf_webhook_attempts (webhook_id);

CREATE TABLE _alembic_tmp_pdf_job_results (
    job_id VARCHAR(255) NOT NULL, 
    code VARCHAR(255) NOT NULL, 
    product_id VARCHAR(255) NOT NULL, 
    google_drive_link TEXT, 
    status VARCHAR(16) DEFAULT 'queued' NOT NULL, 
    error_message TEXT, 
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
    completed_at DATETIME, 
    retry_count INTEGER DEFAULT '0' NOT NULL, 
    priority VARCHAR(8) DEFAULT 'normal' NOT NULL, 
    stage VARCHAR(16) DEFAULT 'queued' NOT NULL, 
    started_at DATETIME, 
    updated_at DATETIME, 
    error_code VARCHAR(64), 
    pdf_url TEXT, 
    storage_key TEXT, 
    rq_job_id VARCHAR(255), 
    enqueued_at DATETIME, 
    mirror_pending BOOLEAN DEFAULT '0' NOT NULL, 
    PRIMARY KEY (job_id), 
    CONSTRAINT ck_pdf_job_results_status CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'cancelled'))
);

INSERT INTO _alembic_tmp_pdf_job_results (job_id, code, product_id, google_drive_link, status, error_message, created_at, completed_at, retry_count, priority, stage, started_at, updated_at, error_code, pdf_url, storage_key) SELECT pdf_job_results.job_id, pdf_job_results.code, pdf_job_results.product_id, pdf_job_results.google_drive_link, pdf_job_results.status, pdf_job_results.error_message, pdf_job_results.created_at, pdf_job_results.completed_at, pdf_job_results.retry_count, pdf_job_results.priority, pdf_job_results.stage, pdf_job_results.started_at, pdf_job_results.updated_at, pdf_job_results.error_code, pdf_job_results.pdf_url, pdf_job_results.storage_key 
FROM pdf_job_results;

DROP TABLE pdf_job_results;

ALTER TABLE _alembic_tmp_pdf_job_results RENAME TO pdf_job_results;

CREATE INDEX idx_code_product ON pdf_job_results (code, product_id);

CREATE INDEX idx_status ON pdf_job_results (status);

CREATE INDEX idx_created_at ON pdf_job_results (created_at);

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
    created_at DATETIME NOT NULL, 
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

CREATE TABLE _pdf_webhook_deliveries_new (
    webhook_id VARCHAR(255) NOT NULL, 
    job_id VARCHAR(255), 
    subscriber_id INTEGER, 
    event VARCHAR(16) NOT NULL, 
    url TEXT NOT NULL, 
    payload TEXT NOT NULL, 
    state VARCHAR(16) DEFAULT 'pending' NOT NULL, 
    attempts INTEGER DEFAULT '0' NOT NULL, 
    round_attempts INTEGER DEFAULT '0' NOT NULL, 
    next_attempt_at DATETIME, 
    claimed_at DATETIME, 
    claim_token VARCHAR(64), 
    last_status INTEGER, 
    last_error TEXT, 
    delivered_at DATETIME, 
    created_at DATETIME NOT NULL, 
    updated_at DATETIME NOT NULL, 
    traceparent VARCHAR(55), 
    PRIMARY KEY (webhook_id), 
    CONSTRAINT ck_pdf_webhook_deliveries_state CHECK (state IN ('pending', 'sending', 'delivered', 'failed')), 
    CONSTRAINT fk_pdf_webhook_deliveries_job_id_pdf_job_results FOREIGN KEY(job_id) REFERENCES pdf_job_results (job_id), 
    CONSTRAINT fk_pdf_webhook_deliveries_subscriber_id_pdf_job_subscribers FOREIGN KEY(subscriber_id) REFERENCES pdf_job_subscribers (id)
);

INSERT INTO _pdf_webhook_deliveries_new (webhook_id, job_id, subscriber_id, event, url, payload, state, attempts, round_attempts, next_attempt_at, claimed_at, claim_token, last_status, last_error, delivered_at, created_at, updated_at, traceparent) SELECT webhook_id, job_id, subscriber_id, event, url, payload, state, attempts, round_attempts, next_attempt_at, claimed_at, claim_token, last_status, last_error, delivered_at, created_at, updated_at, traceparent FROM pdf_webhook_deliveries;

DROP TABLE pdf_webhook_deliveries;

ALTER TABLE _pdf_webhook_deliveries_new RENAME TO pdf_webhook_deliveries;

CREATE INDEX idx_deliveries_job ON pdf_webhook_deliveries (job_id);

CREATE UNIQUE INDEX idx_deliveries_subscriber ON pdf_webhook_deliveries (subscriber_id);

CREATE INDEX idx_deliveries_due ON pdf_webhook_deliveries (state, next_attempt_at);

UPDATE alembic_version SET version_num='0007' WHERE alembic_version.version_num = '0006';

-- Running upgrade 0007 -> 0008

CREATE TABLE pdf_webhook_claims (
    claim_digest VARCHAR(64) NOT NULL, 
    claimed_at DATETIME NOT NULL, 
    PRIMARY KEY (claim_digest)
);

CREATE INDEX idx_webhook_claims_claimed_at ON pdf_webhook_claims (claimed_at);

UPDATE alembic_version SET version_num='0008' WHERE alembic_version.version_num = '0007';

