"""Initial schema: catalog, search terms, users, holds, purchases, payments, bookings.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE venues (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    city       text NOT NULL
);

CREATE TABLE sections (
    venue_id   text NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    id         text NOT NULL,
    name       text NOT NULL,
    position   int  NOT NULL,
    PRIMARY KEY (venue_id, id)
);

CREATE TABLE seat_rows (
    venue_id   text NOT NULL,
    section_id text NOT NULL,
    id         text NOT NULL,
    position   int  NOT NULL,
    seat_count int  NOT NULL CHECK (seat_count > 0),
    PRIMARY KEY (venue_id, section_id, id),
    FOREIGN KEY (venue_id, section_id) REFERENCES sections ON DELETE CASCADE
);

CREATE TABLE seats (
    venue_id   text NOT NULL,
    id         text NOT NULL,
    section_id text NOT NULL,
    row_id     text NOT NULL,
    number     int  NOT NULL CHECK (number > 0),
    PRIMARY KEY (venue_id, id),
    FOREIGN KEY (venue_id, section_id, row_id) REFERENCES seat_rows ON DELETE CASCADE
);

CREATE TABLE events (
    id                        text PRIMARY KEY,
    title                     text        NOT NULL,
    starts_at                 timestamptz NOT NULL,
    venue_id                  text        NOT NULL REFERENCES venues (id),
    -- Copied from the venue so "city + date range" is one index range scan.
    city                      text        NOT NULL,
    on_sale_at                timestamptz NOT NULL,
    waiting_room              boolean     NOT NULL DEFAULT false,
    admission_rate_per_minute int CHECK (admission_rate_per_minute > 0),
    max_admitted              int CHECK (max_admitted > 0),
    admission_window_seconds  int CHECK (admission_window_seconds > 0),
    updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_by_time ON events (starts_at, id);
CREATE INDEX events_by_city_time ON events (lower(city), starts_at, id);

-- Typo-tolerant title search without extensions (the embedded server ships none):
-- each title word is a term; each term is reachable from its single-deletion variants,
-- so a query word within one edit (transpositions included) meets it on an index lookup.
CREATE TABLE event_title_terms (
    term     text COLLATE "C" NOT NULL,
    event_id text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    PRIMARY KEY (term, event_id)
);
CREATE INDEX event_title_terms_by_event ON event_title_terms (event_id);

CREATE TABLE title_term_variants (
    variant text COLLATE "C" NOT NULL,
    term    text COLLATE "C" NOT NULL,
    PRIMARY KEY (variant, term)
);

CREATE TABLE price_tiers (
    event_id    text   NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    id          text   NOT NULL,
    name        text   NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    currency    text   NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    position    int    NOT NULL,
    PRIMARY KEY (event_id, id)
);

-- A section is priced by at most one tier of an event, so every seat has one price.
CREATE TABLE price_tier_sections (
    event_id   text NOT NULL,
    tier_id    text NOT NULL,
    section_id text NOT NULL,
    PRIMARY KEY (event_id, section_id),
    FOREIGN KEY (event_id, tier_id) REFERENCES price_tiers ON DELETE CASCADE
);

CREATE TABLE users (
    id         text PRIMARY KEY,
    kind       text NOT NULL DEFAULT 'guest',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE holds (
    id                  text PRIMARY KEY,
    event_id            text        NOT NULL REFERENCES events (id),
    user_id             text        NOT NULL REFERENCES users (id),
    status              text        NOT NULL
        CHECK (status IN ('ACTIVE', 'PURCHASING', 'PURCHASED', 'EXPIRED', 'CANCELLED')),
    expires_at          timestamptz NOT NULL,
    -- While PURCHASING the seats stay held until this bounded payment deadline.
    payment_deadline    timestamptz,
    idempotency_key     text        NOT NULL,
    request_fingerprint text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX holds_active_by_expiry ON holds (expires_at) WHERE status = 'ACTIVE';
CREATE INDEX holds_live_by_event ON holds (event_id) WHERE status IN ('ACTIVE', 'PURCHASING');

CREATE TABLE hold_seats (
    hold_id  text NOT NULL REFERENCES holds (id) ON DELETE CASCADE,
    event_id text NOT NULL,
    seat_id  text NOT NULL,
    PRIMARY KEY (hold_id, seat_id)
);
CREATE INDEX hold_seats_by_seat ON hold_seats (event_id, seat_id);

CREATE TABLE purchases (
    id               text PRIMARY KEY,
    hold_id          text        NOT NULL REFERENCES holds (id),
    user_id          text        NOT NULL REFERENCES users (id),
    status           text        NOT NULL CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED')),
    payment_token    text        NOT NULL,
    idempotency_key  text,
    amount_cents     bigint      NOT NULL CHECK (amount_cents >= 0),
    currency         text        NOT NULL,
    failure_reason   text,
    attempts         int         NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    UNIQUE (user_id, idempotency_key)
);
-- At most one purchase per hold that is in flight or done: duplicate POSTs collapse here.
CREATE UNIQUE INDEX purchases_one_live_per_hold ON purchases (hold_id)
    WHERE status IN ('PENDING', 'SUCCEEDED');
CREATE INDEX purchases_pending_by_due ON purchases (next_attempt_at) WHERE status = 'PENDING';

CREATE TABLE payments (
    id                  text PRIMARY KEY,
    purchase_id         text        NOT NULL REFERENCES purchases (id),
    provider            text        NOT NULL,
    provider_payment_id text,
    idempotency_key     text        NOT NULL UNIQUE,
    amount_cents        bigint      NOT NULL,
    currency            text        NOT NULL,
    status              text        NOT NULL
        CHECK (status IN ('PENDING', 'SUCCEEDED', 'DECLINED', 'ERROR', 'VOIDED', 'REFUNDED')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_by_purchase ON payments (purchase_id);

CREATE TABLE bookings (
    id           text PRIMARY KEY,
    purchase_id  text        NOT NULL UNIQUE REFERENCES purchases (id),
    event_id     text        NOT NULL REFERENCES events (id),
    user_id      text        NOT NULL REFERENCES users (id),
    amount_cents bigint      NOT NULL,
    currency     text        NOT NULL,
    status       text        NOT NULL DEFAULT 'CONFIRMED' CHECK (status IN ('CONFIRMED', 'VOIDED')),
    purchased_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bookings_by_user ON bookings (user_id, purchased_at DESC, id);

CREATE TABLE booking_seats (
    booking_id text    NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    event_id   text    NOT NULL,
    seat_id    text    NOT NULL,
    live       boolean NOT NULL DEFAULT true,
    PRIMARY KEY (booking_id, seat_id)
);
-- I1, last line of defence: a seat of an event belongs to at most one live booking,
-- whatever Redis believes.
CREATE UNIQUE INDEX booking_seats_one_live_sale ON booking_seats (event_id, seat_id) WHERE live;
"""

DOWNGRADE = r"""
DROP TABLE IF EXISTS booking_seats, bookings, payments, purchases, hold_seats, holds, users,
    price_tier_sections, price_tiers, title_term_variants, event_title_terms, events, seats,
    seat_rows, sections, venues CASCADE;
"""


def _execute_all(script: str) -> None:
    # The asyncpg driver prepares each statement, so they go one at a time.
    for statement in script.split(";\n"):
        if statement.strip():
            op.execute(statement)


def upgrade() -> None:
    _execute_all(UPGRADE)


def downgrade() -> None:
    _execute_all(DOWNGRADE)
