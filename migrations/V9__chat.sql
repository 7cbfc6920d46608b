-- Chat: conversations, their participants, messages and per-user marks.
-- (The chat module owns this file.)

-- `direct_key` is "<smaller id>:<larger id>" for direct conversations so a
-- pair has at most one; `booking_id` ties a booking conversation to its
-- booking (one per booking). The last message is kept denormalised for the
-- list (its preview text is encrypted like message text).
CREATE TABLE conversations (
    id                      TEXT PRIMARY KEY,
    type                    TEXT NOT NULL CHECK (type IN ('direct','group','booking','support')),
    name                    TEXT,
    description             TEXT,
    booking_id              TEXT REFERENCES bookings (id),
    direct_key              TEXT UNIQUE,
    created_by              TEXT REFERENCES users (id),
    status                  TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','archived','deleted')),
    allow_media_sharing     INTEGER NOT NULL DEFAULT 1,
    allow_calls             INTEGER NOT NULL DEFAULT 1,
    only_admins_can_send    INTEGER NOT NULL DEFAULT 0,
    last_message_id         TEXT,
    last_preview            BLOB,
    last_sender_id          TEXT,
    last_message_at         INTEGER NOT NULL,
    total_messages          INTEGER NOT NULL DEFAULT 0,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL
);
CREATE UNIQUE INDEX conversations_booking ON conversations (booking_id) WHERE type = 'booking' AND booking_id IS NOT NULL;

-- One row per member; a removed member keeps the row with `left_at` set
-- and loses access at once. Mute, pin, archive and unread are per member.
CREATE TABLE conversation_participants (
    conversation_id     TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id             TEXT NOT NULL REFERENCES users (id),
    role                TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('admin','member')),
    joined_at           INTEGER NOT NULL,
    left_at             INTEGER,
    is_muted            INTEGER NOT NULL DEFAULT 0,
    muted_until         INTEGER,
    is_pinned           INTEGER NOT NULL DEFAULT 0,
    is_archived         INTEGER NOT NULL DEFAULT 0,
    unread_count        INTEGER NOT NULL DEFAULT 0 CHECK (unread_count >= 0),
    last_read_at        INTEGER,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
CREATE INDEX conversation_participants_user ON conversation_participants (user_id, conversation_id) WHERE left_at IS NULL;

-- `text` is AES-256-GCM (12-byte nonce then ciphertext and tag) under the
-- key in <data_dir>/chat.key; NULL for messages without text and after a
-- delete for everyone. JSON columns hold what the type carries.
CREATE TABLE messages (
    id                  TEXT PRIMARY KEY,
    conversation_id     TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    sender_id           TEXT REFERENCES users (id),
    type                TEXT NOT NULL,
    text                BLOB,
    attachments         TEXT NOT NULL DEFAULT '[]',
    location            TEXT,
    booking_ref         TEXT,
    call_info           TEXT,
    system_info         TEXT,
    mentions            TEXT NOT NULL DEFAULT '[]',
    reply_to            TEXT,
    status              TEXT NOT NULL DEFAULT 'sent' CHECK (status IN ('sent','delivered','read')),
    is_deleted          INTEGER NOT NULL DEFAULT 0,
    deleted_at          INTEGER,
    deleted_by          TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at, id);

-- Delivered and read marks per recipient.
CREATE TABLE message_receipts (
    message_id      TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    delivered_at    INTEGER,
    read_at         INTEGER,
    PRIMARY KEY (message_id, user_id)
) WITHOUT ROWID;

-- One reaction per user per emoji (a second identical one removes it).
CREATE TABLE message_reactions (
    id              TEXT NOT NULL UNIQUE,
    message_id      TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    emoji           TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
) WITHOUT ROWID;

-- "Delete for me": hidden from this user's list only.
CREATE TABLE message_hidden (
    message_id      TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    PRIMARY KEY (message_id, user_id)
) WITHOUT ROWID;

-- Last time each user's last socket went away.
CREATE TABLE chat_presence (
    user_id         TEXT PRIMARY KEY,
    last_seen_at    INTEGER NOT NULL
) WITHOUT ROWID;
