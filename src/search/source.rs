//! What the index is built from: a read-only projection of the users
//! module's tables (`users`, `technician_profiles`, `user_skills`).
//!
//! The search module never writes these tables; it re-reads a user's
//! current row whenever an event names that user, so a replayed or
//! duplicated event just writes the same document again.

use rusqlite::{Connection, Row};

use crate::error::ApiResult;

/// One skill as the index sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SkillDoc {
    pub name: String,
    pub category: String,
}

/// One user's searchable text and ranking inputs, as stored now.
#[derive(Debug, Clone, PartialEq)]
pub struct UserDoc {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub bio: Option<String>,
    pub role: String,
    pub status: String,
    pub rating_avg: f64,
    pub is_deleted: bool,
    pub business_name: Option<String>,
    /// The profile's service categories beyond those of the skills.
    pub service_categories: Vec<String>,
    pub skills: Vec<SkillDoc>,
}

impl UserDoc {
    /// Whether the user belongs in the index: not deleted (a soft-deleted
    /// account or status `deleted`). Suspended and deactivated accounts
    /// stay, so admins can search them; queries filter on status.
    pub fn is_searchable(&self) -> bool {
        !self.is_deleted && self.status != "deleted"
    }

    /// Skill categories and service categories, each once.
    pub fn categories(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let all = self
            .skills
            .iter()
            .map(|s| s.category.as_str())
            .chain(self.service_categories.iter().map(String::as_str));
        for c in all {
            if !c.is_empty() && !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }

    /// The ranking multiplier: technicians by rating (`1 + rating/5`, so a
    /// five-star technician counts double), everyone else 1.
    pub fn boost(&self) -> f64 {
        if self.role == "technician" {
            1.0 + self.rating_avg.clamp(0.0, 5.0) / 5.0
        } else {
            1.0
        }
    }
}

/// The SQL condition (users aliased `u`) that [`UserDoc::is_searchable`] states.
pub const SEARCHABLE: &str = "u.deleted_at IS NULL AND u.status <> 'deleted'";

const COLUMNS: &str = "u.id, u.first_name, u.last_name, u.bio, u.role, u.status, u.rating_avg,
    u.deleted_at IS NOT NULL, p.business_name, COALESCE(p.service_categories, '[]')";

fn from_row(r: &Row) -> rusqlite::Result<UserDoc> {
    let categories: String = r.get(9)?;
    Ok(UserDoc {
        id: r.get(0)?,
        first_name: r.get(1)?,
        last_name: r.get(2)?,
        bio: r.get(3)?,
        role: r.get(4)?,
        status: r.get(5)?,
        rating_avg: r.get(6)?,
        is_deleted: r.get(7)?,
        business_name: r.get(8)?,
        service_categories: serde_json::from_str(&categories).unwrap_or_default(),
        skills: Vec::new(),
    })
}

/// The users among `ids` that exist (searchable or not), with their skills.
pub fn load(conn: &Connection, ids: &[String]) -> ApiResult<Vec<UserDoc>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(ids)?;
    let sql = format!(
        "SELECT {COLUMNS} FROM users u LEFT JOIN technician_profiles p ON p.user_id = u.id
         WHERE u.id IN (SELECT value FROM json_each(?1))"
    );
    let mut users = conn
        .prepare_cached(&sql)?
        .query_map([&list], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT user_id, name, category FROM user_skills
         WHERE user_id IN (SELECT value FROM json_each(?1)) ORDER BY user_id, name",
    )?;
    let mut by_user: std::collections::HashMap<String, Vec<SkillDoc>> = Default::default();
    let rows = stmt.query_map([&list], |r| {
        Ok((
            r.get::<_, String>(0)?,
            SkillDoc {
                name: r.get(1)?,
                category: r.get(2)?,
            },
        ))
    })?;
    for row in rows {
        let (id, skill) = row?;
        by_user.entry(id).or_default().push(skill);
    }
    for u in &mut users {
        u.skills = by_user.remove(&u.id).unwrap_or_default();
    }
    Ok(users)
}

/// How many users [`for_each_searchable`] will visit.
pub fn count_searchable(conn: &Connection) -> ApiResult<u64> {
    let n: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM users u WHERE {SEARCHABLE}"),
        [],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// Calls `f` with every searchable user in id order, streaming: users and
/// skills are two ordered scans merged as they go, so memory stays flat
/// whatever the number of users.
pub fn for_each_searchable(
    conn: &Connection,
    mut f: impl FnMut(UserDoc) -> ApiResult<()>,
) -> ApiResult<()> {
    let sql = format!(
        "SELECT {COLUMNS} FROM users u LEFT JOIN technician_profiles p ON p.user_id = u.id
         WHERE {SEARCHABLE} ORDER BY u.id"
    );
    let mut users = conn.prepare(&sql)?;
    let mut users = users.query([])?;
    let mut skills =
        conn.prepare("SELECT user_id, name, category FROM user_skills ORDER BY user_id, name")?;
    let mut skills = skills.query([])?;
    let mut pending: Option<(String, SkillDoc)> = None;
    let mut skills_done = false;
    while let Some(row) = users.next()? {
        let mut user = from_row(row)?;
        loop {
            if pending.is_none() && !skills_done {
                match skills.next()? {
                    Some(r) => {
                        pending = Some((
                            r.get(0)?,
                            SkillDoc {
                                name: r.get(1)?,
                                category: r.get(2)?,
                            },
                        ))
                    }
                    None => skills_done = true,
                }
            }
            match &pending {
                // Skills of users not visited (deleted ones) are skipped.
                Some((owner, _)) if owner.as_str() < user.id.as_str() => pending = None,
                Some((owner, _)) if *owner == user.id => {
                    if let Some((_, skill)) = pending.take() {
                        user.skills.push(skill);
                    }
                }
                _ => break,
            }
        }
        f(user)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: &str, rating: f64) -> UserDoc {
        UserDoc {
            id: "a".into(),
            first_name: "A".into(),
            last_name: "B".into(),
            bio: None,
            role: role.into(),
            status: "active".into(),
            rating_avg: rating,
            is_deleted: false,
            business_name: None,
            service_categories: vec!["plumbing".into(), "roofing".into()],
            skills: vec![SkillDoc {
                name: "Pipes".into(),
                category: "plumbing".into(),
            }],
        }
    }

    #[test]
    fn technicians_are_boosted_by_rating_only() {
        assert_eq!(user("technician", 0.0).boost(), 1.0);
        assert_eq!(user("technician", 5.0).boost(), 2.0);
        assert_eq!(user("technician", 9.0).boost(), 2.0);
        assert_eq!(user("customer", 5.0).boost(), 1.0);
    }

    #[test]
    fn categories_are_listed_once() {
        assert_eq!(
            user("technician", 0.0).categories(),
            vec!["plumbing", "roofing"]
        );
    }

    #[test]
    fn deleted_accounts_are_not_searchable() {
        let mut u = user("customer", 0.0);
        assert!(u.is_searchable());
        u.status = "suspended".into();
        assert!(u.is_searchable());
        u.status = "deleted".into();
        assert!(!u.is_searchable());
        u.status = "active".into();
        u.is_deleted = true;
        assert!(!u.is_searchable());
    }
}
