"""Prometheus metrics of the business paths (the HTTP layer has its own).

Every gauge names how several API processes combine (``multiprocess_mode``, used when
``serve --workers N`` runs prometheus-client's multiprocess mode): per-process figures
are summed over live processes, shared figures (a queue's state, read from Redis by each
process) show the most recent value any process set.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from ticketmaster.domain.waiting_room import QueueView

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

HOLD_ATTEMPTS = Counter(
    "ticketmaster_hold_attempts_total",
    "Hold requests by outcome (created, conflict, limit, invalid, unavailable)",
    ["outcome"],
)
HOLD_LATENCY = Histogram(
    "ticketmaster_hold_duration_seconds", "Time to answer a hold request", buckets=LATENCY_BUCKETS
)
SEAT_MAP_LATENCY = Histogram(
    "ticketmaster_seat_map_duration_seconds", "Time to answer a seat-map request", buckets=LATENCY_BUCKETS
)
SEAT_MAP_RENDERS = Counter("ticketmaster_seat_map_renders_total", "Seat-map bodies rendered")
SEAT_STREAMS = Gauge(
    "ticketmaster_seat_streams",
    "Open live seat-update streams (SSE), summed over the live API processes",
    multiprocess_mode="livesum",
)
HOLD_WRITE_BATCH = Histogram(
    "ticketmaster_hold_write_batch_size",
    "Holds committed per PostgreSQL transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)

PURCHASE_OUTCOMES = Counter(
    "ticketmaster_purchases_total",
    "Purchases resolved, by outcome (succeeded, card_declined, payment_error, seat_conflict, ...)",
    ["outcome"],
)
PAYMENT_LATENCY = Histogram(
    "ticketmaster_payment_duration_seconds", "Payment provider call latency", buckets=LATENCY_BUCKETS
)
PURCHASE_RESOLUTION = Histogram(
    "ticketmaster_purchase_resolution_seconds",
    "Time from the 202 to the purchase's final state",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
PURCHASES_PENDING = Gauge(
    "ticketmaster_purchases_pending",
    "Purchases PENDING right now, all workers together (sampled from PostgreSQL by each worker)",
    multiprocess_mode="mostrecent",
)
PURCHASES_PENDING_OLDEST = Gauge(
    "ticketmaster_purchases_pending_oldest_seconds",
    "Age of the oldest PENDING purchase (0 when none); past the 300 s payment window money may be stuck"
    " - alert on it",
    multiprocess_mode="mostrecent",
)
REFUNDS = Counter("ticketmaster_refunds_total", "Charges refunded or voided by the system")
DOUBLE_SALE_PREVENTED = Counter(
    "ticketmaster_double_sale_prevented_total",
    "Bookings refused by the unique (event, seat) constraint; must stay 0 - alert if not",
)

EXPIRY_LAG = Histogram(
    "ticketmaster_expiry_lag_seconds",
    "From a hold's expiresAt to its seats being released in the seat-map view",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HOLDS_EXPIRED = Counter(
    "ticketmaster_holds_expired_total",
    "Expired holds released, by path (notification, redis_sweeper, postgres_sweeper, reconcile)",
    ["path"],
)
RECONCILE_FIXES = Counter(
    "ticketmaster_reconcile_fixes_total", "Drift between Redis and PostgreSQL healed, by kind", ["kind"]
)
SEAT_STATE_LOADS = Counter(
    "ticketmaster_seat_state_loads_total",
    "Events whose seat state was built in Redis from PostgreSQL, by reason: absent (first touch,"
    " Redis emptied) or stale (Redis older than what PostgreSQL acknowledged: a failover lost writes)",
    ["reason"],
)
WARMUP_LOADS = Counter(
    "ticketmaster_warmup_loads_total", "Events whose seat state the on-sale warm-up loaded into Redis"
)

# --- waiting room and load shedding ----------------------------------------------------

QUEUE_LENGTH = Gauge(
    "ticketmaster_queue_length",
    "Waiters of an event's queue not yet passed by the admission counter (silent ones included)",
    ["event"],
    multiprocess_mode="mostrecent",
)
QUEUE_ADMITTED_UP_TO = Gauge(
    "ticketmaster_queue_admitted_up_to",
    "The admission counter: every position at or below it is admitted",
    ["event"],
    multiprocess_mode="mostrecent",
)
QUEUE_ADMITTED_ACTIVE = Gauge(
    "ticketmaster_queue_admitted_active",
    "Buyers admitted within the admission window (what the concurrently-admitted cap counts)",
    ["event"],
    multiprocess_mode="mostrecent",
)
QUEUE_ADMISSION_RATE = Gauge(
    "ticketmaster_queue_admission_rate",
    "Measured speed of the admission counter, positions per second (EWMA kept by the ticker)",
    ["event"],
    multiprocess_mode="mostrecent",
)
QUEUE_ADMISSIONS = Counter(
    "ticketmaster_queue_admissions_total",
    "Positions passed by this process's ticker, by outcome (admitted, skipped: silent waiter)",
    ["event", "outcome"],
)
QUEUE_READMISSIONS = Counter(
    "ticketmaster_queue_readmissions_total",
    "Skipped waiters who polled again and were admitted by this process's ticker, within the cap",
    ["event"],
)
QUEUE_ETA_ERROR = Histogram(
    "ticketmaster_queue_eta_error_seconds",
    "Actual minus predicted admission time of a waiter (negative: admitted earlier than announced)",
    buckets=(-600, -120, -60, -30, -10, -5, -2, -1, 0, 1, 2, 5, 10, 30, 60, 120, 600),
)
SHED_REQUESTS = Counter(
    "ticketmaster_shed_requests_total", "Requests refused to protect the service, by reason", ["reason"]
)
IN_FLIGHT = Gauge(
    "ticketmaster_http_in_flight",
    "HTTP requests being served, summed over the live API processes",
    multiprocess_mode="livesum",
)


def record_queue_view(event_id: str, view: QueueView) -> None:
    """Publish an event's queue figures (called whenever a process refreshes its view)."""
    QUEUE_LENGTH.labels(event_id).set(view.waiting)
    QUEUE_ADMITTED_UP_TO.labels(event_id).set(view.admitted_up_to)
    QUEUE_ADMITTED_ACTIVE.labels(event_id).set(view.active)
    if view.measured_per_second is not None:
        QUEUE_ADMISSION_RATE.labels(event_id).set(view.measured_per_second)


# --- read replicas (browse) ----------------------------------------------------------------

BROWSE_READS = Counter(
    "ticketmaster_browse_reads_total",
    "Browse queries by where they were answered (replica, or primary: none configured or none up)",
    ["target"],
)
REPLICA_FAILURES = Counter(
    "ticketmaster_replica_failures_total",
    "Browse queries a read replica failed to answer (the replica is then skipped until probed up)",
    ["replica"],
)
REPLICA_UP = Gauge(
    "ticketmaster_replica_up",
    "1 while a read replica answers the API processes' probe (the lowest over live processes)",
    ["replica"],
    multiprocess_mode="livemin",
)
REPLICA_LAG = Gauge(
    "ticketmaster_replica_lag_seconds",
    "How far a read replica's replay is behind the WAL it received (0 when caught up)",
    ["replica"],
    multiprocess_mode="livemax",
)
