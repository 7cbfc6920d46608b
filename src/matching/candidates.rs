//! Finding the candidates of a request: the R-tree gives the technicians in
//! range that carry the category's tag, and their full records come from
//! the users module ([`crate::users::technician::find_many`]) through a
//! short-lived cache.
//!
//! The cache keeps a technician's record for `matching_profile_cache_secs`.
//! What changes often and matters most (location, availability now,
//! rating, offering the category, being active) is checked against the
//! R-tree entry on every use, which the users module refreshes on every
//! such change: a record that disagrees with it is reloaded at once. Only
//! slow-moving figures (rates, years, schedule, radius, job statistics,
//! KYC) can be up to the TTL old; accepting a match re-reads the
//! technician from the database.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::error::ApiResult;
use crate::users::geo::{GeoIndex, GeoPoint};
use crate::users::technician::{self, Technician};

use super::model::{best_possible_stars, MatchRequest};

/// Entries kept before expired ones are swept out on insert.
const SWEEP_AT: usize = 20_000;
/// Entries beyond which the cache is emptied rather than grown.
const HARD_CAP: usize = 60_000;

/// A technician record and when it was loaded.
type Entry = (Instant, Arc<Technician>);

/// Recently loaded technician records, shared by every request.
pub struct ProfileCache {
    ttl: Duration,
    entries: RwLock<HashMap<Arc<str>, Entry>>,
}

impl ProfileCache {
    /// A cache keeping records for `ttl_secs` (0 turns it off).
    pub fn new(ttl_secs: u64) -> ProfileCache {
        ProfileCache {
            ttl: Duration::from_secs(ttl_secs),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// For each point, its cached record if young enough and in agreement
    /// with the R-tree entry (one read lock for the whole batch).
    fn lookup(
        &self,
        points: &[(Arc<GeoPoint>, f64)],
        category: &str,
        now: Instant,
    ) -> Vec<Option<Arc<Technician>>> {
        if self.ttl.is_zero() {
            return vec![None; points.len()];
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        points
            .iter()
            .map(|(p, _)| {
                let (at, t) = entries.get(&p.id)?;
                let agrees = now.duration_since(*at) < self.ttl
                    && t.rating_avg == p.rating
                    && (t.availability_status == "available") == p.is_available
                    && t.location == Some((p.lng, p.lat))
                    && t.offers(category);
                agrees.then(|| t.clone())
            })
            .collect()
    }

    fn put(&self, techs: Vec<Technician>, now: Instant) -> Vec<Arc<Technician>> {
        let techs: Vec<Arc<Technician>> = techs.into_iter().map(Arc::new).collect();
        if self.ttl.is_zero() {
            return techs;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() + techs.len() > SWEEP_AT {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| now.duration_since(*at) < ttl);
            if entries.len() + techs.len() > HARD_CAP {
                entries.clear();
            }
        }
        for t in &techs {
            entries.insert(Arc::from(t.id.as_str()), (now, t.clone()));
        }
        techs
    }

    /// Forgets one technician (after a change this module itself saw).
    pub fn forget(&self, id: &str) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Records held now.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The candidates of one request and what finding them cost.
pub struct Found {
    /// Full records with their distance (km), nearest first.
    pub candidates: Vec<(Arc<Technician>, f64)>,
    /// Time in the R-tree query.
    pub geo: Duration,
    /// Time getting the records (cache and database).
    pub load: Duration,
    /// Records read from the database (cache misses).
    pub loaded: usize,
}

/// Technicians within the customer's maximum distance who carry the
/// category's tag, are not blocked, are available now when the urgency
/// needs it, and could reach the minimum rating; with their full records.
/// The engine's [`super::model::score`] then applies every rule exactly.
pub fn search(
    geo: &GeoIndex,
    cache: &ProfileCache,
    conn: &Connection,
    req: &MatchRequest,
    blocked: &HashSet<String>,
) -> ApiResult<Found> {
    let started = Instant::now();
    let urgent = req.urgency.needs_available_now();
    let category = req.category.as_str();
    let points = geo.within(req.location.0, req.location.1, req.max_distance_km, |p| {
        p.has_tag(category)
            && (!urgent || p.is_available)
            && best_possible_stars(p.rating) + 1e-9 >= req.min_rating
            && !blocked.contains(p.id.as_ref())
    });
    let geo_time = started.elapsed();
    let now = Instant::now();
    let mut records = cache.lookup(&points, category, now);
    let missing: Vec<String> = points
        .iter()
        .zip(&records)
        .filter(|(_, r)| r.is_none())
        .map(|((p, _), _)| p.id.to_string())
        .collect();
    let loaded = missing.len();
    if !missing.is_empty() {
        let fetched: HashMap<String, Arc<Technician>> = cache
            .put(technician::find_many(conn, &missing)?, now)
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        for ((p, _), r) in points.iter().zip(records.iter_mut()) {
            if r.is_none() {
                *r = fetched.get(p.id.as_ref()).cloned();
            }
        }
    }
    let candidates = points
        .iter()
        .zip(records)
        .filter_map(|((_, d), r)| r.map(|t| (t, *d)))
        .collect();
    Ok(Found {
        candidates,
        geo: geo_time,
        load: now.elapsed(),
        loaded,
    })
}
