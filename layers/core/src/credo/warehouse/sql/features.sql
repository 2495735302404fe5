-- Point-in-time features and labels of every customer registered before the snapshot :as_of.
--
-- Redshift dialect; DuckDB runs it through sqlglot. :as_of is a DATE and the snapshot is its
-- midnight (UTC): features use only what was known before it (event times < :as_of; an order's
-- outcome counts only if its status last changed before :as_of), labels only what came after.
-- Columns: token, snapshot_date, credo.features.FEATURE_NAMES in order, label_credit_bad,
-- label_buying_bad, in_credit_population, in_buying_population. Labels are NULL outside their
-- population. Counts use COUNT(CASE …) (BIGINT in both engines; DuckDB's SUM of ints is HUGEINT).

WITH snapshot AS (
    SELECT CAST(:as_of AS DATE) AS as_of
),

customers AS (
    SELECT
        r.token,
        s.as_of,
        r.registered_at,
        r.age_at_registration,
        r.city_tier,
        r.device,
        r.email_domain_type,
        r.phone_verified,
        r.is_premium_member,
        r.is_auto_billing,
        r.postpaid_opened_at,
        -- whole years since registration: DATEDIFF counts year boundaries, so step back one
        -- when the anniversary has not come yet
        DATEDIFF(year, r.registered_at, s.as_of)
        - CASE
            WHEN DATEADD(year, DATEDIFF(year, r.registered_at, s.as_of), r.registered_at) > s.as_of THEN 1
            ELSE 0
        END AS years_since_registration
    FROM registrations AS r
    CROSS JOIN snapshot AS s
    WHERE r.registered_at < s.as_of
),

-- orders placed in the 6 months before the snapshot; outcomes only when known by then
recent_orders AS (
    SELECT
        o.token,
        COUNT(*) AS orders_placed,
        COUNT(CASE WHEN o.payment_method = 'wallet' THEN 1 END) AS orders_epay,
        COUNT(CASE WHEN o.payment_method = 'cod' THEN 1 END) AS orders_cod,
        SUM(o.amount) AS order_value,
        COUNT(
            CASE
                WHEN o.updated_at < s.as_of
                    AND o.status IN ('cancelled_before_dispatch', 'cancelled_after_dispatch') THEN 1
            END
        ) AS orders_cancelled,
        COUNT(CASE WHEN o.updated_at < s.as_of AND o.status = 'returned' THEN 1 END) AS orders_returned,
        COUNT(
            CASE
                WHEN o.updated_at < s.as_of
                    AND o.payment_method = 'cod'
                    AND o.status IN ('rto', 'cancelled_after_dispatch') THEN 1
            END
        ) AS cod_refused
    FROM orders AS o
    CROSS JOIN snapshot AS s
    WHERE o.placed_at >= DATEADD(month, -6, s.as_of) AND o.placed_at < s.as_of
    GROUP BY o.token
),

-- COD orders placed in the 6 months after the snapshot: the buying population and its outcome
upcoming_cod AS (
    SELECT
        o.token,
        COUNT(*) AS cod_orders,
        MAX(CASE WHEN o.status IN ('rto', 'cancelled_after_dispatch') THEN 1 ELSE 0 END) AS cod_failed
    FROM orders AS o
    CROSS JOIN snapshot AS s
    WHERE o.payment_method = 'cod'
        AND o.placed_at >= s.as_of
        AND o.placed_at < DATEADD(month, 6, s.as_of)
    GROUP BY o.token
),

bill_facts AS (
    SELECT
        b.token,
        b.account_type,
        b.statement_date,
        b.due_date,
        b.amount_due,
        b.paid_at,
        s.as_of,
        -- days past due as known at the snapshot: late days at payment if paid before it,
        -- days since the due date if still unpaid, 0 if not yet due
        CASE
            WHEN b.paid_at < s.as_of THEN GREATEST(DATEDIFF(day, b.due_date, b.paid_at), 0)
            WHEN b.due_date < s.as_of THEN DATEDIFF(day, b.due_date, s.as_of)
            ELSE 0
        END AS dpd_at_snapshot,
        DATEADD(day, 90, b.due_date) AS reaches_90_dpd_at
    FROM payments AS b
    CROSS JOIN snapshot AS s
),

bills AS (
    SELECT
        f.token,
        SUM(
            CASE
                WHEN f.account_type = 'postpaid'
                    AND f.statement_date <= f.as_of
                    AND (f.paid_at IS NULL OR f.paid_at >= f.as_of) THEN f.amount_due
                ELSE 0
            END
        ) AS postpaid_outstanding,
        COUNT(
            CASE
                WHEN f.due_date >= DATEADD(month, -12, f.as_of)
                    AND f.due_date < f.as_of
                    AND f.dpd_at_snapshot > 0 THEN 1
            END
        ) AS bills_late,
        MAX(
            CASE
                WHEN f.due_date >= DATEADD(month, -12, f.as_of) AND f.due_date < f.as_of THEN f.dpd_at_snapshot
                ELSE 0
            END
        ) AS max_dpd,
        MAX(
            CASE WHEN f.due_date < f.as_of AND (f.paid_at IS NULL OR f.paid_at >= f.as_of) THEN 1 ELSE 0 END
        ) AS overdue_at_snapshot,
        -- calendar months (the snapshot's and the next two) with an EMI instalment due
        COUNT(
            DISTINCT CASE
                WHEN f.account_type = 'emi'
                    AND f.due_date >= DATE_TRUNC('month', f.as_of)
                    AND f.due_date < DATEADD(month, 3, DATE_TRUNC('month', f.as_of))
                    THEN DATE_TRUNC('month', f.due_date)
            END
        ) AS emi_months_ahead,
        MAX(
            CASE
                WHEN f.reaches_90_dpd_at >= f.as_of
                    AND f.reaches_90_dpd_at < DATEADD(month, 6, f.as_of)
                    AND (f.paid_at IS NULL OR f.paid_at > f.reaches_90_dpd_at) THEN 1
                ELSE 0
            END
        ) AS went_90_dpd
    FROM bill_facts AS f
    GROUP BY f.token
),

assembled AS (
    SELECT
        c.token,
        c.as_of AS snapshot_date,
        CAST(c.age_at_registration + c.years_since_registration AS INTEGER) AS age,
        CAST(DATEDIFF(day, c.registered_at, c.as_of) AS INTEGER) AS tenure_days,
        CAST(c.city_tier AS INTEGER) AS city_tier,
        CASE WHEN c.device = 'ios' THEN 1 ELSE 0 END AS device_ios,
        CASE WHEN c.email_domain_type = 'corporate' THEN 1 ELSE 0 END AS email_corporate,
        CASE WHEN c.phone_verified THEN 1 ELSE 0 END AS phone_verified,
        CASE WHEN c.is_premium_member THEN 1 ELSE 0 END AS is_premium_member,
        CASE WHEN c.is_auto_billing THEN 1 ELSE 0 END AS is_auto_billing,
        CASE WHEN c.postpaid_opened_at < c.as_of THEN 1 ELSE 0 END AS is_postpaid,
        CAST(COALESCE(b.postpaid_outstanding, 0) AS DOUBLE PRECISION) AS postpaid_outstanding,
        CAST(COALESCE(o.orders_placed, 0) AS INTEGER) AS orders_placed_in_6months,
        CAST(COALESCE(o.orders_epay, 0) AS INTEGER) AS orders_placed_in_6months_via_epay,
        CAST(COALESCE(o.orders_cod, 0) AS INTEGER) AS orders_cod_in_6months,
        CAST(COALESCE(o.order_value, 0) AS DOUBLE PRECISION) AS order_value_in_6months,
        CAST(COALESCE(o.orders_cancelled, 0) AS INTEGER) AS orders_cancelled_in_6months,
        CAST(COALESCE(o.orders_returned, 0) AS INTEGER) AS orders_returned_in_6months,
        CAST(COALESCE(o.cod_refused, 0) AS INTEGER) AS cod_refused_in_6months,
        CAST(COALESCE(b.bills_late, 0) AS INTEGER) AS bills_late_in_12months,
        CAST(COALESCE(b.max_dpd, 0) AS INTEGER) AS max_dpd_in_12months,
        -- CASE, not a bare predicate: a NULL postpaid_opened_at must give FALSE, not NULL
        CASE
            WHEN (c.postpaid_opened_at < c.as_of OR COALESCE(b.emi_months_ahead, 0) = 3)
                AND COALESCE(b.overdue_at_snapshot, 0) = 0 THEN TRUE
            ELSE FALSE
        END AS in_credit_population,
        CASE WHEN COALESCE(u.cod_orders, 0) > 0 THEN TRUE ELSE FALSE END AS in_buying_population,
        CAST(COALESCE(b.went_90_dpd, 0) AS INTEGER) AS credit_bad,
        CAST(COALESCE(u.cod_failed, 0) AS INTEGER) AS buying_bad
    FROM customers AS c
    LEFT JOIN recent_orders AS o ON o.token = c.token
    LEFT JOIN upcoming_cod AS u ON u.token = c.token
    LEFT JOIN bills AS b ON b.token = c.token
)

SELECT
    token,
    snapshot_date,
    age,
    tenure_days,
    city_tier,
    device_ios,
    email_corporate,
    phone_verified,
    is_premium_member,
    is_auto_billing,
    is_postpaid,
    postpaid_outstanding,
    orders_placed_in_6months,
    orders_placed_in_6months_via_epay,
    orders_cod_in_6months,
    order_value_in_6months,
    orders_cancelled_in_6months,
    orders_returned_in_6months,
    cod_refused_in_6months,
    bills_late_in_12months,
    max_dpd_in_12months,
    CASE WHEN in_credit_population THEN credit_bad END AS label_credit_bad,
    CASE WHEN in_buying_population THEN buying_bad END AS label_buying_bad,
    in_credit_population,
    in_buying_population
FROM assembled
ORDER BY token
