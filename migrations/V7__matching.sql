-- Matching: sessions of scored suggestions, customers' matching preferences
-- and blocks, what the engine learned, the history behind the
-- customer-preference factor, and the anonymous roll-up kept after purges.

-- One find-technicians call. The id is the sessionId (a UUID v4) clients get.
CREATE TABLE matching_sessions (
    id               TEXT PRIMARY KEY,
    customer_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    service_category TEXT NOT NULL,
    location_lng     REAL NOT NULL,
    location_lat     REAL NOT NULL,
    location_address TEXT,
    urgency          TEXT NOT NULL CHECK (urgency IN ('low','medium','high','emergency')),
    budget_minor     INTEGER,
    preferred_at     INTEGER,
    description      TEXT,
    -- Technicians in range that passed the filters and were scored.
    candidates       INTEGER NOT NULL,
    match_count      INTEGER NOT NULL,
    top_score        REAL,
    -- JSON {factor: weight} the scores were computed with.
    weights          TEXT NOT NULL,
    duration_us      INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX matching_sessions_customer ON matching_sessions (customer_id, created_at);
CREATE INDEX matching_sessions_created ON matching_sessions (created_at);

-- One suggested technician of a session (the spec's Matching document).
CREATE TABLE matches (
    id               TEXT PRIMARY KEY,
    session_id       TEXT NOT NULL REFERENCES matching_sessions (id) ON DELETE CASCADE,
    customer_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    technician_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rank             INTEGER NOT NULL,
    service_category TEXT NOT NULL,
    location_lng     REAL NOT NULL,
    location_lat     REAL NOT NULL,
    location_address TEXT,
    urgency          TEXT NOT NULL,
    overall          REAL NOT NULL CHECK (overall BETWEEN 0 AND 100),
    -- JSON array of the 9 factor scores, in the engine's factor order.
    factors          TEXT NOT NULL,
    distance_km      REAL NOT NULL,
    -- JSON array of the 9 reason sentences, in the engine's factor order
    -- (weights come from the session, scores from factors).
    reasons          TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'suggested'
                     CHECK (status IN ('suggested','viewed','contacted','accepted','rejected','expired')),
    action           TEXT NOT NULL DEFAULT 'none'
                     CHECK (action IN ('none','contacted','booked','skipped','reported')),
    is_active        INTEGER NOT NULL DEFAULT 1,
    viewed_at        INTEGER,
    responded_at     INTEGER,
    booking_id       TEXT,
    feedback_helpful INTEGER,
    feedback_rating  INTEGER CHECK (feedback_rating IS NULL OR feedback_rating BETWEEN 1 AND 5),
    feedback_comment TEXT,
    feedback_at      INTEGER,
    -- Whether feedback already moved the weights (only the first rating does).
    feedback_learned INTEGER NOT NULL DEFAULT 0,
    expires_at       INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX matches_customer ON matches (customer_id, is_active, expires_at);
CREATE INDEX matches_session ON matches (session_id, rank);
CREATE INDEX matches_created ON matches (created_at);
-- The customer's feedback ratings, read by the customer-preference factor.
CREATE INDEX matches_feedback ON matches (customer_id, technician_id) WHERE feedback_at IS NOT NULL;

-- A customer's matching preferences (the spec's MatchingPreference).
CREATE TABLE matching_preferences (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    -- JSON of the groups general, technicianPreferences, scheduling,
    -- communication, ai, privacy (defaults filled in on read).
    settings            TEXT NOT NULL DEFAULT '{}',
    -- JSON {factor: weight} the customer chose; NULL = the defaults.
    custom_weights      TEXT,
    -- JSON {factor: weight} learned from accepts, rejects and feedback; NULL = none yet.
    learned_weights     TEXT,
    learning_steps      INTEGER NOT NULL DEFAULT 0,
    total_matches       INTEGER NOT NULL DEFAULT 0,
    successful_bookings INTEGER NOT NULL DEFAULT 0,
    last_match_request  INTEGER,
    last_updated        INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

-- Each change learning made to a customer's weights, and why.
CREATE TABLE matching_weight_adjustments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    match_id    TEXT,
    signal      TEXT NOT NULL,
    before      TEXT NOT NULL,
    after       TEXT NOT NULL,
    explanation TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX matching_weight_adjustments_user ON matching_weight_adjustments (user_id, id);

-- Technicians a customer never wants suggested.
CREATE TABLE matching_blocks (
    id            TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    technician_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason        TEXT,
    blocked_at    INTEGER NOT NULL,
    UNIQUE (customer_id, technician_id)
);

-- Completed bookings between a customer and a technician, one row per
-- booking (from booking.status_changed events; idempotent by booking id).
CREATE TABLE matching_completed_bookings (
    booking_id    TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL,
    technician_id TEXT NOT NULL,
    completed_at  INTEGER NOT NULL
);
CREATE INDEX matching_completed_bookings_customer ON matching_completed_bookings (customer_id, technician_id);

-- Review ratings a customer gave a technician (from review.created events
-- that carry a rating; idempotent by review id).
CREATE TABLE matching_review_ratings (
    review_id     TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL,
    technician_id TEXT NOT NULL,
    rating        REAL NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX matching_review_ratings_customer ON matching_review_ratings (customer_id, technician_id);

-- Anonymous daily counts kept when old sessions and matches are purged, so
-- the admin analytics still cover them. band is the quality band of the
-- match (for shown/accepted/rejected) and of a session's best match (for
-- sessions; 'none' when a session found nobody).
CREATE TABLE matching_rollup (
    day                INTEGER NOT NULL,
    band               TEXT NOT NULL,
    sessions           INTEGER NOT NULL DEFAULT 0,
    shown              INTEGER NOT NULL DEFAULT 0,
    accepted           INTEGER NOT NULL DEFAULT 0,
    rejected           INTEGER NOT NULL DEFAULT 0,
    accepted_score_sum REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (day, band)
);

-- When each recurring maintenance job of this module next runs (so a job
-- that is run twice after a crash does not schedule two successors).
CREATE TABLE matching_maintenance (
    name        TEXT PRIMARY KEY,
    next_run_at INTEGER NOT NULL
);
