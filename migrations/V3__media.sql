-- Media: files on local disk under <data_dir>/media/files, one row per stored file.
-- public_id is "<folder>/<random>"; the file is <public_id>.<format>, and a
-- video's thumbnail (when ffmpeg made one) is <public_id>.thumb.jpg.

CREATE TABLE media (
    id              TEXT PRIMARY KEY,
    public_id       TEXT NOT NULL UNIQUE,
    owner_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    folder          TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('image','video')),
    format          TEXT NOT NULL,
    width           INTEGER,
    height          INTEGER,
    size_bytes      INTEGER NOT NULL,
    duration_ms     INTEGER,
    has_thumbnail   INTEGER NOT NULL DEFAULT 0,
    original_name   TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX media_owner ON media (owner_id, created_at);

-- Nonces of direct-upload grants already spent, kept until the grant expires
-- so a replay is refused.
CREATE TABLE media_grant_uses (
    nonce       TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL,
    used_at     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX media_grant_uses_expiry ON media_grant_uses (expires_at);
