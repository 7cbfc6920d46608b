//! What other modules may know of a technician: trade, prices, schedule,
//! derived figures. Bookings, matching and reviews read technicians only
//! through these functions and write the derived figures only through
//! [`set_job_stats`].

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::store::DEFAULT_AVATAR;
use crate::error::ApiResult;
use crate::ids::now_ms;

/// Service categories a skill or a booking may name: the union of the
/// original User schema's and the matching module's lists.
pub const SERVICE_CATEGORIES: &[&str] = &[
    "plumbing",
    "electrical",
    "carpentry",
    "masonry",
    "painting",
    "hvac",
    "welding",
    "cleaning",
    "appliance_repair",
    "locksmith",
    "landscaping",
    "roofing",
    "flooring",
    "pest_control",
    "general_handyman",
    "other",
];

/// Whether `s` is one of [`SERVICE_CATEGORIES`].
pub fn is_service_category(s: &str) -> bool {
    SERVICE_CATEGORIES.contains(&s)
}

/// One skill as stored and sent (`skills[]` on the wire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Skill {
    pub name: String,
    pub category: String,
    /// 0-100.
    pub proficiency: i64,
    pub years_of_experience: i64,
    pub verified: bool,
}

/// One weekly schedule entry (`availability[]` on the wire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSlot {
    /// 0 = Sunday ... 6 = Saturday.
    pub day_of_week: u8,
    /// "HH:MM".
    pub start_time: String,
    /// "HH:MM".
    pub end_time: String,
    pub is_available: bool,
}

/// A technician as other modules see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Technician {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub profile_picture: Option<String>,
    /// Account status (`active`, `suspended`, ...).
    pub status: String,
    /// `none`, `pending`, `approved`, `rejected`.
    pub kyc_status: String,
    pub rating_avg: f64,
    pub rating_count: i64,
    /// `(lng, lat)`.
    pub location: Option<(f64, f64)>,
    pub hourly_rate_minor: Option<i64>,
    pub currency: String,
    pub service_radius_km: f64,
    pub years_experience: i64,
    /// `available`, `busy` or `offline`.
    pub availability_status: String,
    pub schedule: Vec<ScheduleSlot>,
    pub service_categories: Vec<String>,
    pub skills: Vec<Skill>,
    pub subscription_plan: String,
    pub completed_jobs: i64,
    pub cancelled_jobs: i64,
    /// Percent of finished jobs completed; `None` before the first.
    pub completion_rate: Option<f64>,
    /// Minutes from assignment to answer; `None` before the first answer.
    pub avg_response_mins: Option<f64>,
}

impl Technician {
    /// Whether this technician offers `category` (through a skill or the profile's list).
    pub fn offers(&self, category: &str) -> bool {
        self.skills.iter().any(|s| s.category == category)
            || self.service_categories.iter().any(|c| c == category)
    }

    /// The best proficiency among skills of `category` (0 when none).
    pub fn proficiency_in(&self, category: &str) -> i64 {
        self.skills
            .iter()
            .filter(|s| s.category == category)
            .map(|s| s.proficiency)
            .max()
            .unwrap_or(0)
    }

    /// Whether bookings may be assigned to this technician at all: an
    /// active account, and an approved KYC when `require_kyc` (the
    /// `require_technician_kyc` setting; off by default, as the original).
    pub fn is_bookable(&self, require_kyc: bool) -> bool {
        self.status == "active" && (!require_kyc || self.kyc_status == "approved")
    }

    /// The populated `technician` object of bookings and matches.
    pub fn card_json(&self) -> Value {
        json!({
            "_id": self.id,
            "id": self.id,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "fullName": format!("{} {}", self.first_name, self.last_name),
            "phoneNumber": self.phone,
            "profilePicture": {"url": self.profile_picture.clone().unwrap_or_else(|| DEFAULT_AVATAR.to_string())},
            "rating": {"average": self.rating_avg, "count": self.rating_count},
            "skills": self.skills,
            "hourlyRate": self.hourly_rate_minor.map(|m| m as f64 / 100.0),
            "yearsOfExperience": self.years_experience,
            "availability": {"status": self.availability_status, "schedule": self.schedule},
            "completedJobs": self.completed_jobs,
            "kyc": {"status": self.kyc_status, "verified": self.kyc_status == "approved"},
        })
    }
}

const COLUMNS: &str = "u.id, u.first_name, u.last_name, u.phone, u.profile_picture_url, u.status, u.kyc_status,
    u.rating_avg, u.rating_count, u.location_lng, u.location_lat,
    p.hourly_rate_minor, COALESCE(p.currency, 'KES'), COALESCE(p.service_radius_km, 10), COALESCE(p.years_experience, 0),
    COALESCE(p.availability_status, 'available'), COALESCE(p.schedule, '[]'), COALESCE(p.service_categories, '[]'),
    COALESCE(p.subscription_plan, 'free'), COALESCE(p.completed_jobs, 0), COALESCE(p.cancelled_jobs, 0),
    p.completion_rate, p.avg_response_mins";

fn from_row(r: &Row) -> rusqlite::Result<Technician> {
    let lng: Option<f64> = r.get(9)?;
    let lat: Option<f64> = r.get(10)?;
    let schedule: String = r.get(16)?;
    let categories: String = r.get(17)?;
    Ok(Technician {
        id: r.get(0)?,
        first_name: r.get(1)?,
        last_name: r.get(2)?,
        phone: r.get(3)?,
        profile_picture: r.get(4)?,
        status: r.get(5)?,
        kyc_status: r.get(6)?,
        rating_avg: r.get(7)?,
        rating_count: r.get(8)?,
        location: lng.zip(lat),
        hourly_rate_minor: r.get(11)?,
        currency: r.get(12)?,
        service_radius_km: r.get(13)?,
        years_experience: r.get(14)?,
        availability_status: r.get(15)?,
        schedule: serde_json::from_str(&schedule).unwrap_or_default(),
        service_categories: serde_json::from_str(&categories).unwrap_or_default(),
        skills: Vec::new(),
        subscription_plan: r.get(18)?,
        completed_jobs: r.get(19)?,
        cancelled_jobs: r.get(20)?,
        completion_rate: r.get(21)?,
        avg_response_mins: r.get(22)?,
    })
}

/// The skills of each given technician, in one query.
fn attach_skills(conn: &Connection, techs: &mut [Technician]) -> ApiResult<()> {
    if techs.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = techs.iter().map(|t| t.id.as_str()).collect();
    let ids = serde_json::to_string(&ids)?;
    let mut stmt = conn.prepare_cached(
        "SELECT user_id, name, category, proficiency, years_experience, is_verified FROM user_skills
         WHERE user_id IN (SELECT value FROM json_each(?1)) ORDER BY user_id, proficiency DESC, name",
    )?;
    let mut by_id: std::collections::HashMap<String, Vec<Skill>> = Default::default();
    let rows = stmt.query_map([ids], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Skill {
                name: r.get(1)?,
                category: r.get(2)?,
                proficiency: r.get(3)?,
                years_of_experience: r.get(4)?,
                verified: r.get(5)?,
            },
        ))
    })?;
    for row in rows {
        let (id, skill) = row?;
        by_id.entry(id).or_default().push(skill);
    }
    for t in techs.iter_mut() {
        t.skills = by_id.remove(&t.id).unwrap_or_default();
    }
    Ok(())
}

/// The technician with this id (any status), or `None` when there is no
/// such user or the user is not a technician.
pub fn find(conn: &Connection, id: &str) -> ApiResult<Option<Technician>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM users u LEFT JOIN technician_profiles p ON p.user_id = u.id
         WHERE u.id = ?1 AND +u.role = 'technician'"
    );
    let found = conn
        .prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?;
    let Some(t) = found else { return Ok(None) };
    let mut one = [t];
    attach_skills(conn, &mut one)?;
    let [t] = one;
    Ok(Some(t))
}

/// The technicians among `ids` (unknown ids and non-technicians are left
/// out), in no particular order; one query for the rows, one for skills.
pub fn find_many(conn: &Connection, ids: &[String]) -> ApiResult<Vec<Technician>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM users u LEFT JOIN technician_profiles p ON p.user_id = u.id
         WHERE u.id IN (SELECT value FROM json_each(?1)) AND +u.role = 'technician'"
    );
    let list = serde_json::to_string(ids)?;
    let mut techs = conn
        .prepare_cached(&sql)?
        .query_map([list], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    attach_skills(conn, &mut techs)?;
    Ok(techs)
}

/// The derived job figures the bookings module maintains.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct JobStats {
    pub completed_jobs: i64,
    pub cancelled_jobs: i64,
    pub completion_rate: Option<f64>,
    pub avg_response_mins: Option<f64>,
}

/// Stores a technician's derived job figures (creating the profile row when
/// missing). Call it in the same transaction as the booking change that
/// moved them.
pub fn set_job_stats(conn: &Connection, technician_id: &str, stats: &JobStats) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO technician_profiles (user_id, completed_jobs, cancelled_jobs, completion_rate, avg_response_mins, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (user_id) DO UPDATE SET completed_jobs = ?2, cancelled_jobs = ?3,
             completion_rate = ?4, avg_response_mins = ?5, updated_at = ?6",
        params![
            technician_id,
            stats.completed_jobs,
            stats.cancelled_jobs,
            stats.completion_rate,
            stats.avg_response_mins,
            now_ms()
        ],
    )?;
    Ok(())
}

/// Stores a user's rating aggregate (reviews call this in the same
/// transaction as the review change).
pub fn set_rating(conn: &Connection, user_id: &str, average: f64, count: i64) -> ApiResult<()> {
    conn.execute(
        "UPDATE users SET rating_avg = ?2, rating_count = ?3 WHERE id = ?1",
        params![user_id, average, count],
    )?;
    Ok(())
}
