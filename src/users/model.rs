//! The users module's types and pure rules: what a profile update may
//! contain and who may send it, skills and schedules, list filters and
//! sorting, the follow toggle, availability, KYC transitions and the
//! placeholders a scrubbed account keeps. Nothing here touches the database
//! or HTTP, so every rule is unit-tested beside it.

use chrono::{Datelike, NaiveDate};
use serde_json::{Map, Value};

use crate::auth::Role;
use crate::error::{check, FieldError};
use crate::users::technician::{is_service_category, ScheduleSlot};

/// Longest bio, as the original schema allowed.
pub const BIO_MAX: usize = 500;
/// Most skills one technician may list.
pub const SKILLS_MAX: usize = 30;
/// Most weekly schedule entries.
pub const SCHEDULE_MAX: usize = 28;
/// Largest service radius a technician may declare, in km.
pub const SERVICE_RADIUS_MAX_KM: f64 = 500.0;
/// Largest hourly rate in major units (guards integer storage).
pub const HOURLY_RATE_MAX: f64 = 10_000_000.0;
/// Most pictures on one portfolio item.
pub const PORTFOLIO_IMAGES_MAX: usize = 20;

/// Account statuses an admin may set through `PUT /users/:id` (`deleted`
/// only comes from `DELETE /users/:id`).
pub const ADMIN_STATUSES: &[&str] = &["active", "suspended", "deactivated", "banned"];

/// Technician availability states (`technician_profiles.availability_status`).
pub const AVAILABILITY_STATUSES: &[&str] = &["available", "busy", "offline"];

/// KYC document kinds.
pub const KYC_ID_TYPES: &[&str] = &["national_id", "passport", "drivers_license"];

/// FCM client platforms.
pub const FCM_PLATFORMS: &[&str] = &["ios", "android", "web"];

/// `Some(None)` clears a field, `Some(Some(v))` sets it, `None` leaves it.
pub type Patch<T> = Option<Option<T>>;

/// A location as given in a body (GeoJSON point plus address parts).
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub lng: f64,
    pub lat: f64,
    pub address: Option<String>,
    pub city: Option<String>,
    pub county: Option<String>,
    pub country: Option<String>,
}

/// One skill as a client may send it (`verified` is never taken from a body).
#[derive(Debug, Clone, PartialEq)]
pub struct SkillInput {
    pub name: String,
    pub category: String,
    pub proficiency: i64,
    pub years_of_experience: i64,
}

/// A picture reference: a URL and, for media we host, its public id.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    pub url: String,
    pub public_id: Option<String>,
}

/// A corporate account's billing details (replaced as a whole).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Billing {
    pub tax_id: Option<String>,
    pub billing_email: Option<String>,
    pub billing_address: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub payment_terms: Option<String>,
}

/// A validated `PUT /users/:id` body: only whitelisted fields, each already
/// checked; fields that do not apply to the target's role are left out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProfileUpdate {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub bio: Patch<String>,
    /// Normalised E.164.
    pub phone: Option<String>,
    pub location: Patch<Location>,
    pub picture: Patch<Picture>,
    pub gender: Patch<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Patch<String>,
    // Technicians.
    pub business_name: Patch<String>,
    pub skills: Option<Vec<SkillInput>>,
    pub schedule: Option<Vec<ScheduleSlot>>,
    pub availability_status: Option<String>,
    pub hourly_rate_minor: Patch<i64>,
    pub currency: Option<String>,
    pub service_radius_km: Option<f64>,
    pub years_experience: Option<i64>,
    pub service_categories: Option<Vec<String>>,
    // Corporate accounts.
    pub company_name: Patch<String>,
    pub company_registration: Patch<String>,
    pub department: Patch<String>,
    pub employee_count: Patch<i64>,
    pub billing: Option<Billing>,
    /// A handle already [`crate::users::handle::parse`]d.
    pub handle: Option<String>,
    // Admins only.
    pub role: Option<Role>,
    pub status: Option<String>,
}

impl ProfileUpdate {
    /// Whether anything that lives in `technician_profiles` changes.
    pub fn touches_technician_profile(&self) -> bool {
        self.business_name.is_some()
            || self.schedule.is_some()
            || self.availability_status.is_some()
            || self.hourly_rate_minor.is_some()
            || self.currency.is_some()
            || self.service_radius_km.is_some()
            || self.years_experience.is_some()
            || self.service_categories.is_some()
    }

    /// Whether anything that lives in `user_profiles` changes.
    pub fn touches_user_profile(&self) -> bool {
        self.gender.is_some()
            || self.date_of_birth.is_some()
            || self.company_name.is_some()
            || self.company_registration.is_some()
            || self.department.is_some()
            || self.employee_count.is_some()
            || self.billing.is_some()
    }

    /// The wire names of the fields this update sets (for the event payload).
    pub fn changed_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut add = |set: bool, name: &'static str| {
            if set {
                out.push(name)
            }
        };
        add(self.first_name.is_some(), "firstName");
        add(self.last_name.is_some(), "lastName");
        add(self.handle.is_some(), "handle");
        add(self.bio.is_some(), "bio");
        add(self.phone.is_some(), "phoneNumber");
        add(self.location.is_some(), "location");
        add(self.picture.is_some(), "profilePicture");
        add(self.gender.is_some(), "gender");
        add(self.date_of_birth.is_some(), "dateOfBirth");
        add(self.business_name.is_some(), "businessName");
        add(self.skills.is_some(), "skills");
        add(
            self.schedule.is_some() || self.availability_status.is_some(),
            "availability",
        );
        add(self.hourly_rate_minor.is_some(), "hourlyRate");
        add(self.currency.is_some(), "currency");
        add(self.service_radius_km.is_some(), "serviceRadius");
        add(self.years_experience.is_some(), "yearsOfExperience");
        add(self.service_categories.is_some(), "serviceCategories");
        add(self.company_name.is_some(), "companyName");
        add(self.company_registration.is_some(), "companyRegistration");
        add(self.department.is_some(), "department");
        add(self.employee_count.is_some(), "employeeCount");
        add(self.billing.is_some(), "billingInfo");
        add(self.role.is_some(), "role");
        add(self.status.is_some(), "status");
        out
    }

    /// Whether the change can move the technician in the nearby index.
    pub fn touches_index(&self) -> bool {
        self.location.is_some()
            || self.skills.is_some()
            || self.availability_status.is_some()
            || self.service_categories.is_some()
            || self.role.is_some()
            || self.status.is_some()
    }
}

/// Who sends a profile update, and to whom.
#[derive(Debug, Clone, Copy)]
pub struct UpdateContext {
    pub target_role: Role,
    pub by_admin: bool,
    /// The caller edits their own account.
    pub is_self: bool,
    pub today: NaiveDate,
}

/// Whether `caller` may change the account `target_id` (owner or admin).
pub fn may_edit(caller_id: &str, caller_is_admin: bool, target_id: &str) -> bool {
    caller_is_admin || caller_id == target_id
}

// ------------------------------------------------------------ field readers

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An optional text field: absent → `None`; null or blank → `Some(None)`;
/// a string → trimmed; anything longer than `max` chars or not a string is
/// an error naming `field`.
pub fn text_patch(
    v: Option<&Value>,
    field: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Patch<String> {
    match v? {
        Value::Null => Some(None),
        Value::String(s) => {
            let s = s.trim();
            if s.chars().count() > max {
                check(
                    errors,
                    false,
                    field,
                    &format!("{field} must be at most {max} characters"),
                );
                return None;
            }
            Some((!s.is_empty()).then(|| s.to_string()))
        }
        other => {
            check(
                errors,
                false,
                field,
                &format!("{field} must be a string, not {}", type_name(other)),
            );
            None
        }
    }
}

/// A required-if-present text field (first and last names): blank is an error.
fn text_required(
    v: Option<&Value>,
    field: &str,
    max: usize,
    message: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let before = errors.len();
    match text_patch(v, field, max, errors) {
        None => None,
        Some(Some(s)) => Some(s),
        Some(None) => {
            if errors.len() == before {
                check(errors, false, field, message);
            }
            None
        }
    }
}

/// A number given as a JSON number or a numeric string.
pub fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|x| x.is_finite())
}

/// A whole number in `min..=max`, as a number or numeric string.
pub fn whole_in(v: &Value, min: i64, max: i64) -> Option<i64> {
    let x = number_of(v)?;
    (x.fract() == 0.0 && x >= min as f64 && x <= max as f64).then_some(x as i64)
}

/// A boolean given as JSON `true`/`false` or the strings `"true"`/`"false"`.
pub fn bool_of(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Major units (at most two decimals, not negative) to minor units.
pub fn major_to_minor(amount: f64) -> Option<i64> {
    if !amount.is_finite() || !(0.0..=HOURLY_RATE_MAX).contains(&amount) {
        return None;
    }
    let cents = amount * 100.0;
    let rounded = cents.round();
    ((cents - rounded).abs() < 1e-6).then_some(rounded as i64)
}

/// Minor units to the major-unit number written in JSON.
pub fn minor_to_major(minor: i64) -> f64 {
    minor as f64 / 100.0
}

/// Whether `s` is a 24-hour `HH:MM` time.
pub fn is_hhmm(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5
        && b[2] == b':'
        && s[..2]
            .parse::<u8>()
            .is_ok_and(|h| h < 24 && b[0].is_ascii_digit())
        && s[3..]
            .parse::<u8>()
            .is_ok_and(|m| m < 60 && b[3].is_ascii_digit())
}

/// Whether `s` can be stored as a picture URL: http(s) or a path on this server.
pub fn is_picture_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://") || s.starts_with('/'))
        && s.len() <= 2048
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A picture reference: a URL string or `{url, publicId}`.
pub fn parse_picture(v: &Value, field: &str, errors: &mut Vec<FieldError>) -> Option<Picture> {
    let (url, public_id) = match v {
        Value::String(s) => (Some(s.trim().to_string()), None),
        Value::Object(m) => (
            m.get("url")
                .and_then(Value::as_str)
                .map(|s| s.trim().to_string()),
            m.get("publicId")
                .and_then(Value::as_str)
                .map(|s| s.trim().chars().take(300).collect::<String>())
                .filter(|s| !s.is_empty()),
        ),
        _ => (None, None),
    };
    match url {
        Some(url) if is_picture_url(&url) => Some(Picture { url, public_id }),
        _ => {
            check(
                errors,
                false,
                field,
                &format!("{field} must be an http(s) URL or {{url, publicId}}"),
            );
            None
        }
    }
}

/// A GeoJSON point with address parts; `[lng, lat]` in range.
pub fn parse_location(v: &Value, field: &str, errors: &mut Vec<FieldError>) -> Option<Location> {
    let Some(m) = v.as_object() else {
        check(
            errors,
            false,
            field,
            &format!("{field} must be an object {{type: 'Point', coordinates: [lng, lat]}}"),
        );
        return None;
    };
    if let Some(t) = m.get("type") {
        check(
            errors,
            t.as_str() == Some("Point"),
            &format!("{field}.type"),
            "Location type must be 'Point'",
        );
    }
    let pair = m
        .get("coordinates")
        .and_then(Value::as_array)
        .and_then(|c| match c.as_slice() {
            [lng, lat] => Some((number_of(lng)?, number_of(lat)?)),
            _ => None,
        });
    let coords_field = format!("{field}.coordinates");
    let Some((lng, lat)) = pair else {
        check(
            errors,
            false,
            &coords_field,
            "Coordinates must be [longitude, latitude]",
        );
        return None;
    };
    if !(-180.0..=180.0).contains(&lng) || !(-90.0..=90.0).contains(&lat) {
        check(
            errors,
            false,
            &coords_field,
            "Longitude must be within -180..180 and latitude within -90..90",
        );
        return None;
    }
    let part = |k: &str, errors: &mut Vec<FieldError>| {
        text_patch(m.get(k), &format!("{field}.{k}"), 200, errors).flatten()
    };
    Some(Location {
        lng,
        lat,
        address: part("address", errors),
        city: part("city", errors),
        county: part("county", errors),
        country: part("country", errors),
    })
}

/// A skills array: names unique (case-insensitive), categories known,
/// proficiency 0-100 (default 50), years 0-80 (default 0). A missing
/// category is the name itself when that is a category, else `other`.
pub fn parse_skills(
    v: &Value,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<SkillInput>> {
    let Some(items) = v.as_array() else {
        check(errors, false, field, &format!("{field} must be an array"));
        return None;
    };
    if items.len() > SKILLS_MAX {
        check(
            errors,
            false,
            field,
            &format!("At most {SKILLS_MAX} skills"),
        );
        return None;
    }
    let before = errors.len();
    let mut out: Vec<SkillInput> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |k: &str| format!("{field}[{i}].{k}");
        let obj: Map<String, Value> = match item {
            Value::String(s) => {
                let mut m = Map::new();
                m.insert("name".into(), Value::String(s.clone()));
                m
            }
            Value::Object(m) => m.clone(),
            _ => {
                check(
                    errors,
                    false,
                    &format!("{field}[{i}]"),
                    "Each skill must be an object {name, category}",
                );
                continue;
            }
        };
        let name = text_required(
            obj.get("name"),
            &at("name"),
            50,
            "Skill name is required",
            errors,
        );
        let category = match obj.get("category") {
            None | Some(Value::Null) => name
                .as_deref()
                .map(str::to_lowercase)
                .filter(|n| is_service_category(n))
                .or_else(|| Some("other".to_string())),
            Some(Value::String(c)) if is_service_category(c.trim()) => Some(c.trim().to_string()),
            Some(_) => {
                check(errors, false, &at("category"), "Unknown service category");
                None
            }
        };
        let proficiency = match obj.get("proficiency") {
            None | Some(Value::Null) => Some(50),
            Some(p) => {
                let p = whole_in(p, 0, 100);
                check(
                    errors,
                    p.is_some(),
                    &at("proficiency"),
                    "Proficiency must be a whole number from 0 to 100",
                );
                p
            }
        };
        let years = match obj.get("yearsOfExperience") {
            None | Some(Value::Null) => Some(0),
            Some(y) => {
                let y = whole_in(y, 0, 80);
                check(
                    errors,
                    y.is_some(),
                    &at("yearsOfExperience"),
                    "Years of experience must be a whole number from 0 to 80",
                );
                y
            }
        };
        if let (Some(name), Some(category), Some(proficiency), Some(years)) =
            (name, category, proficiency, years)
        {
            if out.iter().any(|s| s.name.eq_ignore_ascii_case(&name)) {
                check(errors, false, &at("name"), "Skill listed twice");
                continue;
            }
            out.push(SkillInput {
                name,
                category,
                proficiency,
                years_of_experience: years,
            });
        }
    }
    (errors.len() == before).then_some(out)
}

/// A weekly schedule: `{dayOfWeek 0-6, startTime, endTime ("HH:MM",
/// start before end; default 08:00-17:00), isAvailable (default true)}`,
/// with no two entries of one day overlapping. Sorted by day and start.
pub fn parse_schedule(
    v: &Value,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<ScheduleSlot>> {
    let Some(items) = v.as_array() else {
        check(errors, false, field, &format!("{field} must be an array"));
        return None;
    };
    if items.len() > SCHEDULE_MAX {
        check(
            errors,
            false,
            field,
            &format!("At most {SCHEDULE_MAX} schedule entries"),
        );
        return None;
    }
    let before = errors.len();
    let mut out: Vec<ScheduleSlot> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |k: &str| format!("{field}[{i}].{k}");
        let Some(obj) = item.as_object() else {
            check(
                errors,
                false,
                &format!("{field}[{i}]"),
                "Each entry must be an object {dayOfWeek, startTime, endTime}",
            );
            continue;
        };
        let day = obj.get("dayOfWeek").and_then(|d| whole_in(d, 0, 6));
        check(
            errors,
            day.is_some(),
            &at("dayOfWeek"),
            "dayOfWeek must be a whole number from 0 (Sunday) to 6",
        );
        let time = |k: &str, default: &str, errors: &mut Vec<FieldError>| match obj.get(k) {
            None | Some(Value::Null) => Some(default.to_string()),
            Some(Value::String(s)) if is_hhmm(s.trim()) => Some(s.trim().to_string()),
            Some(_) => {
                check(errors, false, &at(k), "Time must be HH:MM (24-hour)");
                None
            }
        };
        let start = time("startTime", "08:00", errors);
        let end = time("endTime", "17:00", errors);
        let available = match obj.get("isAvailable") {
            None | Some(Value::Null) => Some(true),
            Some(b) => {
                let b = bool_of(b);
                check(
                    errors,
                    b.is_some(),
                    &at("isAvailable"),
                    "isAvailable must be true or false",
                );
                b
            }
        };
        if let (Some(day), Some(start), Some(end), Some(available)) = (day, start, end, available) {
            if start >= end {
                check(
                    errors,
                    false,
                    &at("endTime"),
                    "endTime must be after startTime",
                );
                continue;
            }
            out.push(ScheduleSlot {
                day_of_week: day as u8,
                start_time: start,
                end_time: end,
                is_available: available,
            });
        }
    }
    out.sort_by(|a, b| (a.day_of_week, &a.start_time).cmp(&(b.day_of_week, &b.start_time)));
    for w in out.windows(2) {
        if w[0].day_of_week == w[1].day_of_week && w[1].start_time < w[0].end_time {
            check(errors, false, field, "Schedule entries of one day overlap");
            break;
        }
    }
    (errors.len() == before).then_some(out)
}

/// `availability` in a profile update: the original's array of schedule
/// entries, or the web client's object `{isAvailable, status, schedule}`.
fn parse_availability_field(
    v: &Value,
    errors: &mut Vec<FieldError>,
) -> (Option<Vec<ScheduleSlot>>, Option<String>) {
    match v {
        Value::Array(_) => (parse_schedule(v, "availability", errors), None),
        Value::Object(m) => {
            let change = parse_availability_change(
                m.get("isAvailable"),
                m.get("status"),
                m.get("schedule"),
                "availability.",
                errors,
            );
            match change {
                Some(c) => (c.schedule, c.status),
                None => (None, None),
            }
        }
        _ => {
            check(
                errors,
                false,
                "availability",
                "availability must be an array of schedule entries or {isAvailable, schedule}",
            );
            (None, None)
        }
    }
}

/// A validated `PUT /users/:id/availability` body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AvailabilityChange {
    /// `available`, `busy` or `offline`.
    pub status: Option<String>,
    pub schedule: Option<Vec<ScheduleSlot>>,
    /// `isAvailable` as sent: applied to every schedule entry too (the spec's fix).
    pub is_available: Option<bool>,
}

/// Reads `isAvailable`, `status` and `schedule`. `isAvailable` true means
/// `available`, false `offline`; `status` may say `busy`. The two must not
/// contradict each other.
pub fn parse_availability_change(
    is_available: Option<&Value>,
    status: Option<&Value>,
    schedule: Option<&Value>,
    prefix: &str,
    errors: &mut Vec<FieldError>,
) -> Option<AvailabilityChange> {
    let before = errors.len();
    let is_available = match is_available {
        None | Some(Value::Null) => None,
        Some(v) => {
            let b = bool_of(v);
            check(
                errors,
                b.is_some(),
                &format!("{prefix}isAvailable"),
                "isAvailable must be true or false",
            );
            b
        }
    };
    let status = match status {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if AVAILABILITY_STATUSES.contains(&s.trim()) => {
            Some(s.trim().to_string())
        }
        Some(_) => {
            check(
                errors,
                false,
                &format!("{prefix}status"),
                "status must be available, busy or offline",
            );
            None
        }
    };
    let schedule = match schedule {
        None | Some(Value::Null) => None,
        Some(v) => parse_schedule(v, &format!("{prefix}schedule"), errors),
    };
    if let (Some(a), Some(s)) = (is_available, status.as_deref()) {
        check(
            errors,
            a == (s == "available"),
            &format!("{prefix}status"),
            "status contradicts isAvailable",
        );
    }
    if errors.len() != before {
        return None;
    }
    let status = status
        .or_else(|| is_available.map(|a| if a { "available" } else { "offline" }.to_string()));
    Some(AvailabilityChange {
        status,
        schedule,
        is_available,
    })
}

/// The schedule after an availability change: the new one (or the current
/// one) with `isAvailable`, when given, applied to every entry.
pub fn apply_availability(
    current: &[ScheduleSlot],
    change: &AvailabilityChange,
) -> Vec<ScheduleSlot> {
    let mut schedule = change.schedule.clone().unwrap_or_else(|| current.to_vec());
    if let Some(a) = change.is_available {
        for slot in &mut schedule {
            slot.is_available = a;
        }
    }
    schedule
}

/// Whether `s` is a 3-letter upper-case currency code.
pub fn is_currency(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// A birth date (`YYYY-MM-DD` or ISO date-time) in the past, after 1900.
pub fn parse_birth_date(s: &str, today: NaiveDate) -> Option<NaiveDate> {
    let ms = crate::ids::parse_datetime(s.trim())?;
    let date = chrono::DateTime::from_timestamp_millis(ms)?.date_naive();
    (date < today && date.year() >= 1900).then_some(date)
}

/// Whole years from `dob` to `today`.
pub fn age_on(dob: NaiveDate, today: NaiveDate) -> i64 {
    let mut years = (today.year() - dob.year()) as i64;
    if (today.month(), today.day()) < (dob.month(), dob.day()) {
        years -= 1;
    }
    years.max(0)
}

/// Validates a `PUT /users/:id` body. Only whitelisted keys are read;
/// technician fields only for technicians, corporate fields only for
/// corporate accounts; `role` and `status` only when an admin sends them
/// (for anyone else they are ignored, as the original ignored them), and
/// never for the admin's own account. Rating, verification, KYC and the
/// derived figures are not read at all.
pub fn parse_update(body: &Value, ctx: UpdateContext) -> Result<ProfileUpdate, Vec<FieldError>> {
    let mut errors = Vec::new();
    let empty = Map::new();
    let m = match body {
        Value::Object(m) => m,
        Value::Null => &empty,
        _ => {
            return Err(vec![FieldError {
                field: "body".into(),
                message: "The body must be a JSON object".into(),
            }])
        }
    };
    let e = &mut errors;
    let mut u = ProfileUpdate {
        first_name: text_required(
            m.get("firstName"),
            "firstName",
            50,
            "First name is required",
            e,
        ),
        last_name: text_required(
            m.get("lastName"),
            "lastName",
            50,
            "Last name is required",
            e,
        ),
        bio: text_patch(m.get("bio"), "bio", BIO_MAX, e),
        ..ProfileUpdate::default()
    };
    if let Some(v) = m.get("handle") {
        u.handle = v.as_str().and_then(crate::users::handle::parse);
        check(e, u.handle.is_some(), "handle", crate::users::handle::RULE);
    }
    if let Some(v) = m.get("phoneNumber") {
        let phone = v.as_str().and_then(crate::auth::policy::normalize_phone);
        check(
            e,
            phone.is_some(),
            "phoneNumber",
            "Please enter a valid phone number (e.g. 0712345678 or +254712345678)",
        );
        u.phone = phone;
    }
    u.location = match m.get("location") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => parse_location(v, "location", e).map(Some),
    };
    u.picture = match m.get("profilePicture") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => parse_picture(v, "profilePicture", e).map(Some),
    };
    u.gender = match text_patch(m.get("gender"), "gender", 30, e) {
        Some(Some(g))
            if !["male", "female", "other", "prefer_not_to_say"].contains(&g.as_str()) =>
        {
            check(
                e,
                false,
                "gender",
                "gender must be male, female, other or prefer_not_to_say",
            );
            None
        }
        other => other,
    };
    u.date_of_birth = match text_patch(m.get("dateOfBirth"), "dateOfBirth", 40, e) {
        Some(Some(s)) => match parse_birth_date(&s, ctx.today) {
            Some(d) => Some(Some(d.format("%Y-%m-%d").to_string())),
            None => {
                check(
                    e,
                    false,
                    "dateOfBirth",
                    "dateOfBirth must be a past date (YYYY-MM-DD)",
                );
                None
            }
        },
        other => other,
    };

    if ctx.target_role == Role::Technician {
        u.business_name = text_patch(m.get("businessName"), "businessName", 100, e);
        u.skills = m.get("skills").and_then(|v| parse_skills(v, "skills", e));
        if let Some(v) = m.get("availability") {
            let (schedule, status) = parse_availability_field(v, e);
            u.schedule = schedule;
            u.availability_status = status;
        }
        if let Some(v) = m.get("schedule") {
            u.schedule = parse_schedule(v, "schedule", e);
        }
        u.hourly_rate_minor = match m.get("hourlyRate") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v) => {
                let minor = number_of(v).and_then(major_to_minor);
                check(
                    e,
                    minor.is_some(),
                    "hourlyRate",
                    "hourlyRate must be a non-negative amount with at most two decimals",
                );
                minor.map(Some)
            }
        };
        if let Some(v) = m.get("currency") {
            let c = v
                .as_str()
                .map(|s| s.trim().to_ascii_uppercase())
                .filter(|s| is_currency(s));
            check(
                e,
                c.is_some(),
                "currency",
                "currency must be a 3-letter code such as KES",
            );
            u.currency = c;
        }
        if let Some(v) = m.get("serviceRadius") {
            let r = number_of(v).filter(|r| *r > 0.0 && *r <= SERVICE_RADIUS_MAX_KM);
            check(
                e,
                r.is_some(),
                "serviceRadius",
                "serviceRadius must be a distance in km above 0 and at most 500",
            );
            u.service_radius_km = r;
        }
        if let Some(v) = m.get("yearsOfExperience") {
            let y = whole_in(v, 0, 80);
            check(
                e,
                y.is_some(),
                "yearsOfExperience",
                "yearsOfExperience must be a whole number from 0 to 80",
            );
            u.years_experience = y;
        }
        if let Some(v) = m.get("serviceCategories") {
            let cats: Option<Vec<String>> = v.as_array().and_then(|a| {
                a.iter()
                    .map(|c| {
                        c.as_str()
                            .map(str::trim)
                            .filter(|c| is_service_category(c))
                            .map(String::from)
                    })
                    .collect()
            });
            check(
                e,
                cats.is_some(),
                "serviceCategories",
                "serviceCategories must be an array of known service categories",
            );
            u.service_categories = cats.map(|mut c| {
                c.sort();
                c.dedup();
                c
            });
        }
    }

    if ctx.target_role == Role::Corporate {
        u.company_name = text_patch(m.get("companyName"), "companyName", 150, e);
        u.company_registration =
            text_patch(m.get("companyRegistration"), "companyRegistration", 100, e);
        u.department = text_patch(m.get("department"), "department", 100, e);
        u.employee_count = match m.get("employeeCount") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v) => {
                let n = whole_in(v, 0, 10_000_000);
                check(
                    e,
                    n.is_some(),
                    "employeeCount",
                    "employeeCount must be a whole number",
                );
                n.map(Some)
            }
        };
        u.billing = match m.get("billingInfo") {
            None => None,
            Some(Value::Null) => Some(Billing::default()),
            Some(Value::Object(b)) => {
                let f = |k: &str, max: usize, e: &mut Vec<FieldError>| {
                    text_patch(b.get(k), &format!("billingInfo.{k}"), max, e).flatten()
                };
                let billing = Billing {
                    tax_id: f("taxId", 50, e),
                    billing_email: f("billingEmail", 254, e),
                    billing_address: f("billingAddress", 300, e),
                    contact_name: f("contactName", 100, e),
                    contact_phone: f("contactPhone", 30, e),
                    payment_terms: f("paymentTerms", 100, e),
                };
                if let Some(email) = &billing.billing_email {
                    check(
                        e,
                        crate::auth::policy::normalize_email(email).is_some(),
                        "billingInfo.billingEmail",
                        "Valid email is required",
                    );
                }
                if let Some(phone) = &billing.contact_phone {
                    check(
                        e,
                        crate::auth::policy::normalize_phone(phone).is_some(),
                        "billingInfo.contactPhone",
                        "Please enter a valid phone number",
                    );
                }
                Some(billing)
            }
            Some(_) => {
                check(e, false, "billingInfo", "billingInfo must be an object");
                None
            }
        };
    }

    if ctx.by_admin {
        if let Some(v) = m.get("role") {
            let role = v.as_str().and_then(|r| Role::parse(r.trim()));
            check(
                e,
                role.is_some(),
                "role",
                "role must be customer, technician, corporate, admin or support",
            );
            if role.is_some() && ctx.is_self && role != Some(Role::Admin) {
                check(e, false, "role", "You cannot change your own role");
            } else {
                u.role = role;
            }
        }
        if let Some(v) = m.get("status") {
            let status = v
                .as_str()
                .map(str::trim)
                .filter(|s| ADMIN_STATUSES.contains(s));
            check(
                e,
                status.is_some(),
                "status",
                "status must be active, suspended, deactivated or banned",
            );
            if status.is_some() && ctx.is_self && status != Some("active") {
                check(e, false, "status", "You cannot change your own status");
            } else {
                u.status = status.map(String::from);
            }
        }
    }
    if errors.is_empty() {
        Ok(u)
    } else {
        Err(errors)
    }
}

// ------------------------------------------------------------ lists

/// One sort key of `GET /users`: a SQL expression and a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub expr: &'static str,
    pub descending: bool,
}

/// The client's sort names and the SQL each maps to.
const SORTABLE: &[(&str, &str)] = &[
    ("createdAt", "u.created_at"),
    ("updatedAt", "u.updated_at"),
    ("firstName", "u.first_name COLLATE NOCASE"),
    ("lastName", "u.last_name COLLATE NOCASE"),
    ("rating", "u.rating_avg"),
    ("rating.average", "u.rating_avg"),
    ("rating.count", "u.rating_count"),
    ("reviewCount", "u.rating_count"),
    ("hourlyRate", "tp.hourly_rate_minor"),
    ("completedJobs", "tp.completed_jobs"),
    ("followersCount", "up.followers_count"),
    ("distance", "distance"),
];

/// Parses the original's sort string (`-createdAt`, `rating -createdAt`,
/// `firstName,lastName`). `distance` needs a location filter. `None` input
/// means the default. Unknown keys are an error naming `sort`.
pub fn parse_sort(
    raw: Option<&str>,
    has_location: bool,
) -> Result<Option<Vec<SortKey>>, FieldError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let mut keys = Vec::new();
    for part in raw.split([',', ' ']).filter(|p| !p.is_empty()) {
        let (descending, name) = match part.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, part.strip_prefix('+').unwrap_or(part)),
        };
        let expr = SORTABLE
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, e)| *e)
            .filter(|e| *e != "distance" || has_location)
            .ok_or_else(|| FieldError {
                field: "sort".into(),
                message: format!(
                    "Cannot sort by {name}; use createdAt, updatedAt, firstName, lastName, rating, reviewCount, hourlyRate, completedJobs, followersCount{} (prefix - for descending)",
                    if has_location { ", distance" } else { "" }
                ),
            })?;
        keys.push(SortKey { expr, descending });
    }
    if keys.len() > 4 {
        return Err(FieldError {
            field: "sort".into(),
            message: "At most four sort keys".into(),
        });
    }
    Ok(Some(keys))
}

/// A comma-separated list parameter: trimmed, lower-cased, non-empty, unique.
pub fn parse_list_param(raw: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = raw
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    out.dedup();
    out.truncate(20);
    out
}

/// A required coordinate query parameter within `min..=max`.
pub fn parse_coordinate(
    raw: Option<&str>,
    name: &str,
    min: f64,
    max: f64,
) -> Result<f64, FieldError> {
    let raw = raw.map(str::trim).unwrap_or("");
    let err = |message: String| FieldError {
        field: name.into(),
        message,
    };
    if raw.is_empty() {
        return Err(err("Please provide latitude and longitude".into()));
    }
    match raw.parse::<f64>() {
        Ok(x) if x.is_finite() && (min..=max).contains(&x) => Ok(x),
        _ => Err(err(format!("{name} must be a number from {min} to {max}"))),
    }
}

/// The `radius` parameter in km: default `default`, above 0, capped at `cap`.
pub fn parse_radius(raw: Option<&str>, default: f64, cap: f64) -> Result<f64, FieldError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(default.min(cap));
    };
    match raw.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r.min(cap)),
        _ => Err(FieldError {
            field: "radius".into(),
            message: "radius must be a distance in km above 0".into(),
        }),
    }
}

/// `minRating`: a number from 0 to 5.
pub fn parse_min_rating(raw: Option<&str>) -> Result<Option<f64>, FieldError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    match raw.parse::<f64>() {
        Ok(r) if (0.0..=5.0).contains(&r) => Ok(Some(r)),
        _ => Err(FieldError {
            field: "minRating".into(),
            message: "minRating must be a number from 0 to 5".into(),
        }),
    }
}

// ------------------------------------------------------------ follows

/// The stored state of one follower → followee pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowEdge {
    pub active: bool,
    pub changed_at: i64,
}

/// What a follow request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowOutcome {
    /// Start following.
    Follow,
    /// Stop following.
    Unfollow,
    /// Leave the pair as it is; the answer is the current state.
    Unchanged { is_following: bool },
}

/// Decides a follow request. `wanted` is the explicit state a client may
/// ask for (idempotent); without it the request toggles, except that a
/// toggle within `debounce_ms` of the pair's last change is taken as the
/// second click of a double click and answers the current state.
pub fn follow_decision(
    current: Option<FollowEdge>,
    wanted: Option<bool>,
    now: i64,
    debounce_ms: i64,
) -> FollowOutcome {
    let is_following = current.is_some_and(|c| c.active);
    let target = match wanted {
        Some(w) => w,
        None => {
            if let Some(c) = current {
                if now - c.changed_at < debounce_ms {
                    return FollowOutcome::Unchanged { is_following };
                }
            }
            !is_following
        }
    };
    match (is_following, target) {
        (false, true) => FollowOutcome::Follow,
        (true, false) => FollowOutcome::Unfollow,
        _ => FollowOutcome::Unchanged { is_following },
    }
}

// ------------------------------------------------------------ KYC

/// Whether a KYC submission may be made in `status`; the refusal otherwise.
pub fn kyc_can_submit(status: &str) -> Result<(), &'static str> {
    match status {
        "none" | "rejected" => Ok(()),
        "pending" => Err("KYC already submitted and under review"),
        "approved" => Err("KYC already approved"),
        _ => Err("KYC cannot be submitted now"),
    }
}

/// An admin's KYC decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KycDecision {
    Approve,
    Reject { reason: String },
}

/// The status after `decision` on a submission in `status`, or the refusal.
pub fn kyc_review(status: &str, decision: &KycDecision) -> Result<&'static str, &'static str> {
    match status {
        "pending" => Ok(match decision {
            KycDecision::Approve => "approved",
            KycDecision::Reject { .. } => "rejected",
        }),
        "none" => Err("No KYC submission to review"),
        _ => Err("This KYC submission was already reviewed"),
    }
}

/// Reads an admin's decision: `status` (`approved`/`rejected`, also
/// `approve`/`reject`/`verified`) or `verified: bool`, and a `reason`
/// (required to reject).
pub fn parse_kyc_decision(body: &Value) -> Result<KycDecision, Vec<FieldError>> {
    let mut errors = Vec::new();
    let status = body
        .get("status")
        .or_else(|| body.get("action"))
        .and_then(Value::as_str)
        .map(|s| s.trim().to_lowercase());
    let approve = match status.as_deref() {
        Some("approved" | "approve" | "verified") => Some(true),
        Some("rejected" | "reject") => Some(false),
        Some(_) => None,
        None => body.get("verified").and_then(bool_of),
    };
    check(
        &mut errors,
        approve.is_some(),
        "status",
        "status must be approved or rejected",
    );
    let reason = text_patch(body.get("reason"), "reason", 500, &mut errors).flatten();
    match approve {
        Some(true) if errors.is_empty() => Ok(KycDecision::Approve),
        Some(false) => match reason {
            Some(reason) if errors.is_empty() => Ok(KycDecision::Reject { reason }),
            _ => {
                check(
                    &mut errors,
                    false,
                    "reason",
                    "A reason is required to reject KYC",
                );
                Err(errors)
            }
        },
        _ => Err(errors),
    }
}

/// A validated KYC submission.
#[derive(Debug, Clone, PartialEq)]
pub struct KycSubmission {
    pub id_type: String,
    pub id_number: String,
    pub front: Picture,
    pub back: Option<Picture>,
    pub selfie: Option<Picture>,
}

/// Reads a KYC submission: `idType`, `idNumber` (4-30 letters, digits or
/// dashes), `idFrontImage`, and `idBackImage` (required for national ids
/// and driving licences), optional `selfieImage`.
pub fn parse_kyc_submission(body: &Value) -> Result<KycSubmission, Vec<FieldError>> {
    let mut e = Vec::new();
    let id_type = body
        .get("idType")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| KYC_ID_TYPES.contains(t));
    check(
        &mut e,
        id_type.is_some(),
        "idType",
        "idType must be national_id, passport or drivers_license",
    );
    let id_number = body
        .get("idNumber")
        .and_then(|v| match v {
            Value::String(s) => Some(s.trim().to_uppercase()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .filter(|s| {
            (4..=30).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    check(
        &mut e,
        id_number.is_some(),
        "idNumber",
        "idNumber must be 4 to 30 letters, digits or dashes",
    );
    let picture = |k: &str, e: &mut Vec<FieldError>| match body.get(k) {
        None | Some(Value::Null) => None,
        Some(v) => parse_picture(v, k, e),
    };
    let front = picture("idFrontImage", &mut e);
    if body.get("idFrontImage").is_none_or(Value::is_null) {
        check(&mut e, false, "idFrontImage", "idFrontImage is required");
    }
    let back = picture("idBackImage", &mut e);
    if back.is_none()
        && matches!(id_type, Some("national_id" | "drivers_license"))
        && body.get("idBackImage").is_none_or(Value::is_null)
    {
        check(
            &mut e,
            false,
            "idBackImage",
            "idBackImage is required for this idType",
        );
    }
    let selfie = picture("selfieImage", &mut e);
    match (id_type, id_number, front) {
        (Some(t), Some(n), Some(front)) if e.is_empty() => Ok(KycSubmission {
            id_type: t.to_string(),
            id_number: n,
            front,
            back,
            selfie,
        }),
        _ => Err(e),
    }
}

// ------------------------------------------------------------ portfolio

/// A portfolio item to store (validated).
#[derive(Debug, Clone, PartialEq)]
pub struct PortfolioInput {
    pub title: String,
    pub description: Option<String>,
    /// A service category.
    pub category: Option<String>,
    /// References to media already uploaded.
    pub images: Vec<Picture>,
    pub completed_at: Option<i64>,
    pub client_name: Option<String>,
    pub client_testimonial: Option<String>,
}

/// Reads a portfolio item: `title` (required on create), `description`,
/// `category` (a service category), `images` (URLs or `{url, publicId}`),
/// `completedAt`, `client {name, testimonial}`. With `base` (an update),
/// absent keys keep the stored values.
pub fn parse_portfolio_item(
    body: &Value,
    base: Option<PortfolioInput>,
) -> Result<PortfolioInput, Vec<FieldError>> {
    let mut e = Vec::new();
    let empty = Map::new();
    let m = body.as_object().unwrap_or(&empty);
    let is_create = base.is_none();
    let mut item = base.unwrap_or(PortfolioInput {
        title: String::new(),
        description: None,
        category: None,
        images: Vec::new(),
        completed_at: None,
        client_name: None,
        client_testimonial: None,
    });
    match text_patch(m.get("title"), "title", 100, &mut e) {
        Some(Some(t)) => item.title = t,
        Some(None) => check(&mut e, false, "title", "Title is required"),
        None => check(&mut e, !is_create, "title", "Title is required"),
    }
    if let Some(d) = text_patch(m.get("description"), "description", 2000, &mut e) {
        item.description = d;
    }
    match m.get("category") {
        None => {}
        Some(Value::Null) => item.category = None,
        Some(Value::String(c)) if is_service_category(c.trim()) => {
            item.category = Some(c.trim().to_string())
        }
        Some(_) => check(&mut e, false, "category", "Unknown service category"),
    }
    if let Some(v) = m.get("images") {
        match v.as_array() {
            Some(list) if list.len() <= PORTFOLIO_IMAGES_MAX => {
                let before = e.len();
                let pics: Vec<Picture> = list
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| parse_picture(p, &format!("images[{i}]"), &mut e))
                    .collect();
                if e.len() == before {
                    item.images = pics;
                }
            }
            Some(_) => check(
                &mut e,
                false,
                "images",
                &format!("At most {PORTFOLIO_IMAGES_MAX} images"),
            ),
            None => check(&mut e, false, "images", "images must be an array"),
        }
    }
    match m.get("completedAt") {
        None => {}
        Some(Value::Null) => item.completed_at = None,
        Some(v) => match v.as_str().and_then(crate::ids::parse_datetime) {
            Some(ms) => item.completed_at = Some(ms),
            None => check(
                &mut e,
                false,
                "completedAt",
                "completedAt must be a date (YYYY-MM-DD or ISO 8601)",
            ),
        },
    }
    match m.get("client") {
        None => {}
        Some(Value::Null) => {
            item.client_name = None;
            item.client_testimonial = None;
        }
        Some(Value::Object(c)) => {
            if let Some(n) = text_patch(c.get("name"), "client.name", 100, &mut e) {
                item.client_name = n;
            }
            if let Some(t) = text_patch(c.get("testimonial"), "client.testimonial", 1000, &mut e) {
                item.client_testimonial = t;
            }
        }
        Some(_) => check(
            &mut e,
            false,
            "client",
            "client must be an object {name, testimonial}",
        ),
    }
    if e.is_empty() {
        Ok(item)
    } else {
        Err(e)
    }
}

// ------------------------------------------------------------ deletion

/// The email and phone a scrubbed account keeps: unique per account (so
/// the UNIQUE constraints hold) and matching no real person.
pub fn scrubbed_identity(user_id: &str) -> (String, String) {
    (
        format!("deleted-{user_id}@deleted.invalid"),
        format!("deleted:{user_id}"),
    )
}

/// When the personal data of an account deleted at `deleted_at` is scrubbed.
pub fn scrub_due(deleted_at: i64, retention_days: u32) -> i64 {
    deleted_at + retention_days as i64 * 86_400_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(role: Role, by_admin: bool, is_self: bool) -> UpdateContext {
        UpdateContext {
            target_role: role,
            by_admin,
            is_self,
            today: NaiveDate::from_ymd_opt(2025, 6, 1).unwrap(),
        }
    }

    fn fields(errs: &[FieldError]) -> Vec<&str> {
        errs.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn owner_updates_are_whitelisted_and_never_privileged() {
        let body = json!({
            "firstName": " Amina ", "bio": "", "role": "admin", "status": "banned",
            "rating": {"average": 5}, "kycStatus": "approved", "isEmailVerified": true,
            "completedJobs": 900, "hourlyRate": 1500.5, "skills": [{"name": "Pipes", "category": "plumbing"}],
        });
        let u = parse_update(&body, ctx(Role::Technician, false, true)).unwrap();
        assert_eq!(u.first_name.as_deref(), Some("Amina"));
        assert_eq!(u.bio, Some(None));
        assert_eq!(u.role, None);
        assert_eq!(u.status, None);
        assert_eq!(u.hourly_rate_minor, Some(Some(150_050)));
        assert_eq!(u.skills.as_ref().unwrap()[0].proficiency, 50);
        assert!(u.changed_fields().contains(&"skills"));
        assert!(!u.changed_fields().contains(&"role"));
    }

    #[test]
    fn technician_fields_are_ignored_for_customers() {
        let body = json!({"hourlyRate": 100, "skills": [{"name": "x"}], "companyName": "Acme"});
        let u = parse_update(&body, ctx(Role::Customer, false, true)).unwrap();
        assert_eq!(u, ProfileUpdate::default());
        let corp = parse_update(&body, ctx(Role::Corporate, false, true)).unwrap();
        assert_eq!(corp.company_name, Some(Some("Acme".into())));
        assert_eq!(corp.skills, None);
    }

    #[test]
    fn admins_set_role_and_status_but_not_their_own() {
        let body = json!({"role": "technician", "status": "suspended"});
        let u = parse_update(&body, ctx(Role::Customer, true, false)).unwrap();
        assert_eq!(u.role, Some(Role::Technician));
        assert_eq!(u.status.as_deref(), Some("suspended"));
        let own = parse_update(&body, ctx(Role::Admin, true, true)).unwrap_err();
        assert_eq!(fields(&own), ["role", "status"]);
        let bad = parse_update(
            &json!({"status": "deleted", "role": "root"}),
            ctx(Role::Customer, true, false),
        )
        .unwrap_err();
        assert_eq!(fields(&bad), ["role", "status"]);
    }

    #[test]
    fn bad_fields_are_each_named() {
        let body = json!({
            "firstName": "", "lastName": 7, "bio": "x".repeat(501), "phoneNumber": "12",
            "location": {"coordinates": [181, 0]}, "hourlyRate": 10.005, "serviceRadius": 0,
            "currency": "kenya", "yearsOfExperience": 1.5, "profilePicture": "ftp://x",
            "skills": [{"name": "a", "proficiency": 101}, {"name": "b", "category": "astrology"}],
            "dateOfBirth": "2999-01-01", "gender": "x",
        });
        let errs = parse_update(&body, ctx(Role::Technician, false, true)).unwrap_err();
        let f = fields(&errs);
        for want in [
            "firstName",
            "lastName",
            "bio",
            "phoneNumber",
            "location.coordinates",
            "hourlyRate",
            "serviceRadius",
            "currency",
            "yearsOfExperience",
            "profilePicture",
            "skills[0].proficiency",
            "skills[1].category",
            "dateOfBirth",
            "gender",
        ] {
            assert!(f.contains(&want), "{want} not in {f:?}");
        }
    }

    #[test]
    fn skills_default_and_refuse_duplicates() {
        let mut e = Vec::new();
        let s = parse_skills(&json!(["plumbing", {"name": "Wiring", "category": "electrical", "yearsOfExperience": "4"}]), "skills", &mut e).unwrap();
        assert_eq!(s[0].category, "plumbing");
        assert_eq!(s[1].years_of_experience, 4);
        assert!(parse_skills(&json!([{"name": "A"}, {"name": "a"}]), "skills", &mut e).is_none());
        assert_eq!(e[0].field, "skills[1].name");
    }

    #[test]
    fn schedules_are_checked_sorted_and_not_overlapping() {
        let mut e = Vec::new();
        let s = parse_schedule(
            &json!([{"dayOfWeek": 2, "startTime": "13:00", "endTime": "18:00"}, {"dayOfWeek": 1}]),
            "schedule",
            &mut e,
        )
        .unwrap();
        assert_eq!(
            (
                s[0].day_of_week,
                s[0].start_time.as_str(),
                s[1].end_time.as_str()
            ),
            (1, "08:00", "18:00")
        );
        assert!(parse_schedule(&json!([{"dayOfWeek": 1, "startTime": "09:00", "endTime": "12:00"}, {"dayOfWeek": 1, "startTime": "11:00", "endTime": "13:00"}]), "schedule", &mut e).is_none());
        assert!(parse_schedule(&json!([{"dayOfWeek": 7}]), "schedule", &mut e).is_none());
        assert!(parse_schedule(
            &json!([{"dayOfWeek": 1, "startTime": "10:00", "endTime": "09:00"}]),
            "schedule",
            &mut e
        )
        .is_none());
        assert!(is_hhmm("23:59") && !is_hhmm("24:00") && !is_hhmm("9:00") && !is_hhmm("+1:00"));
    }

    #[test]
    fn availability_maps_is_available_and_applies_it_to_every_entry() {
        let mut e = Vec::new();
        let c = parse_availability_change(Some(&json!(false)), None, None, "", &mut e).unwrap();
        assert_eq!(c.status.as_deref(), Some("offline"));
        let current = vec![ScheduleSlot {
            day_of_week: 1,
            start_time: "08:00".into(),
            end_time: "17:00".into(),
            is_available: true,
        }];
        assert!(!apply_availability(&current, &c)[0].is_available);
        let busy = parse_availability_change(None, Some(&json!("busy")), None, "", &mut e).unwrap();
        assert_eq!(busy.status.as_deref(), Some("busy"));
        assert_eq!(apply_availability(&current, &busy), current);
        assert!(parse_availability_change(
            Some(&json!(true)),
            Some(&json!("offline")),
            None,
            "",
            &mut e
        )
        .is_none());
        assert_eq!(e[0].field, "status");
    }

    #[test]
    fn money_has_at_most_two_decimals() {
        assert_eq!(major_to_minor(5000.0), Some(500_000));
        assert_eq!(major_to_minor(0.1 + 0.2), Some(30));
        assert_eq!(major_to_minor(12.345), None);
        assert_eq!(major_to_minor(-1.0), None);
        assert_eq!(minor_to_major(150_050), 1500.5);
    }

    #[test]
    fn sort_strings_map_to_whitelisted_columns() {
        let keys = parse_sort(Some("-rating.average createdAt"), false)
            .unwrap()
            .unwrap();
        assert_eq!(
            keys,
            [
                SortKey {
                    expr: "u.rating_avg",
                    descending: true
                },
                SortKey {
                    expr: "u.created_at",
                    descending: false
                }
            ]
        );
        assert!(parse_sort(Some("password_hash"), false).is_err());
        assert!(parse_sort(Some("distance"), false).is_err());
        assert!(parse_sort(Some("distance"), true).is_ok());
        assert_eq!(parse_sort(Some(" "), false).unwrap(), None);
    }

    #[test]
    fn query_parameters_name_themselves_when_bad() {
        assert_eq!(
            parse_coordinate(Some("91"), "lat", -90.0, 90.0)
                .unwrap_err()
                .field,
            "lat"
        );
        assert_eq!(
            parse_coordinate(None, "lng", -180.0, 180.0)
                .unwrap_err()
                .field,
            "lng"
        );
        assert_eq!(
            parse_coordinate(Some("NaN"), "lng", -180.0, 180.0)
                .unwrap_err()
                .field,
            "lng"
        );
        assert_eq!(parse_radius(Some("5000"), 10.0, 100.0).unwrap(), 100.0);
        assert_eq!(parse_radius(None, 10.0, 100.0).unwrap(), 10.0);
        assert!(parse_radius(Some("-1"), 10.0, 100.0).is_err());
        assert!(parse_min_rating(Some("6")).is_err());
        assert_eq!(
            parse_list_param(Some(" Plumbing, ,electrical")),
            ["plumbing", "electrical"]
        );
    }

    #[test]
    fn toggles_flip_but_double_clicks_and_explicit_states_are_idempotent() {
        let edge = |active, changed_at| Some(FollowEdge { active, changed_at });
        assert_eq!(
            follow_decision(None, None, 10_000, 1000),
            FollowOutcome::Follow
        );
        assert_eq!(
            follow_decision(edge(true, 9_500), None, 10_000, 1000),
            FollowOutcome::Unchanged { is_following: true }
        );
        assert_eq!(
            follow_decision(edge(true, 8_000), None, 10_000, 1000),
            FollowOutcome::Unfollow
        );
        assert_eq!(
            follow_decision(edge(false, 9_999), Some(true), 10_000, 1000),
            FollowOutcome::Follow
        );
        assert_eq!(
            follow_decision(edge(true, 0), Some(true), 10_000, 1000),
            FollowOutcome::Unchanged { is_following: true }
        );
        assert_eq!(
            follow_decision(None, Some(false), 10_000, 1000),
            FollowOutcome::Unchanged {
                is_following: false
            }
        );
    }

    #[test]
    fn kyc_moves_only_forward() {
        assert!(kyc_can_submit("none").is_ok() && kyc_can_submit("rejected").is_ok());
        assert!(kyc_can_submit("pending").is_err() && kyc_can_submit("approved").is_err());
        assert_eq!(kyc_review("pending", &KycDecision::Approve), Ok("approved"));
        assert!(kyc_review("approved", &KycDecision::Approve).is_err());
        assert!(kyc_review("none", &KycDecision::Approve).is_err());
        assert_eq!(
            parse_kyc_decision(&json!({"status": "approved"})),
            Ok(KycDecision::Approve)
        );
        assert_eq!(
            parse_kyc_decision(&json!({"status": "rejected"})).unwrap_err()[0].field,
            "reason"
        );
        assert_eq!(
            parse_kyc_decision(&json!({"verified": false, "reason": "blurry"})),
            Ok(KycDecision::Reject {
                reason: "blurry".into()
            })
        );
    }

    #[test]
    fn kyc_submissions_need_documents() {
        let ok = parse_kyc_submission(&json!({"idType": "passport", "idNumber": "ak123456", "idFrontImage": "https://x/y.jpg"})).unwrap();
        assert_eq!(ok.id_number, "AK123456");
        let errs = parse_kyc_submission(
            &json!({"idType": "national_id", "idNumber": "1", "idFrontImage": 5}),
        )
        .unwrap_err();
        assert_eq!(fields(&errs), ["idNumber", "idFrontImage", "idBackImage"]);
    }

    #[test]
    fn portfolio_items_need_a_title_and_keep_what_an_update_leaves_out() {
        let item = parse_portfolio_item(&json!({"title": "Kitchen sink", "category": "plumbing", "images": ["https://x/a.jpg", {"url": "/media/b.jpg", "publicId": "b"}]}), None).unwrap();
        assert_eq!(item.images.len(), 2);
        assert_eq!(item.images[1].public_id.as_deref(), Some("b"));
        assert_eq!(
            parse_portfolio_item(&json!({}), None).unwrap_err()[0].field,
            "title"
        );
        let updated =
            parse_portfolio_item(&json!({"description": "Fixed"}), Some(item.clone())).unwrap();
        assert_eq!(
            (updated.title.as_str(), updated.description.as_deref()),
            ("Kitchen sink", Some("Fixed"))
        );
        let errs = parse_portfolio_item(
            &json!({"title": "t", "category": "magic", "images": [1], "completedAt": "soon"}),
            None,
        )
        .unwrap_err();
        assert_eq!(fields(&errs), ["category", "images[0]", "completedAt"]);
    }

    #[test]
    fn ages_and_scrub_placeholders() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(age_on(d(2000, 6, 2), d(2025, 6, 1)), 24);
        assert_eq!(age_on(d(2000, 6, 1), d(2025, 6, 1)), 25);
        let (email, phone) = scrubbed_identity("abc");
        assert!(email.ends_with(".invalid") && phone.contains("abc"));
        assert_eq!(scrub_due(0, 30), 30 * 86_400_000);
        assert!(
            may_edit("a", false, "a") && may_edit("a", true, "b") && !may_edit("a", false, "b")
        );
    }
}
