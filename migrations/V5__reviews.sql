-- Reviews: what customers and technicians say of each other after a
-- completed booking, and the rating aggregates kept on the reviewee.
-- (The reviews module owns this file.)

-- One review per booking per direction (customer -> technician,
-- technician -> customer). Ratings are whole stars, 1 to 5; a category left
-- out is NULL. `images` is a JSON array of {publicId, url, caption}.
CREATE TABLE reviews (
    id                      TEXT PRIMARY KEY,
    booking_id              TEXT NOT NULL REFERENCES bookings (id),
    reviewer_id             TEXT NOT NULL REFERENCES users (id),
    reviewee_id             TEXT NOT NULL REFERENCES users (id),
    reviewer_role           TEXT NOT NULL CHECK (reviewer_role IN ('customer','technician')),
    rating_overall          INTEGER NOT NULL CHECK (rating_overall BETWEEN 1 AND 5),
    rating_quality          INTEGER CHECK (rating_quality BETWEEN 1 AND 5),
    rating_punctuality      INTEGER CHECK (rating_punctuality BETWEEN 1 AND 5),
    rating_professionalism  INTEGER CHECK (rating_professionalism BETWEEN 1 AND 5),
    rating_communication    INTEGER CHECK (rating_communication BETWEEN 1 AND 5),
    rating_value_for_money  INTEGER CHECK (rating_value_for_money BETWEEN 1 AND 5),
    title                   TEXT NOT NULL,
    comment                 TEXT NOT NULL,
    images                  TEXT NOT NULL DEFAULT '[]',
    helpful_count           INTEGER NOT NULL DEFAULT 0 CHECK (helpful_count >= 0),
    -- From the booking: a completed booking between the two parties.
    is_verified             INTEGER NOT NULL DEFAULT 1,
    -- Only published reviews count in the aggregates and the public list.
    status                  TEXT NOT NULL DEFAULT 'published' CHECK (status IN ('published','pending','hidden','removed')),
    edit_count              INTEGER NOT NULL DEFAULT 0,
    edited_at               INTEGER,
    -- The reviewee's one response (NULL until given).
    response_text           TEXT,
    response_by             TEXT REFERENCES users (id),
    response_at             INTEGER,
    response_edited_at      INTEGER,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL
);
CREATE UNIQUE INDEX reviews_booking_direction ON reviews (booking_id, reviewer_role);
CREATE INDEX reviews_reviewee ON reviews (reviewee_id, status, created_at);
CREATE INDEX reviews_reviewee_rating ON reviews (reviewee_id, status, rating_overall, created_at);
CREATE INDEX reviews_reviewee_helpful ON reviews (reviewee_id, status, helpful_count, created_at);
CREATE INDEX reviews_reviewer ON reviews (reviewer_id, status, created_at);
CREATE INDEX reviews_status_created ON reviews (status, created_at);
CREATE INDEX reviews_status_rating ON reviews (status, rating_overall, created_at);
CREATE INDEX reviews_status_helpful ON reviews (status, helpful_count, created_at);

-- Who found a review helpful: one row per (review, user).
CREATE TABLE review_helpful (
    review_id   TEXT NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (review_id, user_id)
);

-- Integer sums and counts over the reviewee's published reviews, kept in the
-- same transaction as every review change (averages derive from them, so
-- maintained and recomputed figures are exactly equal).
CREATE TABLE review_aggregates (
    user_id                 TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    review_count            INTEGER NOT NULL DEFAULT 0,
    overall_sum             INTEGER NOT NULL DEFAULT 0,
    stars_1                 INTEGER NOT NULL DEFAULT 0,
    stars_2                 INTEGER NOT NULL DEFAULT 0,
    stars_3                 INTEGER NOT NULL DEFAULT 0,
    stars_4                 INTEGER NOT NULL DEFAULT 0,
    stars_5                 INTEGER NOT NULL DEFAULT 0,
    quality_sum             INTEGER NOT NULL DEFAULT 0,
    quality_count           INTEGER NOT NULL DEFAULT 0,
    punctuality_sum         INTEGER NOT NULL DEFAULT 0,
    punctuality_count       INTEGER NOT NULL DEFAULT 0,
    professionalism_sum     INTEGER NOT NULL DEFAULT 0,
    professionalism_count   INTEGER NOT NULL DEFAULT 0,
    communication_sum       INTEGER NOT NULL DEFAULT 0,
    communication_count     INTEGER NOT NULL DEFAULT 0,
    value_for_money_sum     INTEGER NOT NULL DEFAULT 0,
    value_for_money_count   INTEGER NOT NULL DEFAULT 0,
    updated_at              INTEGER NOT NULL
);
