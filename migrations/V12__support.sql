-- Support desk: tickets, their messages, status history and internal
-- notes, and the support agents' availability and load cap.

-- One row per staff member who set their availability or was ever given a
-- ticket. `active_count` is their load: tickets assigned to them in a
-- status that counts (assigned, in_progress, waiting_*, reopened), kept by
-- the triggers below on every insert, update and delete of a ticket, so
-- no code path can let it drift and the pick reads it without counting.
CREATE TABLE support_agents (
    user_id          TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    availability     TEXT NOT NULL DEFAULT 'offline'
                     CHECK (availability IN ('available','busy','away','offline')),
    max_concurrent   INTEGER NOT NULL DEFAULT 5 CHECK (max_concurrent >= 0),
    active_count     INTEGER NOT NULL DEFAULT 0,
    last_assigned_at INTEGER NOT NULL DEFAULT 0,
    rating_sum       INTEGER NOT NULL DEFAULT 0,
    rating_count     INTEGER NOT NULL DEFAULT 0,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX support_agents_available ON support_agents (availability);

CREATE TABLE support_tickets (
    id                    TEXT PRIMARY KEY,
    seq                   INTEGER NOT NULL UNIQUE,
    ticket_number         TEXT NOT NULL UNIQUE,
    customer_id           TEXT NOT NULL REFERENCES users (id),
    assigned_to           TEXT REFERENCES users (id),
    subject               TEXT NOT NULL,
    description           TEXT NOT NULL,
    category              TEXT NOT NULL,
    subcategory           TEXT,
    priority              TEXT NOT NULL CHECK (priority IN ('low','medium','high','urgent')),
    priority_rank         INTEGER NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('open','assigned','in_progress','waiting_customer','waiting_internal','resolved','closed','reopened')),
    related_booking       TEXT,
    related_transaction   TEXT,
    attachments           TEXT NOT NULL DEFAULT '[]',
    tags                  TEXT NOT NULL DEFAULT '[]',
    source                TEXT NOT NULL DEFAULT 'web',
    ip_address            TEXT,
    user_agent            TEXT,
    first_response_target INTEGER NOT NULL,
    resolution_target     INTEGER NOT NULL,
    first_response_actual INTEGER,
    first_response_met    INTEGER,
    resolution_actual     INTEGER,
    resolution_met        INTEGER,
    paused_at             INTEGER,
    paused_ms             INTEGER NOT NULL DEFAULT 0,
    warned_first          INTEGER NOT NULL DEFAULT 0,
    warned_resolution     INTEGER NOT NULL DEFAULT 0,
    breached_first        INTEGER NOT NULL DEFAULT 0,
    breached_resolution   INTEGER NOT NULL DEFAULT 0,
    assigned_at           INTEGER,
    first_response_at     INTEGER,
    resolved_at           INTEGER,
    closed_at             INTEGER,
    reopened_at           INTEGER,
    resolution_summary    TEXT,
    resolution_type       TEXT,
    resolution_notes      TEXT,
    resolved_by           TEXT,
    rating                INTEGER,
    rating_feedback       TEXT,
    rated_at              INTEGER,
    is_escalated          INTEGER NOT NULL DEFAULT 0,
    escalation_level      INTEGER NOT NULL DEFAULT 0,
    escalated_to          TEXT,
    escalated_at          INTEGER,
    escalation_reason     TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);
CREATE INDEX support_tickets_customer ON support_tickets (customer_id, created_at);
CREATE INDEX support_tickets_load ON support_tickets (assigned_to, status, priority_rank, created_at);
CREATE INDEX support_tickets_created ON support_tickets (created_at);
-- The unassigned queue, in dashboard order.
CREATE INDEX support_tickets_queue ON support_tickets (priority_rank DESC, created_at)
    WHERE assigned_to IS NULL AND status IN ('open','reopened');
-- Urgent tickets still being worked.
CREATE INDEX support_tickets_urgent ON support_tickets (created_at)
    WHERE priority = 'urgent' AND status NOT IN ('resolved','closed');

CREATE TRIGGER support_load_insert AFTER INSERT ON support_tickets
WHEN NEW.assigned_to IS NOT NULL
 AND NEW.status IN ('assigned','in_progress','waiting_customer','waiting_internal','reopened')
BEGIN
    UPDATE support_agents SET active_count = active_count + 1 WHERE user_id = NEW.assigned_to;
END;
CREATE TRIGGER support_load_update AFTER UPDATE OF assigned_to, status ON support_tickets
BEGIN
    UPDATE support_agents SET active_count = active_count - 1
     WHERE user_id = OLD.assigned_to
       AND OLD.status IN ('assigned','in_progress','waiting_customer','waiting_internal','reopened');
    UPDATE support_agents SET active_count = active_count + 1
     WHERE user_id = NEW.assigned_to
       AND NEW.status IN ('assigned','in_progress','waiting_customer','waiting_internal','reopened');
END;
CREATE TRIGGER support_load_delete AFTER DELETE ON support_tickets
WHEN OLD.assigned_to IS NOT NULL
 AND OLD.status IN ('assigned','in_progress','waiting_customer','waiting_internal','reopened')
BEGIN
    UPDATE support_agents SET active_count = active_count - 1 WHERE user_id = OLD.assigned_to;
END;

CREATE TABLE support_messages (
    id          TEXT PRIMARY KEY,
    ticket_id   TEXT NOT NULL REFERENCES support_tickets (id) ON DELETE CASCADE,
    sender_id   TEXT NOT NULL,
    sender_role TEXT NOT NULL CHECK (sender_role IN ('customer','support','admin')),
    message     TEXT NOT NULL,
    attachments TEXT NOT NULL DEFAULT '[]',
    is_internal INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
CREATE INDEX support_messages_ticket ON support_messages (ticket_id, created_at);

CREATE TABLE support_status_history (
    id         TEXT PRIMARY KEY,
    ticket_id  TEXT NOT NULL REFERENCES support_tickets (id) ON DELETE CASCADE,
    status     TEXT NOT NULL,
    changed_by TEXT,
    changed_at INTEGER NOT NULL,
    notes      TEXT
);
CREATE INDEX support_status_history_ticket ON support_status_history (ticket_id, changed_at);

CREATE TABLE support_internal_notes (
    id        TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES support_tickets (id) ON DELETE CASCADE,
    note      TEXT NOT NULL,
    added_by  TEXT,
    added_at  INTEGER NOT NULL
);
CREATE INDEX support_internal_notes_ticket ON support_internal_notes (ticket_id, added_at);
