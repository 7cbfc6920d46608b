//! `baitech seed-demo`: a realistic Nairobi marketplace for trying the
//! product and for benchmarks. The named accounts of the original demo
//! seed (admin, support, two technicians, a customer), then generated
//! technicians with skills, rates, weekly schedules and locations around
//! Nairobi's neighbourhoods, customers, and bookings in every status with
//! their M-Pesa payments (paid when the technician accepts; held, released
//! or refunded as the job ends) and reviews.
//!
//! Everything goes through the modules' own store functions (accounts,
//! availability, bookings and their moves, payments, reviews), so the
//! seeded data obeys the same rules and emits the same events as the API;
//! only technician rates and skills are plain SQL (the users module has no
//! store function for them). Work is batched in large transactions.
//!
//! The seeder is a list of [`STEPS`]: a module adds its demo data by
//! appending one `(name, fn(&mut Ctx) -> Result<(), String>)` that reads
//! what earlier steps left in [`Ctx`] (accounts, technicians, bookings).
//! The same `--seed` gives the same people, places, statuses and amounts
//! (ids and timestamps are fresh on every run).

mod conversations;
mod desk;
pub mod model;
mod social;

use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{params, Connection};

use crate::auth::store::{self as accounts, NewAccount, NewLocation};
use crate::auth::{password, Role};
use crate::bookings::model::{transition, Action, Relation, Status};
use crate::bookings::store as bookings;
use crate::config::Config;
use crate::db::Db;
use crate::error::ApiResult;
use crate::ids::now_ms;
use crate::payments::model::{Gateway, TxType};
use crate::payments::movements::{self, Actor, Evidence, GatewayRefs, PaymentRequest, RefundTo};
use crate::reviews::model::{Ratings, ReviewerRole};
use model::{Place, PLACES};

/// Sizes and the random seed, from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub technicians: u32,
    pub customers: u32,
    pub bookings: u32,
    pub seed: u64,
}

/// An account printed at the end, to sign in with.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub role: &'static str,
    pub email: String,
    pub password: String,
}

/// A seeded technician: id, home and main category.
#[derive(Debug, Clone)]
pub struct Tech {
    pub id: String,
    pub category: &'static str,
    pub rate_minor: i64,
    pub place: &'static Place,
}

/// What the steps share: the database, settings, one random stream, and
/// what earlier steps created.
pub struct Ctx<'a> {
    pub db: &'a Db,
    pub config: &'a Config,
    pub options: Options,
    pub rng: StdRng,
    pub admin_id: String,
    pub support_id: String,
    pub technicians: Vec<Tech>,
    pub customers: Vec<String>,
    /// Booking id and the status it was taken to.
    pub bookings: Vec<(String, Status)>,
    /// Followers of each followed account (ordered, so later steps draw
    /// the same people for the same seed).
    pub followers: std::collections::BTreeMap<String, Vec<String>>,
    /// Support agents available for assignment.
    pub support_agents: Vec<String>,
    pub sign_ins: Vec<SignIn>,
    /// One argon2 hash shared by every generated account.
    pub demo_hash: String,
}

/// One module's part of the demo data.
pub type Step = fn(&mut Ctx) -> Result<(), String>;

/// The steps, in order. Modules add theirs at the end.
pub const STEPS: &[(&str, Step)] = &[
    ("named accounts", named_accounts),
    ("technicians", technicians),
    ("customers", customers),
    ("bookings and payments", bookings_step),
    ("reviews", reviews_step),
    ("follows", social::follows_step),
    ("posts", social::posts_step),
    ("conversations", conversations::chat_step),
    ("support desk", desk::support_step),
    // Last: it turns every event the steps above emitted into notifications.
    ("notifications", notifications_step),
];

/// Password of every generated technician and customer.
pub const DEMO_PASSWORD: &str = "Demo@2026!";

/// Rows per write transaction.
const BATCH: usize = 5_000;

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>22} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Seeds the empty database of `config.data_dir` and returns the accounts
/// to sign in with. Refuses a database that already has accounts.
pub fn run(config: &Config, options: Options) -> Result<Vec<SignIn>, String> {
    crate::files::secure_data_dir(&config.data_dir)?;
    // A running server owns the data dir (and its search index).
    let _lock = crate::db::lock::DataDirLock::acquire(&config.data_dir)?;
    let db = Db::open(&config.data_dir.join("baitech.db"), 1)?;
    let existing: i64 = db
        .read_blocking(|c| Ok(c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?))
        .map_err(err)?;
    if existing > 0 {
        return Err(format!(
            "{} already has {existing} accounts; seed-demo fills an empty database (use a new --data-dir)",
            config.data_dir.display()
        ));
    }
    let cost = password::Cost {
        memory_kib: config.argon2_memory_kib,
        iterations: config.argon2_iterations,
    };
    let mut ctx = Ctx {
        db: &db,
        config,
        options,
        rng: StdRng::seed_from_u64(options.seed),
        admin_id: String::new(),
        support_id: String::new(),
        technicians: Vec::new(),
        customers: Vec::new(),
        bookings: Vec::new(),
        followers: Default::default(),
        support_agents: Vec::new(),
        sign_ins: Vec::new(),
        demo_hash: password::hash_blocking(DEMO_PASSWORD, cost).map_err(err)?,
    };
    for (name, step) in STEPS {
        step(&mut ctx).map_err(|e| format!("seeding {name}: {e}"))?;
    }
    // The index is rebuilt from the database at the next start.
    crate::search::discard(&config.data_dir)?;
    crate::search::posts::discard_posts(&config.data_dir)?;
    Ok(ctx.sign_ins)
}

fn location(place: &Place, (lng, lat): (f64, f64)) -> NewLocation {
    NewLocation {
        lng,
        lat,
        address: Some(format!("{}, Nairobi", place.name)),
        city: Some("Nairobi".into()),
        county: Some("Nairobi".into()),
        country: Some("Kenya".into()),
    }
}

fn insert_account(conn: &Connection, new: &NewAccount) -> ApiResult<String> {
    let a = accounts::insert(conn, new)?;
    conn.execute(
        "UPDATE users SET is_email_verified = 1, is_phone_verified = 1 WHERE id = ?1",
        [&a.id],
    )?;
    Ok(a.id)
}

/// Makes `id` a bookable technician: profile, rate, weekly schedule,
/// skills, approved KYC.
fn make_technician(
    conn: &Connection,
    id: &str,
    rate_minor: i64,
    years: i64,
    skills: &[(&str, &'static str)],
    schedule: &[crate::users::technician::ScheduleSlot],
) -> ApiResult<()> {
    let now = now_ms();
    crate::users::store::set_availability(conn, id, "available", schedule, now)?;
    conn.prepare_cached(
        "UPDATE technician_profiles SET hourly_rate_minor = ?2, years_experience = ?3, service_radius_km = 15 WHERE user_id = ?1",
    )?
    .execute(params![id, rate_minor, years])?;
    for (name, category) in skills {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO user_skills (user_id, name, category, proficiency, years_experience, is_verified)
             VALUES (?1, ?2, ?3, ?4, ?5, 1)",
        )?
        .execute(params![id, name, category, 60 + years.min(8) * 5, years])?;
    }
    conn.prepare_cached("UPDATE users SET kyc_status = 'approved' WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// The accounts of the original demo seed, with its passwords.
fn named_accounts(ctx: &mut Ctx) -> Result<(), String> {
    let cost = password::Cost {
        memory_kib: ctx.config.argon2_memory_kib,
        iterations: ctx.config.argon2_iterations,
    };
    let named = model::named_accounts();
    let mut hashes = Vec::new();
    for n in &named {
        hashes.push(password::hash_blocking(n.password, cost).map_err(err)?);
    }
    let ids = ctx
        .db
        .write_blocking(|tx| {
            let mut ids = Vec::new();
            for (n, hash) in named.iter().zip(&hashes) {
                let place = n.place.map(|p| &PLACES[p]);
                let id = insert_account(
                    tx,
                    &NewAccount {
                        email: n.email.into(),
                        phone: n.phone.into(),
                        password_hash: hash.clone(),
                        first_name: n.first_name.into(),
                        last_name: n.last_name.into(),
                        role: n.role,
                        location: place.map(|p| location(p, (p.lng, p.lat))),
                    },
                )?;
                if let Some((_, rate, years, skills)) = &n.technician {
                    make_technician(
                        tx,
                        &id,
                        *rate,
                        *years,
                        skills,
                        &model::weekdays("08:00", "17:00"),
                    )?;
                }
                ids.push(id);
            }
            Ok(ids)
        })
        .map_err(err)?;
    for (n, id) in named.iter().zip(ids) {
        match n.role {
            Role::Admin => ctx.admin_id = id,
            Role::Support => ctx.support_id = id,
            Role::Technician => {
                let (category, rate, _, _) = n.technician.clone().expect("technician data");
                ctx.technicians.push(Tech {
                    id,
                    category,
                    rate_minor: rate,
                    place: &PLACES[n.place.unwrap_or(0)],
                });
            }
            _ => ctx.customers.push(id),
        }
        ctx.sign_ins.push(SignIn {
            role: n.role.as_str(),
            email: n.email.into(),
            password: n.password.into(),
        });
    }
    Ok(())
}

fn technicians(ctx: &mut Ctx) -> Result<(), String> {
    let total = ctx.options.technicians as usize;
    let progress = bar(total as u64, "technicians");
    let mut done = 0;
    while done < total {
        let n = BATCH.min(total - done);
        let people: Vec<model::Person> = (done..done + n)
            .map(|i| model::technician(&mut ctx.rng, i))
            .collect();
        let hash = ctx.demo_hash.clone();
        let techs = ctx
            .db
            .write_blocking(|tx| {
                let mut out = Vec::with_capacity(people.len());
                for p in &people {
                    let id = insert_account(
                        tx,
                        &NewAccount {
                            email: p.email.clone(),
                            phone: p.phone.clone(),
                            password_hash: hash.clone(),
                            first_name: p.first_name.into(),
                            last_name: p.last_name.into(),
                            role: Role::Technician,
                            location: Some(location(p.place, p.point)),
                        },
                    )?;
                    let t = p.trade.as_ref().expect("a technician has a trade");
                    make_technician(tx, &id, t.rate_minor, t.years, &t.skills, &t.schedule)?;
                    out.push(Tech {
                        id,
                        category: t.skills[0].1,
                        rate_minor: t.rate_minor,
                        place: p.place,
                    });
                }
                Ok(out)
            })
            .map_err(err)?;
        ctx.technicians.extend(techs);
        done += n;
        progress.set_position(done as u64);
    }
    progress.finish();
    Ok(())
}

fn customers(ctx: &mut Ctx) -> Result<(), String> {
    let total = ctx.options.customers as usize;
    let progress = bar(total as u64, "customers");
    let mut done = 0;
    while done < total {
        let n = BATCH.min(total - done);
        let people: Vec<model::Person> = (done..done + n)
            .map(|i| model::customer(&mut ctx.rng, i))
            .collect();
        let hash = ctx.demo_hash.clone();
        let ids = ctx
            .db
            .write_blocking(|tx| {
                people
                    .iter()
                    .map(|p| {
                        insert_account(
                            tx,
                            &NewAccount {
                                email: p.email.clone(),
                                phone: p.phone.clone(),
                                password_hash: hash.clone(),
                                first_name: p.first_name.into(),
                                last_name: p.last_name.into(),
                                role: Role::Customer,
                                location: Some(location(p.place, p.point)),
                            },
                        )
                    })
                    .collect::<ApiResult<Vec<_>>>()
            })
            .map_err(err)?;
        ctx.customers.extend(ids);
        done += n;
        progress.set_position(done as u64);
    }
    progress.finish();
    Ok(())
}

/// Takes a new booking to `target` through the bookings module's own
/// transition rules and moves (timeline, counts, events).
fn take_to(
    conn: &Connection,
    config: &Config,
    mut row: bookings::BookingRow,
    target: Status,
    customer: &str,
    technician: &str,
    admin: &str,
) -> ApiResult<bookings::BookingRow> {
    let mut payment = None;
    for (action, relation) in model::path_to(target) {
        let actor = match relation {
            Relation::Customer => customer,
            Relation::AssignedTechnician => technician,
            _ => admin,
        };
        let to = transition(row.status, relation, action).map_err(|r| {
            crate::error::ApiError::internal(format!("{action:?} from {:?}: {r:?}", row.status))
        })?;
        let reason = match action {
            Action::Cancel => Some("Found a technician closer to home"),
            Action::Dispute => Some("The leak came back the next day"),
            _ => None,
        };
        let before = row.clone();
        row = bookings::apply_move(
            conn,
            &before,
            &bookings::Move {
                action,
                relation,
                to,
                actor_id: actor,
                reason,
                assign_to: None,
                cancellation_fee_minor: 0,
            },
        )?;
        if action == Action::Dispute {
            bookings::open_dispute(
                conn,
                &row.id,
                &bookings::Dispute {
                    id: crate::ids::new_id(),
                    raised_by: customer.to_string(),
                    raised_at: now_ms(),
                    from_status: before.status.as_str().to_string(),
                    reason: "quality".into(),
                    description: "The leak came back the next day".into(),
                    evidence: Vec::new(),
                    status: "open".into(),
                    resolution: None,
                    outcome: None,
                    refund_amount_minor: None,
                    resolution_notes: None,
                    resolved_by: None,
                    resolved_at: None,
                },
            )?;
        }
        if action == Action::Accept {
            // The customer pays by M-Pesa once the technician accepts.
            payment = Some(pay(conn, config, &row.id)?);
        }
        if action == Action::ResolveRefunded {
            bookings::resolve_dispute(
                conn,
                &row,
                "refund",
                Status::Refunded,
                None,
                "Refunded in full",
                admin,
            )?;
        }
    }
    match (payment, target) {
        (Some(id), Status::Completed) => {
            movements::release(conn, config, &id, "admin", Some(admin))?;
        }
        (Some(id), Status::Refunded) => {
            movements::refund(
                conn,
                &id,
                None,
                "Dispute resolved with a refund",
                RefundTo::Wallet,
                Some(admin),
            )?;
        }
        _ => {}
    }
    Ok(row)
}

fn bookings_step(ctx: &mut Ctx) -> Result<(), String> {
    if ctx.technicians.is_empty() || ctx.customers.is_empty() {
        return Ok(());
    }
    let total = ctx.options.bookings as usize;
    let progress = bar(total as u64, "bookings");
    let mut done = 0;
    while done < total {
        let n = BATCH.min(total - done);
        let plans: Vec<model::BookingPlan> = (0..n)
            .map(|_| {
                let customer = ctx.rng.gen_range(0..ctx.customers.len());
                let tech = ctx.rng.gen_range(0..ctx.technicians.len());
                model::booking(&mut ctx.rng, customer, &ctx.technicians[tech], tech)
            })
            .collect();
        let (customers, techs, admin) = (&ctx.customers, &ctx.technicians, ctx.admin_id.clone());
        let config = ctx.config;
        let made = ctx
            .db
            .write_blocking(|tx| {
                let mut out = Vec::with_capacity(plans.len());
                for p in &plans {
                    let customer = &customers[p.customer];
                    let tech = &techs[p.technician];
                    let new = bookings::NewBooking {
                        customer_id: customer.clone(),
                        technician_id: (p.status != Status::Pending).then(|| tech.id.clone()),
                        service_category: tech.category.to_string(),
                        service_type: p.service_type.to_string(),
                        description: p.description.to_string(),
                        urgency: p.urgency.to_string(),
                        scheduled_at: now_ms() + p.days_from_now * 86_400_000 + p.hour * 3_600_000,
                        estimated_duration_mins: p.minutes,
                        location: p.point,
                        address: format!("{}, Nairobi", tech.place.name),
                        budget_minor: Some(p.amount_minor),
                        source: "mobile_app".into(),
                        match_score: None,
                    };
                    let details = bookings::Details {
                        city: Some("Nairobi".into()),
                        county: Some("Nairobi".into()),
                        ..Default::default()
                    };
                    let row = bookings::create_with(tx, &new, &details, customer)?;
                    let row = take_to(tx, config, row, p.status, customer, &tech.id, &admin)?;
                    out.push((row.id, p.status));
                }
                Ok(out)
            })
            .map_err(err)?;
        ctx.bookings.extend(made);
        done += n;
        progress.set_position(done as u64);
    }
    progress.finish();
    Ok(())
}

/// An M-Pesa payment of `booking_id` by its customer, through the
/// payments module: requested, accepted by the gateway, confirmed (STK
/// Query) into escrow. Returns the transaction id.
fn pay(conn: &Connection, config: &Config, booking_id: &str) -> ApiResult<String> {
    let b = bookings::find_parties(conn, booking_id)?
        .ok_or_else(|| crate::error::ApiError::internal("seeded booking vanished"))?;
    let amount: i64 = conn.query_row(
        "SELECT COALESCE(budget_minor, 150000) FROM bookings WHERE id = ?1",
        [booking_id],
        |r| r.get(0),
    )?;
    let req = PaymentRequest {
        kind: TxType::BookingPayment,
        method: Gateway::Mpesa,
        booking_id: Some(booking_id.to_string()),
        currency: None,
        amount,
        description: Some(format!("Payment for {}", b.booking_number)),
        phone: None,
    };
    let customer = Actor {
        id: &b.customer_id,
        is_admin: false,
    };
    let t = movements::create_payment(conn, config, customer, &req)?;
    let refs = GatewayRefs {
        merchant_request_id: Some(format!("seed-{}", &t.id[12..])),
        checkout_request_id: Some(format!("ws_CO_{}", &t.id[12..])),
        payment_intent_id: None,
        client_secret: None,
        conversation_id: None,
        stripe_refund_id: None,
    };
    let t = movements::gateway_accepted(conn, &t.id, &refs)?;
    let evidence = Evidence::MpesaQuery {
        result_desc: "The service request is processed successfully.".into(),
    };
    movements::confirm_payment(conn, config, &t, &evidence)?.map_err(movements::refusal_error)?;
    Ok(t.id)
}

/// Reviews of most completed jobs, with the reviewees' rating aggregates
/// kept the way the reviews module keeps them.
fn reviews_step(ctx: &mut Ctx) -> Result<(), String> {
    let completed: Vec<String> = ctx
        .bookings
        .iter()
        .filter(|(_, s)| *s == Status::Completed)
        .map(|(id, _)| id.clone())
        .collect();
    let plans: Vec<(String, model::ReviewPlan)> = completed
        .into_iter()
        .filter_map(|id| model::review(&mut ctx.rng).map(|r| (id, r)))
        .collect();
    let progress = bar(plans.len() as u64, "reviews");
    for (i, chunk) in plans.chunks(BATCH).enumerate() {
        ctx.db
            .write_blocking(|tx| {
                for (booking_id, plan) in chunk {
                    let b = bookings::find_parties(tx, booking_id)?.ok_or_else(|| {
                        crate::error::ApiError::internal("seeded booking vanished")
                    })?;
                    let Some(tech) = b.technician_id.clone() else {
                        continue;
                    };
                    let ratings = Ratings {
                        overall: plan.overall,
                        categories: plan.categories.map(Some),
                    };
                    crate::reviews::store::insert(
                        tx,
                        &crate::reviews::store::NewReview {
                            booking_id: booking_id.clone(),
                            reviewer_id: b.customer_id.clone(),
                            reviewee_id: tech.clone(),
                            reviewer_role: ReviewerRole::Customer,
                            ratings,
                            title: plan.title.to_string(),
                            comment: plan.comment.to_string(),
                            images: Vec::new(),
                            is_verified: true,
                        },
                    )?;
                    let mut aggregate = crate::reviews::store::aggregate(tx, &tech)?;
                    aggregate.apply(None, Some(&ratings));
                    crate::reviews::store::save_aggregate(tx, &tech, &aggregate)?;
                    crate::users::technician::set_rating(
                        tx,
                        &tech,
                        aggregate.average(),
                        aggregate.count,
                    )?;
                }
                Ok(())
            })
            .map_err(err)?;
        progress.set_position((i * BATCH + chunk.len()) as u64);
    }
    progress.finish();
    Ok(())
}

/// Every event the steps emitted (bookings, payments, reviews, follows,
/// posts, messages, tickets) turned into in-app notifications by the
/// notifications module's own mapping and exactly-once claims
/// ([`crate::notifications::backfill_event`]), then the module's outbox
/// cursor moved past them. Without this step nobody would be told: the
/// consumer starts at the end of the outbox on the server's first start.
/// No push, email or SMS goes out for the demo's past.
fn notifications_step(ctx: &mut Ctx) -> Result<(), String> {
    let last: i64 = ctx
        .db
        .read_blocking(|c| {
            Ok(c.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?)
        })
        .map_err(err)?;
    let progress = bar(last as u64, "notifications");
    let mut cursor = 0;
    while cursor < last {
        let config = ctx.config;
        cursor = ctx
            .db
            .write_blocking(|tx| {
                let now = now_ms();
                let batch = crate::events::after(tx, cursor, BATCH as i64)?;
                for e in &batch {
                    crate::notifications::backfill_event(tx, config, e, now)?;
                }
                let upto = batch.last().map_or(last, |e| e.id);
                crate::events::advance_cursor(tx, crate::notifications::CONSUMER, upto)?;
                Ok(upto)
            })
            .map_err(err)?;
        progress.set_position(cursor.min(last) as u64);
    }
    progress.finish();
    Ok(())
}

/// Prints the accounts to sign in with.
pub fn print_sign_ins(sign_ins: &[SignIn], options: &Options) {
    println!(
        "\nDemo marketplace seeded ({} technicians, {} customers, {} bookings, seed {}). Sign in with:\n",
        options.technicians, options.customers, options.bookings, options.seed
    );
    println!("  {:<11} {:<28} password", "role", "email");
    for s in sign_ins {
        println!("  {:<11} {:<28} {}", s.role, s.email, s.password);
    }
    if options.technicians > 0 {
        println!(
            "  {:<11} {:<28} {DEMO_PASSWORD}",
            "technician",
            model::technician_email(0)
        );
    }
    if options.customers > 0 {
        println!(
            "  {:<11} {:<28} {DEMO_PASSWORD}",
            "customer",
            model::customer_email(0)
        );
    }
    println!(
        "  {:<11} {:<28} {DEMO_PASSWORD}",
        "support",
        model::agent_email(0)
    );
    println!(
        "\n(every generated account: tech<N>@demo.baitech.co.ke / customer<N>@demo.baitech.co.ke / agent<N>@demo.baitech.co.ke, password {DEMO_PASSWORD}; demo passwords, not for production)"
    );
}
