//! A customer's matching settings (the spec's MatchingPreference groups):
//! their defaults, how a `PUT /preferences` body is validated and merged,
//! and the values the engine reads from them. Pure: JSON in, JSON out.
//!
//! Groups are `general`, `technicianPreferences`, `scheduling`,
//! `communication`, `ai` and `privacy` (read-only here). A group in the body
//! is merged one level deep: each known key replaces the stored key; nested
//! objects (`priceRange`, `agePreference`) are replaced whole; unknown keys
//! are dropped, as the original did. Unlike the original, a value of the
//! wrong type or out of range is a 400 naming the field, never a 500.

use serde_json::{json, Map, Value};

use crate::error::FieldError;
use crate::ids::{is_valid_id, new_id};

/// The groups a `PUT` may change, in document order.
pub const EDITABLE_GROUPS: [&str; 5] = [
    "general",
    "technicianPreferences",
    "scheduling",
    "communication",
    "ai",
];

/// Most preferred technicians a customer may list.
pub const MAX_PREFERRED: usize = 50;

/// The settings of a customer who never changed anything.
pub fn defaults() -> Value {
    json!({
        "general": {
            "maxDistance": 25,
            "priceRange": {"preference": "moderate"},
            "responseTime": "within_hour",
            "languages": [],
            "defaultUrgency": "medium",
        },
        "technicianPreferences": {
            "ratingImportance": 8,
            "minRating": 3.5,
            "experienceLevel": "any",
            "minYearsExperience": 0,
            "requireCertifications": false,
            "requireBackgroundCheck": false,
            "requireInsurance": false,
            "genderPreference": "any",
            "preferredTechnicians": [],
        },
        "scheduling": {
            "preferredTimeSlots": [],
            "bookingAdvanceTime": "flexible",
            "availabilityRequired": "flexible",
        },
        "communication": {
            "preferredMethod": "in_app_chat",
            "expectedResponseTime": "within_hour",
            "notifyOnMatch": true,
            "notifyOnBetterMatch": true,
            "matchNotificationFrequency": "instant",
        },
        "ai": {
            "enableAIRecommendations": true,
            "autoMatch": true,
            "enableSmartScheduling": true,
            "enablePricePrediction": true,
            "allowBehaviorLearning": true,
            "personalizationLevel": "moderate",
        },
        "privacy": {
            "shareDataForImprovement": true,
            "allowProfileSharing": true,
        },
    })
}

/// The stored settings with every default filled in underneath.
pub fn with_defaults(stored: &Value) -> Value {
    let mut out = defaults();
    if let (Some(out_map), Some(stored_map)) = (out.as_object_mut(), stored.as_object()) {
        for (group, values) in stored_map {
            let (Some(target), Some(values)) = (
                out_map.get_mut(group).and_then(Value::as_object_mut),
                values.as_object(),
            ) else {
                continue;
            };
            for (k, v) in values {
                target.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

fn err(errors: &mut Vec<FieldError>, field: String, message: &str) {
    errors.push(FieldError {
        field,
        message: message.into(),
    });
}

fn number_in(v: &Value, min: f64, max: f64) -> Option<Value> {
    let x = v
        .as_f64()
        .filter(|x| x.is_finite() && *x >= min && *x <= max)?;
    // Keep integers integral on the wire.
    Some(if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    })
}

fn one_of(v: &Value, allowed: &[&str]) -> Option<Value> {
    let s = v.as_str()?.trim();
    allowed.contains(&s).then(|| json!(s))
}

fn hhmm(v: &Value) -> Option<String> {
    let s = v.as_str()?.trim();
    let (h, m) = s.split_once(':')?;
    let ok = (1..=2).contains(&h.len())
        && m.len() == 2
        && h.parse::<u32>().ok()? < 24
        && m.parse::<u32>().ok()? < 60;
    ok.then(|| s.to_string())
}

const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Validates one setting; `Ok(None)` drops an unknown key, `Err` is the message.
fn check_setting(group: &str, key: &str, v: &Value) -> Result<Option<Value>, String> {
    let bool_value = || v.as_bool().map(Value::Bool).ok_or("must be true or false");
    let value: Result<Value, &str> = match (group, key) {
        ("general", "maxDistance") => {
            number_in(v, 1.0, 100.0).ok_or("must be a number of km from 1 to 100")
        }
        ("general", "priceRange") => return check_price_range(v).map(Some),
        ("general", "responseTime") => {
            one_of(v, &["immediate", "within_hour", "within_day", "flexible"])
                .ok_or("must be immediate, within_hour, within_day or flexible")
        }
        ("general", "languages") => {
            const LANGS: [&str; 5] = ["english", "swahili", "french", "spanish", "other"];
            let items = v.as_array().ok_or("must be a list of languages")?;
            let mut out: Vec<Value> = Vec::new();
            for item in items {
                let l = one_of(item, &LANGS)
                    .ok_or("languages are english, swahili, french, spanish or other")?;
                if !out.contains(&l) {
                    out.push(l);
                }
            }
            Ok(Value::Array(out))
        }
        ("general", "defaultUrgency") => v
            .as_str()
            .and_then(|s| super::model::Urgency::parse(s.trim()))
            .map(|u| json!(u.as_str()))
            .ok_or("must be low, medium, high or emergency"),
        ("technicianPreferences", "ratingImportance") => {
            number_in(v, 0.0, 10.0).ok_or("must be a number from 0 to 10")
        }
        ("technicianPreferences", "minRating") => {
            number_in(v, 0.0, 5.0).ok_or("must be a number from 0 to 5")
        }
        ("technicianPreferences", "experienceLevel") => one_of(
            v,
            &["any", "beginner", "intermediate", "advanced", "expert"],
        )
        .ok_or("must be any, beginner, intermediate, advanced or expert"),
        ("technicianPreferences", "minYearsExperience") => number_in(v, 0.0, 60.0)
            .filter(|x| x.is_i64())
            .ok_or("must be a whole number of years from 0 to 60"),
        (
            "technicianPreferences",
            "requireCertifications" | "requireBackgroundCheck" | "requireInsurance",
        ) => bool_value(),
        ("technicianPreferences", "genderPreference") => {
            one_of(v, &["any", "male", "female", "non_binary"])
                .ok_or("must be any, male, female or non_binary")
        }
        ("technicianPreferences", "agePreference") => return check_age(v).map(Some),
        ("technicianPreferences", "preferredTechnicians") => {
            let items = v.as_array().ok_or("must be a list of technician ids")?;
            let mut out: Vec<Value> = Vec::new();
            for item in items {
                let id = item
                    .as_str()
                    .filter(|s| is_valid_id(s))
                    .ok_or("must be a list of technician ids")?;
                if !out.iter().any(|x| x == id) {
                    out.push(json!(id));
                }
            }
            if out.len() > MAX_PREFERRED {
                return Err(format!("at most {MAX_PREFERRED} preferred technicians"));
            }
            Ok(Value::Array(out))
        }
        ("technicianPreferences", "maxHourlyRate") => {
            if v.is_null() {
                Ok(Value::Null)
            } else {
                number_in(v, 0.01, 10_000_000.0)
                    .filter(|x| (x.as_f64().unwrap_or(0.0) * 100.0).fract().abs() < 1e-6)
                    .ok_or("must be an amount above 0 with at most two decimals, or null")
            }
        }
        ("scheduling", "preferredTimeSlots") => return check_time_slots(v).map(Some),
        ("scheduling", "bookingAdvanceTime") => one_of(
            v,
            &["asap", "same_day", "next_day", "within_week", "flexible"],
        )
        .ok_or("must be asap, same_day, next_day, within_week or flexible"),
        ("scheduling", "availabilityRequired") => {
            one_of(v, &["immediate", "today", "this_week", "flexible"])
                .ok_or("must be immediate, today, this_week or flexible")
        }
        ("communication", "preferredMethod") => {
            one_of(v, &["in_app_chat", "phone", "email", "sms", "whatsapp"])
                .ok_or("must be in_app_chat, phone, email, sms or whatsapp")
        }
        ("communication", "expectedResponseTime") => one_of(
            v,
            &["immediate", "within_15min", "within_hour", "within_day"],
        )
        .ok_or("must be immediate, within_15min, within_hour or within_day"),
        ("communication", "notifyOnMatch" | "notifyOnBetterMatch") => bool_value(),
        ("communication", "matchNotificationFrequency") => {
            one_of(v, &["instant", "hourly", "daily", "weekly"])
                .ok_or("must be instant, hourly, daily or weekly")
        }
        (
            "ai",
            "enableAIRecommendations"
            | "autoMatch"
            | "enableSmartScheduling"
            | "enablePricePrediction"
            | "allowBehaviorLearning",
        ) => bool_value(),
        ("ai", "personalizationLevel") => {
            one_of(v, &["minimal", "moderate", "high"]).ok_or("must be minimal, moderate or high")
        }
        _ => return Ok(None),
    };
    value.map(Some).map_err(String::from)
}

fn check_price_range(v: &Value) -> Result<Value, String> {
    let obj = v
        .as_object()
        .ok_or("must be an object {min, max, preference}")?;
    let mut out = Map::new();
    for key in ["min", "max"] {
        if let Some(x) = obj.get(key).filter(|x| !x.is_null()) {
            let n = number_in(x, 0.0, 100_000_000.0)
                .ok_or("min and max must be amounts of 0 or more")?;
            out.insert(key.into(), n);
        }
    }
    if let (Some(min), Some(max)) = (
        out.get("min").and_then(Value::as_f64),
        out.get("max").and_then(Value::as_f64),
    ) {
        if min > max {
            return Err("min cannot be above max".into());
        }
    }
    if let Some(p) = obj.get("preference").filter(|x| !x.is_null()) {
        let p = one_of(p, &["budget", "moderate", "premium", "any"])
            .ok_or("preference must be budget, moderate, premium or any")?;
        out.insert("preference".into(), p);
    }
    Ok(Value::Object(out))
}

fn check_age(v: &Value) -> Result<Value, String> {
    let obj = v.as_object().ok_or("must be an object {min, max}")?;
    let mut out = Map::new();
    for key in ["min", "max"] {
        if let Some(x) = obj.get(key).filter(|x| !x.is_null()) {
            let n = number_in(x, 18.0, 100.0).ok_or("min and max must be ages from 18 to 100")?;
            out.insert(key.into(), n);
        }
    }
    if let (Some(min), Some(max)) = (
        out.get("min").and_then(Value::as_f64),
        out.get("max").and_then(Value::as_f64),
    ) {
        if min > max {
            return Err("min cannot be above max".into());
        }
    }
    Ok(Value::Object(out))
}

fn check_time_slots(v: &Value) -> Result<Value, String> {
    let items = v
        .as_array()
        .ok_or("must be a list of {day, startTime, endTime}")?;
    if items.len() > 21 {
        return Err("at most 21 time slots".into());
    }
    let mut out = Vec::new();
    for item in items {
        let day = item
            .get("day")
            .and_then(|d| one_of(d, &DAYS))
            .ok_or("day must be monday to sunday")?;
        let start = item
            .get("startTime")
            .and_then(hhmm)
            .ok_or("startTime must be HH:MM")?;
        let end = item
            .get("endTime")
            .and_then(hhmm)
            .ok_or("endTime must be HH:MM")?;
        let id = new_id();
        out.push(json!({"day": day, "startTime": start, "endTime": end, "_id": id, "id": id}));
    }
    Ok(Value::Array(out))
}

/// Validates the editable groups of a `PUT /preferences` body and merges
/// them over `stored`; every invalid field is named in the error.
pub fn merge(stored: &Value, body: &Map<String, Value>) -> Result<Value, Vec<FieldError>> {
    let mut out = stored.as_object().cloned().unwrap_or_default();
    let mut errors = Vec::new();
    for group in EDITABLE_GROUPS {
        let Some(sent) = body.get(group) else {
            continue;
        };
        if sent.is_null() || sent == &Value::Bool(false) {
            continue;
        }
        let Some(sent) = sent.as_object() else {
            err(&mut errors, group.into(), "must be an object");
            continue;
        };
        let target = out
            .entry(group.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !target.is_object() {
            *target = Value::Object(Map::new());
        }
        let target = target.as_object_mut().expect("object");
        for (key, value) in sent {
            match check_setting(group, key, value) {
                Ok(Some(Value::Null)) => {
                    target.remove(key);
                }
                Ok(Some(v)) => {
                    target.insert(key.clone(), v);
                }
                Ok(None) => {}
                Err(m) => err(&mut errors, format!("{group}.{key}"), &format!("{key} {m}")),
            }
        }
    }
    if errors.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(errors)
    }
}

/// What the engine reads from a customer's settings (defaults filled in).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSettings {
    pub max_distance_km: f64,
    pub min_rating: f64,
    pub max_rate_minor: Option<i64>,
    pub min_years_experience: i64,
    pub default_urgency: String,
    pub preferred_technicians: Vec<String>,
    pub allow_learning: bool,
}

/// Reads [`EngineSettings`] from settings already passed through [`with_defaults`].
pub fn engine_settings(settings: &Value) -> EngineSettings {
    let g = &settings["general"];
    let t = &settings["technicianPreferences"];
    EngineSettings {
        max_distance_km: g["maxDistance"]
            .as_f64()
            .filter(|x| *x > 0.0)
            .unwrap_or(25.0)
            .min(100.0),
        min_rating: t["minRating"].as_f64().unwrap_or(3.5).clamp(0.0, 5.0),
        max_rate_minor: t["maxHourlyRate"]
            .as_f64()
            .map(|x| (x * 100.0).round() as i64),
        min_years_experience: t["minYearsExperience"].as_i64().unwrap_or(0).max(0),
        default_urgency: g["defaultUrgency"].as_str().unwrap_or("medium").to_string(),
        preferred_technicians: t["preferredTechnicians"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        allow_learning: settings["ai"]["allowBehaviorLearning"]
            .as_bool()
            .unwrap_or(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn defaults_are_the_specs() {
        let s = engine_settings(&with_defaults(&json!({})));
        assert_eq!(s.max_distance_km, 25.0);
        assert_eq!(s.min_rating, 3.5);
        assert_eq!(s.max_rate_minor, None);
        assert!(s.allow_learning);
        let d = defaults();
        assert_eq!(d["general"]["priceRange"]["preference"], "moderate");
        assert_eq!(d["communication"]["preferredMethod"], "in_app_chat");
    }

    #[test]
    fn groups_merge_one_level_deep_and_unknown_keys_are_dropped() {
        let stored = json!({"general": {"maxDistance": 10, "responseTime": "flexible"}});
        let merged = merge(
            &stored,
            &body(
                json!({"general": {"maxDistance": 40, "priceRange": {"min": 100}, "colour": "red"},
                         "ai": {"autoMatch": false}, "learnedPreferences": {"x": 1}}),
            ),
        )
        .unwrap();
        assert_eq!(merged["general"]["maxDistance"], 40);
        assert_eq!(merged["general"]["responseTime"], "flexible");
        // priceRange replaced whole: the default preference is not re-applied.
        assert_eq!(merged["general"]["priceRange"], json!({"min": 100}));
        assert!(merged["general"].get("colour").is_none());
        assert!(merged.get("learnedPreferences").is_none());
        let full = with_defaults(&merged);
        assert_eq!(full["ai"]["autoMatch"], false);
        assert_eq!(full["ai"]["enableSmartScheduling"], true);
    }

    #[test]
    fn bad_values_name_their_field() {
        let err = merge(
            &json!({}),
            &body(json!({"general": {"maxDistance": 0, "languages": ["klingon"]},
                         "technicianPreferences": {"minRating": 6, "preferredTechnicians": ["nope"]},
                         "communication": {"notifyOnMatch": "yes"},
                         "scheduling": {"preferredTimeSlots": [{"day": "monday", "startTime": "25:00", "endTime": "10:00"}]},
                         "ai": 3})),
        )
        .unwrap_err();
        let fields: Vec<&str> = err.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "general.maxDistance",
            "general.languages",
            "technicianPreferences.minRating",
            "technicianPreferences.preferredTechnicians",
            "communication.notifyOnMatch",
            "scheduling.preferredTimeSlots",
            "ai",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn engine_reads_the_limits() {
        let merged = merge(
            &json!({}),
            &body(json!({"general": {"maxDistance": 8, "defaultUrgency": "urgent"},
                         "technicianPreferences": {"minRating": 4.2, "maxHourlyRate": 1200.5,
                             "preferredTechnicians": ["0123456789abcdef01234567", "0123456789abcdef01234567"]}})),
        )
        .unwrap();
        let s = engine_settings(&with_defaults(&merged));
        assert_eq!(s.max_distance_km, 8.0);
        assert_eq!(s.min_rating, 4.2);
        assert_eq!(s.max_rate_minor, Some(120_050));
        assert_eq!(s.default_urgency, "emergency");
        assert_eq!(s.preferred_technicians.len(), 1);
        // null removes the limit again.
        let cleared = merge(
            &merged,
            &body(json!({"technicianPreferences": {"maxHourlyRate": null}})),
        )
        .unwrap();
        assert_eq!(
            engine_settings(&with_defaults(&cleared)).max_rate_minor,
            None
        );
    }
}
