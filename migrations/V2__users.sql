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
