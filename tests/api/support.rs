//! `/api/v1/support`: tickets, who sees what, the status machine, SLA
//! clocks and jobs, auto-assignment under concurrency, internal notes,
//! both path vocabularies, dashboard and stats.

use std::collections::{HashMap, HashSet};

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{TestServer, TestUser};

const T: &str = "/api/v1/support/tickets";

/// A support agent who has set `availability`.
async fn agent(s: &TestServer, availability: &str) -> TestUser {
    let a = s.staff("support").await;
    s.put(
        "/api/v1/support/availability",
        Some(&a.token),
        json!({"status": availability}),
    )
    .await
    .expect(200);
    a
}

async fn open_ticket(s: &TestServer, who: &TestUser, priority: &str) -> Value {
    s.post(
        T,
        Some(&who.token),
        json!({"subject": "Payment stuck", "description": "My M-Pesa payment shows pending",
               "category": "payment", "priority": priority}),
    )
    .await
    .expect(201)["ticket"]
        .clone()
}

fn id_of(v: &Value) -> String {
    v["_id"].as_str().unwrap().to_string()
}

/// `(kind, payload)` of every event, oldest first.
async fn events(s: &TestServer) -> Vec<(String, Value)> {
    s.query(|c| {
        let mut stmt = c.prepare("SELECT kind, payload FROM events ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            let p: String = r.get(1)?;
            Ok((r.get::<_, String>(0)?, serde_json::from_str(&p).unwrap()))
        })?;
        rows.collect()
    })
    .await
}

async fn set_created_at(s: &TestServer, id: &str, created_at: i64) {
    let id = id.to_string();
    s.state
        .db
        .write(move |tx| {
            tx.execute(
                "UPDATE support_tickets SET created_at = ?2 WHERE id = ?1",
                rusqlite::params![id, created_at],
            )?;
            Ok(())
        })
        .await
        .unwrap();
}

/// Every ticket route: a stranger (another customer, another agent) gets
/// 404; a customer on a staff route gets 403; the owner and assignee pass.
#[tokio::test]
async fn who_may_call_each_ticket_route() {
    let s = TestServer::start().await;
    let owner = s.register("customer").await;
    let stranger = s.register("customer").await;
    let tech = s.register("technician").await;
    let assignee = agent(&s, "available").await;
    let other_agent = s.staff("support").await;
    let admin = s.staff("admin").await;
    let t = open_ticket(&s, &owner, "high").await;
    assert_eq!(t["assignedTo"]["_id"], json!(assignee.id));
    let id = id_of(&t);
    let routes: Vec<(Method, String, Value)> = vec![
        (Method::GET, format!("{T}/{id}"), Value::Null),
        (Method::PUT, format!("{T}/{id}"), json!({"priority": "low"})),
        (
            Method::POST,
            format!("{T}/{id}/messages"),
            json!({"message": "hello"}),
        ),
        (
            Method::POST,
            format!("{T}/{id}/message"),
            json!({"message": "hello"}),
        ),
        (
            Method::PUT,
            format!("{T}/{id}/assign"),
            json!({"agentId": assignee.id}),
        ),
        (
            Method::POST,
            format!("{T}/{id}/assign"),
            json!({"agentId": assignee.id}),
        ),
        (
            Method::PUT,
            format!("{T}/{id}/status"),
            json!({"status": "in_progress"}),
        ),
        (
            Method::PUT,
            format!("{T}/{id}/priority"),
            json!({"priority": "urgent"}),
        ),
        (
            Method::PUT,
            format!("{T}/{id}/close"),
            json!({"summary": "done", "resolutionType": "solved"}),
        ),
        (
            Method::PUT,
            format!("{T}/{id}/reopen"),
            json!({"reason": "again"}),
        ),
        (
            Method::PUT,
            format!("{T}/{id}/escalate"),
            json!({"escalatedTo": admin.id, "reason": "needs finance"}),
        ),
        (
            Method::POST,
            format!("{T}/{id}/escalate"),
            json!({"escalatedTo": admin.id, "reason": "needs finance"}),
        ),
        (Method::POST, format!("{T}/{id}/rate"), json!({"rating": 5})),
        (
            Method::POST,
            format!("{T}/{id}/rating"),
            json!({"rating": 5}),
        ),
    ];
    let staff_only = ["PUT /", "assign", "status", "priority", "close", "escalate"];
    for (method, path, body) in &routes {
        let body = (!body.is_null()).then(|| body.clone());
        for who in [&stranger, &tech, &other_agent] {
            let a = s
                .call(method.clone(), path, Some(&who.token), body.clone())
                .await;
            let is_staff_route = staff_only.iter().any(|k| {
                path.ends_with(k)
                    || (*k == "PUT /" && *method == Method::PUT && path.ends_with(&id))
            });
            let want = if who.role != "support" && is_staff_route {
                403
            } else {
                404
            };
            assert_eq!(
                a.status.as_u16(),
                want,
                "{} {method} {path}: {}",
                who.role,
                a.body
            );
        }
        if staff_only.iter().any(|k| path.ends_with(k)) {
            let a = s
                .call(method.clone(), path, Some(&owner.token), body.clone())
                .await;
            assert_eq!(a.status.as_u16(), 403, "owner {method} {path}");
        }
        let a = s.call(method.clone(), path, None, body).await;
        assert_eq!(a.status.as_u16(), 401, "anonymous {method} {path}");
    }
    // Malformed and unknown ids are 404 too.
    for path in [
        format!("{T}/nope"),
        format!("{T}/{}", baitech::ids::new_id()),
    ] {
        s.get(&path, Some(&admin.token)).await.expect(404);
    }
    // The owner, the assignee and an admin see it.
    for who in [&owner, &assignee, &admin] {
        s.get(&format!("{T}/{id}"), Some(&who.token))
            .await
            .expect(200);
    }
    // Staff-only list routes.
    for path in ["/api/v1/support/dashboard", "/api/v1/support/stats"] {
        s.get(path, Some(&owner.token)).await.expect(403);
        s.get(path, Some(&assignee.token)).await.expect(200);
    }
    s.put(
        "/api/v1/support/availability",
        Some(&admin.token),
        json!({"status": "available"}),
    )
    .await
    .expect(403);
    s.stop().await;
}

/// The lists: requesters see only their own (technicians and corporate
/// included), an agent theirs plus the unassigned queue, an admin all.
#[tokio::test]
async fn lists_are_scoped_by_role() {
    let s = TestServer::start().await;
    let a = s.register("customer").await;
    let b = s.register("corporate").await;
    let c = s.register("technician").await;
    for who in [&a, &b, &c] {
        open_ticket(&s, who, "medium").await;
    }
    let agent1 = agent(&s, "available").await;
    let agent2 = agent(&s, "available").await;
    let admin = s.staff("admin").await;
    let mine = |v: &Value| v["total"].as_i64().unwrap();
    for who in [&a, &b, &c] {
        let l = s.get(T, Some(&who.token)).await.expect(200);
        assert_eq!(mine(&l), 1, "{}", who.role);
        assert_eq!(l["tickets"][0]["customer"]["_id"], json!(who.id));
        for k in ["success", "count", "total", "page", "pages", "tickets"] {
            assert!(l.get(k).is_some(), "{k}");
        }
    }
    // Becoming available drained the queue: 2 + 1 tickets.
    let l1 = s.get(T, Some(&agent1.token)).await.expect(200);
    let l2 = s.get(T, Some(&agent2.token)).await.expect(200);
    assert_eq!(mine(&l1) + mine(&l2), 3);
    assert_eq!(mine(&l1), 3, "agent1 took the whole queue");
    assert_eq!(mine(&l2), 0);
    let l = s
        .get(&format!("{T}?assignedTo=me"), Some(&agent1.token))
        .await
        .expect(200);
    assert_eq!(mine(&l), 3);
    s.get(
        &format!("{T}?assignedTo={}", agent1.id),
        Some(&agent2.token),
    )
    .await
    .expect(403);
    assert_eq!(mine(&s.get(T, Some(&admin.token)).await.expect(200)), 3);
    for bad in [
        "status=nope",
        "priority=x",
        "category=x",
        "sort=evil",
        "startDate=x",
        "limit=0",
    ] {
        s.get(&format!("{T}?{bad}"), Some(&admin.token))
            .await
            .expect(400);
    }
    let l = s
        .get(
            &format!("{T}?priority=medium&search=M-Pesa"),
            Some(&admin.token),
        )
        .await
        .expect(200);
    assert_eq!(mine(&l), 3);
    s.stop().await;
}

/// Under 50 concurrent creates, tickets spread by load and no agent goes
/// over the cap; the rest waits in the queue and goes to an agent who
/// becomes available. Ticket numbers stay unique.
#[tokio::test]
async fn auto_assignment_is_fair_and_capped_under_50_concurrent_creates() {
    let s = TestServer::start().await;
    let agents = [
        agent(&s, "available").await,
        agent(&s, "available").await,
        agent(&s, "available").await,
    ];
    let away = agent(&s, "away").await;
    let customers: Vec<TestUser> = join_all((0..5).map(|_| s.register("customer"))).await;
    let creates = (0..50).map(|i| {
        let who = &customers[i % customers.len()];
        s.post(
            T,
            Some(&who.token),
            json!({"subject": format!("Issue {i}"), "description": "d", "category": "general"}),
        )
    });
    let answers = join_all(creates).await;
    let mut numbers = HashSet::new();
    let mut per_agent: HashMap<String, usize> = HashMap::new();
    for a in answers {
        let t = a.expect(201)["ticket"].clone();
        assert!(numbers.insert(t["ticketNumber"].as_str().unwrap().to_string()));
        if let Some(id) = t["assignedTo"]["_id"].as_str() {
            *per_agent.entry(id.to_string()).or_default() += 1;
            assert_eq!(t["status"], "assigned");
        } else {
            assert_eq!(t["status"], "open");
        }
    }
    for a in &agents {
        assert_eq!(
            per_agent.get(&a.id),
            Some(&5),
            "each agent filled to the cap"
        );
    }
    assert!(!per_agent.contains_key(&away.id));
    let loads: Vec<(String, i64)> = s
        .query(|c| {
            let mut st = c.prepare(
                "SELECT assigned_to, COUNT(*) FROM support_tickets WHERE assigned_to IS NOT NULL GROUP BY 1",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .await;
    assert!(loads.iter().all(|(_, n)| *n <= 5), "{loads:?}");
    assert_loads_match(&s).await;
    // The away agent comes back: five tickets from the queue, most urgent first.
    s.put(
        "/api/v1/support/availability",
        Some(&away.token),
        json!({"status": "available"}),
    )
    .await
    .expect(200);
    let d = s
        .get("/api/v1/support/dashboard", Some(&away.token))
        .await
        .expect(200);
    assert_eq!(d["dashboard"]["currentWorkload"], 5);
    assert_eq!(
        d["dashboard"]["assignedTickets"].as_array().unwrap().len(),
        5
    );
    // Manual assignment respects the cap too.
    let queued = d["dashboard"]["unassignedTickets"][0]["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let admin = s.staff("admin").await;
    let full = s
        .put(
            &format!("{T}/{queued}/assign"),
            Some(&admin.token),
            json!({"agentId": away.id}),
        )
        .await
        .expect(400);
    assert_eq!(full["currentWorkload"], 5);
    assert!(full["message"].as_str().unwrap().contains("(5)"));
    // Resolving frees a slot, which the queue fills at once.
    let busy = d["dashboard"]["assignedTickets"][0]["_id"]
        .as_str()
        .unwrap()
        .to_string();
    s.put(
        &format!("{T}/{busy}/status"),
        Some(&away.token),
        json!({"status": "resolved"}),
    )
    .await
    .expect(200);
    let d = s
        .get("/api/v1/support/dashboard", Some(&away.token))
        .await
        .expect(200);
    assert_eq!(d["dashboard"]["currentWorkload"], 5);
    assert_loads_match(&s).await;
    s.stop().await;
}

/// The stored loads (kept by triggers) equal a recount from the tickets.
async fn assert_loads_match(s: &TestServer) {
    let drift: Vec<(String, i64, i64)> = s
        .query(|c| {
            let mut st = c.prepare(
                "SELECT a.user_id, a.active_count,
                    (SELECT COUNT(*) FROM support_tickets t WHERE t.assigned_to = a.user_id
                      AND t.status IN ('assigned','in_progress','waiting_customer','waiting_internal','reopened'))
                 FROM support_agents a",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
        .await;
    for (agent, stored, counted) in drift {
        assert_eq!(stored, counted, "load of {agent}");
    }
}

/// Fewest open tickets first; ties to the agent who waited longest.
#[tokio::test]
async fn assignment_goes_to_the_least_loaded_then_longest_waiting() {
    let s = TestServer::start().await;
    let a1 = agent(&s, "available").await;
    let a2 = agent(&s, "available").await;
    let c = s.register("customer").await;
    let mut order = Vec::new();
    for _ in 0..4 {
        let t = open_ticket(&s, &c, "low").await;
        order.push(t["assignedTo"]["_id"].as_str().unwrap().to_string());
    }
    // Neither had a ticket; ties alternate, so loads stay within one.
    assert_ne!(order[0], order[1]);
    assert_ne!(order[2], order[3]);
    assert_eq!(order.iter().filter(|x| **x == a1.id).count(), 2);
    assert_eq!(order.iter().filter(|x| **x == a2.id).count(), 2);
    s.stop().await;
}

/// Status moves through the machine (409 names the allowed moves), the
/// clocks pause while waiting on the customer, a customer reply resumes
/// work, the first staff reply and the resolve stop the clocks, reopen
/// and a single rating.
#[tokio::test]
async fn status_flow_sla_and_rating() {
    let s = TestServer::start().await;
    let c = s.register("customer").await;
    let ag = agent(&s, "available").await;
    let t = open_ticket(&s, &c, "urgent").await;
    let id = id_of(&t);
    assert_eq!(t["sla"]["firstResponseTime"]["target"], 15);
    assert_eq!(t["sla"]["resolutionTime"]["target"], 120);
    assert!(t["ticketNumber"].as_str().unwrap().starts_with("TKT-"));
    let url = |p: &str| format!("{T}/{id}{p}");
    // Illegal moves.
    let r = s
        .put(
            &url("/status"),
            Some(&ag.token),
            json!({"status": "reopened"}),
        )
        .await
        .expect(409);
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("allowed: in_progress"),
        "{r}"
    );
    s.put(
        &url("/status"),
        Some(&ag.token),
        json!({"status": "assigned"}),
    )
    .await
    .expect(409);
    s.put(&url("/status"), Some(&ag.token), json!({"status": "bogus"}))
        .await
        .expect(400);
    // Waiting on the customer pauses the clock; the reply resumes it.
    let w = s
        .put(
            &url("/status"),
            Some(&ag.token),
            json!({"status": "waiting_customer"}),
        )
        .await
        .expect(200);
    assert_eq!(w["ticket"]["sla"]["isPaused"], true);
    s.post(
        &url("/messages"),
        Some(&c.token),
        json!({"message": "here is the receipt"}),
    )
    .await
    .expect(201);
    let g = s.get(&url(""), Some(&ag.token)).await.expect(200)["ticket"].clone();
    assert_eq!(g["status"], "in_progress");
    assert_eq!(g["sla"]["isPaused"], false);
    assert!(g.get("firstResponseAt").is_none());
    // First staff reply stops the first-response clock.
    s.post(
        &url("/message"),
        Some(&ag.token),
        json!({"message": "refunded"}),
    )
    .await
    .expect(201);
    let g = s.get(&url(""), Some(&c.token)).await.expect(200)["ticket"].clone();
    assert_eq!(g["sla"]["firstResponseTime"]["met"], true);
    assert_eq!(g["sla"]["firstResponseTime"]["actual"], 0);
    // Rating before resolution is refused.
    s.post(&url("/rate"), Some(&c.token), json!({"rating": 5}))
        .await
        .expect(400);
    let r = s
        .put(
            &url("/status"),
            Some(&ag.token),
            json!({"status": "resolved"}),
        )
        .await
        .expect(200);
    assert_eq!(r["ticket"]["sla"]["resolutionTime"]["met"], true);
    let statuses: Vec<&str> = r["ticket"]["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["assigned", "waiting_customer", "in_progress", "resolved"]
    );
    assert!(r["ticket"]["statusHistory"][1]["changedBy"].is_string());
    // Reopen by the customer, then close by staff.
    s.put(
        &url("/reopen"),
        Some(&c.token),
        json!({"reason": "still pending"}),
    )
    .await
    .expect(200);
    s.put(&url("/reopen"), Some(&c.token), json!({"reason": "again"}))
        .await
        .expect(409);
    let closed = s
        .put(
            &url("/close"),
            Some(&ag.token),
            json!({"summary": "Refund sent", "resolutionType": "solved"}),
        )
        .await
        .expect(200);
    assert_eq!(closed["ticket"]["resolution"]["resolutionType"], "solved");
    s.post(&url("/messages"), Some(&c.token), json!({"message": "x"}))
        .await
        .expect(409);
    s.post(&url("/rate"), Some(&ag.token), json!({"rating": 5}))
        .await
        .expect(403);
    s.post(&url("/rate"), Some(&c.token), json!({"rating": 9}))
        .await
        .expect(400);
    let rated = s
        .post(
            &url("/rating"),
            Some(&c.token),
            json!({"rating": "4", "feedback": "quick"}),
        )
        .await
        .expect(200);
    assert_eq!(rated["rating"]["rating"], 4);
    s.post(&url("/rate"), Some(&c.token), json!({"rating": 5}))
        .await
        .expect(409);
    let st = s
        .get(
            &format!("/api/v1/support/stats?agentId={}", ag.id),
            Some(&ag.token),
        )
        .await
        .expect(200);
    assert_eq!(st["agentStats"]["satisfactionRating"], "4.00");
    assert_eq!(st["statusBreakdown"][0]["_id"], "closed");
    assert_eq!(st["satisfaction"]["count"], 1);
    // The agent's profile carries the desk figures as the original's
    // `supportInfo`; a customer's carries its defaults.
    let info = s
        .get(&format!("/api/v1/users/{}", ag.id), Some(&c.token))
        .await
        .expect(200)["user"]["supportInfo"]
        .clone();
    assert_eq!(
        info["availability"],
        json!({"status": "available", "maxConcurrentTickets": 5})
    );
    assert_eq!(info["stats"]["ticketsHandled"], 1, "{info}");
    assert_eq!(info["stats"]["ticketsClosed"], 1, "{info}");
    assert_eq!(info["stats"]["satisfactionRating"], 4.0, "{info}");
    assert_eq!(info["stats"]["ratingCount"], 1, "{info}");
    let own = s
        .get(&format!("/api/v1/users/{}", c.id), Some(&c.token))
        .await
        .expect(200)["user"]["supportInfo"]
        .clone();
    assert_eq!(own["availability"]["status"], "offline");
    assert_eq!(own["stats"]["ticketsHandled"], 0);
    assert_eq!(own["shiftSchedule"], json!([]));
    // The reopen window is configurable; past it the customer cannot reopen.
    let s2 = TestServer::start_with(|c| c.support_reopen_window_hours = 0).await;
    let c2 = s2.register("customer").await;
    let admin = s2.staff("admin").await;
    let t2 = id_of(&open_ticket(&s2, &c2, "low").await);
    s2.put(
        &format!("{T}/{t2}/close"),
        Some(&admin.token),
        json!({"summary": "dup", "resolutionType": "duplicate"}),
    )
    .await
    .expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    s2.put(
        &format!("{T}/{t2}/reopen"),
        Some(&c2.token),
        json!({"reason": "no"}),
    )
    .await
    .expect(400);
    s2.put(
        &format!("{T}/{t2}/reopen"),
        Some(&admin.token),
        json!({"reason": "staff may"}),
    )
    .await
    .expect(200);
    s2.stop().await;
    s.stop().await;
}

/// The SLA job over a controlled clock: a warning at 80%, a breach at the
/// deadline that escalates, nothing while paused, each at most once.
#[tokio::test]
async fn sla_job_warns_then_breaches_and_escalates() {
    let s = TestServer::start().await;
    let c = s.register("customer").await;
    let ag = agent(&s, "available").await;
    let t = open_ticket(&s, &c, "medium").await;
    let id = id_of(&t);
    // The controlled clock runs a day ahead of the real one, so the job
    // workers (on real time) never act on the looks this test schedules.
    let t0 = baitech::ids::now_ms() + 86_400_000;
    set_created_at(&s, &id, t0).await;
    let min = 60_000;
    let run = |now: i64| {
        let id = id.clone();
        s.state
            .db
            .write(move |tx| baitech::support::run_sla(tx, &id, now, 80))
    };
    let kinds = |evs: &[(String, Value)]| -> Vec<String> {
        evs.iter()
            .filter(|(k, _)| k.starts_with("ticket.sla") || k == "ticket.escalated")
            .map(|(k, p)| format!("{k}:{}", p["clock"].as_str().unwrap_or("-")))
            .collect()
    };
    run(t0 + 10 * min).await.unwrap();
    assert!(kinds(&events(&s).await).is_empty());
    run(t0 + 50 * min).await.unwrap();
    run(t0 + 51 * min).await.unwrap();
    assert_eq!(
        kinds(&events(&s).await),
        ["ticket.sla_warning:first_response"]
    );
    run(t0 + 61 * min).await.unwrap();
    let evs = events(&s).await;
    assert_eq!(
        kinds(&evs),
        [
            "ticket.sla_warning:first_response",
            "ticket.sla_breached:first_response",
            "ticket.escalated:-"
        ]
    );
    let breach = &evs
        .iter()
        .find(|(k, _)| k == "ticket.sla_breached")
        .unwrap()
        .1;
    assert_eq!(breach["assigneeId"], json!(ag.id));
    assert_eq!(breach["ticketNumber"], t["ticketNumber"]);
    assert!(breach["dueAt"].as_str().unwrap().ends_with('Z'));
    let g = s
        .get(&format!("{T}/{id}"), Some(&ag.token))
        .await
        .expect(200)["ticket"]
        .clone();
    assert_eq!(g["isEscalated"], true);
    assert_eq!(g["escalationLevel"], 1);
    // Paused: the resolution clock does nothing however late it is.
    s.put(
        &format!("{T}/{id}/status"),
        Some(&ag.token),
        json!({"status": "waiting_customer"}),
    )
    .await
    .expect(200);
    run(t0 + 10_000 * min).await.unwrap();
    assert_eq!(kinds(&events(&s).await).len(), 3);
    // A job for the next look is always queued while a clock runs.
    let queued: i64 = s
        .query(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'support.sla' AND status = 'queued'",
                [],
                |r| r.get(0),
            )
        })
        .await;
    assert!(queued >= 1);
    s.stop().await;
}

/// Internal notes and internal messages never reach the customer: not in
/// the ticket, the list, a message answer or any event payload.
#[tokio::test]
async fn internal_notes_never_reach_the_customer() {
    let s = TestServer::start().await;
    let owners = [
        s.register("customer").await,
        s.register("technician").await,
        s.register("corporate").await,
    ];
    let ag = agent(&s, "available").await;
    let secret = "SECRET-fraud-suspected";
    for c in &owners {
        let id = id_of(&open_ticket(&s, c, "high").await);
        s.post(
            &format!("{T}/{id}/messages"),
            Some(&ag.token),
            json!({"message": secret, "isInternal": true}),
        )
        .await
        .expect(201);
        s.put(
            &format!("{T}/{id}/status"),
            Some(&ag.token),
            json!({"status": "in_progress", "notes": secret}),
        )
        .await
        .expect(200);
        s.put(
            &format!("{T}/{id}/priority"),
            Some(&ag.token),
            json!({"priority": "low"}),
        )
        .await
        .expect(200);
        // A customer cannot post an internal note.
        let m = s
            .post(
                &format!("{T}/{id}/messages"),
                Some(&c.token),
                json!({"message": "thanks", "isInternal": true}),
            )
            .await
            .expect(201);
        assert_eq!(m["newMessage"]["isInternal"], false);
        let answers = [
            s.get(&format!("{T}/{id}"), Some(&c.token))
                .await
                .expect(200),
            s.get(T, Some(&c.token)).await.expect(200),
            m,
        ];
        for a in &answers {
            let text = a.to_string();
            assert!(!text.contains(secret), "{}: {text}", c.role);
            assert!(!text.contains("internalNotes"), "{text}");
            assert!(!text.contains("Priority changed"), "{text}");
        }
        let t = &answers[0]["ticket"];
        assert_eq!(t["messageCount"], 2);
        assert_eq!(t["assignedTo"]["_id"], json!(ag.id));
        assert!(
            t["assignedTo"].get("phoneNumber").is_none(),
            "no staff phone for customers"
        );
        assert!(t["customer"]["phoneNumber"].is_string());
        // Staff see everything.
        let staff = s
            .get(&format!("{T}/{id}"), Some(&ag.token))
            .await
            .expect(200);
        assert!(staff.to_string().contains(secret));
        assert_eq!(
            staff["ticket"]["internalNotes"].as_array().unwrap().len(),
            2
        );
    }
    for (kind, payload) in events(&s).await {
        assert!(!payload.to_string().contains(secret), "{kind}");
    }
    let replies = events(&s)
        .await
        .into_iter()
        .filter(|(k, _)| k == "ticket.replied")
        .count();
    assert_eq!(replies, 3, "internal notes emit no ticket.replied");
    s.stop().await;
}

/// The original's paths and the summary's answer the same.
#[tokio::test]
async fn both_path_vocabularies_answer_the_same() {
    let s = TestServer::start().await;
    let c = s.register("customer").await;
    let ag = s.staff("support").await;
    let admin = s.staff("admin").await;
    let pairs: Vec<(Method, &str, Method, &str, Value, bool)> = vec![
        (
            Method::PUT,
            "/assign",
            Method::POST,
            "/assign",
            json!({"agentId": ag.id}),
            true,
        ),
        (
            Method::POST,
            "/messages",
            Method::POST,
            "/message",
            json!({"message": "hi"}),
            true,
        ),
        (
            Method::PUT,
            "/escalate",
            Method::POST,
            "/escalate",
            json!({"escalatedTo": admin.id, "reason": "finance"}),
            true,
        ),
        (
            Method::PUT,
            "/status",
            Method::PUT,
            "",
            json!({"status": "in_progress"}),
            true,
        ),
    ];
    for (m1, p1, m2, p2, body, as_staff) in pairs {
        let who = if as_staff { &admin } else { &c };
        let a = id_of(&open_ticket(&s, &c, "low").await);
        let b = id_of(&open_ticket(&s, &c, "low").await);
        let ra = s
            .call(
                m1.clone(),
                &format!("{T}/{a}{p1}"),
                Some(&who.token),
                Some(body.clone()),
            )
            .await;
        let rb = s
            .call(
                m2.clone(),
                &format!("{T}/{b}{p2}"),
                Some(&who.token),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            ra.status, rb.status,
            "{m1} {p1} vs {m2} {p2}: {} / {}",
            ra.body, rb.body
        );
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&ra.body), keys(&rb.body));
        let ga = s
            .get(&format!("{T}/{a}"), Some(&admin.token))
            .await
            .expect(200)["ticket"]
            .clone();
        let gb = s
            .get(&format!("{T}/{b}"), Some(&admin.token))
            .await
            .expect(200)["ticket"]
            .clone();
        for k in ["status", "assignedTo", "escalationLevel", "messageCount"] {
            assert_eq!(ga[k], gb[k], "{p1} vs {p2}: {k}");
        }
    }
    // rate / rating
    let a = id_of(&open_ticket(&s, &c, "low").await);
    let b = id_of(&open_ticket(&s, &c, "low").await);
    for id in [&a, &b] {
        s.put(
            &format!("{T}/{id}/close"),
            Some(&admin.token),
            json!({"summary": "ok", "resolutionType": "solved"}),
        )
        .await
        .expect(200);
    }
    let ra = s
        .post(
            &format!("{T}/{a}/rate"),
            Some(&c.token),
            json!({"rating": 3}),
        )
        .await
        .expect(200);
    let rb = s
        .post(
            &format!("{T}/{b}/rating"),
            Some(&c.token),
            json!({"rating": 3}),
        )
        .await
        .expect(200);
    assert_eq!(ra["rating"]["rating"], rb["rating"]["rating"]);
    assert_eq!(ra["message"], rb["message"]);
    s.stop().await;
}

/// Attachments are the caller's own uploads; related bookings and
/// transactions must be the caller's own; bad input is a 400 naming the field.
#[tokio::test]
async fn attachments_and_relations_must_be_the_callers_own() {
    let s = TestServer::start().await;
    let c = s.register("customer").await;
    let other = s.register("customer").await;
    let mine = crate::media::upload_png(&s, &c.token).await;
    let theirs = crate::media::upload_png(&s, &other.token).await;
    let base = json!({"subject": "s", "description": "d", "category": "technical"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let ok = s
        .post(
            T,
            Some(&c.token),
            with("attachments", json!([mine["publicId"]])),
        )
        .await
        .expect(201);
    assert_eq!(ok["ticket"]["attachments"][0]["url"], mine["url"]);
    assert_eq!(
        ok["ticket"]["messages"][0]["attachments"][0]["url"],
        mine["url"]
    );
    let cases = [
        (
            with("attachments", json!([theirs["publicId"]])),
            "attachments[0]",
        ),
        (
            with("relatedBooking", json!(baitech::ids::new_id())),
            "relatedBooking",
        ),
        (
            with("relatedTransaction", json!(baitech::ids::new_id())),
            "relatedTransaction",
        ),
        (with("relatedBooking", json!("nope")), "relatedBooking"),
        (with("priority", json!("asap")), "priority"),
        (with("category", json!(7)), "category"),
        (json!({"description": "d", "category": "other"}), "subject"),
        (json!([1, 2]), "subject"),
    ];
    for (body, field) in cases {
        let e = s.post(T, Some(&c.token), body.clone()).await.expect(400);
        assert!(
            e["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["field"] == field),
            "{body}: {e}"
        );
    }
    s.stop().await;
}

/// The dashboard orders by priority rank (urgent first), the stats
/// breakdowns work under an agent filter and priority comes urgent first.
#[tokio::test]
async fn dashboard_and_stats() {
    let s = TestServer::start().await;
    let c = s.register("customer").await;
    for p in ["low", "urgent", "medium", "high"] {
        open_ticket(&s, &c, p).await;
    }
    let admin = s.staff("admin").await;
    let d = s
        .get("/api/v1/support/dashboard", Some(&admin.token))
        .await
        .expect(200)["dashboard"]
        .clone();
    let prios: Vec<&str> = d["unassignedTickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["priority"].as_str().unwrap())
        .collect();
    assert_eq!(prios, ["urgent", "high", "medium", "low"]);
    assert_eq!(d["assignedTickets"], json!([]));
    assert_eq!(d["currentWorkload"], 0);
    assert_eq!(d["urgentTickets"].as_array().unwrap().len(), 1);
    let ag = agent(&s, "available").await;
    let d = s
        .get("/api/v1/support/dashboard", Some(&ag.token))
        .await
        .expect(200)["dashboard"]
        .clone();
    assert_eq!(d["currentWorkload"], 4);
    assert_eq!(d["assignedTickets"][0]["priority"], "urgent");
    assert_eq!(d["assignedTickets"][3]["priority"], "low");
    let st = s
        .get("/api/v1/support/stats", Some(&ag.token))
        .await
        .expect(200);
    assert_eq!(st["total"], 4);
    assert_eq!(st["agentStats"]["total"], 4);
    let prios: Vec<&str> = st["priorityBreakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["_id"].as_str().unwrap())
        .collect();
    assert_eq!(prios, ["urgent", "high", "medium", "low"]);
    assert_eq!(
        st["categoryBreakdown"][0],
        json!({"_id": "payment", "count": 4})
    );
    let all = s
        .get("/api/v1/support/stats", Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(all["agentStats"], Value::Null);
    s.get("/api/v1/support/stats?agentId=x", Some(&admin.token))
        .await
        .expect(400);
    s.stop().await;
}

const AGENTS: &str = "/api/v1/support/agents";

/// An admin sets `agent`'s cap.
async fn set_cap(s: &TestServer, admin: &TestUser, agent: &TestUser, max: i64) -> Value {
    s.put(
        &format!("{AGENTS}/{}/availability", agent.id),
        Some(&admin.token),
        json!({"maxConcurrentTickets": max}),
    )
    .await
    .expect(200)
}

async fn workload(s: &TestServer, agent: &TestUser) -> i64 {
    s.get("/api/v1/support/dashboard", Some(&agent.token))
        .await
        .expect(200)["dashboard"]["currentWorkload"]
        .as_i64()
        .unwrap()
}

/// No agent holds more tickets being worked than their cap, and every
/// stored load equals a recount.
async fn assert_no_agent_over_cap(s: &TestServer) {
    let over: Vec<(String, i64, i64)> = s
        .query(|c| {
            let mut st = c.prepare(
                "SELECT user_id, active_count, max_concurrent FROM support_agents WHERE active_count > max_concurrent",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
        .await;
    assert!(over.is_empty(), "agents over their cap: {over:?}");
    assert_loads_match(s).await;
}

async fn close(s: &TestServer, who: &TestUser, id: &str) {
    s.put(
        &format!("{T}/{id}/close"),
        Some(&who.token),
        json!({"summary": "Sorted", "resolutionType": "solved"}),
    )
    .await
    .expect(200);
}

/// Reopening gives a ticket back to its agent only while they have room:
/// of two concurrent reopens for an agent one slot under the cap, exactly
/// one stays and the other goes to the least-loaded available agent; with
/// nobody free a reopened ticket waits in the queue (the customer's reopen
/// and the staff's status move alike), and the agent never ends over.
#[tokio::test]
async fn reopen_never_puts_an_agent_over_the_cap() {
    let s = TestServer::start().await;
    let admin = s.staff("admin").await;
    let c = s.register("customer").await;
    let a = agent(&s, "available").await;
    let b = agent(&s, "away").await;
    set_cap(&s, &admin, &a, 2).await;
    let t1 = id_of(&open_ticket(&s, &c, "high").await);
    let t2 = id_of(&open_ticket(&s, &c, "high").await);
    close(&s, &a, &t1).await;
    close(&s, &a, &t2).await;
    let t3 = open_ticket(&s, &c, "low").await;
    assert_eq!(t3["assignedTo"]["_id"], json!(a.id));
    let t3 = id_of(&t3);
    assert_eq!(workload(&s, &a).await, 1);
    s.put(
        "/api/v1/support/availability",
        Some(&b.token),
        json!({"status": "available"}),
    )
    .await
    .expect(200);
    // Two reopens at once for A's last slot.
    let paths = [&t1, &t2].map(|id| format!("{T}/{id}/reopen"));
    let answers = join_all(
        paths
            .iter()
            .map(|p| s.put(p, Some(&c.token), json!({"reason": "Still broken"}))),
    )
    .await;
    let owners: Vec<String> = answers
        .into_iter()
        .map(|x| {
            x.expect(200)["ticket"]["assignedTo"]["_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        owners.iter().filter(|o| **o == a.id).count(),
        1,
        "{owners:?}"
    );
    assert_eq!(
        owners.iter().filter(|o| **o == b.id).count(),
        1,
        "{owners:?}"
    );
    assert_eq!(workload(&s, &a).await, 2);
    assert_no_agent_over_cap(&s).await;
    let moved = if owners[0] == b.id { &t1 } else { &t2 };
    let kept = if owners[0] == b.id { &t2 } else { &t1 };
    let m = s
        .get(&format!("{T}/{moved}"), Some(&admin.token))
        .await
        .expect(200)["ticket"]
        .clone();
    assert_eq!(m["status"], "assigned");
    assert!(
        m["internalNotes"]
            .to_string()
            .contains("at capacity (2 of 2)"),
        "{}",
        m["internalNotes"]
    );
    let k = s
        .get(&format!("{T}/{kept}"), Some(&c.token))
        .await
        .expect(200)["ticket"]
        .clone();
    assert_eq!(k["status"], "reopened");
    assert!(
        !k.to_string().contains("at capacity"),
        "notes stay internal"
    );
    // B steps away; A frees a slot and a new ticket fills it, so when A's
    // closed ticket is reopened nobody has room: it waits in the queue.
    s.put(
        "/api/v1/support/availability",
        Some(&b.token),
        json!({"status": "away"}),
    )
    .await
    .expect(200);
    close(&s, &a, &t3).await;
    let t4 = open_ticket(&s, &c, "low").await;
    assert_eq!(t4["assignedTo"]["_id"], json!(a.id));
    let t4 = id_of(&t4);
    let r = s
        .put(
            &format!("{T}/{t3}/reopen"),
            Some(&c.token),
            json!({"reason": "Again"}),
        )
        .await
        .expect(200)["ticket"]
        .clone();
    assert_eq!(r["status"], "reopened");
    assert!(r.get("assignedTo").is_none(), "{r}");
    assert_eq!(workload(&s, &a).await, 2);
    // Closing t4 frees the slot and the queue refills it with t3; the
    // staff's own reopen of t4 (a status move) then follows the same rule.
    close(&s, &admin, &t4).await;
    let g = s
        .get(&format!("{T}/{t3}"), Some(&admin.token))
        .await
        .expect(200)["ticket"]
        .clone();
    assert_eq!(g["assignedTo"]["_id"], json!(a.id));
    let r = s
        .put(
            &format!("{T}/{t4}/status"),
            Some(&admin.token),
            json!({"status": "reopened"}),
        )
        .await
        .expect(200)["ticket"]
        .clone();
    assert!(r.get("assignedTo").is_none(), "{r}");
    assert_eq!(workload(&s, &a).await, 2);
    assert_no_agent_over_cap(&s).await;
    // A slot frees: the waiting reopened ticket goes back to A at once.
    close(&s, &a, kept).await;
    let g = s
        .get(&format!("{T}/{t4}"), Some(&admin.token))
        .await
        .expect(200)["ticket"]
        .clone();
    assert_eq!(g["assignedTo"]["_id"], json!(a.id));
    assert_eq!(workload(&s, &a).await, 2);
    assert_no_agent_over_cap(&s).await;
    s.stop().await;
}

/// `PUT /support/agents/:id/availability`: the agent sets their own
/// status, only an admin sets the cap (1 to 200); everyone else is
/// refused. Lowering the cap below the load keeps the agent's tickets and
/// gives them nothing new until they are under it; raising it takes from
/// the queue.
#[tokio::test]
async fn agent_capacity_is_the_admins_and_a_lowered_cap_takes_nothing_new() {
    let s = TestServer::start().await;
    let admin = s.staff("admin").await;
    let c = s.register("customer").await;
    let a = agent(&s, "available").await;
    let other = agent(&s, "offline").await;
    let path = format!("{AGENTS}/{}/availability", a.id);
    let cases: Vec<(&str, Option<&TestUser>, String, Value, u16)> = vec![
        (
            "agent sets own status",
            Some(&a),
            path.clone(),
            json!({"status": "busy"}),
            200,
        ),
        (
            "agent lifts own cap",
            Some(&a),
            path.clone(),
            json!({"maxConcurrentTickets": 50}),
            403,
        ),
        (
            "agent lifts own cap on the wire path",
            Some(&a),
            "/api/v1/support/availability".into(),
            json!({"maxConcurrentTickets": 50}),
            403,
        ),
        (
            "another agent",
            Some(&other),
            path.clone(),
            json!({"status": "offline"}),
            403,
        ),
        (
            "a customer",
            Some(&c),
            path.clone(),
            json!({"status": "offline"}),
            403,
        ),
        (
            "a customer, bad body",
            Some(&c),
            path.clone(),
            json!({"status": 7}),
            403,
        ),
        (
            "admin, unknown agent",
            Some(&admin),
            format!("{AGENTS}/{}/availability", baitech::ids::new_id()),
            json!({"maxConcurrentTickets": 3}),
            404,
        ),
        (
            "admin, a customer's id",
            Some(&admin),
            format!("{AGENTS}/{}/availability", c.id),
            json!({"maxConcurrentTickets": 3}),
            404,
        ),
        (
            "admin, malformed id",
            Some(&admin),
            format!("{AGENTS}/nope/availability"),
            json!({"maxConcurrentTickets": 3}),
            404,
        ),
        (
            "anonymous",
            None,
            path.clone(),
            json!({"status": "available"}),
            401,
        ),
        (
            "admin sets status and cap",
            Some(&admin),
            path.clone(),
            json!({"status": "available", "maxConcurrentTickets": 5}),
            200,
        ),
    ];
    for (name, who, p, body, want) in cases {
        let got = s.put(&p, who.map(|u| u.token.as_str()), body).await;
        assert_eq!(got.status.as_u16(), want, "{name}: {}", got.body);
    }
    for (body, field) in [
        (json!({"maxConcurrentTickets": 0}), "maxConcurrentTickets"),
        (json!({"maxConcurrentTickets": 201}), "maxConcurrentTickets"),
        (
            json!({"maxConcurrentTickets": "ten"}),
            "maxConcurrentTickets",
        ),
        (json!({"status": "asleep"}), "status"),
        (json!({}), "status"),
    ] {
        let e = s
            .put(&path, Some(&admin.token), body.clone())
            .await
            .expect(400);
        assert_eq!(e["errors"][0]["field"], field, "{body}: {e}");
    }
    // Three tickets, then the cap goes down to one.
    let mine: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            let t = open_ticket(&s, &c, "medium").await;
            assert_eq!(t["assignedTo"]["_id"], json!(a.id));
            v.push(id_of(&t));
        }
        v
    };
    let saved = set_cap(&s, &admin, &a, 1).await;
    assert_eq!(
        saved["availability"],
        json!({"status": "available", "maxConcurrentTickets": 1})
    );
    assert_eq!(saved["currentWorkload"], 3);
    assert_eq!(saved["message"], "Availability updated successfully");
    assert_eq!(workload(&s, &a).await, 3, "nothing taken away");
    let queued = open_ticket(&s, &c, "urgent").await;
    assert!(queued.get("assignedTo").is_none(), "{queued}");
    let full = s
        .put(
            &format!("{T}/{}/assign", id_of(&queued)),
            Some(&admin.token),
            json!({"agentId": a.id}),
        )
        .await
        .expect(400);
    assert_eq!(full["currentWorkload"], 3);
    assert!(full["message"].as_str().unwrap().contains("(1)"));
    // Finishing tickets while still at or over the cap takes nothing new.
    for (id, load) in mine.iter().take(2).zip([2, 1]) {
        close(&s, &a, id).await;
        assert_eq!(workload(&s, &a).await, load);
    }
    // Under the cap at last: the urgent ticket comes from the queue.
    close(&s, &a, &mine[2]).await;
    let d = s
        .get("/api/v1/support/dashboard", Some(&a.token))
        .await
        .expect(200)["dashboard"]
        .clone();
    assert_eq!(d["currentWorkload"], 1);
    assert_eq!(d["assignedTickets"][0]["_id"], queued["_id"]);
    assert_eq!(d["availability"]["maxConcurrentTickets"], 1);
    // Raising the cap takes the waiting tickets at once, up to the new cap.
    for _ in 0..3 {
        assert!(open_ticket(&s, &c, "low").await.get("assignedTo").is_none());
    }
    let saved = set_cap(&s, &admin, &a, 3).await;
    assert_eq!(saved["currentWorkload"], 3);
    assert_no_agent_over_cap(&s).await;
    s.stop().await;
}

/// Every support answer under the wire's keys: `ticket`, `tickets`,
/// `newMessage`, `rating`, `availability`, the ticket virtuals
/// (`responseTime`, `resolutionTime`, `age`, `messageCount`), messages
/// with `_id` but no `id`, and paths never set left out rather than null.
#[tokio::test]
async fn every_answer_has_the_wire_keys() {
    let s = TestServer::start().await;
    let c = s.register("customer").await;
    let ag = agent(&s, "available").await;
    let created = s
        .post(
            T,
            Some(&c.token),
            json!({"subject": "Wi-Fi", "description": "Router down", "category": "technical"}),
        )
        .await
        .expect(201);
    assert_eq!(created["message"], "Support ticket created successfully");
    let t = created["ticket"].clone();
    let id = id_of(&t);
    assert_eq!(t["id"], t["_id"]);
    for k in [
        "responseTime",
        "resolutionTime",
        "age",
        "messageCount",
        "ticketNumber",
        "__v",
    ] {
        assert!(t.get(k).is_some(), "ticket.{k}: {t}");
    }
    assert_eq!(t["responseTime"], Value::Null);
    assert_eq!(t["messageCount"], 1);
    let clock = &t["sla"]["firstResponseTime"];
    assert_eq!(clock["target"], 60);
    assert!(clock["dueAt"].is_string());
    assert!(
        clock.get("actual").is_none() && clock.get("met").is_none(),
        "{clock}"
    );
    let m0 = &t["messages"][0];
    assert!(m0.get("_id").is_some() && m0.get("id").is_none(), "{m0}");
    let list = s.get(T, Some(&c.token)).await.expect(200);
    for k in ["success", "count", "total", "page", "pages", "tickets"] {
        assert!(list.get(k).is_some(), "list.{k}");
    }
    for k in ["responseTime", "resolutionTime", "age", "messageCount"] {
        assert!(list["tickets"][0].get(k).is_some(), "tickets[0].{k}");
    }
    let reply = s
        .post(
            &format!("{T}/{id}/messages"),
            Some(&ag.token),
            json!({"message": "Rebooted it"}),
        )
        .await
        .expect(201);
    assert_eq!(reply["message"], "Message added successfully");
    let mut keys: Vec<&str> = reply["newMessage"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "_id",
            "attachments",
            "isInternal",
            "message",
            "sender",
            "senderRole",
            "timestamp"
        ]
    );
    s.post(
        &format!("{T}/{id}/messages"),
        Some(&ag.token),
        json!({"message": "customer is nice", "isInternal": true}),
    )
    .await
    .expect(201);
    let resolved = s
        .put(
            &format!("{T}/{id}/status"),
            Some(&ag.token),
            json!({"status": "resolved"}),
        )
        .await
        .expect(200)["ticket"]
        .clone();
    assert!(resolved["responseTime"].is_number());
    assert!(resolved["resolutionTime"].is_number());
    let clock = &resolved["sla"]["firstResponseTime"];
    assert_eq!(clock["met"], true);
    assert!(
        clock["actual"].is_number() && clock.get("dueAt").is_none(),
        "{clock}"
    );
    assert!(resolved["sla"]["resolutionTime"].get("dueAt").is_none());
    assert_eq!(resolved["messageCount"], 3, "staff count internal messages");
    let note = &resolved["statusHistory"][0];
    assert!(note.get("_id").is_some() && note.get("id").is_some());
    let rated = s
        .post(
            &format!("{T}/{id}/rate"),
            Some(&c.token),
            json!({"rating": 5}),
        )
        .await
        .expect(200);
    assert_eq!(rated["message"], "Thank you for your feedback!");
    let mut keys: Vec<&str> = rated["rating"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["ratedAt", "rating"], "no feedback given, none sent");
    let seen = s
        .get(&format!("{T}/{id}"), Some(&c.token))
        .await
        .expect(200)["ticket"]
        .clone();
    assert_eq!(
        seen["messageCount"], 2,
        "the customer's count skips internal ones"
    );
    assert!(seen["customerSatisfaction"].get("feedback").is_none());
    assert_eq!(seen["customerSatisfaction"]["rating"], 5);
    let avail = s
        .put(
            "/api/v1/support/availability",
            Some(&ag.token),
            json!({"status": "busy"}),
        )
        .await
        .expect(200);
    assert_eq!(
        avail["availability"],
        json!({"status": "busy", "maxConcurrentTickets": 5})
    );
    let d = s
        .get("/api/v1/support/dashboard", Some(&ag.token))
        .await
        .expect(200);
    for k in [
        "assignedTickets",
        "unassignedTickets",
        "urgentTickets",
        "currentWorkload",
    ] {
        assert!(d["dashboard"].get(k).is_some(), "dashboard.{k}");
    }
    let st = s
        .get("/api/v1/support/stats", Some(&ag.token))
        .await
        .expect(200);
    for k in [
        "total",
        "statusBreakdown",
        "priorityBreakdown",
        "categoryBreakdown",
        "agentStats",
    ] {
        assert!(st.get(k).is_some(), "stats.{k}");
    }
    s.stop().await;
}
