-- Platform core: accounts, sessions, one-time tokens, login history, jobs, events.
-- Times are integer milliseconds since the Unix epoch; ids are 24-hex strings.

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    email               TEXT NOT NULL UNIQUE,
    phone               TEXT NOT NULL UNIQUE,
    password_hash       TEXT NOT NULL,
    first_name          TEXT NOT NULL,
    last_name           TEXT NOT NULL,
    role                TEXT NOT NULL CHECK (role IN ('customer','technician','corporate','admin','support')),
    status              TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','suspended','deactivated','banned','deleted')),
    is_email_verified   INTEGER NOT NULL DEFAULT 0,
    is_phone_verified   INTEGER NOT NULL DEFAULT 0,
    two_factor_enabled  INTEGER NOT NULL DEFAULT 0,
    two_factor_secret   TEXT,
    totp_last_step      INTEGER NOT NULL DEFAULT 0,
    token_version       INTEGER NOT NULL DEFAULT 0,
    profile_picture_url       TEXT,
    profile_picture_public_id TEXT,
    bio                 TEXT,
    location_lng        REAL,
    location_lat        REAL,
    location_address    TEXT,
    location_city       TEXT,
    location_county     TEXT,
    location_country    TEXT,
    rating_avg          REAL NOT NULL DEFAULT 0,
    rating_count        INTEGER NOT NULL DEFAULT 0,
    kyc_status          TEXT NOT NULL DEFAULT 'none' CHECK (kyc_status IN ('none','pending','approved','rejected')),
    last_login_at       INTEGER,
    deleted_at          INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX users_role_status ON users (role, status);

-- Rotating refresh tokens. A family is one sign-in; presenting a rotated
-- token again revokes the whole family.
CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    rotated_at  INTEGER,
    revoked_at  INTEGER,
    user_agent  TEXT,
    ip          TEXT
);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Single-use tokens sent by email (verification, password reset), stored hashed.
CREATE TABLE auth_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('verify_email','reset_password')),
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX auth_tokens_user ON auth_tokens (user_id, purpose);

-- 2FA recovery codes, stored hashed, each usable once.
CREATE TABLE recovery_codes (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    used_at     INTEGER,
    PRIMARY KEY (user_id, code_hash)
);

-- Every sign-in attempt, successful or not.
CREATE TABLE login_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     TEXT REFERENCES users (id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    ip          TEXT,
    user_agent  TEXT,
    at          INTEGER NOT NULL
);
CREATE INDEX login_history_user ON login_history (user_id, at);
CREATE INDEX login_history_email ON login_history (email, at);

-- Durable background jobs.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued','running','done','dead')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 8,
    run_at       INTEGER NOT NULL,
    locked_at    INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    finished_at  INTEGER
);
CREATE INDEX jobs_due ON jobs (status, run_at);

-- Domain events, written in the same transaction as the change they describe.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    subject_id  TEXT,
    actor_id    TEXT,
    payload     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

-- How far each event consumer has read.
CREATE TABLE event_cursors (
    consumer    TEXT PRIMARY KEY,
    last_id     INTEGER NOT NULL
);
