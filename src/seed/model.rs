//! The demo marketplace's shape, as pure functions of a random stream:
//! Nairobi's neighbourhoods, trades with their rates and jobs, people,
//! which status each booking reaches and by which moves. No I/O, so the
//! same `--seed` always plans the same marketplace.

use rand::Rng;

use crate::auth::Role;
use crate::bookings::model::{Action, Relation, Status};
use crate::users::technician::ScheduleSlot;

/// A neighbourhood of Nairobi; people are placed within ~2 km of it.
#[derive(Debug)]
pub struct Place {
    pub name: &'static str,
    pub lng: f64,
    pub lat: f64,
    /// Relative number of people living there.
    pub weight: u32,
}

/// Neighbourhoods of Nairobi (and its commuter towns) with coordinates.
pub static PLACES: [Place; 24] = [
    Place {
        name: "Nairobi CBD",
        lng: 36.8219,
        lat: -1.2864,
        weight: 6,
    },
    Place {
        name: "Westlands",
        lng: 36.8065,
        lat: -1.2676,
        weight: 8,
    },
    Place {
        name: "Kilimani",
        lng: 36.7856,
        lat: -1.2921,
        weight: 7,
    },
    Place {
        name: "Karen",
        lng: 36.7073,
        lat: -1.3197,
        weight: 4,
    },
    Place {
        name: "Lavington",
        lng: 36.7684,
        lat: -1.2795,
        weight: 4,
    },
    Place {
        name: "Parklands",
        lng: 36.8181,
        lat: -1.2597,
        weight: 5,
    },
    Place {
        name: "South B",
        lng: 36.8394,
        lat: -1.3094,
        weight: 5,
    },
    Place {
        name: "South C",
        lng: 36.8268,
        lat: -1.3190,
        weight: 5,
    },
    Place {
        name: "Embakasi",
        lng: 36.8947,
        lat: -1.3170,
        weight: 8,
    },
    Place {
        name: "Kasarani",
        lng: 36.8994,
        lat: -1.2215,
        weight: 7,
    },
    Place {
        name: "Roysambu",
        lng: 36.8870,
        lat: -1.2180,
        weight: 6,
    },
    Place {
        name: "Kileleshwa",
        lng: 36.7836,
        lat: -1.2809,
        weight: 4,
    },
    Place {
        name: "Lang'ata",
        lng: 36.7540,
        lat: -1.3470,
        weight: 5,
    },
    Place {
        name: "Donholm",
        lng: 36.8890,
        lat: -1.2930,
        weight: 6,
    },
    Place {
        name: "Eastleigh",
        lng: 36.8480,
        lat: -1.2750,
        weight: 7,
    },
    Place {
        name: "Upper Hill",
        lng: 36.8140,
        lat: -1.2990,
        weight: 3,
    },
    Place {
        name: "Runda",
        lng: 36.8090,
        lat: -1.2180,
        weight: 2,
    },
    Place {
        name: "Ruaka",
        lng: 36.7750,
        lat: -1.2050,
        weight: 5,
    },
    Place {
        name: "Rongai",
        lng: 36.7440,
        lat: -1.3960,
        weight: 6,
    },
    Place {
        name: "Kitengela",
        lng: 36.9590,
        lat: -1.4750,
        weight: 5,
    },
    Place {
        name: "Githurai",
        lng: 36.9110,
        lat: -1.2000,
        weight: 6,
    },
    Place {
        name: "Kahawa West",
        lng: 36.8890,
        lat: -1.1880,
        weight: 4,
    },
    Place {
        name: "Umoja",
        lng: 36.8970,
        lat: -1.2830,
        weight: 6,
    },
    Place {
        name: "Ngong Road",
        lng: 36.7800,
        lat: -1.3000,
        weight: 4,
    },
];

/// A trade: its category, skill names, jobs customers ask for, and the
/// hourly rate range in KES.
pub struct Trade {
    pub category: &'static str,
    pub skills: &'static [&'static str],
    pub jobs: &'static [(&'static str, &'static str)],
    pub rate_kes: (i64, i64),
    pub weight: u32,
}

/// The trades of the demo, weighted by how common they are.
pub static TRADES: [Trade; 8] = [
    Trade {
        category: "plumbing",
        skills: &["Plumbing", "Pipe Installation", "Water Heater Repair"],
        jobs: &[
            (
                "Leaking kitchen sink",
                "The kitchen sink leaks under the cabinet",
            ),
            (
                "Blocked drain",
                "The bathroom drain is blocked and water stands",
            ),
            (
                "Water tank connection",
                "Connect the new roof tank to the house",
            ),
        ],
        rate_kes: (1000, 2500),
        weight: 20,
    },
    Trade {
        category: "electrical",
        skills: &[
            "Electrical Wiring",
            "Socket Installation",
            "Solar Installation",
        ],
        jobs: &[
            (
                "Socket replacement",
                "Two sockets in the sitting room are dead",
            ),
            (
                "Token meter fault",
                "The prepaid meter shows an error after loading tokens",
            ),
            (
                "Security lights",
                "Install four security lights around the compound",
            ),
        ],
        rate_kes: (1200, 3000),
        weight: 18,
    },
    Trade {
        category: "carpentry",
        skills: &["Carpentry", "Furniture Repair", "Door Fitting"],
        jobs: &[
            ("Wardrobe assembly", "Assemble a three-door wardrobe"),
            ("Broken door", "The bedroom door does not close"),
        ],
        rate_kes: (900, 2200),
        weight: 12,
    },
    Trade {
        category: "painting",
        skills: &["Interior Painting", "Exterior Painting"],
        jobs: &[
            (
                "Repaint two rooms",
                "Repaint two bedrooms, walls and ceiling",
            ),
            ("Gate painting", "Scrape and repaint the steel gate"),
        ],
        rate_kes: (800, 1800),
        weight: 10,
    },
    Trade {
        category: "cleaning",
        skills: &["House Cleaning", "Carpet Cleaning", "Sofa Cleaning"],
        jobs: &[
            (
                "Move-out cleaning",
                "Deep cleaning of a two-bedroom apartment",
            ),
            ("Sofa cleaning", "Shampoo a seven-seater sofa"),
        ],
        rate_kes: (600, 1500),
        weight: 14,
    },
    Trade {
        category: "appliance_repair",
        skills: &["Fridge Repair", "Washing Machine Repair", "Cooker Repair"],
        jobs: &[
            ("Fridge not cooling", "The fridge runs but does not cool"),
            ("Washing machine", "The washing machine does not drain"),
        ],
        rate_kes: (1200, 3500),
        weight: 10,
    },
    Trade {
        category: "hvac",
        skills: &["Air Conditioning", "Ventilation"],
        jobs: &[("AC service", "Service two split air conditioners")],
        rate_kes: (1500, 3500),
        weight: 5,
    },
    Trade {
        category: "general_handyman",
        skills: &["Handyman", "Curtain Fitting", "TV Mounting"],
        jobs: &[
            ("TV mounting", "Mount a 55-inch TV on a brick wall"),
            ("Curtain rails", "Fit curtain rails in three rooms"),
        ],
        rate_kes: (700, 1800),
        weight: 11,
    },
];

static FIRST_NAMES: [&str; 32] = [
    "Wanjiru",
    "Otieno",
    "Akinyi",
    "Kamau",
    "Njeri",
    "Mwangi",
    "Achieng",
    "Kiptoo",
    "Wambui",
    "Odhiambo",
    "Chebet",
    "Mutua",
    "Nyambura",
    "Kipchoge",
    "Atieno",
    "Njoroge",
    "Wairimu",
    "Omondi",
    "Jepkosgei",
    "Karanja",
    "Moraa",
    "Onyango",
    "Muthoni",
    "Barasa",
    "Awino",
    "Kibet",
    "Nduta",
    "Wekesa",
    "Zawadi",
    "Baraka",
    "Amina",
    "Hassan",
];

static LAST_NAMES: [&str; 24] = [
    "Kamau", "Otieno", "Mwangi", "Ochieng", "Kariuki", "Wanjala", "Kiprono", "Mutiso", "Njoroge",
    "Odera", "Maina", "Kilonzo", "Chege", "Omondi", "Rotich", "Nyaga", "Wafula", "Gitau", "Mbugua",
    "Korir", "Abdi", "Kimani", "Owino", "Macharia",
];

/// What a technician offers.
#[derive(Debug, Clone)]
pub struct TradePlan {
    pub skills: Vec<(&'static str, &'static str)>,
    pub rate_minor: i64,
    pub years: i64,
    pub schedule: Vec<ScheduleSlot>,
}

/// A generated person.
#[derive(Debug, Clone)]
pub struct Person {
    pub email: String,
    pub phone: String,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub place: &'static Place,
    /// `(lng, lat)`.
    pub point: (f64, f64),
    pub trade: Option<TradePlan>,
}

fn weighted<'a, T>(rng: &mut impl Rng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut pick = rng.gen_range(0..total);
    for item in items {
        let w = weight(item);
        if pick < w {
            return item;
        }
        pick -= w;
    }
    &items[items.len() - 1]
}

/// A point within about 2 km of `place`.
fn near(rng: &mut impl Rng, place: &Place) -> (f64, f64) {
    let (dx, dy): (f64, f64) = (rng.gen_range(-0.018..0.018), rng.gen_range(-0.018..0.018));
    (
        ((place.lng + dx) * 1e6).round() / 1e6,
        ((place.lat + dy) * 1e6).round() / 1e6,
    )
}

/// Monday to Friday, `start`-`end`.
pub fn weekdays(start: &str, end: &str) -> Vec<ScheduleSlot> {
    (1..=5)
        .map(|d| ScheduleSlot {
            day_of_week: d,
            start_time: start.into(),
            end_time: end.into(),
            is_available: true,
        })
        .collect()
}

/// The sign-in email of generated technician `i`.
pub fn technician_email(i: usize) -> String {
    format!("tech{i}@demo.baitech.co.ke")
}

/// The sign-in email of generated customer `i`.
pub fn customer_email(i: usize) -> String {
    format!("customer{i}@demo.baitech.co.ke")
}

fn person(rng: &mut impl Rng, email: String, phone: String) -> Person {
    let place = weighted(rng, &PLACES, |p| p.weight);
    Person {
        email,
        phone,
        first_name: FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())],
        last_name: LAST_NAMES[rng.gen_range(0..LAST_NAMES.len())],
        place,
        point: near(rng, place),
        trade: None,
    }
}

/// Generated technician `i` (phones +25471xxxxxxx, unique up to 10 million).
pub fn technician(rng: &mut impl Rng, i: usize) -> Person {
    let mut p = person(
        rng,
        technician_email(i),
        format!("+25471{:07}", i % 10_000_000),
    );
    let trade = weighted(rng, &TRADES, |t| t.weight);
    let n = rng.gen_range(1..=trade.skills.len().min(3));
    let years = rng.gen_range(1..=15);
    let rate_kes = rng.gen_range(trade.rate_kes.0..=trade.rate_kes.1) / 50 * 50;
    let mut schedule = weekdays(
        ["07:00", "08:00", "09:00"][rng.gen_range(0..3)],
        ["16:00", "17:00", "18:00"][rng.gen_range(0..3)],
    );
    if rng.gen_bool(0.6) {
        schedule.push(ScheduleSlot {
            day_of_week: 6,
            start_time: "09:00".into(),
            end_time: "14:00".into(),
            is_available: true,
        });
    }
    p.trade = Some(TradePlan {
        skills: trade.skills[..n]
            .iter()
            .map(|s| (*s, trade.category))
            .collect(),
        rate_minor: rate_kes * 100,
        years,
        schedule,
    });
    p
}

/// Generated customer `i` (phones +25472xxxxxxx).
pub fn customer(rng: &mut impl Rng, i: usize) -> Person {
    person(
        rng,
        customer_email(i),
        format!("+25472{:07}", i % 10_000_000),
    )
}

/// A named technician's trade: category, rate (minor units), years, skills.
pub type NamedTrade = (&'static str, i64, i64, Vec<(&'static str, &'static str)>);

/// One of the original demo seed's accounts.
pub struct Named {
    pub email: &'static str,
    pub password: &'static str,
    pub role: Role,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub phone: &'static str,
    /// Index into [`PLACES`].
    pub place: Option<usize>,
    pub technician: Option<NamedTrade>,
}

/// The accounts of the original seed (same emails, passwords and places).
pub fn named_accounts() -> Vec<Named> {
    vec![
        Named {
            email: "admin@baitech.com",
            password: "Admin@123",
            role: Role::Admin,
            first_name: "John",
            last_name: "Admin",
            phone: "+254712345678",
            place: Some(0),
            technician: None,
        },
        Named {
            email: "support@baitech.com",
            password: "Support@123",
            role: Role::Support,
            first_name: "Jane",
            last_name: "Support",
            phone: "+254756789012",
            place: None,
            technician: None,
        },
        Named {
            email: "tech1@baitech.com",
            password: "Tech@123",
            role: Role::Technician,
            first_name: "Mike",
            last_name: "Technician",
            phone: "+254723456789",
            place: Some(1),
            technician: Some((
                "plumbing",
                150_000,
                5,
                vec![("Plumbing", "plumbing"), ("Pipe Installation", "plumbing")],
            )),
        },
        Named {
            email: "tech2@baitech.com",
            password: "Tech@123",
            role: Role::Technician,
            first_name: "Sarah",
            last_name: "Electrician",
            phone: "+254734567890",
            place: Some(2),
            technician: Some((
                "electrical",
                200_000,
                7,
                vec![("Electrical Wiring", "electrical")],
            )),
        },
        Named {
            email: "customer1@gmail.com",
            password: "Customer@123",
            role: Role::Customer,
            first_name: "David",
            last_name: "Customer",
            phone: "+254745678901",
            place: Some(3),
            technician: None,
        },
    ]
}

/// How often bookings end up in each status.
pub const STATUS_WEIGHTS: [(Status, u32); 10] = [
    (Status::Pending, 8),
    (Status::AwaitingAcceptance, 8),
    (Status::Accepted, 10),
    (Status::EnRoute, 3),
    (Status::Arrived, 3),
    (Status::InProgress, 5),
    (Status::Completed, 47),
    (Status::Cancelled, 8),
    (Status::Disputed, 4),
    (Status::Refunded, 4),
];

/// The moves (action, by whom) that take a new booking to `target`: a new
/// booking is `pending`, or `awaiting_acceptance` with a technician named.
pub fn path_to(target: Status) -> Vec<(Action, Relation)> {
    use Action::*;
    let tech = Relation::AssignedTechnician;
    let job = [
        (Accept, tech),
        (EnRoute, tech),
        (Arrive, tech),
        (Start, tech),
        (Complete, tech),
    ];
    let steps = match target {
        Status::Pending | Status::AwaitingAcceptance => 0,
        Status::Accepted => 1,
        Status::EnRoute => 2,
        Status::Arrived => 3,
        Status::InProgress => 4,
        Status::Completed | Status::Disputed | Status::Refunded => 5,
        Status::Cancelled => return vec![(Cancel, Relation::Customer)],
    };
    let mut path = job[..steps].to_vec();
    if matches!(target, Status::Disputed | Status::Refunded) {
        path.push((Dispute, Relation::Customer));
    }
    if target == Status::Refunded {
        path.push((ResolveRefunded, Relation::Admin));
    }
    path
}

/// Whether a booking in `status` has been paid for (M-Pesa, into escrow).
pub fn is_paid(status: Status) -> bool {
    !matches!(
        status,
        Status::Pending | Status::AwaitingAcceptance | Status::Cancelled
    )
}

/// One booking to create.
#[derive(Debug, Clone)]
pub struct BookingPlan {
    pub customer: usize,
    pub technician: usize,
    pub status: Status,
    pub service_type: &'static str,
    pub description: &'static str,
    pub urgency: &'static str,
    pub days_from_now: i64,
    pub hour: i64,
    pub minutes: i64,
    pub point: (f64, f64),
    pub amount_minor: i64,
}

/// A booking of customer `customer` with technician `t` (index `technician`).
pub fn booking(
    rng: &mut impl Rng,
    customer: usize,
    t: &super::Tech,
    technician: usize,
) -> BookingPlan {
    let status = weighted(rng, &STATUS_WEIGHTS, |(_, w)| *w).0;
    let trade = TRADES
        .iter()
        .find(|tr| tr.category == t.category)
        .unwrap_or(&TRADES[TRADES.len() - 1]);
    let (service_type, description) = trade.jobs[rng.gen_range(0..trade.jobs.len())];
    let days_from_now = match status {
        Status::Pending | Status::AwaitingAcceptance | Status::Accepted => rng.gen_range(1..=14),
        Status::EnRoute | Status::Arrived | Status::InProgress => 0,
        _ => -rng.gen_range(1..=90),
    };
    let minutes = [60, 90, 120, 180, 240][rng.gen_range(0..5)];
    BookingPlan {
        customer,
        technician,
        status,
        service_type,
        description,
        urgency: ["low", "medium", "medium", "high", "emergency"][rng.gen_range(0..5)],
        days_from_now,
        hour: rng.gen_range(5..14),
        minutes,
        point: near(rng, t.place),
        amount_minor: (t.rate_minor * minutes / 60 / 100) * 100,
    }
}

/// A customer's review of a completed job.
#[derive(Debug, Clone)]
pub struct ReviewPlan {
    pub overall: u8,
    pub categories: [u8; 5],
    pub title: &'static str,
    pub comment: &'static str,
}

/// Four in five completed jobs get a review, mostly good.
pub fn review(rng: &mut impl Rng) -> Option<ReviewPlan> {
    if !rng.gen_bool(0.8) {
        return None;
    }
    let overall = *weighted(
        rng,
        &[(5u8, 55u32), (4, 28), (3, 10), (2, 4), (1, 3)],
        |(_, w)| *w,
    );
    let (title, comment) = match overall.0 {
        5 => (
            "Excellent work",
            "Arrived on time, explained everything and left the place clean.",
        ),
        4 => (
            "Good job",
            "Fixed the problem; a little late but kept me informed.",
        ),
        3 => ("Okay", "The job is done but took longer than promised."),
        _ => ("Not happy", "Had to call twice and the problem came back."),
    };
    let mut categories = [overall.0; 5];
    for c in &mut categories {
        *c = (*c as i32 + rng.gen_range(-1..=1)).clamp(1, 5) as u8;
    }
    Some(ReviewPlan {
        overall: overall.0,
        categories,
        title,
        comment,
    })
}

// ---------------------------------------------------------------- feed

/// One demo post, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PostPlan {
    pub kind: &'static str,
    pub caption: String,
    pub visibility: &'static str,
    /// `portfolioDetails` as a client would send it (portfolio posts).
    pub portfolio: Option<serde_json::Value>,
    /// How long before the seed it was posted.
    pub minutes_ago: i64,
    /// Wanted engagement; fewer when the post's audience is smaller.
    pub likes: usize,
    pub comments: usize,
    pub bookmarks: usize,
    pub shares: usize,
}

/// Post types technicians write, weighted. Video posts are left out: the
/// seed has no playable video to attach.
const TECH_POSTS: [(&str, u32); 5] = [
    ("portfolio", 25),
    ("tip", 25),
    ("image", 20),
    ("text", 20),
    ("question", 10),
];
/// Post types customers write, weighted.
const CUSTOMER_POSTS: [(&str, u32); 3] = [("question", 45), ("text", 35), ("image", 20)];

/// A tip of each trade (by category), two each.
fn tips(category: &str) -> [&'static str; 2] {
    match category {
        "plumbing" => [
            "Most dripping taps need a KES 50 washer, not a new tap. Close the valve under the sink first.",
            "Clean your roof tank every six months: silt at the bottom blocks the float valve.",
        ],
        "electrical" => [
            "If the token meter shows an error after loading, re-enter the 20 digits slowly before calling KPLC.",
            "Never share one extension cable between the fridge and the iron: that is how sockets melt.",
        ],
        "carpentry" => [
            "A door that scrapes the floor usually needs its top hinge screws tightened, not planing.",
            "Seal new mahogany with varnish before the rains or it will warp by April.",
        ],
        "painting" => [
            "Wash walls with sugar soap before repainting; paint peels off kitchen grease within weeks.",
            "Buy all the paint for one room from one batch: the shade differs between batches.",
        ],
        "cleaning" => [
            "Baking soda and vinegar lift most sofa stains; test on the back first.",
            "Vacuum carpets before shampooing them, or the dust turns into mud.",
        ],
        "appliance_repair" => [
            "A fridge that runs but does not cool often just has dusty coils at the back. Unplug and brush them.",
            "Leave the washing machine door open after use so the seal does not grow mould.",
        ],
        "hvac" => [
            "Clean split AC filters monthly in Nairobi dust; it cuts the power bill noticeably.",
            "An AC dripping indoors usually has a blocked drain pipe, not a gas problem.",
        ],
        _ => [
            "Use wall plugs rated for brick when mounting a TV; the cheap ones pull out within a month.",
            "Measure curtain rails 15 cm wider than the window so the curtains clear the glass.",
        ],
    }
}

/// The portfolio category a trade's work is filed under.
fn portfolio_category(category: &str) -> &'static str {
    crate::posts::model::PORTFOLIO_CATEGORIES
        .iter()
        .copied()
        .find(|c| *c == category)
        .unwrap_or("other")
}

const TEXTS: [&str; 6] = [
    "Busy week in {place}! Thank you to every client who booked through BaiTech.",
    "Available this Saturday around {place} for small jobs. Book early.",
    "Five years of work in {place} and I still learn something new every week.",
    "Grateful for the reviews this month. Quality work, fair prices.",
    "Rainy season is here: check your gutters and roof before the next storm.",
    "New tools arrived today. Faster jobs, same careful work.",
];

const CUSTOMER_TEXTS: [&str; 4] = [
    "Got my {job} sorted in {place} within a day. Very happy with the service.",
    "Tip for everyone in {place}: book in the morning, technicians are less busy.",
    "Finally found a reliable fundi for {job}. Highly recommend booking through the app.",
    "Anyone else in {place} had the water off all week?",
];

const QUESTIONS: [&str; 4] = [
    "Does anyone know a good technician for {job} around {place}?",
    "How much should {job} cost in {place}? I was quoted double what I expected.",
    "Is it worth repairing or should I replace? ({job})",
    "What should I ask a technician before booking {job}?",
];

/// What commenters say.
pub const COMMENTS: [&str; 10] = [
    "Very helpful, thank you!",
    "I had the same problem last month.",
    "How much did this cost?",
    "Great work, very neat.",
    "Are you available in Kasarani next week?",
    "Asante sana for the tip.",
    "I booked him last year, excellent job.",
    "Which brand do you recommend?",
    "Saved this for later.",
    "This is exactly what I needed.",
];

/// One post by a technician (`category` is their trade) or a customer
/// living in `place`.
pub fn post(rng: &mut impl Rng, technician: Option<&str>, place: &str) -> PostPlan {
    let category = technician.unwrap_or("plumbing");
    let kind = match technician {
        Some(_) => weighted(rng, &TECH_POSTS, |(_, w)| *w).0,
        None => weighted(rng, &CUSTOMER_POSTS, |(_, w)| *w).0,
    };
    let trade = TRADES
        .iter()
        .find(|t| t.category == category)
        .unwrap_or(&TRADES[0]);
    let job = trade.jobs[rng.gen_range(0..trade.jobs.len())];
    let fill = |t: &str| {
        t.replace("{place}", place)
            .replace("{job}", &job.0.to_lowercase())
    };
    let tag = category.replace('_', "");
    let area: String = place
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let mut portfolio = None;
    let caption = match kind {
        "tip" => format!(
            "{} #{tag} #baitechtips",
            tips(category)[rng.gen_range(0..2)]
        ),
        "portfolio" => {
            let cost = rng.gen_range(20..=400) * 100;
            let testimonial = [
                "Clean work and on time.",
                "Would book again.",
                "Very professional.",
            ][rng.gen_range(0..3)];
            portfolio = Some(serde_json::json!({
                "title": job.0,
                "projectType": job.0,
                "category": portfolio_category(category),
                "duration": format!("{} hours", rng.gen_range(2..=16)),
                "materials": trade.skills.iter().take(2).collect::<Vec<_>>(),
                "cost": {"amount": cost, "currency": "KES"},
                "clientTestimonial": testimonial,
                "tags": [tag.clone(), area.to_lowercase()],
            }));
            format!("Finished: {} in {place}. #{tag} #portfolio #{area}", job.0)
        }
        "image" => match technician {
            Some(_) => format!(
                "Before and after: {} in {place}. #{tag} #beforeandafter",
                job.0.to_lowercase()
            ),
            None => format!(
                "{} #{area} #home",
                fill("Our {job} is finally fixed, {place}.")
            ),
        },
        "question" => format!(
            "{} #askbaitech #{tag}",
            fill(QUESTIONS[rng.gen_range(0..QUESTIONS.len())])
        ),
        _ => match technician {
            Some(_) => format!("{} #{area}", fill(TEXTS[rng.gen_range(0..TEXTS.len())])),
            None => format!(
                "{} #{area}",
                fill(CUSTOMER_TEXTS[rng.gen_range(0..CUSTOMER_TEXTS.len())])
            ),
        },
    };
    let visibility = *weighted(
        rng,
        &[("public", 80u32), ("followers", 15), ("private", 5)],
        |(_, w)| *w,
    );
    PostPlan {
        kind,
        caption,
        visibility: visibility.0,
        portfolio,
        minutes_ago: rng.gen_range(5..30 * 24 * 60),
        likes: rng.gen_range(0..=24),
        comments: rng.gen_range(0..=5),
        bookmarks: rng.gen_range(0..=4),
        shares: rng.gen_range(0..=2),
    }
}

// ---------------------------------------------------------------- chat

/// Lines of a booking's conversation: `(from the customer, text)`, in order.
pub const BOOKING_CHAT: [(bool, &str); 8] = [
    (
        true,
        "Hello, are you still able to come at the agreed time?",
    ),
    (
        false,
        "Yes, I will be there. Is there parking inside the compound?",
    ),
    (true, "Yes, tell the guard you are coming to house 14."),
    (
        false,
        "Noted. Could you send a photo of the problem so I bring the right parts?",
    ),
    (true, "Sent it by WhatsApp just now."),
    (false, "Thanks, I have the parts. See you then."),
    (true, "Thank you, see you."),
    (false, "I am 10 minutes away, traffic on Mombasa Road."),
];

/// Lines of a customer's direct conversation with a technician.
pub const DIRECT_CHAT: [(bool, &str); 6] = [
    (true, "Hi, I saw your post. Do you also work on weekends?"),
    (false, "Hello! Yes, Saturdays until 2 pm."),
    (
        true,
        "Roughly how much would you charge for this kind of job?",
    ),
    (
        false,
        "It depends on the materials; I can quote after seeing it. Book a visit in the app.",
    ),
    (true, "Okay, I will book for Saturday morning."),
    (false, "Perfect, talk then."),
];

// ---------------------------------------------------------------- support

/// Where a demo ticket ends up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketEnd {
    /// Left with whatever the assignment rule did (assigned, or queued).
    AsCreated,
    InProgress,
    WaitingCustomer,
    Resolved,
    /// Closed; rated by the customer when `true`.
    Closed(bool),
}

/// One demo ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketPlan {
    pub subject: &'static str,
    pub description: &'static str,
    pub category: &'static str,
    pub priority: crate::support::model::Priority,
    pub source: &'static str,
    pub end: TicketEnd,
    pub rating: i64,
}

const TICKETS: [(&str, &str, &str); 8] = [
    (
        "booking",
        "Technician did not show up",
        "My booking was accepted but nobody came and the technician is not answering calls.",
    ),
    (
        "payment",
        "M-Pesa charged twice",
        "I paid once but M-Pesa shows two deductions for the same booking.",
    ),
    (
        "payment",
        "Refund not received",
        "The dispute was resolved with a refund a week ago but my wallet is still empty.",
    ),
    (
        "account",
        "Cannot verify phone number",
        "The SMS code never arrives on my Safaricom line.",
    ),
    (
        "technical",
        "App crashes when uploading photos",
        "Every time I attach a photo to a booking the app closes.",
    ),
    (
        "complaint",
        "Rude technician",
        "The technician was rude and left the job half done.",
    ),
    (
        "billing",
        "Receipt for company expenses",
        "I need a receipt with our company PIN for last month's bookings.",
    ),
    (
        "general",
        "How do I become a technician?",
        "I am an electrician; how do I list my services on BaiTech?",
    ),
];

/// What the desk answers first.
pub const STAFF_REPLY: &str =
    "Thank you for reaching out. We are looking into this and will update you shortly.";
/// What the desk asks when it waits on the customer.
pub const STAFF_ASK: &str =
    "Could you share the booking number and a screenshot of the M-Pesa message?";
/// The customer's answer.
pub const CUSTOMER_REPLY: &str = "Here are the details you asked for.";
/// How the desk closes a ticket.
pub const RESOLUTION: &str = "Resolved with the customer; the booking and payment are now correct.";

/// One ticket, with where it ends.
pub fn ticket(rng: &mut impl Rng) -> TicketPlan {
    use crate::support::model::Priority;
    let (category, subject, description) = TICKETS[rng.gen_range(0..TICKETS.len())];
    let priority = weighted(
        rng,
        &[
            (Priority::Low, 20u32),
            (Priority::Medium, 45),
            (Priority::High, 25),
            (Priority::Urgent, 10),
        ],
        |(_, w)| *w,
    )
    .0;
    let end = weighted(
        rng,
        &[
            (TicketEnd::AsCreated, 20u32),
            (TicketEnd::InProgress, 15),
            (TicketEnd::WaitingCustomer, 10),
            (TicketEnd::Resolved, 20),
            (TicketEnd::Closed(true), 25),
            (TicketEnd::Closed(false), 10),
        ],
        |(_, w)| *w,
    )
    .0;
    TicketPlan {
        subject,
        description,
        category,
        priority,
        source: ["web", "mobile", "mobile", "email", "chat"][rng.gen_range(0..5)],
        end,
        rating: weighted(
            rng,
            &[(5i64, 50u32), (4, 30), (3, 12), (2, 5), (1, 3)],
            |(_, w)| *w,
        )
        .0,
    }
}

/// The staff moves that take an assigned ticket to `end` (the replies
/// around them are the seed's).
pub fn staff_path(end: TicketEnd) -> &'static [crate::support::model::Status] {
    use crate::support::model::Status::*;
    match end {
        TicketEnd::AsCreated => &[],
        TicketEnd::InProgress => &[InProgress],
        TicketEnd::WaitingCustomer => &[InProgress, WaitingCustomer],
        TicketEnd::Resolved => &[InProgress, Resolved],
        TicketEnd::Closed(_) => &[InProgress, Resolved, Closed],
    }
}

/// The generated support agents' sign-in email.
pub fn agent_email(i: usize) -> String {
    format!("agent{i}@demo.baitech.co.ke")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bookings::model::transition;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn every_status_is_reached_by_the_bookings_own_rules() {
        for (target, _) in STATUS_WEIGHTS {
            let mut status = if target == Status::Pending {
                Status::Pending
            } else {
                Status::AwaitingAcceptance
            };
            for (action, relation) in path_to(target) {
                status = transition(status, relation, action)
                    .unwrap_or_else(|r| panic!("{target:?}: {action:?} from {status:?}: {r:?}"));
            }
            assert_eq!(status, target);
        }
    }

    #[test]
    fn the_same_seed_plans_the_same_people() {
        let plan = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..50)
                .map(|i| {
                    let p = technician(&mut rng, i);
                    (p.email, p.first_name, p.point, p.trade.unwrap().rate_minor)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(plan(7), plan(7));
        assert_ne!(plan(7), plan(8));
    }

    #[test]
    fn people_live_around_nairobi_with_unique_contacts() {
        let mut rng = StdRng::seed_from_u64(1);
        let people: Vec<Person> = (0..2000).map(|i| technician(&mut rng, i)).collect();
        let phones: std::collections::HashSet<_> = people.iter().map(|p| &p.phone).collect();
        assert_eq!(phones.len(), people.len());
        for p in &people {
            let (lng, lat) = p.point;
            assert!(
                (36.6..37.0).contains(&lng) && (-1.5..-1.1).contains(&lat),
                "{p:?}"
            );
            assert!(
                crate::auth::policy::normalize_phone(&p.phone).as_deref() == Some(p.phone.as_str())
            );
            let t = p.trade.as_ref().unwrap();
            assert!(t.rate_minor >= 60_000 && t.rate_minor <= 350_000);
            assert!(!t.skills.is_empty());
            assert!(crate::users::technician::is_service_category(t.skills[0].1));
        }
    }

    #[test]
    fn paid_bookings_are_the_accepted_ones() {
        // (status, paid)
        let table = [
            (Status::Pending, false),
            (Status::AwaitingAcceptance, false),
            (Status::Cancelled, false),
            (Status::Accepted, true),
            (Status::Completed, true),
            (Status::Refunded, true),
        ];
        for (s, paid) in table {
            assert_eq!(is_paid(s), paid, "{s:?}");
        }
    }
    #[test]
    fn posts_pass_the_posts_modules_own_parser() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut kinds = std::collections::BTreeSet::new();
        for i in 0..400 {
            let tech = (i % 3 != 0).then_some(TRADES[i % TRADES.len()].category);
            let p = post(&mut rng, tech, PLACES[i % PLACES.len()].name);
            kinds.insert(p.kind);
            let mut body = serde_json::json!({"type": p.kind, "caption": p.caption, "visibility": p.visibility});
            if let Some(d) = &p.portfolio {
                body["portfolioDetails"] = d.clone();
            }
            if p.kind == "image" {
                body["media"] = serde_json::json!(["baitech/posts/x"]);
            }
            let parsed = crate::posts::model::parse_new_post(&body)
                .unwrap_or_else(|e| panic!("{body}: {e:?}"));
            assert!(!parsed.hashtags.is_empty(), "{}", p.caption);
            if tech.is_none() {
                assert_ne!(p.kind, "portfolio", "portfolio posts are for technicians");
            }
        }
        let want: std::collections::BTreeSet<&str> =
            ["image", "portfolio", "question", "text", "tip"].into();
        assert_eq!(kinds, want);
    }

    #[test]
    fn tickets_reach_every_planned_end_by_the_desks_moves() {
        use crate::support::model::{transition, Actor, Status};
        let mut rng = StdRng::seed_from_u64(5);
        let mut ends = std::collections::HashSet::new();
        for _ in 0..200 {
            let t = ticket(&mut rng);
            ends.insert(format!("{:?}", t.end));
            assert!((1..=5).contains(&t.rating));
            assert!(crate::support::model::CATEGORIES.contains(&t.category));
            let mut s = Status::Assigned;
            for to in staff_path(t.end) {
                s = transition(s, *to, Actor::Staff).unwrap();
            }
        }
        assert_eq!(ends.len(), 6, "{ends:?}");
    }
}
