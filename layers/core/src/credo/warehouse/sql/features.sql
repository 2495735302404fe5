-- Point-in-time features and labels of every customer registered before the snapshot :as_of.
--
-- Redshift dialect; DuckDB runs it through sqlglot. :as_of is a DATE and the snapshot is its
-- midnight (UTC): features use only what was known before it (event times < :as_of; an order's
-- outcome counts only if its status last changed before :as_of), labels only what came after.
-- docs/features.md states the rules per source; credo/features.py describes every column.
-- Columns: token, snapshot_date, credo.features.FEATURE_NAMES in order, label_credit_bad,
-- label_buying_cod_orders, label_buying_failed_orders, in_credit_population, in_buying_population.
-- Labels are NULL outside their population. The buying label is per COD order: the table counts a
-- customer's COD orders ahead and the failed ones (credo.labels makes one row per order).
-- Types: counts are INTEGER, money, rates and years DOUBLE PRECISION. Counts use COUNT(CASE …)
-- (BIGINT in both engines; DuckDB's SUM of ints is HUGEINT). Every division casts its numerator to
-- DOUBLE PRECISION (Redshift divides integers as integers) and divides by NULLIF(denominator, 0):
-- a rate without a denominator is NULL (missing), never 0.

WITH snapshot AS (
    SELECT CAST(:as_of AS DATE) AS as_of
),

-- registrations keep every version mined: take the latest one from before the snapshot, or the
-- earliest one when the customer was first mined after it (the source keeps only current state)
registration_at_snapshot AS (
    SELECT
        r.*,
        s.as_of
    FROM registrations AS r
    CROSS JOIN snapshot AS s
    QUALIFY ROW_NUMBER() OVER (
        PARTITION BY r.token
        ORDER BY
            CASE WHEN r.updated_at < s.as_of THEN 0 ELSE 1 END,
            CASE WHEN r.updated_at < s.as_of THEN r.updated_at END DESC,
            r.updated_at
    ) = 1
),

customers AS (
    SELECT
        r.token,
        r.as_of,
        r.registered_at,
        r.age_at_registration,
        r.city_tier,
        r.device,
        r.email_domain_type,
        r.phone_verified,
        r.is_premium_member,
        r.is_auto_billing,
        r.postpaid_opened_at,
        r.postpaid_limit,
        -- whole years since registration: DATEDIFF counts year boundaries, so step back one
        -- when the anniversary has not come yet
        DATEDIFF(year, r.registered_at, r.as_of)
        - CASE
            WHEN DATEADD(year, DATEDIFF(year, r.registered_at, r.as_of), r.registered_at) > r.as_of THEN 1
            ELSE 0
        END AS years_since_registration
    FROM registration_at_snapshot AS r
    WHERE r.registered_at < r.as_of
),

-- every order placed before the snapshot, with 0/1 flags: windows by placement time, outcomes
-- only when the order's status was last set before the snapshot (bad outcomes are final)
order_facts AS (
    SELECT
        o.token,
        o.placed_at,
        o.updated_at,
        o.category,
        o.amount,
        s.as_of,
        CASE WHEN o.payment_method = 'cod' THEN 1 ELSE 0 END AS is_cod,
        CASE WHEN o.payment_method = 'wallet' THEN 1 ELSE 0 END AS is_epay,
        CASE WHEN o.placed_at >= DATEADD(day, -30, s.as_of) THEN 1 ELSE 0 END AS in_30d,
        CASE WHEN o.placed_at >= DATEADD(day, -90, s.as_of) THEN 1 ELSE 0 END AS in_90d,
        CASE WHEN o.placed_at >= DATEADD(day, -180, s.as_of) THEN 1 ELSE 0 END AS in_180d,
        CASE WHEN o.placed_at >= DATEADD(month, -6, s.as_of) THEN 1 ELSE 0 END AS in_6m,
        CASE WHEN o.placed_at >= DATEADD(month, -12, s.as_of) THEN 1 ELSE 0 END AS in_12m,
        CASE WHEN o.placed_at >= DATEADD(month, -24, s.as_of) THEN 1 ELSE 0 END AS in_24m,
        CASE
            WHEN o.placed_at >= DATEADD(month, -12, s.as_of) AND o.amount > 0 THEN LN(o.amount)
        END AS log_value_12m,
        CASE
            WHEN o.updated_at < s.as_of AND o.status = 'cancelled_before_dispatch' THEN 1 ELSE 0
        END AS cancelled_before_dispatch,
        CASE
            WHEN o.updated_at < s.as_of AND o.status = 'cancelled_after_dispatch' THEN 1 ELSE 0
        END AS cancelled_after_dispatch,
        CASE WHEN o.updated_at < s.as_of AND o.status = 'returned' THEN 1 ELSE 0 END AS returned,
        CASE
            WHEN o.updated_at < s.as_of
                AND o.payment_method = 'cod'
                AND o.status IN ('rto', 'cancelled_after_dispatch') THEN 1
            ELSE 0
        END AS cod_refused,
        -- an EMI plan runs from the order for its tenure, unless the order was undone before the snapshot
        CASE
            WHEN o.payment_method = 'emi'
                AND DATEADD(month, o.emi_tenure_months, o.placed_at) > s.as_of
                AND NOT (
                    o.updated_at < s.as_of
                    AND o.status IN ('cancelled_before_dispatch', 'cancelled_after_dispatch', 'rto', 'returned')
                ) THEN 1
            ELSE 0
        END AS emi_running
    FROM orders AS o
    CROSS JOIN snapshot AS s
    WHERE o.placed_at < s.as_of
),

-- the typical (geometric mean) value of each category's orders, over every customer's orders placed
-- in the 12 months: how pricey a customer's orders are shows against their own category's, since
-- raw values mostly tell which categories a customer buys
category_values AS (
    SELECT
        f.category,
        AVG(f.log_value_12m) AS log_value_mean
    FROM order_facts AS f
    GROUP BY f.category
),

-- order outcomes, spend, recency and breadth per customer
order_stats AS (
    SELECT
        f.token,
        -- at most 12 months back: an "ever" count would grow with how long the shop has been mined,
        -- so a model trained on a young history would misread an older one
        COUNT(CASE WHEN f.in_12m = 1 THEN 1 END) AS orders_12m,
        COUNT(CASE WHEN f.in_12m = 1 AND f.is_cod = 1 THEN 1 END) AS cod_12m,
        COUNT(CASE WHEN f.in_12m = 1 AND f.cod_refused = 1 THEN 1 END) AS cod_refused_12m,
        -- COD reliability shows slowly (a few COD orders a year), so it also looks back 24 months
        COUNT(CASE WHEN f.in_24m = 1 AND f.is_cod = 1 THEN 1 END) AS cod_24m,
        COUNT(CASE WHEN f.in_24m = 1 AND f.cod_refused = 1 THEN 1 END) AS cod_refused_24m,
        COUNT(CASE WHEN f.in_30d = 1 THEN 1 END) AS orders_30d,
        COUNT(CASE WHEN f.in_90d = 1 THEN 1 END) AS orders_90d,
        COUNT(CASE WHEN f.in_180d = 1 THEN 1 END) AS orders_180d,
        COUNT(CASE WHEN f.in_6m = 1 THEN 1 END) AS orders_6m,
        COUNT(CASE WHEN f.in_6m = 1 AND f.is_epay = 1 THEN 1 END) AS epay_6m,
        COUNT(CASE WHEN f.in_6m = 1 AND f.is_cod = 1 THEN 1 END) AS cod_6m,
        SUM(CASE WHEN f.in_6m = 1 THEN f.amount END) AS value_6m,
        COUNT(CASE WHEN f.in_6m = 1 AND f.cancelled_before_dispatch = 1 THEN 1 END) AS cancelled_before_6m,
        COUNT(CASE WHEN f.in_6m = 1 AND f.cancelled_after_dispatch = 1 THEN 1 END) AS cancelled_after_6m,
        COUNT(CASE WHEN f.in_6m = 1 AND f.returned = 1 THEN 1 END) AS returned_6m,
        COUNT(CASE WHEN f.in_6m = 1 AND f.cod_refused = 1 THEN 1 END) AS cod_refused_6m,
        COUNT(
            CASE WHEN f.in_30d = 1 AND f.cancelled_before_dispatch + f.cancelled_after_dispatch = 1 THEN 1 END
        ) AS cancelled_30d,
        COUNT(
            CASE WHEN f.in_90d = 1 AND f.cancelled_before_dispatch + f.cancelled_after_dispatch = 1 THEN 1 END
        ) AS cancelled_90d,
        COUNT(
            CASE WHEN f.in_180d = 1 AND f.cancelled_before_dispatch + f.cancelled_after_dispatch = 1 THEN 1 END
        ) AS cancelled_180d,
        COUNT(CASE WHEN f.in_30d = 1 AND f.is_cod = 1 THEN 1 END) AS cod_30d,
        COUNT(CASE WHEN f.in_90d = 1 AND f.is_cod = 1 THEN 1 END) AS cod_90d,
        COUNT(CASE WHEN f.in_180d = 1 AND f.is_cod = 1 THEN 1 END) AS cod_180d,
        COUNT(CASE WHEN f.in_30d = 1 AND f.cod_refused = 1 THEN 1 END) AS cod_refused_30d,
        COUNT(CASE WHEN f.in_90d = 1 AND f.cod_refused = 1 THEN 1 END) AS cod_refused_90d,
        COUNT(CASE WHEN f.in_180d = 1 AND f.cod_refused = 1 THEN 1 END) AS cod_refused_180d,
        COUNT(CASE WHEN f.in_180d = 1 AND f.returned = 1 THEN 1 END) AS returned_180d,
        AVG(CASE WHEN f.in_180d = 1 THEN f.amount END) AS value_mean_180d,
        MAX(CASE WHEN f.in_180d = 1 THEN f.amount END) AS value_max_180d,
        COUNT(DISTINCT CASE WHEN f.in_180d = 1 THEN f.category END) AS categories_180d,
        AVG(f.log_value_12m - v.log_value_mean) AS value_vs_category_12m,
        MAX(CASE WHEN f.in_12m = 1 THEN f.placed_at END) AS last_order_at,
        -- a refusal is known from the moment its status was set
        MAX(
            CASE WHEN f.cod_refused = 1 AND f.updated_at >= DATEADD(month, -12, f.as_of) THEN f.updated_at END
        ) AS last_cod_refusal_at,
        COUNT(CASE WHEN f.emi_running = 1 THEN 1 END) AS emi_plans_active
    FROM order_facts AS f
    LEFT JOIN category_values AS v ON v.category = f.category
    GROUP BY f.token
),

-- COD orders placed in the 6 months after the snapshot: the buying population and its outcomes
upcoming_cod AS (
    SELECT
        o.token,
        COUNT(*) AS cod_orders,
        COUNT(CASE WHEN o.status IN ('rto', 'cancelled_after_dispatch') THEN 1 END) AS cod_failed
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
        CASE
            WHEN b.due_date >= DATEADD(month, -12, s.as_of) AND b.due_date < s.as_of THEN 1 ELSE 0
        END AS due_in_12m,
        CASE
            WHEN b.due_date >= DATEADD(month, -24, s.as_of) AND b.due_date < s.as_of THEN 1 ELSE 0
        END AS due_in_24m,
        DATEADD(day, 90, b.due_date) AS reaches_90_dpd_at
    FROM payments AS b
    CROSS JOIN snapshot AS s
),

-- repayment history before the snapshot, and the credit population and outcome after it
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
        COUNT(CASE WHEN f.due_in_12m = 1 THEN 1 END) AS bills_due,
        COUNT(CASE WHEN f.due_in_12m = 1 AND f.dpd_at_snapshot > 0 THEN 1 END) AS bills_late,
        COUNT(CASE WHEN f.due_in_12m = 1 AND f.dpd_at_snapshot >= 30 THEN 1 END) AS bills_30dpd,
        -- lateness is rarer than a bill a month: 24 months read a customer's discipline better
        COUNT(CASE WHEN f.due_in_24m = 1 THEN 1 END) AS bills_due_24m,
        COUNT(CASE WHEN f.due_in_24m = 1 AND f.dpd_at_snapshot > 0 THEN 1 END) AS bills_late_24m,
        MAX(CASE WHEN f.due_in_12m = 1 THEN f.dpd_at_snapshot ELSE 0 END) AS max_dpd,
        MAX(
            CASE
                WHEN f.due_date < f.as_of AND f.due_date >= DATEADD(month, -24, f.as_of) THEN f.dpd_at_snapshot
                ELSE 0
            END
        ) AS max_dpd_24m,
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

-- marketing: ads sent before the snapshot; a click counts once made, a purchase after a click
-- only when its order was placed before the snapshot. No row = the customer never got an ad.
ad_stats AS (
    SELECT
        a.token,
        COUNT(CASE WHEN a.sent_at >= DATEADD(day, -180, s.as_of) THEN 1 END) AS sent_180d,
        COUNT(
            CASE WHEN a.sent_at >= DATEADD(day, -180, s.as_of) AND a.clicked_at < s.as_of THEN 1 END
        ) AS clicked_180d,
        COUNT(
            CASE
                WHEN a.sent_at >= DATEADD(day, -180, s.as_of)
                    AND a.clicked_at < s.as_of
                    AND p.placed_at < s.as_of THEN 1
            END
        ) AS purchased_180d,
        MAX(
            CASE WHEN a.clicked_at < s.as_of AND a.clicked_at >= DATEADD(month, -12, s.as_of) THEN a.clicked_at END
        ) AS last_click_at
    FROM ad_events AS a
    CROSS JOIN snapshot AS s
    LEFT JOIN orders AS p ON p.order_id = a.purchased_order_id
    WHERE a.sent_at < s.as_of
    GROUP BY a.token
),

-- reference registries: the latest match computed before the snapshot, per registry
latest_reference AS (
    SELECT
        m.token,
        m.registry,
        m.matched,
        m.match_confidence,
        m.turnover_band,
        m.registered_on
    FROM reference_matches AS m
    CROSS JOIN snapshot AS s
    WHERE m.updated_at < s.as_of
    QUALIFY ROW_NUMBER() OVER (PARTITION BY m.token, m.registry ORDER BY m.updated_at DESC) = 1
),

-- one row per customer and registry above, so MAX only picks that row's value
reference_stats AS (
    SELECT
        r.token,
        MAX(CASE WHEN r.registry = 'business' THEN CASE WHEN r.matched THEN 1 ELSE 0 END END) AS business_match,
        MAX(CASE WHEN r.registry = 'business' THEN r.match_confidence END) AS business_confidence,
        MAX(
            CASE
                WHEN r.registry = 'business' AND r.matched THEN
                    CASE r.turnover_band
                        WHEN 'micro' THEN 1 WHEN 'small' THEN 2 WHEN 'medium' THEN 3 WHEN 'large' THEN 4
                    END
            END
        ) AS business_turnover_band,
        MAX(CASE WHEN r.registry = 'business' AND r.matched THEN r.registered_on END) AS business_registered_on,
        MAX(
            CASE WHEN r.registry = 'professional' THEN CASE WHEN r.matched THEN 1 ELSE 0 END END
        ) AS professional_match,
        MAX(CASE WHEN r.registry = 'professional' THEN r.match_confidence END) AS professional_confidence
    FROM latest_reference AS r
    GROUP BY r.token
),

-- credit bureau: the latest answered lookup before the snapshot ('unavailable' = no answer)
latest_bureau AS (
    SELECT
        b.token,
        b.status,
        b.bureau_score,
        b.tradelines,
        b.enquiries_6m,
        b.max_dpd_24m
    FROM bureau_reports AS b
    CROSS JOIN snapshot AS s
    WHERE b.updated_at < s.as_of AND b.status IN ('hit', 'no_hit')
    QUALIFY ROW_NUMBER() OVER (PARTITION BY b.token ORDER BY b.updated_at DESC) = 1
),

assembled AS (
    SELECT
        c.token,
        c.as_of AS snapshot_date,
        -- profile
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
        -- orders, last 6 months
        CAST(COALESCE(o.orders_6m, 0) AS INTEGER) AS orders_placed_in_6months,
        CAST(COALESCE(o.epay_6m, 0) AS INTEGER) AS orders_placed_in_6months_via_epay,
        CAST(COALESCE(o.cod_6m, 0) AS INTEGER) AS orders_cod_in_6months,
        CAST(COALESCE(o.value_6m, 0) AS DOUBLE PRECISION) AS order_value_in_6months,
        CAST(COALESCE(o.cancelled_before_6m + o.cancelled_after_6m, 0) AS INTEGER) AS orders_cancelled_in_6months,
        CAST(COALESCE(o.returned_6m, 0) AS INTEGER) AS orders_returned_in_6months,
        CAST(COALESCE(o.cod_refused_6m, 0) AS INTEGER) AS cod_refused_in_6months,
        -- repayment, last 12 months
        CAST(COALESCE(b.bills_late, 0) AS INTEGER) AS bills_late_in_12months,
        CAST(COALESCE(b.max_dpd, 0) AS INTEGER) AS max_dpd_in_12months,
        -- credit lines
        CAST(CASE WHEN c.postpaid_opened_at < c.as_of THEN c.postpaid_limit ELSE 0 END AS DOUBLE PRECISION)
            AS postpaid_limit,
        CASE
            WHEN c.postpaid_opened_at < c.as_of AND c.postpaid_limit > 0
                THEN CAST(COALESCE(b.postpaid_outstanding, 0) AS DOUBLE PRECISION) / c.postpaid_limit
        END AS postpaid_utilisation,
        CASE
            WHEN c.postpaid_opened_at < c.as_of THEN CAST(DATEDIFF(day, c.postpaid_opened_at, c.as_of) AS INTEGER)
        END AS postpaid_account_age_days,
        CAST(COALESCE(o.emi_plans_active, 0) AS INTEGER) AS emi_plans_active,
        -- order outcomes over 30/90/180 days
        CAST(COALESCE(o.orders_30d, 0) AS INTEGER) AS orders_placed_in_30days,
        CAST(COALESCE(o.orders_90d, 0) AS INTEGER) AS orders_placed_in_90days,
        CAST(COALESCE(o.orders_12m, 0) AS INTEGER) AS orders_placed_in_12months,
        CAST(COALESCE(o.cod_12m, 0) AS INTEGER) AS orders_cod_in_12months,
        CAST(COALESCE(o.cod_refused_12m, 0) AS INTEGER) AS cod_refused_in_12months,
        CAST(COALESCE(o.cod_24m, 0) AS INTEGER) AS orders_cod_in_24months,
        CAST(COALESCE(o.cod_refused_24m, 0) AS INTEGER) AS cod_refused_in_24months,
        CAST(o.cod_refused_24m AS DOUBLE PRECISION) / NULLIF(o.cod_24m, 0) AS cod_refusal_rate_in_24months,
        CAST(COALESCE(o.cancelled_before_6m, 0) AS INTEGER) AS orders_cancelled_before_dispatch_in_6months,
        CAST(COALESCE(o.cancelled_after_6m, 0) AS INTEGER) AS orders_cancelled_after_dispatch_in_6months,
        CAST(o.cancelled_30d AS DOUBLE PRECISION) / NULLIF(o.orders_30d, 0) AS cancellation_rate_in_30days,
        CAST(o.cancelled_90d AS DOUBLE PRECISION) / NULLIF(o.orders_90d, 0) AS cancellation_rate_in_90days,
        CAST(o.cancelled_180d AS DOUBLE PRECISION) / NULLIF(o.orders_180d, 0) AS cancellation_rate_in_180days,
        CAST(o.cod_refused_30d AS DOUBLE PRECISION) / NULLIF(o.cod_30d, 0) AS cod_refusal_rate_in_30days,
        CAST(o.cod_refused_90d AS DOUBLE PRECISION) / NULLIF(o.cod_90d, 0) AS cod_refusal_rate_in_90days,
        CAST(o.cod_refused_180d AS DOUBLE PRECISION) / NULLIF(o.cod_180d, 0) AS cod_refusal_rate_in_180days,
        CAST(o.returned_180d AS DOUBLE PRECISION) / NULLIF(o.orders_180d, 0) AS return_rate_in_180days,
        CAST(o.cod_180d AS DOUBLE PRECISION) / NULLIF(o.orders_180d, 0) AS cod_share_in_180days,
        -- spend, recency, breadth
        CAST(o.value_mean_180d AS DOUBLE PRECISION) AS order_value_mean_in_180days,
        CAST(o.value_max_180d AS DOUBLE PRECISION) AS order_value_max_in_180days,
        -- rounded: a sum of logarithms changes in its last bits with the order the engine adds them in
        ROUND(CAST(o.value_vs_category_12m AS DOUBLE PRECISION), 6) AS order_value_vs_category_in_12months,
        CAST(DATEDIFF(day, o.last_order_at, c.as_of) AS INTEGER) AS days_since_last_order,
        CAST(DATEDIFF(day, o.last_cod_refusal_at, c.as_of) AS INTEGER) AS days_since_last_cod_refusal,
        CAST(COALESCE(o.categories_180d, 0) AS INTEGER) AS categories_in_180days,
        -- repayment history
        CAST(COALESCE(b.bills_due, 0) AS INTEGER) AS bills_due_in_12months,
        CAST(b.bills_late AS DOUBLE PRECISION) / NULLIF(b.bills_due, 0) AS late_payment_rate_in_12months,
        CAST(COALESCE(b.bills_30dpd, 0) AS INTEGER) AS bills_30dpd_in_12months,
        CAST(COALESCE(b.max_dpd_24m, 0) AS INTEGER) AS max_dpd_in_24months,
        CAST(COALESCE(b.bills_due_24m, 0) AS INTEGER) AS bills_due_in_24months,
        CAST(COALESCE(b.bills_late_24m, 0) AS INTEGER) AS bills_late_in_24months,
        CAST(b.bills_late_24m AS DOUBLE PRECISION) / NULLIF(b.bills_due_24m, 0) AS late_payment_rate_in_24months,
        -- marketing: NULL when the customer never got an ad
        CAST(a.sent_180d AS INTEGER) AS ads_received_in_180days,
        CAST(a.clicked_180d AS INTEGER) AS ad_clicks_in_180days,
        CAST(a.clicked_180d AS DOUBLE PRECISION) / NULLIF(a.sent_180d, 0) AS ad_click_rate_in_180days,
        CAST(a.purchased_180d AS DOUBLE PRECISION) / NULLIF(a.clicked_180d, 0)
            AS purchase_after_click_rate_in_180days,
        CAST(DATEDIFF(day, a.last_click_at, c.as_of) AS INTEGER) AS days_since_last_ad_click,
        -- reference registries: NULL when never matched
        CAST(r.business_match AS INTEGER) AS business_match,
        CAST(r.business_confidence AS DOUBLE PRECISION) AS business_match_confidence,
        CAST(r.business_turnover_band AS INTEGER) AS business_turnover_band,
        CAST(DATEDIFF(day, r.business_registered_on, c.as_of) AS DOUBLE PRECISION) / 365.25
            AS business_years_registered,
        CAST(r.professional_match AS INTEGER) AS professional_match,
        CAST(r.professional_confidence AS DOUBLE PRECISION) AS professional_match_confidence,
        -- credit bureau: NULL without an answered lookup; the file's numbers only on a hit
        CASE WHEN k.status = 'hit' THEN 1 WHEN k.status = 'no_hit' THEN 0 END AS bureau_hit,
        CAST(CASE WHEN k.status = 'hit' THEN k.bureau_score END AS INTEGER) AS bureau_score,
        CAST(CASE WHEN k.status = 'hit' THEN k.tradelines END AS INTEGER) AS bureau_tradelines,
        CAST(CASE WHEN k.status = 'hit' THEN k.enquiries_6m END AS INTEGER) AS bureau_enquiries_6m,
        CAST(CASE WHEN k.status = 'hit' THEN k.max_dpd_24m END AS INTEGER) AS bureau_max_dpd_24m,
        -- populations and outcomes after the snapshot.
        -- CASE, not a bare predicate: a NULL postpaid_opened_at must give FALSE, not NULL
        CASE
            WHEN (c.postpaid_opened_at < c.as_of OR COALESCE(b.emi_months_ahead, 0) = 3)
                AND COALESCE(b.overdue_at_snapshot, 0) = 0 THEN TRUE
            ELSE FALSE
        END AS in_credit_population,
        CASE WHEN COALESCE(u.cod_orders, 0) > 0 THEN TRUE ELSE FALSE END AS in_buying_population,
        CAST(COALESCE(b.went_90_dpd, 0) AS INTEGER) AS credit_bad,
        CAST(COALESCE(u.cod_orders, 0) AS INTEGER) AS buying_cod_orders,
        CAST(COALESCE(u.cod_failed, 0) AS INTEGER) AS buying_failed_orders
    FROM customers AS c
    LEFT JOIN order_stats AS o ON o.token = c.token
    LEFT JOIN upcoming_cod AS u ON u.token = c.token
    LEFT JOIN bills AS b ON b.token = c.token
    LEFT JOIN ad_stats AS a ON a.token = c.token
    LEFT JOIN reference_stats AS r ON r.token = c.token
    LEFT JOIN latest_bureau AS k ON k.token = c.token
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
    postpaid_limit,
    postpaid_utilisation,
    postpaid_account_age_days,
    emi_plans_active,
    orders_placed_in_30days,
    orders_placed_in_90days,
    orders_placed_in_12months,
    orders_cod_in_12months,
    cod_refused_in_12months,
    orders_cod_in_24months,
    cod_refused_in_24months,
    cod_refusal_rate_in_24months,
    orders_cancelled_before_dispatch_in_6months,
    orders_cancelled_after_dispatch_in_6months,
    cancellation_rate_in_30days,
    cancellation_rate_in_90days,
    cancellation_rate_in_180days,
    cod_refusal_rate_in_30days,
    cod_refusal_rate_in_90days,
    cod_refusal_rate_in_180days,
    return_rate_in_180days,
    cod_share_in_180days,
    order_value_mean_in_180days,
    order_value_max_in_180days,
    order_value_vs_category_in_12months,
    days_since_last_order,
    days_since_last_cod_refusal,
    categories_in_180days,
    bills_due_in_12months,
    late_payment_rate_in_12months,
    bills_30dpd_in_12months,
    max_dpd_in_24months,
    bills_due_in_24months,
    bills_late_in_24months,
    late_payment_rate_in_24months,
    ads_received_in_180days,
    ad_clicks_in_180days,
    ad_click_rate_in_180days,
    purchase_after_click_rate_in_180days,
    days_since_last_ad_click,
    business_match,
    business_match_confidence,
    business_turnover_band,
    business_years_registered,
    professional_match,
    professional_match_confidence,
    bureau_hit,
    bureau_score,
    bureau_tradelines,
    bureau_enquiries_6m,
    bureau_max_dpd_24m,
    CASE WHEN in_credit_population THEN credit_bad END AS label_credit_bad,
    CASE WHEN in_buying_population THEN buying_cod_orders END AS label_buying_cod_orders,
    CASE WHEN in_buying_population THEN buying_failed_orders END AS label_buying_failed_orders,
    in_credit_population,
    in_buying_population
FROM assembled
ORDER BY token
