-- People and places: technician profiles and skills.
-- (The users module owns this file and extends it; technician_profiles and
-- user_skills below are the contract that bookings, matching and reviews
-- rely on through users::technician.)

-- One row per technician account: what the marketplace knows of their trade.
CREATE TABLE technician_profiles (
    user_id             TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    hourly_rate_minor   INTEGER CHECK (hourly_rate_minor IS NULL OR hourly_rate_minor >= 0),
    currency            TEXT NOT NULL DEFAULT 'KES',
    service_radius_km   REAL NOT NULL DEFAULT 10,
    years_experience    INTEGER NOT NULL DEFAULT 0,
    availability_status TEXT NOT NULL DEFAULT 'available' CHECK (availability_status IN ('available','busy','offline')),
    -- JSON array of {dayOfWeek (0-6), startTime "HH:MM", endTime "HH:MM", isAvailable}
    schedule            TEXT NOT NULL DEFAULT '[]',
    -- JSON array of service categories offered beyond those of the skills
    service_categories  TEXT NOT NULL DEFAULT '[]',
    business_name       TEXT,
    subscription_plan   TEXT NOT NULL DEFAULT 'free' CHECK (subscription_plan IN ('free','pro','premium')),
    -- Derived by the platform (bookings), never set by clients.
    completed_jobs      INTEGER NOT NULL DEFAULT 0,
    cancelled_jobs      INTEGER NOT NULL DEFAULT 0,
    completion_rate     REAL,
    avg_response_mins   REAL,
    updated_at          INTEGER NOT NULL
);

-- A technician's skills, each with a proficiency (0-100) and years of experience.
CREATE TABLE user_skills (
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    category         TEXT NOT NULL,
    proficiency      INTEGER NOT NULL DEFAULT 50 CHECK (proficiency BETWEEN 0 AND 100),
    years_experience INTEGER NOT NULL DEFAULT 0 CHECK (years_experience >= 0),
    is_verified      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, name)
);
CREATE INDEX user_skills_category ON user_skills (category, user_id);

-- What the users module adds beyond the contract above.

-- Profile fields of any account that the core users table does not hold:
-- personal details, corporate details, denormalised social counts, and
-- the soft-delete bookkeeping.
CREATE TABLE user_profiles (
    user_id              TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    gender               TEXT CHECK (gender IS NULL OR gender IN ('male','female','other','prefer_not_to_say')),
    date_of_birth        TEXT,
    -- Corporate accounts.
    company_name         TEXT,
    company_registration TEXT,
    department           TEXT,
    employee_count       INTEGER CHECK (employee_count IS NULL OR employee_count >= 0),
    billing_tax_id       TEXT,
    billing_email        TEXT,
    billing_address      TEXT,
    billing_contact_name TEXT,
    billing_contact_phone TEXT,
    payment_terms        TEXT,
    -- Kept equal to the follows table in the transaction that changes it.
    followers_count      INTEGER NOT NULL DEFAULT 0 CHECK (followers_count >= 0),
    following_count      INTEGER NOT NULL DEFAULT 0 CHECK (following_count >= 0),
    posts_count          INTEGER NOT NULL DEFAULT 0 CHECK (posts_count >= 0),
    delete_reason        TEXT,
    scrubbed_at          INTEGER,
    updated_at           INTEGER NOT NULL
);

-- Who follows whom. A row exists once a pair was ever toggled; `active`
-- says whether the follow stands, `changed_at` when it last flipped (so a
-- double click within the debounce window is answered, not applied twice).
CREATE TABLE follows (
    follower_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    active       INTEGER NOT NULL DEFAULT 1,
    changed_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (follower_id, followee_id),
    CHECK (follower_id <> followee_id)
);
CREATE INDEX follows_followee ON follows (followee_id, active, changed_at);
CREATE INDEX follows_follower ON follows (follower_id, active, changed_at);

-- A technician's portfolio: finished work with pictures.
CREATE TABLE portfolio_items (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title              TEXT NOT NULL,
    description        TEXT,
    category           TEXT,
    -- JSON array of {url, publicId, _id}: references to media already uploaded.
    images             TEXT NOT NULL DEFAULT '[]',
    completed_at       INTEGER,
    client_name        TEXT,
    client_testimonial TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX portfolio_items_user ON portfolio_items (user_id, created_at);

-- Push tokens (FCM). A token belongs to one device, so to one account.
CREATE TABLE fcm_tokens (
    token      TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform   TEXT NOT NULL CHECK (platform IN ('ios','android','web')),
    device     TEXT,
    added_at   INTEGER NOT NULL
);
CREATE INDEX fcm_tokens_user ON fcm_tokens (user_id, added_at);

-- KYC submissions; the newest one of a user decides users.kyc_status.
CREATE TABLE kyc_submissions (
    id                    TEXT PRIMARY KEY,
    user_id               TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    id_type               TEXT NOT NULL CHECK (id_type IN ('national_id','passport','drivers_license')),
    id_number             TEXT NOT NULL,
    id_front_url          TEXT NOT NULL,
    id_front_public_id    TEXT,
    id_back_url           TEXT,
    id_back_public_id     TEXT,
    selfie_url            TEXT,
    selfie_public_id      TEXT,
    status                TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','approved','rejected')),
    reason                TEXT,
    reviewed_by           TEXT REFERENCES users (id),
    reviewed_at           INTEGER,
    submitted_at          INTEGER NOT NULL
);
CREATE INDEX kyc_submissions_user ON kyc_submissions (user_id, submitted_at);
CREATE INDEX kyc_submissions_pending ON kyc_submissions (status, submitted_at);

-- Lists: newest accounts by status, and skills by name across accounts.
CREATE INDEX users_status_created ON users (status, created_at);
CREATE INDEX user_skills_lower_name ON user_skills (lower(name), user_id);
