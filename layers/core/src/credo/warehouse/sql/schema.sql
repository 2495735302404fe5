-- Warehouse tables (Redshift dialect; DuckDB runs it through sqlglot), one per mined source.
-- Loads MERGE the newest staged row per natural key into them (credo.warehouse.SOURCE_TABLES
-- names the keys). Columns, in order, match the Parquet the miners write under raw/<source>/;
-- no PII column exists here by construction.
-- DISTKEY on the customer token co-locates a customer's rows for the feature joins.

-- registrations: natural key (token, updated_at), so every version a miner saw is kept and the
-- features at a snapshot can use the version that was current then. The source keeps only its
-- current state: versions between two mining runs are never seen, and a customer first mined
-- after a snapshot has only versions from after it (the features then use the earliest one).

CREATE TABLE IF NOT EXISTS registrations (
    token VARCHAR(32) NOT NULL,
    registered_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    age_at_registration INTEGER NOT NULL,
    city_tier INTEGER NOT NULL,
    email_domain_type VARCHAR(16) NOT NULL,
    device VARCHAR(16) NOT NULL,
    phone_verified BOOLEAN NOT NULL,
    is_premium_member BOOLEAN NOT NULL,
    is_auto_billing BOOLEAN NOT NULL,
    is_postpaid BOOLEAN NOT NULL,
    postpaid_opened_at TIMESTAMP,
    postpaid_limit DOUBLE PRECISION NOT NULL
) DISTSTYLE KEY DISTKEY (token) SORTKEY (token, updated_at);

CREATE TABLE IF NOT EXISTS orders (
    order_id VARCHAR(64) NOT NULL,
    token VARCHAR(32) NOT NULL,
    placed_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    category VARCHAR(32) NOT NULL,
    item_count INTEGER NOT NULL,
    amount DOUBLE PRECISION NOT NULL,
    payment_method VARCHAR(16) NOT NULL,
    status VARCHAR(32) NOT NULL,
    delivery_city_tier INTEGER NOT NULL,
    emi_tenure_months INTEGER
) DISTSTYLE KEY DISTKEY (token) SORTKEY (placed_at);

CREATE TABLE IF NOT EXISTS payments (
    bill_id VARCHAR(64) NOT NULL,
    token VARCHAR(32) NOT NULL,
    account_type VARCHAR(16) NOT NULL,
    order_id VARCHAR(64),
    statement_date DATE NOT NULL,
    due_date DATE NOT NULL,
    amount_due DOUBLE PRECISION NOT NULL,
    amount_paid DOUBLE PRECISION NOT NULL,
    paid_at TIMESTAMP,
    days_past_due INTEGER NOT NULL,
    outstanding_balance DOUBLE PRECISION NOT NULL,
    updated_at TIMESTAMP NOT NULL
) DISTSTYLE KEY DISTKEY (token) SORTKEY (due_date);

-- marketing: one row per ad sent (latest state); updated_at = clicked_at when clicked, else sent_at.
CREATE TABLE IF NOT EXISTS ad_events (
    event_id VARCHAR(64) NOT NULL,
    token VARCHAR(32) NOT NULL,
    campaign_id VARCHAR(64) NOT NULL,
    channel VARCHAR(16) NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    clicked_at TIMESTAMP,
    purchased_order_id VARCHAR(64),
    updated_at TIMESTAMP NOT NULL
) DISTSTYLE KEY DISTKEY (token) SORTKEY (sent_at);

-- reference: record-linkage results against purchased registries, natural key
-- (token, registry, updated_at): every computed match is kept, with its confidence
-- (0 when unmatched), the number of candidate records it was chosen from and the matched entry's
-- non-PII attributes. No registry record id: it would point back at the registrant.
CREATE TABLE IF NOT EXISTS reference_matches (
    token VARCHAR(32) NOT NULL,
    registry VARCHAR(16) NOT NULL,
    matched BOOLEAN NOT NULL,
    match_confidence DOUBLE PRECISION NOT NULL,
    candidates INTEGER NOT NULL,
    category VARCHAR(64),
    turnover_band VARCHAR(16),
    registered_on DATE,
    updated_at TIMESTAMP NOT NULL
) DISTSTYLE KEY DISTKEY (token) SORTKEY (updated_at);

-- bureau: one row per lookup (natural key (token, updated_at) = the lookup time); status is
-- 'hit', 'no_hit' or 'unavailable' (the bureau did not answer; ignored by the features).
CREATE TABLE IF NOT EXISTS bureau_reports (
    token VARCHAR(32) NOT NULL,
    status VARCHAR(16) NOT NULL,
    bureau_score INTEGER,
    score_band VARCHAR(2),
    tradelines INTEGER,
    enquiries_6m INTEGER,
    max_dpd_24m INTEGER,
    updated_at TIMESTAMP NOT NULL
) DISTSTYLE KEY DISTKEY (token) SORTKEY (updated_at);
