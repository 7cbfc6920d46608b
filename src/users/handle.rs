//! Public handles (`@amina_w`): what a post caption mentions instead of a
//! 24-character id. Every account gets one from its name at sign-up (older
//! accounts at start); the owner may change it (`PUT /users/:id`,
//! `handle`). Stored lower-case and unique, so `@Amina_W` and `@amina_w`
//! name the same account.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{ApiError, ApiResult};
use crate::ids::{is_valid_id, new_id};

/// Shortest and longest handle (characters).
pub const MIN_LEN: usize = 3;
pub const MAX_LEN: usize = 30;

/// Handles nobody may take: they would pass for the platform's own voice.
const RESERVED: &[&str] = &[
    "admin",
    "administrator",
    "baitech",
    "support",
    "help",
    "system",
    "root",
    "moderator",
    "staff",
    "everyone",
    "here",
];

/// Why a handle a client sent cannot be used.
pub const RULE: &str =
    "handle is 3 to 30 lower-case letters, digits or _, with at least one letter, and not reserved";

/// The handle a client sent, normalised (trimmed, a leading `@` dropped,
/// lower-cased), if it is one an account may take.
pub fn parse(sent: &str) -> Option<String> {
    let h = sent.trim().trim_start_matches('@').to_ascii_lowercase();
    let chars_ok = h
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let valid = chars_ok
        && (MIN_LEN..=MAX_LEN).contains(&h.len())
        && h.bytes().any(|b| b.is_ascii_lowercase())
        && !is_valid_id(&h)
        && !RESERVED.contains(&h.as_str());
    valid.then_some(h)
}

/// The handle an account starts from: its name's ASCII letters and digits,
/// lower-cased (`Amina Wanjiru` → `aminawanjiru`), at most 20 characters;
/// `user` when the name has too few of them.
pub fn from_name(first: &str, last: &str) -> String {
    let base: String = first
        .chars()
        .chain(last.chars())
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(20)
        .collect();
    match parse(&base) {
        Some(h) => h,
        None => "user".into(),
    }
}

/// The handles tried in turn for a base: itself, then with 2 to 9, then
/// with six characters of a fresh id (practically never taken).
fn candidates(base: &str) -> impl Iterator<Item = String> + '_ {
    std::iter::once(base.to_string())
        .chain((2..=9).map(move |n| format!("{base}{n}")))
        .chain(std::iter::repeat_with(move || {
            format!("{base}_{}", &new_id()[18..])
        }))
}

fn is_taken(conn: &Connection, handle: &str) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM users WHERE handle = ?1")?
        .query_row([handle], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Gives `user_id` the first free handle made from its name (in the
/// caller's write transaction); returns it.
pub fn assign(conn: &Connection, user_id: &str, first: &str, last: &str) -> ApiResult<String> {
    let base = from_name(first, last);
    for handle in candidates(&base).take(30) {
        if !is_taken(conn, &handle)? {
            conn.prepare_cached("UPDATE users SET handle = ?2 WHERE id = ?1")?
                .execute(params![user_id, handle])?;
            return Ok(handle);
        }
    }
    Err(ApiError::internal("no free handle"))
}

/// Sets `user_id`'s handle to one the owner chose (already [`parse`]d); a
/// handle held by another account is a 409.
pub fn set(conn: &Connection, user_id: &str, handle: &str) -> ApiResult<()> {
    let holder: Option<String> = conn
        .prepare_cached("SELECT id FROM users WHERE handle = ?1")?
        .query_row([handle], |r| r.get(0))
        .optional()?;
    match holder {
        Some(id) if id != user_id => Err(ApiError::Conflict("That handle is already taken".into())),
        _ => {
            conn.prepare_cached("UPDATE users SET handle = ?2 WHERE id = ?1")?
                .execute(params![user_id, handle])?;
            Ok(())
        }
    }
}

/// Gives a handle to every account without one (those created before
/// handles existed); returns how many.
pub fn backfill(conn: &Connection) -> ApiResult<usize> {
    let missing: Vec<(String, String, String)> = conn
        .prepare("SELECT id, first_name, last_name FROM users WHERE handle IS NULL AND status <> 'deleted'")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (id, first, last) in &missing {
        assign(conn, id, first, last)?;
    }
    Ok(missing.len())
}

/// The ids of the active accounts holding `handles` (lower-case), in the
/// order of `handles`; unknown handles are left out.
pub fn resolve(conn: &Connection, handles: &[String]) -> ApiResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM users WHERE handle = ?1 AND status NOT IN ('deleted', 'banned')",
    )?;
    let mut out = Vec::new();
    for h in handles {
        if let Some(id) = stmt.query_row([h], |r| r.get(0)).optional()? {
            out.push(id);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_clients_may_take() {
        let cases: &[(&str, Option<&str>)] = &[
            ("amina_w", Some("amina_w")),
            ("  @Amina_W ", Some("amina_w")),
            ("fundi254", Some("fundi254")),
            ("ab", None),
            (&"a".repeat(31), None),
            ("has space", None),
            ("dot.ted", None),
            ("ñandú", None),
            ("12345", None),
            ("___", None),
            ("0123456789abcdef01234567", None),
            ("Admin", None),
            ("support", None),
            ("", None),
        ];
        for (sent, expected) in cases {
            assert_eq!(parse(sent).as_deref(), *expected, "{sent:?}");
        }
    }

    #[test]
    fn handles_from_names() {
        let cases: &[(&str, &str, &str)] = &[
            ("Amina", "Wanjiru", "aminawanjiru"),
            ("Jean-Pierre", "O'Neil", "jeanpierreoneil"),
            ("Ñandú", "Zoë", "andzo"),
            ("Bartholomew", "Kipchumba-Onyango", "bartholomewkipchumba"),
            ("Li", "", "user"),
            ("日本", "語", "user"),
            ("Admin", "", "user"),
            ("007", "", "user"),
        ];
        for (first, last, expected) in cases {
            assert_eq!(from_name(first, last), *expected, "{first} {last}");
        }
    }

    #[test]
    fn every_candidate_is_a_valid_handle() {
        for base in ["user", "bartholomewkipchumba"] {
            let tried: Vec<String> = candidates(base).take(12).collect();
            assert_eq!(tried[0], base);
            assert_eq!(tried[1], format!("{base}2"));
            for h in &tried {
                assert_eq!(parse(h).as_deref(), Some(h.as_str()), "{h}");
            }
            assert_ne!(tried[10], tried[11]);
        }
    }
}
