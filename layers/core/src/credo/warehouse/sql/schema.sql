-- Warehouse tables (Redshift dialect; DuckDB runs it through sqlglot). One row per natural key,
-- latest version: loads MERGE into them. Columns match the Parquet the miners write
-- (credo.sources.*.SCHEMA); no PII column exists here by construction.
-- DISTKEY on the customer token co-locates a customer's rows for the feature joins.

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
) DISTSTYLE KEY DISTKEY (token) SORTKEY (registered_at);

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
