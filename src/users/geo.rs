//! Nearby technicians: an in-memory R-tree of every active technician's
//! location, bulk-loaded from SQLite at start.
//!
//! Points live on the unit sphere in 3-D (x, y, z), so straight-line (chord)
//! distance grows with great-circle distance everywhere: a radius query is
//! one ball query, correct across the antimeridian and at the poles, with no
//! special cases. Code that commits a change to a technician's location,
//! availability, skills, rating or status calls [`GeoIndex::refresh`] with
//! the writer connection after the commit (`Db::write_then`), so the index
//! never disagrees with the database.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rstar::{PointDistance, RTree, RTreeObject, AABB};
use rusqlite::Connection;

use crate::error::ApiResult;

/// Mean Earth radius in km (the original server's haversine used the same).
pub const EARTH_RADIUS_KM: f64 = 6371.0;

/// One technician in the index: what nearby and matching filter on without
/// touching the database.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoPoint {
    pub id: Arc<str>,
    pub lng: f64,
    pub lat: f64,
    /// Lower-cased skill names and categories, and extra service categories.
    pub tags: Box<[Box<str>]>,
    /// `availability_status == "available"`.
    pub is_available: bool,
    pub rating: f64,
}

impl GeoPoint {
    /// Whether any tag equals `tag` (compare lower-case).
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t.as_ref() == tag)
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    xyz: [f64; 3],
    point: Arc<GeoPoint>,
}

impl RTreeObject for Entry {
    type Envelope = AABB<[f64; 3]>;
    fn envelope(&self) -> Self::Envelope {
        AABB::from_point(self.xyz)
    }
}

impl PointDistance for Entry {
    fn distance_2(&self, p: &[f64; 3]) -> f64 {
        chord2(&self.xyz, p)
    }
}

fn chord2(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

/// The unit-sphere position of `(lng, lat)` in degrees.
pub fn to_xyz(lng: f64, lat: f64) -> [f64; 3] {
    let (lng, lat) = (lng.to_radians(), lat.to_radians());
    [lat.cos() * lng.cos(), lat.cos() * lng.sin(), lat.sin()]
}

/// Great-circle distance in km between two `(lng, lat)` points (haversine).
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lng1, lat1) = (a.0.to_radians(), a.1.to_radians());
    let (lng2, lat2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lng2 - lng1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

fn chord_to_km(chord: f64) -> f64 {
    2.0 * EARTH_RADIUS_KM * (chord / 2.0).min(1.0).asin()
}

/// The index; shared through `AppState::geo`.
#[derive(Default)]
pub struct GeoIndex {
    inner: RwLock<Inner>,
}

/// Every technician in `tree`; those offering a service category also in
/// that category's tree, so a category filter visits only its own kind.
#[derive(Default)]
struct Inner {
    tree: RTree<Entry>,
    by_category: HashMap<Box<str>, RTree<Entry>>,
    by_id: HashMap<Arc<str>, Entry>,
}

const LOAD_SQL: &str =
    "SELECT u.id, u.location_lng, u.location_lat, COALESCE(p.availability_status, 'available'),
        u.rating_avg, COALESCE(p.service_categories, '[]')
     FROM users u LEFT JOIN technician_profiles p ON p.user_id = u.id
     WHERE u.role = 'technician' AND u.status = 'active' AND u.deleted_at IS NULL
       AND u.location_lng IS NOT NULL AND u.location_lat IS NOT NULL";

/// Adds `tag` lower-cased unless present.
fn add_tag(tags: &mut Vec<Box<str>>, tag: &str) {
    let lower: std::borrow::Cow<str> = if tag.chars().any(char::is_uppercase) {
        tag.to_lowercase().into()
    } else {
        tag.into()
    };
    if !tags.iter().any(|x| x.as_ref() == lower.as_ref()) {
        tags.push(lower.into_owned().into_boxed_str());
    }
}

fn point_from_row(r: &rusqlite::Row) -> rusqlite::Result<GeoPoint> {
    let id: String = r.get(0)?;
    let categories = r.get_ref(5)?.as_str().map_err(rusqlite::Error::from)?;
    let extra: Vec<String> = if categories == "[]" {
        Vec::new()
    } else {
        serde_json::from_str(categories).unwrap_or_default()
    };
    let mut tags = Vec::new();
    for c in &extra {
        add_tag(&mut tags, c);
    }
    Ok(GeoPoint {
        id: Arc::from(id.as_str()),
        lng: r.get(1)?,
        lat: r.get(2)?,
        tags: tags.into_boxed_slice(),
        is_available: r.get::<_, String>(3)? == "available",
        rating: r.get(4)?,
    })
}

fn with_skill_tags(mut point: GeoPoint, skills: &[(String, String)]) -> GeoPoint {
    let mut tags: Vec<Box<str>> = std::mem::take(&mut point.tags).into_vec();
    for (name, category) in skills {
        add_tag(&mut tags, name);
        add_tag(&mut tags, category);
    }
    point.tags = tags.into_boxed_slice();
    point
}

fn entry(point: GeoPoint) -> Entry {
    Entry {
        xyz: to_xyz(point.lng, point.lat),
        point: Arc::new(point),
    }
}

/// The entries of `tree` within `radius_km` that pass `keep`, unsorted.
fn search(
    tree: &RTree<Entry>,
    lng: f64,
    lat: f64,
    radius_km: f64,
    keep: &dyn Fn(&GeoPoint) -> bool,
) -> Vec<(Arc<GeoPoint>, f64)> {
    let center = to_xyz(lng, lat);
    let angle = (radius_km / EARTH_RADIUS_KM).min(std::f64::consts::PI);
    let chord = 2.0 * (angle / 2.0).sin();
    // A hair of slack against rounding at the boundary; exact check below.
    let max2 = (chord * (1.0 + 1e-9)).powi(2) + 1e-15;
    tree.locate_within_distance(center, max2)
        .filter(|e| keep(&e.point))
        .map(|e| (e.point.clone(), chord_to_km(chord2(&e.xyz, &center).sqrt())))
        .filter(|(_, d)| *d <= radius_km + 1e-9)
        .collect()
}

/// Nearest first; ties by id, so pages are stable.
fn sort_by_distance(found: &mut [(Arc<GeoPoint>, f64)]) {
    found.sort_unstable_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.id.cmp(&b.0.id)));
}

impl Inner {
    fn from_entries(entries: Vec<Entry>) -> Inner {
        let mut grouped: HashMap<Box<str>, Vec<Entry>> = HashMap::new();
        for e in &entries {
            for tag in e.point.tags.iter().filter(|t| is_service_category(t)) {
                grouped.entry(tag.clone()).or_default().push(e.clone());
            }
        }
        let by_id = entries
            .iter()
            .map(|e| (e.point.id.clone(), e.clone()))
            .collect();
        Inner {
            tree: RTree::bulk_load(entries),
            by_category: grouped
                .into_iter()
                .map(|(tag, list)| (tag, RTree::bulk_load(list)))
                .collect(),
            by_id,
        }
    }

    fn remove(&mut self, user_id: &str) {
        let Some(old) = self.by_id.remove(user_id) else {
            return;
        };
        self.tree.remove(&old);
        for tag in old.point.tags.iter().filter(|t| is_service_category(t)) {
            if let Some(t) = self.by_category.get_mut(tag) {
                t.remove(&old);
                if t.size() == 0 {
                    self.by_category.remove(tag);
                }
            }
        }
    }

    fn insert(&mut self, e: Entry) {
        for tag in e.point.tags.iter().filter(|t| is_service_category(t)) {
            self.by_category
                .entry(tag.clone())
                .or_default()
                .insert(e.clone());
        }
        self.by_id.insert(e.point.id.clone(), e.clone());
        self.tree.insert(e);
    }
}

fn is_service_category(tag: &str) -> bool {
    crate::users::technician::is_service_category(tag)
}

impl GeoIndex {
    /// Bulk-loads every active technician with a location: technicians,
    /// then their profiles, then their skills, each read in one pass.
    pub fn load(conn: &Connection) -> ApiResult<GeoIndex> {
        let mut points: Vec<(GeoPoint, Vec<Box<str>>)> = Vec::new();
        let mut slot_of: HashMap<Arc<str>, usize> = HashMap::new();
        let mut stmt = conn.prepare(
            "SELECT id, location_lng, location_lat, rating_avg FROM users
             WHERE role = 'technician' AND status = 'active' AND deleted_at IS NULL
               AND location_lng IS NOT NULL AND location_lat IS NOT NULL",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: Arc<str> = Arc::from(r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?);
            slot_of.insert(id.clone(), points.len());
            points.push((
                GeoPoint {
                    id,
                    lng: r.get(1)?,
                    lat: r.get(2)?,
                    tags: Box::new([]),
                    is_available: true,
                    rating: r.get(3)?,
                },
                Vec::new(),
            ));
        }
        let mut stmt = conn.prepare(
            "SELECT user_id, availability_status, service_categories FROM technician_profiles",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id = r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
            let Some(&i) = slot_of.get(id) else { continue };
            let (point, tags) = &mut points[i];
            point.is_available =
                r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)? == "available";
            let categories = r.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?;
            if categories != "[]" {
                let extra: Vec<String> = serde_json::from_str(categories).unwrap_or_default();
                for c in extra {
                    add_tag(tags, &c);
                }
            }
        }
        let mut stmt = conn.prepare("SELECT user_id, name, category FROM user_skills")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id = r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
            let Some(&i) = slot_of.get(id) else { continue };
            let tags = &mut points[i].1;
            add_tag(tags, r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?);
            add_tag(tags, r.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?);
        }
        let entries: Vec<Entry> = points
            .into_iter()
            .map(|(mut p, tags)| {
                p.tags = tags.into_boxed_slice();
                entry(p)
            })
            .collect();
        Ok(GeoIndex {
            inner: RwLock::new(Inner::from_entries(entries)),
        })
    }

    /// Re-reads one user from `conn` and puts it in, moves it, or takes it
    /// out of the index. Call after the commit that changed it, holding the
    /// writer (`Db::write_then`), so updates apply in commit order.
    pub fn refresh(&self, conn: &Connection, user_id: &str) -> ApiResult<()> {
        let sql = format!("{LOAD_SQL} AND u.id = ?1");
        let point = crate::db::optional(conn.query_row(&sql, [user_id], point_from_row))?;
        let point = match point {
            Some(p) => {
                let mut stmt = conn
                    .prepare_cached("SELECT name, category FROM user_skills WHERE user_id = ?1")?;
                let skills = stmt
                    .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Some(with_skill_tags(p, &skills))
            }
            None => None,
        };
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.remove(user_id);
        if let Some(p) = point {
            inner.insert(entry(p));
        }
        Ok(())
    }

    /// Every indexed technician within `radius_km` of `(lng, lat)` that
    /// passes `keep`, with its great-circle distance in km, nearest first.
    pub fn within(
        &self,
        lng: f64,
        lat: f64,
        radius_km: f64,
        keep: impl Fn(&GeoPoint) -> bool,
    ) -> Vec<(Arc<GeoPoint>, f64)> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut found = search(&inner.tree, lng, lat, radius_km, &keep);
        sort_by_distance(&mut found);
        found
    }

    /// [`GeoIndex::within`] limited to technicians with at least one of
    /// `tags` (lower-case skill names or service categories; none: no
    /// limit). Service categories are answered from their own trees, so the
    /// cost follows the matches rather than every technician around.
    pub fn within_tagged(
        &self,
        lng: f64,
        lat: f64,
        radius_km: f64,
        tags: &[String],
        keep: impl Fn(&GeoPoint) -> bool,
    ) -> Vec<(Arc<GeoPoint>, f64)> {
        if tags.is_empty() {
            return self.within(lng, lat, radius_km, keep);
        }
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut found = if tags.iter().all(|t| is_service_category(t)) {
            let mut found = Vec::new();
            for (i, tag) in tags.iter().enumerate() {
                let Some(tree) = inner.by_category.get(tag.as_str()) else {
                    continue;
                };
                // A technician in several asked-for categories is counted once:
                // in the tree of the first of them it has.
                let earlier = &tags[..i];
                found.extend(search(tree, lng, lat, radius_km, &|p: &GeoPoint| {
                    !earlier.iter().any(|t| p.has_tag(t)) && keep(p)
                }));
            }
            found
        } else {
            search(&inner.tree, lng, lat, radius_km, &|p: &GeoPoint| {
                tags.iter().any(|t| p.has_tag(t)) && keep(p)
            })
        };
        sort_by_distance(&mut found);
        found
    }
    /// The indexed entry of one technician, if indexed.
    pub fn get(&self, user_id: &str) -> Option<Arc<GeoPoint>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.by_id.get(user_id).map(|e| e.point.clone())
    }

    /// Technicians indexed.
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_id
            .len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_of(points: &[(&str, f64, f64)]) -> GeoIndex {
        let entries: Vec<Entry> = points
            .iter()
            .map(|(id, lng, lat)| {
                entry(GeoPoint {
                    id: Arc::from(*id),
                    lng: *lng,
                    lat: *lat,
                    tags: Box::new([]),
                    is_available: true,
                    rating: 0.0,
                })
            })
            .collect();
        GeoIndex {
            inner: RwLock::new(Inner::from_entries(entries)),
        }
    }

    #[test]
    fn nairobi_distances_match_haversine() {
        // Nairobi CBD to Westlands is about 3.6 km.
        let d = distance_km((36.8219, -1.2921), (36.8065, -1.2630));
        assert!((3.4..3.9).contains(&d), "{d}");
        let idx = index_of(&[("a", 36.8065, -1.2630), ("b", 37.0, -1.0)]);
        let near = idx.within(36.8219, -1.2921, 5.0, |_| true);
        assert_eq!(near.len(), 1);
        assert!((near[0].1 - d).abs() < 1e-6);
    }

    #[test]
    fn crosses_the_antimeridian_and_the_pole() {
        let idx = index_of(&[
            ("east", 179.99, 0.0),
            ("west", -179.99, 0.0),
            ("far", 0.0, 0.0),
        ]);
        let ids: Vec<String> = idx
            .within(180.0, 0.0, 5.0, |_| true)
            .iter()
            .map(|(p, _)| p.id.to_string())
            .collect();
        assert_eq!(ids.len(), 2);
        let polar = index_of(&[("p1", 0.0, 89.99), ("p2", 180.0, 89.99)]);
        // The two points are ~2.2 km apart across the pole.
        assert_eq!(polar.within(90.0, 90.0, 2.0, |_| true).len(), 2);
    }

    #[test]
    fn results_are_sorted_and_filtered() {
        let idx = index_of(&[
            ("c", 36.83, -1.29),
            ("a", 36.82, -1.29),
            ("b", 36.825, -1.29),
        ]);
        let got: Vec<String> = idx
            .within(36.82, -1.29, 10.0, |p| p.id.as_ref() != "b")
            .iter()
            .map(|(p, _)| p.id.to_string())
            .collect();
        assert_eq!(got, ["a", "c"]);
    }

    #[test]
    fn agrees_with_brute_force_on_random_points() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let pts: Vec<(String, f64, f64)> = (0..3000)
            .map(|i| {
                (
                    format!("t{i}"),
                    rng.gen_range(-180.0..180.0),
                    rng.gen_range(-90.0..90.0),
                )
            })
            .collect();
        let refs: Vec<(&str, f64, f64)> =
            pts.iter().map(|(i, a, b)| (i.as_str(), *a, *b)).collect();
        let idx = index_of(&refs);
        for _ in 0..50 {
            let (lng, lat) = (rng.gen_range(-180.0..180.0), rng.gen_range(-90.0..90.0));
            let r = rng.gen_range(1.0..3000.0);
            let mut want: Vec<&str> = refs
                .iter()
                .filter(|(_, a, b)| distance_km((lng, lat), (*a, *b)) <= r)
                .map(|(i, _, _)| *i)
                .collect();
            want.sort();
            let mut got: Vec<String> = idx
                .within(lng, lat, r, |_| true)
                .iter()
                .map(|(p, _)| p.id.to_string())
                .collect();
            got.sort();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn tagged_searches_agree_with_filtering_everything() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let cats = ["plumbing", "electrical", "hvac"];
        let names = ["pipe work", "wiring"];
        let entries: Vec<Entry> = (0..3000)
            .map(|i| {
                let mut tags: Vec<Box<str>> = Vec::new();
                for t in cats.iter().chain(names.iter()) {
                    if rng.gen_bool(0.3) {
                        tags.push((*t).into());
                    }
                }
                entry(GeoPoint {
                    id: Arc::from(format!("t{i}").as_str()),
                    lng: rng.gen_range(36.0..37.5),
                    lat: rng.gen_range(-2.0..-0.5),
                    tags: tags.into_boxed_slice(),
                    is_available: rng.gen_bool(0.5),
                    rating: 0.0,
                })
            })
            .collect();
        let idx = GeoIndex {
            inner: RwLock::new(Inner::from_entries(entries)),
        };
        let asks: Vec<Vec<String>> = vec![
            vec!["plumbing".into()],
            vec!["plumbing".into(), "hvac".into()],
            vec!["wiring".into()],
            vec!["electrical".into(), "pipe work".into()],
            vec!["roofing".into()],
        ];
        for _ in 0..20 {
            let (lng, lat, r) = (
                rng.gen_range(36.0..37.5),
                rng.gen_range(-2.0..-0.5),
                rng.gen_range(1.0..60.0),
            );
            for tags in &asks {
                let want: Vec<String> = idx
                    .within(lng, lat, r, |p| {
                        p.is_available && tags.iter().any(|t| p.has_tag(t))
                    })
                    .iter()
                    .map(|(p, _)| p.id.to_string())
                    .collect();
                let got: Vec<String> = idx
                    .within_tagged(lng, lat, r, tags, |p| p.is_available)
                    .iter()
                    .map(|(p, _)| p.id.to_string())
                    .collect();
                assert_eq!(got, want, "{tags:?}");
            }
        }
        // Moving a technician out of a category takes it out of that tree.
        let mut inner = idx.inner.write().unwrap();
        let some = inner.by_category["hvac"]
            .iter()
            .next()
            .unwrap()
            .point
            .id
            .clone();
        let mut point = (*inner.by_id[&some].point).clone();
        point.tags = Box::new(["plumbing".into()]);
        inner.remove(&some);
        inner.insert(entry(point));
        assert!(!inner.by_category["hvac"].iter().any(|e| e.point.id == some));
        assert!(inner.by_category["plumbing"]
            .iter()
            .any(|e| e.point.id == some));
        assert_eq!(inner.tree.size(), 3000);
    }
}
