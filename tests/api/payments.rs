//! `/api/v1/transactions` and `/api/v1/wallet`: payments into escrow through
//! every gateway, release with the platform fee, refunds, cash, wallets,
//! withdrawals, Idempotency-Key, verified webhooks (against fake Daraja and
//! Stripe servers), booking events, races, a random-operations property
//! test, and kill -9 in a burst.

use std::time::Duration;

use baitech::payments::ledger;
use futures_util::future::join_all;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::fake_daraja::{self, FakeDaraja};
use crate::fake_stripe::{self, FakeStripe};
use crate::harness::{Answer, TestServer, TestUser};

// ---------------------------------------------------------------- helpers

struct World {
    s: TestServer,
    daraja: FakeDaraja,
    stripe: FakeStripe,
    customer: TestUser,
    technician: TestUser,
    admin: TestUser,
}

fn e164(local: &str) -> String {
    baitech::auth::policy::normalize_phone(local).unwrap()
}

/// The Daraja form (2547...) of a test user's phone, as a number.
fn msisdn_number(user: &TestUser) -> u64 {
    e164(&user.phone).trim_start_matches('+').parse().unwrap()
}

impl World {
    async fn start() -> World {
        Self::start_with(|_| {}).await
    }

    async fn start_with(tune: impl FnOnce(&mut baitech::config::Config) + Send + 'static) -> World {
        let daraja = FakeDaraja::start().await;
        let stripe = FakeStripe::start().await;
        let (d, st) = (daraja.clone(), stripe.clone());
        let s = TestServer::start_with(move |c| {
            d.configure(c);
            st.configure(c);
            c.escrow_release_delay_secs = 3600;
            tune(c)
        })
        .await;
        let customer = s.register("customer").await;
        let technician = s.register("technician").await;
        let admin = s.staff("admin").await;
        World {
            s,
            daraja,
            stripe,
            customer,
            technician,
            admin,
        }
    }

    /// Pays `booking` by card (`amount` in major units) as the customer and
    /// confirms it with Stripe's `payment_intent.succeeded` webhook (event
    /// `event_id`); returns the transaction and payment intent ids.
    async fn pay_by_card(&self, booking: &str, amount: i64, event_id: &str) -> (String, String) {
        let res = self
            .s
            .post(
                "/api/v1/transactions",
                Some(&self.customer.token),
                json!({"booking": booking, "amount": amount, "gateway": "stripe"}),
            )
            .await
            .expect(201);
        let id = res["transaction"]["_id"].as_str().unwrap().to_string();
        let intent = res["paymentIntentId"].as_str().unwrap().to_string();
        self.stripe_webhook(&fake_stripe::event(
            event_id,
            "payment_intent.succeeded",
            fake_stripe::intent_succeeded(&intent, amount * 100, "kes", &id),
        ))
        .await
        .expect(200);
        (id, intent)
    }

    /// A booking row as the bookings module would have it (total in major units).
    async fn booking(&self, status: &str, total: i64) -> String {
        booking_row(
            &self.s,
            &self.customer.id,
            Some(&self.technician.id),
            status,
            total,
        )
        .await
    }

    async fn set_booking_status(&self, booking: &str, status: &str) {
        let (b, st) = (booking.to_string(), status.to_string());
        self.s
            .state
            .db
            .write(move |tx| {
                tx.execute(
                    "UPDATE bookings SET status = ?2, completed_at = CASE WHEN ?2 = 'completed' THEN ?3 ELSE completed_at END WHERE id = ?1",
                    rusqlite::params![b, st, baitech::ids::now_ms()],
                )?;
                Ok(())
            })
            .await
            .unwrap();
    }

    /// Emits a bookings event as the bookings module does (in a write).
    async fn emit(&self, kind: &str, booking: &str, payload: Value) {
        let (k, b, admin) = (kind.to_string(), booking.to_string(), self.admin.id.clone());
        self.s
            .state
            .db
            .write(move |tx| baitech::events::emit(tx, &k, Some(&b), Some(&admin), &payload))
            .await
            .unwrap();
    }

    async fn post_with(&self, path: &str, token: &str, body: Value, key: Option<&str>) -> Answer {
        let mut req = self
            .s
            .client
            .post(self.s.url(path))
            .bearer_auth(token)
            .json(&body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        answer(req).await
    }

    async fn stripe_webhook(&self, body: &str) -> Answer {
        let sig = fake_stripe::sign(fake_stripe::WEBHOOK_SECRET, fake_stripe::now(), body);
        self.stripe_webhook_signed(body, &sig).await
    }

    async fn stripe_webhook_signed(&self, body: &str, signature: &str) -> Answer {
        let req = self
            .s
            .client
            .post(self.s.url("/api/v1/transactions/webhook/stripe"))
            .header("content-type", "application/json")
            .header("Stripe-Signature", signature)
            .body(body.to_string());
        answer(req).await
    }

    fn callback_path(&self) -> String {
        format!(
            "/api/v1/transactions/webhook/mpesa/{}",
            self.s.state.payments.callback_secret
        )
    }

    async fn mpesa_callback(&self, body: &Value) -> Answer {
        self.s.post(&self.callback_path(), None, body.clone()).await
    }

    /// Tops `user`'s wallet up by `amount` through Stripe (create + signed webhook).
    async fn topup_stripe(&self, user: &TestUser, amount: i64) -> String {
        let res = self
            .s
            .post(
                "/api/v1/transactions",
                Some(&user.token),
                json!({"type": "wallet_topup", "amount": amount, "gateway": "stripe"}),
            )
            .await
            .expect(201);
        let tx = res["transaction"]["_id"].as_str().unwrap().to_string();
        let intent = res["paymentIntentId"].as_str().unwrap().to_string();
        let body = fake_stripe::event(
            &format!("evt_{}", baitech::ids::random_token(8)),
            "payment_intent.succeeded",
            fake_stripe::intent_succeeded(&intent, amount * 100, "kes", &tx),
        );
        self.stripe_webhook(&body).await.expect(200);
        tx
    }

    async fn wallet(&self, user: &TestUser) -> Value {
        self.s
            .get("/api/v1/wallet", Some(&user.token))
            .await
            .expect(200)["wallet"]
            .clone()
    }

    async fn pay_wallet(&self, user: &TestUser, booking: &str, amount: Value) -> Answer {
        self.s
            .post(
                "/api/v1/transactions",
                Some(&user.token),
                json!({"booking": booking, "amount": amount, "gateway": "wallet"}),
            )
            .await
    }

    async fn tx(&self, id: &str) -> Value {
        self.s
            .get(
                &format!("/api/v1/transactions/{id}"),
                Some(&self.admin.token),
            )
            .await
            .expect(200)["transaction"]
            .clone()
    }

    /// Polls transaction `id` (bounded) until `pred` holds; returns it.
    async fn wait_tx(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..500 {
            let t = self.tx(id).await;
            if pred(&t) {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for: {what}");
    }

    async fn assert_ledger_ok(&self) {
        let report = self.s.state.db.read(ledger::check).await.unwrap();
        assert!(report.is_ok(), "{}", report.summary());
        self.assert_totals_match().await;
    }

    /// The running money totals (`admin_totals`, kept by triggers) equal a
    /// recount over every transaction.
    async fn assert_totals_match(&self) {
        let (kept, counted) = self
            .s
            .state
            .db
            .read(|c| {
                Ok((
                    baitech::payments::store::platform_money(c, "KES")?,
                    baitech::payments::store::recount_platform_money(c, "KES")?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(kept, counted, "running totals vs a recount");
    }
}

/// Polls `cond` (bounded) until it holds.
async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn answer(req: reqwest::RequestBuilder) -> Answer {
    let res = req.send().await.expect("request");
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap_or_default();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// Inserts a booking row with only the columns of the bookings contract
/// (V4), as the bookings module would have it; `total` in minor units.
/// Every test that needs a booking goes through here, so the tests do not
/// depend on the bookings routes.
fn insert_booking(
    conn: &rusqlite::Connection,
    customer: &str,
    technician: Option<&str>,
    status: &str,
    total: i64,
) -> rusqlite::Result<String> {
    let id = baitech::ids::new_id();
    let now = baitech::ids::now_ms();
    conn.execute(
        "INSERT INTO bookings (id, booking_number, customer_id, technician_id, status, currency, total_amount_minor,
                               completed_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'KES', ?6, ?7, ?8, ?8)",
        rusqlite::params![
            id,
            format!("BKG-{now}-{}", &id[18..]),
            customer,
            technician,
            status,
            total,
            (status == "completed").then_some(now),
            now
        ],
    )?;
    Ok(id)
}

/// A booking (total in major units) written through the server's writer.
async fn booking_row(
    s: &TestServer,
    customer: &str,
    technician: Option<&str>,
    status: &str,
    total: i64,
) -> String {
    let (c, t, st) = (
        customer.to_string(),
        technician.map(String::from),
        status.to_string(),
    );
    s.state
        .db
        .write(move |tx| Ok(insert_booking(tx, &c, t.as_deref(), &st, total * 100)?))
        .await
        .unwrap()
}

async fn account_balance(s: &TestServer, key: &str) -> i64 {
    let k = key.to_string();
    s.query(move |c| {
        c.query_row(
            "SELECT COALESCE((SELECT balance_minor FROM ledger_accounts WHERE key = ?1), 0)",
            [&k],
            |r| r.get(0),
        )
    })
    .await
}

async fn webhook_outcomes(s: &TestServer, provider: &str) -> Vec<String> {
    let p = provider.to_string();
    s.query(move |c| {
        let mut stmt =
            c.prepare("SELECT outcome FROM payment_webhooks WHERE provider = ?1 ORDER BY id")?;
        let rows = stmt.query_map([&p], |r| r.get(0))?;
        rows.collect()
    })
    .await
}

fn field_of(body: &Value) -> String {
    body["errors"][0]["field"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

// ---------------------------------------------------------------- signature

#[test]
fn stripe_signature_matches_an_independently_computed_vector() {
    // Computed with Python: hmac.new(b"whsec_test_secret", b"1700000000." + body, sha256).hexdigest()
    let body = br#"{"id":"evt_test_vector","object":"event"}"#;
    let v1 = "a1105bfc524bfe0dccd23464348a2e2efb93c72756e87f1692801cda56ca6e7b";
    let header = format!("t=1700000000,v1={v1}");
    let verify = baitech::providers::stripe::verify_signature;
    assert_eq!(
        verify(&header, body, "whsec_test_secret", 1_700_000_010, 300),
        Ok(1_700_000_000)
    );
    assert_eq!(
        baitech::providers::stripe::signature_header("whsec_test_secret", 1_700_000_000, body),
        header
    );
    let rolled = format!("t=1700000000,v1={},v1={v1}", "ab".repeat(32));
    assert!(verify(&rolled, body, "whsec_test_secret", 1_700_000_000, 300).is_ok());
    assert!(
        verify(&header, body, "whsec_test_secret", 1_700_000_301, 300).is_err(),
        "stale"
    );
    assert!(
        verify(&header, b"{}", "whsec_test_secret", 1_700_000_000, 300).is_err(),
        "tampered"
    );
}

// ---------------------------------------------------------------- M-Pesa

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpesa_topup_sends_an_exact_stk_push_and_only_a_verified_callback_credits_once() {
    let w = World::start().await;
    let c = &w.customer;
    let res =
        w.s.post(
            "/api/v1/transactions",
            Some(&c.token),
            json!({"type": "wallet_topup", "amount": 1500, "gateway": "mpesa"}),
        )
        .await
        .expect(201);
    for k in [
        "success",
        "message",
        "transaction",
        "checkoutRequestID",
        "merchantRequestID",
    ] {
        assert!(res.get(k).is_some(), "missing {k}: {res}");
    }
    let t = &res["transaction"];
    assert_eq!(t["status"], "processing");
    assert_eq!(t["type"], "wallet_topup");
    assert_eq!(t["paymentMethod"], "mpesa");
    assert_eq!(t["amount"]["gross"], 1500);
    assert_eq!(t["_id"], t["id"]);
    assert!(t["transactionNumber"].as_str().unwrap().starts_with("TXN-"));
    let tx1 = t["_id"].as_str().unwrap().to_string();
    let checkout1 = res["checkoutRequestID"].as_str().unwrap().to_string();
    let merchant1 = res["merchantRequestID"].as_str().unwrap().to_string();

    let pushes = w.daraja.stk_pushes();
    assert_eq!(pushes.len(), 1);
    let p = &pushes[0];
    assert_eq!(p["Amount"], 1500);
    assert_eq!(
        p["PhoneNumber"],
        json!(e164(&c.phone).trim_start_matches('+'))
    );
    assert_eq!(
        p["CallBackURL"],
        json!(format!("{}{}", w.s.base, w.callback_path()))
    );
    // A second push reuses the cached OAuth token.
    let res2 = w
        .s
        .post(
            "/api/v1/transactions",
            Some(&c.token),
            json!({"type": "wallet_topup", "amount": 700, "gateway": "mpesa", "phoneNumber": "0722000111"}),
        )
        .await
        .expect(201);
    assert_eq!(w.daraja.stk_pushes()[1]["PhoneNumber"], "254722000111");
    assert_eq!(w.daraja.oauth_calls(), 1, "token cached");
    let tx2 = res2["transaction"]["_id"].as_str().unwrap().to_string();
    let checkout2 = res2["checkoutRequestID"].as_str().unwrap().to_string();
    let merchant2 = res2["merchantRequestID"].as_str().unwrap().to_string();

    let phone = msisdn_number(c);
    // Wrong secret path: refused, nothing stored.
    let wrong =
        w.s.post(
            "/api/v1/transactions/webhook/mpesa/not-the-secret",
            None,
            fake_daraja::stk_success(&merchant1, &checkout1, json!(1500), "QWE1234567", phone),
        )
        .await
        .expect(404);
    assert_eq!(wrong["success"], false);
    assert!(webhook_outcomes(&w.s, "mpesa_stk").await.is_empty());
    // Wrong amount, unknown checkout, mismatched merchant id: kept for review, nothing moves.
    for body in [
        fake_daraja::stk_success(&merchant1, &checkout1, json!(15), "QWE1234567", phone),
        fake_daraja::stk_success(
            &merchant1,
            "ws_CO_unknown",
            json!(1500),
            "QWE1234567",
            phone,
        ),
        fake_daraja::stk_success(
            "other-merchant",
            &checkout1,
            json!(1500),
            "QWE1234567",
            phone,
        ),
        json!({"Body": {"nothing": true}}),
    ] {
        let ack = w.mpesa_callback(&body).await.expect(200);
        assert_eq!(ack["ResultCode"], 0);
        assert_eq!(ack["ResultDesc"], "Accepted");
    }
    assert_eq!(webhook_outcomes(&w.s, "mpesa_stk").await, vec!["review"; 4]);
    assert_eq!(w.wallet(c).await["balance"], 0);
    assert_eq!(w.tx(&tx1).await["status"], "processing");

    // The genuine callback (amount as Daraja sends it, 1500.00), confirmed by STK Query.
    let good = fake_daraja::stk_success(&merchant1, &checkout1, json!(1500.0), "QWE1234567", phone);
    w.mpesa_callback(&good).await.expect(200);
    let queries = w.daraja.queries();
    assert_eq!(queries.len(), 1);
    assert_eq!(queries[0]["CheckoutRequestID"], json!(checkout1));
    let done = w.tx(&tx1).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["mpesaDetails"]["mpesaReceiptNumber"], "QWE1234567");
    assert_eq!(done["mpesaDetails"]["checkoutRequestId"], json!(checkout1));
    assert_eq!(done["webhookData"]["verified"], true);
    assert!(done["completedAt"].is_string());
    let wallet = w.wallet(c).await;
    assert_eq!(wallet["balance"], 1500);
    assert_eq!(wallet["currency"], "KES");
    assert_eq!(wallet["postings"][0]["kind"], "topup");
    assert_eq!(wallet["postings"][0]["amount"], 1500);

    // Replay of the same callback: acknowledged, changes nothing.
    let ack = w.mpesa_callback(&good).await.expect(200);
    assert_eq!(ack["ResultCode"], 0);
    assert_eq!(w.wallet(c).await["balance"], 1500);
    // The same receipt offered for the second top-up is refused.
    w.mpesa_callback(&fake_daraja::stk_success(
        &merchant2,
        &checkout2,
        json!(700),
        "QWE1234567",
        phone,
    ))
    .await
    .expect(200);
    assert_eq!(w.tx(&tx2).await["status"], "processing");
    // STK Query does not confirm: nothing moves.
    w.daraja.set_query_result("1032");
    w.mpesa_callback(&fake_daraja::stk_success(
        &merchant2,
        &checkout2,
        json!(700),
        "RTY7654321",
        phone,
    ))
    .await
    .expect(200);
    assert_eq!(w.tx(&tx2).await["status"], "processing");
    // A cancellation callback marks it cancelled.
    w.mpesa_callback(&fake_daraja::stk_failure(
        &merchant2,
        &checkout2,
        1032,
        "Request cancelled by user",
    ))
    .await
    .expect(200);
    let cancelled = w.tx(&tx2).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["failureReason"], "Request cancelled by user");
    assert_eq!(cancelled["isFailed"], true);
    assert_eq!(w.wallet(c).await["balance"], 1500);
    let outcomes = webhook_outcomes(&w.s, "mpesa_stk").await;
    assert_eq!(outcomes.iter().filter(|o| *o == "processed").count(), 2);
    assert!(
        w.daraja.violations().is_empty(),
        "{:?}",
        w.daraja.violations()
    );
    assert_eq!(account_balance(&w.s, "clearing:mpesa:KES").await, -150_000);
    w.assert_ledger_ok().await;
}

/// No callback ever comes: the STK Query settles the payment either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_stk_push_without_a_callback_is_settled_by_stk_query() {
    let w = World::start_with(|c| c.mpesa_reconcile_after_secs = 0).await;
    let topup = |amount: i64| {
        let w = &w;
        async move {
            w.s.post(
                "/api/v1/transactions",
                Some(&w.customer.token),
                json!({"type": "wallet_topup", "amount": amount, "gateway": "mpesa"}),
            )
            .await
            .expect(201)["transaction"]["_id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    w.daraja.set_query_result("1037");
    let expired = topup(100).await;
    let t = w
        .wait_tx(&expired, "the unanswered push to expire", |t| {
            t["status"] != "processing"
        })
        .await;
    assert_eq!(t["status"], "expired");
    w.daraja.set_query_result("0");
    let paid = topup(250).await;
    let t = w
        .wait_tx(&paid, "the unanswered push to be confirmed", |t| {
            t["status"] != "processing"
        })
        .await;
    assert_eq!(t["status"], "completed");
    assert_eq!(t["mpesaDetails"]["resultCode"], "0");
    assert_eq!(w.wallet(&w.customer).await["balance"], 250);
    assert_eq!(w.daraja.queries().len(), 2);
    w.assert_ledger_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_without_credentials_payments_go_to_the_outbox_and_stay_pending() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let technician = s.register("technician").await;
    let booking = booking_row(&s, &customer.id, Some(&technician.id), "accepted", 2000).await;
    let res = s
        .post(
            "/api/v1/transactions",
            Some(&customer.token),
            json!({"booking": booking, "amount": 2000, "gateway": "mpesa"}),
        )
        .await
        .expect(201);
    let id = res["transaction"]["_id"].as_str().unwrap().to_string();
    assert_eq!(res["transaction"]["status"], "pending");
    assert_eq!(res["checkoutRequestID"], json!(format!("offline-{id}")));
    let file = s
        .dir
        .path()
        .join("outbox")
        .join(format!("mpesa-stkpush-{id}.json"));
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written["body"]["Amount"], 2000);
    let other = booking_row(&s, &customer.id, Some(&technician.id), "accepted", 2000).await;
    let res = s
        .post(
            "/api/v1/transactions",
            Some(&customer.token),
            // Another booking: this one's 2000 is already pending.
            json!({"booking": other, "amount": 20.5, "gateway": "stripe"}),
        )
        .await
        .expect(201);
    let sid = res["transaction"]["_id"].as_str().unwrap();
    assert_eq!(res["transaction"]["status"], "pending");
    assert!(s
        .dir
        .path()
        .join("outbox")
        .join(format!("stripe-payment_intent-pi-{sid}.json"))
        .exists());
    // A simulated Daraja callback to the secret path completes the offline payment.
    let secret = s.state.payments.callback_secret.clone();
    assert!(secret.len() >= 32);
    assert_eq!(
        std::fs::read_to_string(s.dir.path().join("mpesa-callback.secret")).unwrap(),
        secret
    );
    let offline = format!("offline-{id}");
    let cb = fake_daraja::stk_success(&offline, &offline, json!(2000), "OFF0000001", 254712345678);
    s.post(
        &format!("/api/v1/transactions/webhook/mpesa/{secret}"),
        None,
        cb,
    )
    .await
    .expect(200);
    let t = s
        .get(&format!("/api/v1/transactions/{id}"), Some(&customer.token))
        .await
        .expect(200);
    assert_eq!(t["transaction"]["status"], "completed");
    assert_eq!(t["transaction"]["escrow"]["held"], true);
}

// ---------------------------------------------------------------- Stripe

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_payment_intent_and_webhooks_are_verified_deduplicated_and_ordered() {
    let w = World::start().await;
    let booking = w.booking("accepted", 5000).await;
    let body = json!({"booking": booking, "amount": 5000, "gateway": "stripe", "description": "Fix the sink"});
    let first = w
        .post_with(
            "/api/v1/transactions",
            &w.customer.token,
            body.clone(),
            Some("pay-1"),
        )
        .await;
    assert!(first.headers.get("idempotent-replayed").is_none());
    let first = first.expect(201);
    let id = first["transaction"]["_id"].as_str().unwrap().to_string();
    let intent = first["paymentIntentId"].as_str().unwrap().to_string();
    assert_eq!(
        first["clientSecret"],
        json!(format!("{intent}_secret_fake"))
    );
    assert_eq!(first["transaction"]["status"], "processing");
    assert_eq!(first["transaction"]["amount"]["platformFee"], 500);
    assert_eq!(first["transaction"]["amount"]["net"], 4500);
    assert_eq!(first["transaction"]["payee"]["_id"], json!(w.technician.id));
    assert_eq!(first["transaction"]["booking"]["_id"], json!(booking));
    assert!(first["transaction"]["booking"]["bookingNumber"]
        .as_str()
        .is_some_and(|n| n.starts_with("BKG-")));
    let seen = w.stripe.seen("/v1/payment_intents");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].get("amount"), Some("500000"));
    assert_eq!(seen[0].get("currency"), Some("kes"));
    assert_eq!(seen[0].get("metadata[transaction_id]"), Some(id.as_str()));
    assert_eq!(seen[0].get("metadata[booking_id]"), Some(booking.as_str()));
    assert_eq!(seen[0].idempotency_key, format!("pi-{id}"));

    // Idempotency-Key: same key and body replay; another body is a 409.
    let replay = w
        .post_with(
            "/api/v1/transactions",
            &w.customer.token,
            body.clone(),
            Some("pay-1"),
        )
        .await;
    assert_eq!(replay.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(replay.expect(201), first);
    let mut other = body.clone();
    other["amount"] = json!(4000);
    let conflict = w
        .post_with(
            "/api/v1/transactions",
            &w.customer.token,
            other,
            Some("pay-1"),
        )
        .await
        .expect(409);
    assert_eq!(conflict["success"], false);
    assert_eq!(w.stripe.seen("/v1/payment_intents").len(), 1);
    let count: i64 =
        w.s.query(|c| c.query_row("SELECT COUNT(*) FROM transactions", [], |r| r.get(0)))
            .await;
    assert_eq!(count, 1);

    let succeeded = fake_stripe::event(
        "evt_ok_1",
        "payment_intent.succeeded",
        fake_stripe::intent_succeeded(&intent, 500_000, "kes", &id),
    );
    // Unsigned, tampered, stale, wrong secret: 400, nothing stored or moved.
    let now = fake_stripe::now();
    let tampered_body = succeeded.replace("500000", "500001");
    for (body, sig) in [
        (succeeded.clone(), String::new()),
        (
            tampered_body.clone(),
            fake_stripe::sign(fake_stripe::WEBHOOK_SECRET, now, &succeeded),
        ),
        (
            succeeded.clone(),
            fake_stripe::sign(fake_stripe::WEBHOOK_SECRET, now - 301, &succeeded),
        ),
        (
            succeeded.clone(),
            fake_stripe::sign("whsec_someone_else", now, &succeeded),
        ),
        (succeeded.clone(), "t=abc,v1=00".to_string()),
    ] {
        let res = w.stripe_webhook_signed(&body, &sig).await.expect(400);
        assert_eq!(res["success"], false);
    }
    assert!(webhook_outcomes(&w.s, "stripe").await.is_empty());
    // Signed but the amount differs from what we asked: kept for review.
    let short = fake_stripe::event(
        "evt_short",
        "payment_intent.succeeded",
        fake_stripe::intent_succeeded(&intent, 400_000, "kes", &id),
    );
    w.stripe_webhook(&short).await.expect(200);
    assert_eq!(w.tx(&id).await["status"], "processing");
    // The real one, with a rolled secret's extra v1 value beside the good one.
    let good_sig = fake_stripe::sign(fake_stripe::WEBHOOK_SECRET, now, &succeeded);
    let two = format!("{},v1={}", good_sig, "0f".repeat(32));
    let ack = w.stripe_webhook_signed(&succeeded, &two).await.expect(200);
    assert_eq!(ack["duplicate"], false);
    let held = w.tx(&id).await;
    assert_eq!(held["status"], "completed");
    assert_eq!(held["escrow"]["held"], true);
    assert!(held["escrow"]["heldAt"].is_string());
    assert_eq!(
        held["stripeDetails"]["chargeId"],
        json!(format!("ch_{intent}"))
    );
    assert_eq!(
        account_balance(&w.s, &format!("escrow:{booking}:KES")).await,
        500_000
    );
    // Replay: 200 (Stripe stops retrying), nothing changes.
    let again = w.stripe_webhook(&succeeded).await.expect(200);
    assert_eq!(again["duplicate"], true);
    // Reordered: a failure reported after the success is ignored.
    let failed = fake_stripe::event(
        "evt_failed_late",
        "payment_intent.payment_failed",
        json!({"id": intent, "object": "payment_intent", "amount": 500000, "currency": "kes",
               "last_payment_error": {"code": "card_declined", "message": "Your card was declined."},
               "metadata": {"transaction_id": id}}),
    );
    w.stripe_webhook(&failed).await.expect(200);
    assert_eq!(w.tx(&id).await["status"], "completed");
    assert_eq!(
        account_balance(&w.s, &format!("escrow:{booking}:KES")).await,
        500_000
    );
    assert_eq!(
        webhook_outcomes(&w.s, "stripe").await,
        vec!["review", "processed", "ignored"]
    );

    // Who sees it: payer and payee yes, strangers and bad ids 404.
    let stranger = w.s.register("customer").await;
    for (token, status) in [
        (&w.customer.token, 200),
        (&w.technician.token, 200),
        (&w.admin.token, 200),
        (&stranger.token, 404),
    ] {
        w.s.get(&format!("/api/v1/transactions/{id}"), Some(token))
            .await
            .expect(status);
    }
    w.s.get("/api/v1/transactions/not-an-id", Some(&w.customer.token))
        .await
        .expect(404);
    w.s.get(&format!("/api/v1/transactions/{id}"), None)
        .await
        .expect(401);
    let detail =
        w.s.get(
            &format!("/api/v1/transactions/{id}"),
            Some(&w.customer.token),
        )
        .await
        .expect(200);
    assert!(detail["transaction"]["payer"]["phoneNumber"].is_string());
    // After 24 h the key is forgotten: the other body is then a new request.
    w.s.state
        .db
        .write(|tx| {
            tx.execute("UPDATE payment_idempotency SET expires_at = 0", [])?;
            Ok(())
        })
        .await
        .unwrap();
    let mut later = body.clone();
    later["amount"] = json!(10);
    // On another booking: this one is paid in full.
    later["booking"] = json!(w.booking("accepted", 5000).await);
    let fresh = w
        .post_with(
            "/api/v1/transactions",
            &w.customer.token,
            later,
            Some("pay-1"),
        )
        .await
        .expect(201);
    assert_ne!(fresh["transaction"]["_id"], json!(id));
    let expired: i64 =
        w.s.query(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM payment_idempotency WHERE expires_at <= ?1",
                [baitech::ids::now_ms()],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(
        expired, 0,
        "expired keys are swept as new ones are recorded"
    );
    assert!(
        w.stripe.violations().is_empty(),
        "{:?}",
        w.stripe.violations()
    );
    w.assert_ledger_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_reported_failed_then_paid_is_kept() {
    let w = World::start().await;
    let booking = w.booking("accepted", 0).await;
    let res =
        w.s.post(
            "/api/v1/transactions",
            Some(&w.customer.token),
            json!({"booking": booking, "amount": 99.99, "gateway": "card"}),
        )
        .await
        .expect(201);
    let id = res["transaction"]["_id"].as_str().unwrap().to_string();
    let intent = res["paymentIntentId"].as_str().unwrap().to_string();
    assert_eq!(res["transaction"]["paymentMethod"], "stripe");
    assert_eq!(res["transaction"]["amount"]["gross"], 99.99);
    let failed = fake_stripe::event(
        "evt_f",
        "payment_intent.payment_failed",
        json!({"id": intent, "object": "payment_intent", "amount": 9999, "currency": "kes",
               "last_payment_error": {"code": "card_declined", "message": "Your card was declined."}}),
    );
    w.stripe_webhook(&failed).await.expect(200);
    let t = w.tx(&id).await;
    assert_eq!(t["status"], "failed");
    assert_eq!(t["failureCode"], "card_declined");
    let ok = fake_stripe::event(
        "evt_s",
        "payment_intent.succeeded",
        fake_stripe::intent_succeeded(&intent, 9999, "kes", &id),
    );
    w.stripe_webhook(&ok).await.expect(200);
    assert_eq!(w.tx(&id).await["status"], "completed");
    assert_eq!(
        account_balance(&w.s, &format!("escrow:{booking}:KES")).await,
        9999
    );
    w.assert_ledger_ok().await;
}

// ---------------------------------------------------------------- wallet, escrow

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_payment_lands_in_escrow_and_release_pays_the_technician_less_the_fee() {
    let w = World::start().await;
    let (c, t, a) = (&w.customer, &w.technician, &w.admin);
    w.topup_stripe(c, 10_000).await;
    assert_eq!(w.wallet(c).await["balance"], 10_000);
    let booking = w.booking("in_progress", 5000).await;

    // Too much for the wallet: 400, nothing written.
    let other = w.booking("accepted", 0).await;
    let res = w.pay_wallet(c, &other, json!(10_000.01)).await.expect(400);
    assert_eq!(res["message"], "Insufficient wallet balance");
    let key = "wallet-pay-1";
    let paid = w
        .post_with(
            "/api/v1/transactions",
            &c.token,
            json!({"booking": booking, "amount": 5000, "gateway": "wallet"}),
            Some(key),
        )
        .await
        .expect(201);
    let id = paid["transaction"]["_id"].as_str().unwrap().to_string();
    assert_eq!(paid["message"], "Transaction created successfully");
    assert_eq!(paid["transaction"]["status"], "completed");
    assert_eq!(paid["transaction"]["escrow"]["held"], true);
    assert_eq!(paid["transaction"]["isSuccessful"], true);
    // The same request again replays; the wallet is debited once.
    let again = w
        .post_with(
            "/api/v1/transactions",
            &c.token,
            json!({"amount": 5000, "gateway": "wallet", "booking": booking}),
            Some(key),
        )
        .await
        .expect(201);
    assert_eq!(again["transaction"]["_id"], json!(id));
    assert_eq!(w.wallet(c).await["balance"], 5000);
    // Keys are per user: the technician's same key is another request.
    let tech_try = w
        .post_with(
            "/api/v1/transactions",
            &t.token,
            json!({"booking": booking, "amount": 5000, "gateway": "wallet"}),
            Some(key),
        )
        .await
        .expect(403);
    assert_eq!(
        tech_try["message"],
        "Not authorized to create payment for this booking"
    );
    // A stranger cannot pay for someone else's booking (it does not exist for them).
    let stranger = w.s.register("customer").await;
    w.pay_wallet(&stranger, &booking, json!(1))
        .await
        .expect(404);

    // Release: admins only.
    let path = format!("/api/v1/transactions/{id}/release-escrow");
    w.s.post(&path, Some(&c.token), json!({})).await.expect(403);
    w.s.post(&path, Some(&t.token), json!({})).await.expect(403);
    w.s.post(
        "/api/v1/transactions/0123456789abcdef01234567/release-escrow",
        Some(&a.token),
        json!({}),
    )
    .await
    .expect(404);
    let released = w.s.post(&path, Some(&a.token), json!({})).await.expect(200);
    assert_eq!(released["message"], "Escrow released successfully");
    let r = &released["transaction"];
    assert_eq!(r["status"], "completed");
    assert_eq!(r["escrow"]["held"], false);
    assert!(r["escrow"]["releasedAt"].is_string());
    assert_eq!(r["escrow"]["releaseCondition"], "admin");
    assert_eq!(r["amount"]["platformFee"], 500);
    assert_eq!(r["amount"]["net"], 4500);
    let again = w.s.post(&path, Some(&a.token), json!({})).await.expect(409);
    assert_eq!(again["message"], "Escrow already released");
    let refund =
        w.s.post(
            &format!("/api/v1/transactions/{id}/refund"),
            Some(&a.token),
            json!({"reason": "late"}),
        )
        .await
        .expect(409);
    assert!(refund["message"].as_str().unwrap().contains("released"));

    let tw = w.wallet(t).await;
    assert_eq!(tw["balance"], 4500);
    assert_eq!(tw["postings"][0]["kind"], "release");
    assert_eq!(tw["postings"][0]["direction"], "credit");
    assert_eq!(tw["postings"][0]["transaction"], json!(id));
    assert_eq!(account_balance(&w.s, "revenue:KES").await, 50_000);
    assert_eq!(
        account_balance(&w.s, &format!("escrow:{booking}:KES")).await,
        0
    );
    // Top-ups do not use escrow.
    let topup = w.topup_stripe(c, 10).await;
    let res =
        w.s.post(
            &format!("/api/v1/transactions/{topup}/release-escrow"),
            Some(&a.token),
            json!({}),
        )
        .await
        .expect(400);
    assert_eq!(res["message"], "This transaction does not use escrow");

    // Stats per role.
    let cs =
        w.s.get("/api/v1/transactions/stats", Some(&c.token))
            .await
            .expect(200);
    assert_eq!(cs["scope"], "own");
    assert_eq!(cs["spent"], 5000);
    assert_eq!(cs["total"], 3);
    assert!(cs["stats"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["_id"] == "completed"));
    let ts =
        w.s.get("/api/v1/transactions/stats", Some(&t.token))
            .await
            .expect(200);
    assert_eq!(
        (
            ts["earned"].clone(),
            ts["fees"].clone(),
            ts["spent"].clone()
        ),
        (json!(4500), json!(500), json!(0))
    );
    let ads =
        w.s.get("/api/v1/transactions/stats", Some(&a.token))
            .await
            .expect(200);
    assert_eq!(ads["scope"], "platform");
    assert_eq!(ads["fees"], 500);
    assert_eq!(ads["held"], 0);
    w.s.get("/api/v1/transactions/stats?currency=XYZ", Some(&a.token))
        .await
        .expect(400);

    // Lists and filters.
    let list =
        w.s.get("/api/v1/transactions", Some(&c.token))
            .await
            .expect(200);
    for k in ["success", "count", "total", "page", "pages", "transactions"] {
        assert!(list.get(k).is_some(), "{k}");
    }
    assert_eq!(list["total"], 3);
    let by_gateway =
        w.s.get(
            &format!("/api/v1/transactions?gateway=wallet&booking={booking}&status=completed"),
            Some(&c.token),
        )
        .await
        .expect(200);
    assert_eq!(by_gateway["total"], 1);
    assert_eq!(
        by_gateway["transactions"][0]["booking"]["_id"],
        json!(booking)
    );
    assert_eq!(
        w.s.get("/api/v1/transactions", Some(&stranger.token))
            .await
            .expect(200)["total"],
        0
    );
    assert_eq!(
        w.s.get("/api/v1/transactions?type=wallet_topup", Some(&a.token))
            .await
            .expect(200)["total"],
        2
    );
    let future =
        w.s.get("/api/v1/transactions?startDate=2999-01-01", Some(&a.token))
            .await
            .expect(200);
    assert_eq!(future["total"], 0);
    for (q, field) in [
        ("status=bogus", "status"),
        ("gateway=paypal", "gateway"),
        ("type=x", "type"),
        ("booking=1", "booking"),
        ("startDate=yesterday", "startDate"),
        ("sort=$where", "sort"),
        ("limit=1000", "limit"),
    ] {
        let res =
            w.s.get(&format!("/api/v1/transactions?{q}"), Some(&c.token))
                .await
                .expect(400);
        assert_eq!(field_of(&res), field, "{q}");
    }
    w.assert_ledger_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_and_fields_are_validated_naming_the_field() {
    let w = World::start().await;
    let booking = w.booking("accepted", 1000).await;
    for bad in [
        json!("abc"),
        json!(-5),
        json!(0),
        json!(1.234),
        json!(1e12),
        json!(null),
        json!([5]),
        json!("1e3"),
    ] {
        let res = w
            .pay_wallet(&w.customer, &booking, bad.clone())
            .await
            .expect(400);
        assert_eq!(field_of(&res), "amount", "{bad}: {res}");
    }
    let cases = [
        (
            json!({"booking": booking, "amount": 10.5, "gateway": "mpesa"}),
            "amount",
        ),
        (
            json!({"booking": booking, "amount": 1001, "gateway": "wallet"}),
            "amount",
        ),
        (
            json!({"booking": "nope", "amount": 10, "gateway": "wallet"}),
            "booking",
        ),
        (json!({"amount": 10, "gateway": "wallet"}), "booking"),
        (
            json!({"booking": booking, "amount": 10, "gateway": "paypal"}),
            "gateway",
        ),
        (
            json!({"booking": booking, "amount": 10, "gateway": "wallet", "type": "tip"}),
            "type",
        ),
        (
            json!({"type": "wallet_topup", "amount": 10, "gateway": "cash"}),
            "gateway",
        ),
        (
            json!({"booking": booking, "amount": 10, "gateway": "mpesa", "phoneNumber": "+14155550100"}),
            "phoneNumber",
        ),
        (
            json!({"booking": booking, "amount": 10, "gateway": "wallet", "currency": "USD"}),
            "currency",
        ),
        (
            json!({"booking": booking, "amount": 10, "gateway": "wallet", "currency": "ZZZ"}),
            "currency",
        ),
        (
            json!({"booking": 12, "amount": 10, "gateway": "wallet"}),
            "booking",
        ),
    ];
    for (body, field) in cases {
        let res =
            w.s.post(
                "/api/v1/transactions",
                Some(&w.customer.token),
                body.clone(),
            )
            .await
            .expect(400);
        assert_eq!(field_of(&res), field, "{body}: {res}");
    }
    w.s.post("/api/v1/transactions", None, json!({}))
        .await
        .expect(401);
    let bad_key = w
        .post_with(
            "/api/v1/transactions",
            &w.customer.token,
            json!({}),
            Some(&"k".repeat(300)),
        )
        .await
        .expect(400);
    assert_eq!(field_of(&bad_key), "Idempotency-Key");
    let cancelled = w.booking("cancelled", 100).await;
    w.pay_wallet(&w.customer, &cancelled, json!(10))
        .await
        .expect(409);
    w.pay_wallet(&w.customer, "0123456789abcdef01234567", json!(10))
        .await
        .expect(404);
    let count: i64 =
        w.s.query(|c| c.query_row("SELECT COUNT(*) FROM transactions", [], |r| r.get(0)))
            .await;
    assert_eq!(count, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_of_32_concurrent_releases_and_of_32_refunds_succeeds() {
    let w = World::start().await;
    w.topup_stripe(&w.customer, 2_000).await;
    let b1 = w.booking("completed", 0).await;
    let b2 = w.booking("completed", 0).await;
    let t1 = w.pay_wallet(&w.customer, &b1, json!(600)).await.expect(201)["transaction"]["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let t2 = w.pay_wallet(&w.customer, &b2, json!(400)).await.expect(201)["transaction"]["_id"]
        .as_str()
        .unwrap()
        .to_string();
    // 8 identical payments at once under one Idempotency-Key: one payment, 8 identical answers.
    let b3 = w.booking("accepted", 0).await;
    let same = join_all((0..8).map(|_| {
        w.post_with(
            "/api/v1/transactions",
            &w.customer.token,
            json!({"booking": b3, "amount": 100, "gateway": "wallet"}),
            Some("same-key"),
        )
    }))
    .await;
    let ids: std::collections::HashSet<String> = same
        .into_iter()
        .map(|a| {
            a.expect(201)["transaction"]["_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    let release = format!("/api/v1/transactions/{t1}/release-escrow");
    let refund = format!("/api/v1/transactions/{t2}/refund");
    let (s, token) = (&w.s, &w.admin.token);
    let releases = join_all((0..32).map(|_| s.post(&release, Some(token), json!({})))).await;
    let refunds =
        join_all((0..32).map(|_| s.post(&refund, Some(token), json!({"reason": "race"})))).await;
    for (name, answers) in [("release", releases), ("refund", refunds)] {
        let ok = answers.iter().filter(|a| a.status.as_u16() == 200).count();
        let conflicts = answers.iter().filter(|a| a.status.as_u16() == 409).count();
        assert_eq!((ok, conflicts), (1, 31), "{name}");
    }
    assert_eq!(w.wallet(&w.technician).await["balance"], 540);
    assert_eq!(w.wallet(&w.customer).await["balance"], 1_300);
    let refunds: i64 =
        w.s.query(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM transactions WHERE type = 'refund'",
                [],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(refunds, 1);
    let refunded = w.tx(&t2).await;
    assert_eq!(refunded["status"], "refunded");
    assert_eq!(refunded["refund"]["amount"], 400);
    assert_eq!(refunded["refund"]["status"], "completed");
    assert_eq!(refunded["escrow"]["held"], false);
    w.assert_ledger_ok().await;
}

// ---------------------------------------------------------------- refunds

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_go_back_through_the_gateway_or_to_the_wallet_in_full_or_in_part() {
    let w = World::start().await;
    let (c, a) = (&w.customer, &w.admin);
    // Partial refund of a wallet payment: back to the wallet; the rest is released later.
    w.topup_stripe(c, 5000).await;
    let b1 = w.booking("in_progress", 5000).await;
    let p1 = w.pay_wallet(c, &b1, json!(5000)).await.expect(201)["transaction"]["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let refund = |id: &str| format!("/api/v1/transactions/{id}/refund");
    w.s.post(&refund(&p1), Some(&c.token), json!({"reason": "x"}))
        .await
        .expect(403);
    let res =
        w.s.post(&refund(&p1), Some(&a.token), json!({}))
            .await
            .expect(400);
    assert_eq!(field_of(&res), "reason");
    let res =
        w.s.post(
            &refund(&p1),
            Some(&a.token),
            json!({"reason": "x", "amount": 5000.01}),
        )
        .await
        .expect(400);
    assert_eq!(
        res["message"],
        "Validation failed: Refund amount exceeds transaction amount"
    );
    let res =
        w.s.post(
            &refund(&p1),
            Some(&a.token),
            json!({"reason": "x", "refundTo": "moon"}),
        )
        .await
        .expect(400);
    assert_eq!(field_of(&res), "refundTo");
    let partial =
        w.s.post(
            &refund(&p1),
            Some(&a.token),
            json!({"reason": "Only half done", "amount": 1000}),
        )
        .await
        .expect(200);
    assert_eq!(partial["message"], "Refund processed successfully");
    assert_eq!(partial["transaction"]["status"], "partially_refunded");
    assert_eq!(partial["transaction"]["escrow"]["held"], true);
    assert_eq!(partial["transaction"]["refund"]["amount"], 1000);
    assert_eq!(partial["transaction"]["refund"]["reason"], "Only half done");
    assert_eq!(partial["transaction"]["refund"]["refundedBy"], json!(a.id));
    assert_eq!(partial["refundTransaction"]["type"], "refund");
    assert_eq!(partial["refundTransaction"]["paymentMethod"], "wallet");
    assert_eq!(partial["refundTransaction"]["status"], "completed");
    assert_eq!(partial["refundTransaction"]["parentTransaction"], json!(p1));
    assert_eq!(w.wallet(c).await["balance"], 1000);
    let released =
        w.s.post(
            &format!("/api/v1/transactions/{p1}/release-escrow"),
            Some(&a.token),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(released["transaction"]["status"], "partially_refunded");
    assert_eq!(released["transaction"]["amount"]["platformFee"], 400);
    assert_eq!(w.wallet(&w.technician).await["balance"], 3600);

    // Full refund of a Stripe payment through the Refunds API, settled by charge.refunded.
    w.stripe.set_refund_status("pending");
    let b2 = w.booking("accepted", 0).await;
    let (p2, intent) = w.pay_by_card(&b2, 250, "evt_p2").await;
    let full =
        w.s.post(
            &refund(&p2),
            Some(&a.token),
            json!({"reason": "No show", "amount": 0}),
        )
        .await
        .expect(200);
    assert_eq!(full["transaction"]["status"], "refunded");
    assert_eq!(full["transaction"]["refund"]["status"], "pending");
    let child = full["refundTransaction"]["_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(full["refundTransaction"]["paymentMethod"], "stripe");
    assert_eq!(account_balance(&w.s, "payout:stripe:KES").await, 25_000);
    wait_until("the Stripe refund request", || {
        !w.stripe.seen("/v1/refunds").is_empty()
    })
    .await;
    let r = &w.stripe.seen("/v1/refunds")[0];
    assert_eq!(r.get("payment_intent"), Some(intent.as_str()));
    assert_eq!(r.get("amount"), Some("25000"));
    assert_eq!(r.idempotency_key, format!("refund-{child}"));
    w.wait_tx(&child, "the refund to be processing", |t| {
        t["status"] == "processing"
    })
    .await;
    let charge = json!({"id": format!("ch_{intent}"), "object": "charge", "payment_intent": intent,
                        "amount": 25000, "amount_refunded": 25000, "refunded": true});
    w.stripe_webhook(&fake_stripe::event(
        "evt_refunded",
        "charge.refunded",
        charge.clone(),
    ))
    .await
    .expect(200);
    assert_eq!(w.tx(&child).await["status"], "completed");
    assert_eq!(w.tx(&p2).await["refund"]["status"], "completed");
    assert_eq!(account_balance(&w.s, "payout:stripe:KES").await, 0);
    // A refund nobody here issued is only kept for review.
    w.stripe_webhook(&fake_stripe::event(
        "evt_refunded_2",
        "charge.refunded",
        charge,
    ))
    .await
    .expect(200);

    // An M-Pesa payment refunded through B2C; the result callback settles it.
    let b3 = w.booking("accepted", 0).await;
    let res =
        w.s.post(
            "/api/v1/transactions",
            Some(&c.token),
            json!({"booking": b3, "amount": 300, "gateway": "mpesa"}),
        )
        .await
        .expect(201);
    let p3 = res["transaction"]["_id"].as_str().unwrap().to_string();
    let (m, ck) = (
        res["merchantRequestID"].as_str().unwrap().to_string(),
        res["checkoutRequestID"].as_str().unwrap().to_string(),
    );
    w.mpesa_callback(&fake_daraja::stk_success(
        &m,
        &ck,
        json!(300),
        "MPR0000001",
        msisdn_number(c),
    ))
    .await
    .expect(200);
    assert_eq!(w.tx(&p3).await["escrow"]["held"], true);
    let res =
        w.s.post(
            &refund(&p3),
            Some(&a.token),
            json!({"reason": "Duplicate booking"}),
        )
        .await
        .expect(200);
    let child3 = res["refundTransaction"]["_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(res["refundTransaction"]["paymentMethod"], "mpesa");
    wait_until("the B2C refund request", || {
        !w.daraja.b2c_requests().is_empty()
    })
    .await;
    let b2c = &w.daraja.b2c_requests()[0];
    assert_eq!(b2c["OriginatorConversationID"], json!(child3));
    assert_eq!(b2c["Amount"], 300);
    assert_eq!(b2c["PartyB"], json!(msisdn_number(c).to_string()));
    w.wait_tx(&child3, "the refund payout to be accepted", |t| {
        t["status"] == "processing"
    })
    .await;
    let conversation = w.tx(&child3).await["mpesaDetails"]["conversationId"]
        .as_str()
        .unwrap()
        .to_string();
    let result_path = format!("{}/result", w.callback_path());
    w.s.post(
        &result_path,
        None,
        fake_daraja::b2c_result(&child3, &conversation, 0, 300, "B2C0000001"),
    )
    .await
    .expect(200);
    assert_eq!(w.tx(&child3).await["status"], "completed");
    assert_eq!(
        w.tx(&child3).await["mpesaDetails"]["mpesaReceiptNumber"],
        "B2C0000001"
    );
    assert_eq!(account_balance(&w.s, "payout:mpesa:KES").await, 0);
    assert!(
        w.daraja.violations().is_empty(),
        "{:?}",
        w.daraja.violations()
    );
    assert!(
        w.stripe.violations().is_empty(),
        "{:?}",
        w.stripe.violations()
    );
    w.assert_ledger_ok().await;
}

// ---------------------------------------------------------------- cash

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cash_is_recorded_by_the_technician_and_confirmed_by_the_customer() {
    let w = World::start().await;
    let (c, t, a) = (&w.customer, &w.technician, &w.admin);
    let booking = w.booking("completed", 3000).await;
    let stranger = w.s.register("technician").await;
    let body = json!({"booking": booking, "amount": 3000, "gateway": "cash"});
    // actor × action → status
    let scenarios = [
        ("customer records cash", &c.token, 403),
        ("stranger records cash", &stranger.token, 404),
    ];
    for (name, token, status) in scenarios {
        let res =
            w.s.post("/api/v1/transactions", Some(token), body.clone())
                .await;
        assert_eq!(res.status.as_u16(), status, "{name}: {}", res.body);
    }
    let recorded =
        w.s.post("/api/v1/transactions", Some(&t.token), body)
            .await
            .expect(201);
    let id = recorded["transaction"]["_id"].as_str().unwrap().to_string();
    assert_eq!(recorded["transaction"]["status"], "pending");
    assert_eq!(recorded["transaction"]["payer"]["_id"], json!(c.id));
    assert_eq!(recorded["transaction"]["payee"]["_id"], json!(t.id));
    let confirm = format!("/api/v1/transactions/{id}/confirm");
    for (name, token, status) in [
        ("stranger confirms", &stranger.token, 404),
        ("technician confirms", &t.token, 403),
        ("customer confirms", &c.token, 200),
        ("customer confirms again", &c.token, 409),
        ("admin confirms again", &a.token, 409),
    ] {
        let res = w.s.post(&confirm, Some(token), json!({})).await;
        assert_eq!(res.status.as_u16(), status, "{name}: {}", res.body);
    }
    let held = w.tx(&id).await;
    assert_eq!(held["status"], "completed");
    assert_eq!(held["escrow"]["held"], true);
    assert_eq!(account_balance(&w.s, "clearing:cash:KES").await, -300_000);
    // Only cash is confirmed this way.
    let topup = w.topup_stripe(c, 10).await;
    w.s.post(
        &format!("/api/v1/transactions/{topup}/confirm"),
        Some(&c.token),
        json!({}),
    )
    .await
    .expect(400);
    // Released: the technician keeps the cash; the platform's fee is owed in the cash account.
    w.s.post(
        &format!("/api/v1/transactions/{id}/release-escrow"),
        Some(&a.token),
        json!({}),
    )
    .await
    .expect(200);
    let tw = w.wallet(t).await;
    assert_eq!(tw["balance"], 0);
    let kinds: Vec<&str> = tw["postings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["release", "release"]);
    assert_eq!(account_balance(&w.s, "revenue:KES").await, 30_000);
    assert_eq!(account_balance(&w.s, "clearing:cash:KES").await, -30_000);
    w.assert_ledger_ok().await;
}

// ---------------------------------------------------------------- withdrawals

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawals_pay_out_through_b2c_and_a_failed_payout_returns_to_the_wallet() {
    let w = World::start().await;
    let t = &w.technician;
    w.topup_stripe(t, 2000).await;
    w.s.post(
        "/api/v1/wallet/withdraw",
        Some(&w.customer.token),
        json!({"amount": 100}),
    )
    .await
    .expect(403);
    for (body, field) in [
        (json!({"amount": 10.5}), "amount"),
        (json!({"amount": 5}), "amount"),
        (json!({"amount": "lots"}), "amount"),
        (
            json!({"amount": 100, "phoneNumber": "+14155550100"}),
            "phoneNumber",
        ),
    ] {
        let res =
            w.s.post("/api/v1/wallet/withdraw", Some(&t.token), body.clone())
                .await
                .expect(400);
        assert_eq!(field_of(&res), field, "{body}");
    }
    let short =
        w.s.post(
            "/api/v1/wallet/withdraw",
            Some(&t.token),
            json!({"amount": 2001}),
        )
        .await
        .expect(400);
    assert_eq!(short["message"], "Insufficient wallet balance");

    let res = w
        .post_with(
            "/api/v1/wallet/withdraw",
            &t.token,
            json!({"amount": 1500}),
            Some("wd-1"),
        )
        .await
        .expect(201);
    for k in ["success", "message", "transaction"] {
        assert!(res.get(k).is_some(), "{k}");
    }
    let id = res["transaction"]["_id"].as_str().unwrap().to_string();
    assert_eq!(res["transaction"]["type"], "wallet_withdrawal");
    assert_eq!(res["transaction"]["status"], "pending");
    let replay = w
        .post_with(
            "/api/v1/wallet/withdraw",
            &t.token,
            json!({"amount": 1500}),
            Some("wd-1"),
        )
        .await
        .expect(201);
    assert_eq!(replay["transaction"]["_id"], json!(id));
    assert_eq!(w.wallet(t).await["balance"], 500);
    w.wait_tx(&id, "the withdrawal to be accepted by Daraja", |t| {
        t["status"] == "processing"
    })
    .await;
    let b2c = &w.daraja.b2c_requests()[0];
    assert_eq!(b2c["OriginatorConversationID"], json!(id));
    assert_eq!(b2c["Amount"], 1500);
    assert_eq!(b2c["PartyB"], json!(msisdn_number(t).to_string()));
    let conversation = w.tx(&id).await["mpesaDetails"]["conversationId"]
        .as_str()
        .unwrap()
        .to_string();
    let result = format!("{}/result", w.callback_path());
    // Wrong secret, wrong conversation, wrong amount: nothing moves.
    w.s.post(
        "/api/v1/transactions/webhook/mpesa/wrong/result",
        None,
        fake_daraja::b2c_result(&id, &conversation, 0, 1500, "WD00000001"),
    )
    .await
    .expect(404);
    for body in [
        fake_daraja::b2c_result(&id, "AG_other", 0, 1500, "WD00000001"),
        fake_daraja::b2c_result(&id, &conversation, 0, 15, "WD00000001"),
        fake_daraja::b2c_result(
            "0123456789abcdef01234567",
            &conversation,
            0,
            1500,
            "WD00000001",
        ),
    ] {
        assert_eq!(
            w.s.post(&result, None, body).await.expect(200)["ResultCode"],
            0
        );
    }
    assert_eq!(w.tx(&id).await["status"], "processing");
    let good = fake_daraja::b2c_result(&id, &conversation, 0, 1500, "WD00000001");
    w.s.post(&result, None, good.clone()).await.expect(200);
    assert_eq!(w.tx(&id).await["status"], "completed");
    w.s.post(&result, None, good).await.expect(200);
    assert_eq!(w.wallet(t).await["balance"], 500);
    assert_eq!(account_balance(&w.s, "payout:mpesa:KES").await, 0);
    assert_eq!(account_balance(&w.s, "clearing:mpesa:KES").await, 150_000);

    // A failed payout comes back to the wallet.
    let res =
        w.s.post(
            "/api/v1/wallet/withdraw",
            Some(&t.token),
            json!({"amount": 500}),
        )
        .await
        .expect(201);
    let id2 = res["transaction"]["_id"].as_str().unwrap().to_string();
    assert_eq!(w.wallet(t).await["balance"], 0);
    w.wait_tx(&id2, "the second withdrawal to be accepted", |t| {
        t["status"] == "processing"
    })
    .await;
    let conv2 = w.tx(&id2).await["mpesaDetails"]["conversationId"]
        .as_str()
        .unwrap()
        .to_string();
    w.s.post(
        &result,
        None,
        fake_daraja::b2c_result(&id2, &conv2, 2001, 500, ""),
    )
    .await
    .expect(200);
    let failed = w.tx(&id2).await;
    assert_eq!(failed["status"], "failed");
    assert!(failed["failureReason"]
        .as_str()
        .unwrap()
        .contains("insufficient"));
    let wallet = w.wallet(t).await;
    assert_eq!(wallet["balance"], 500);
    assert_eq!(wallet["postings"][0]["kind"], "payout_returned");
    // The timeout URL only keeps the notice for review.
    w.s.post(
        &format!("{}/timeout", w.callback_path()),
        None,
        json!({"Result": {"ResultCode": 1}}),
    )
    .await
    .expect(200);
    assert!(
        w.daraja.violations().is_empty(),
        "{:?}",
        w.daraja.violations()
    );
    w.assert_ledger_ok().await;
}

// ---------------------------------------------------------------- booking events

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booking_events_release_automatically_unless_disputed_and_resolve_disputes() {
    let w = World::start_with(|c| c.escrow_release_delay_secs = 0).await;
    let (c, t) = (&w.customer, &w.technician);
    w.topup_stripe(c, 3000).await;
    let pay = |b: String, amount: i64| {
        let w = &w;
        async move {
            w.pay_wallet(&w.customer, &b, json!(amount))
                .await
                .expect(201)["transaction"]["_id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let (b1, b2, b3) = (
        w.booking("in_progress", 0).await,
        w.booking("in_progress", 0).await,
        w.booking("disputed", 0).await,
    );
    let (t1, t2, t3) = (
        pay(b1.clone(), 1000).await,
        pay(b2.clone(), 1000).await,
        pay(b3.clone(), 1000).await,
    );
    let changed = |to: &str| json!({"from": "in_progress", "to": to, "customerId": c.id, "technicianId": t.id});

    // Completed: released automatically after the (zero) delay.
    w.set_booking_status(&b1, "completed").await;
    w.emit("booking.status_changed", &b1, changed("completed"))
        .await;
    w.wait_tx(&t1, "the automatic release", |t| {
        t["escrow"]["releaseCondition"] == "auto_release"
    })
    .await;
    assert_eq!(w.wallet(t).await["balance"], 900);

    // Completed, but disputed before the release ran: nothing is released.
    w.set_booking_status(&b2, "disputed").await;
    w.emit("booking.status_changed", &b2, changed("completed"))
        .await;
    let pattern = format!("%{b2}%");
    let mut ran = false;
    for _ in 0..500 {
        let p = pattern.clone();
        let done: i64 = w
            .s
            .query(move |c| {
                c.query_row(
                    "SELECT COUNT(*) FROM jobs WHERE kind = 'payments.auto_release' AND status = 'done' AND payload LIKE ?1",
                    [p],
                    |r| r.get(0),
                )
            })
            .await;
        if done == 1 {
            ran = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ran, "the release job for the disputed booking ran");
    assert_eq!(w.tx(&t2).await["escrow"]["held"], true);
    // Resolved for the customer with a partial refund: 400 back, the rest released.
    w.emit(
        "booking.dispute_resolved",
        &b2,
        json!({"outcome": "refunded", "refundAmount": 400, "customerId": c.id, "technicianId": t.id}),
    )
    .await;
    w.wait_tx(&t2, "the dispute refund", |t| t["escrow"]["held"] == false)
        .await;
    let d = w.tx(&t2).await;
    assert_eq!(d["status"], "partially_refunded");
    assert_eq!(d["refund"]["amount"], 400);
    assert_eq!(d["escrow"]["releaseCondition"], "dispute_resolved");
    assert_eq!(w.wallet(c).await["balance"], 400);
    assert_eq!(w.wallet(t).await["balance"], 900 + 540);
    // Replaying the event changes nothing (the handler is idempotent).
    w.emit(
        "booking.dispute_resolved",
        &b2,
        json!({"outcome": "refunded", "refundAmount": 400, "customerId": c.id, "technicianId": t.id}),
    )
    .await;

    // Resolved in the technician's favour: released.
    w.emit(
        "booking.dispute_resolved",
        &b3,
        json!({"outcome": "completed", "refundAmount": null, "customerId": c.id, "technicianId": t.id}),
    )
    .await;
    w.wait_tx(&t3, "the dispute release", |t| t["escrow"]["held"] == false)
        .await;
    assert_eq!(w.wallet(t).await["balance"], 900 + 540 + 900);
    assert_eq!(w.wallet(c).await["balance"], 400);
    w.assert_ledger_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_booking_gives_back_what_was_held_less_a_late_fee() {
    let w = World::start().await;
    let (c, t) = (&w.customer, &w.technician);
    w.topup_stripe(c, 3000).await;
    let pay = |b: String| {
        let w = &w;
        async move {
            w.pay_wallet(&w.customer, &b, json!(1000)).await.expect(201)["transaction"]["_id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };

    // The customer cancels through the bookings API: all of it comes back.
    let b1 = w.booking("accepted", 0).await;
    let t1 = pay(b1.clone()).await;
    assert_eq!(w.wallet(c).await["balance"], 2000);
    w.s.put(
        &format!("/api/v1/bookings/{b1}/status"),
        Some(&c.token),
        json!({"status": "cancelled", "reason": "Plans changed"}),
    )
    .await
    .expect(200);
    w.wait_tx(&t1, "the cancellation refund", |t| {
        t["escrow"]["held"] == false
    })
    .await;
    assert_eq!(w.tx(&t1).await["status"], "refunded");
    assert_eq!(w.wallet(c).await["balance"], 3000);
    assert_eq!(w.wallet(t).await["balance"], 0);

    // Cancelled late with a KES 200 fee: 800 back, the fee released to the
    // technician less the platform's 10%.
    let b2 = w.booking("accepted", 1000).await;
    let t2 = pay(b2.clone()).await;
    let id = b2.clone();
    w.s.state
        .db
        .write(move |tx| {
            tx.execute(
                "UPDATE bookings SET status = 'cancelled', cancellation_fee_minor = 20000 WHERE id = ?1",
                [&id],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let changed =
        json!({"from": "accepted", "to": "cancelled", "customerId": c.id, "technicianId": t.id});
    w.emit("booking.status_changed", &b2, changed.clone()).await;
    w.wait_tx(&t2, "the partial refund", |t| t["escrow"]["held"] == false)
        .await;
    let d = w.tx(&t2).await;
    assert_eq!(d["status"], "partially_refunded");
    assert_eq!(d["refund"]["amount"], 800);
    assert_eq!(w.wallet(c).await["balance"], 2000 + 800);
    assert_eq!(w.wallet(t).await["balance"], 180);
    // Replayed, the event moves nothing more.
    w.emit("booking.status_changed", &b2, changed).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(w.wallet(c).await["balance"], 2800);
    assert_eq!(w.wallet(t).await["balance"], 180);
    w.assert_ledger_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_dispute_refund_goes_back_through_the_gateway() {
    let w = World::start().await;
    let booking = w.booking("disputed", 0).await;
    let (id, _) = w.pay_by_card(&booking, 120, "evt_d").await;
    w.emit(
        "booking.dispute_resolved",
        &booking,
        json!({"outcome": "refunded", "refundAmount": null, "customerId": w.customer.id, "technicianId": w.technician.id}),
    )
    .await;
    w.wait_tx(&id, "the refund through Stripe", |t| {
        t["refund"]["status"] == "completed"
    })
    .await;
    assert_eq!(w.tx(&id).await["status"], "refunded");
    assert_eq!(w.stripe.seen("/v1/refunds")[0].get("amount"), Some("12000"));
    assert_eq!(
        w.wallet(&w.customer).await["balance"],
        0,
        "back to the card, not the wallet"
    );
    w.assert_ledger_ok().await;
}

/// The admin overview reads running totals, not a sum of every
/// transaction: after bookings are paid (wallet and card), released,
/// refunded in part and in full, and cancelled early and late, the totals
/// equal a recount, and the overview and the platform stats show them
/// under their unchanged keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_overview_totals_equal_a_recount_after_a_mixed_scenario() {
    let w = World::start().await;
    let (c, a) = (&w.customer, &w.admin);
    w.topup_stripe(c, 20_000).await;
    w.assert_totals_match().await;
    let pay = |b: String, amount: i64| {
        let w = &w;
        async move {
            w.pay_wallet(&w.customer, &b, json!(amount))
                .await
                .expect(201)["transaction"]["_id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    // Paid, done and released: the fee counts, the escrow does not.
    let done = w.booking("in_progress", 5000).await;
    let released = pay(done.clone(), 5000).await;
    w.set_booking_status(&done, "completed").await;
    w.s.post(
        &format!("/api/v1/transactions/{released}/release-escrow"),
        Some(&a.token),
        json!({}),
    )
    .await
    .expect(200);
    // Paid, then refunded in part (still held) and another in full.
    let partial = pay(w.booking("in_progress", 3000).await, 3000).await;
    w.s.post(
        &format!("/api/v1/transactions/{partial}/refund"),
        Some(&a.token),
        json!({"reason": "half done", "amount": 1000}),
    )
    .await
    .expect(200);
    let full = pay(w.booking("in_progress", 1000).await, 1000).await;
    w.s.post(
        &format!("/api/v1/transactions/{full}/refund"),
        Some(&a.token),
        json!({"reason": "not done"}),
    )
    .await
    .expect(200);
    // Cancelled by the customer through the bookings API: all back.
    let b = w.booking("accepted", 0).await;
    let cancelled = pay(b.clone(), 2000).await;
    w.s.put(
        &format!("/api/v1/bookings/{b}/status"),
        Some(&c.token),
        json!({"status": "cancelled", "reason": "Plans changed"}),
    )
    .await
    .expect(200);
    w.wait_tx(&cancelled, "the cancellation refund", |t| {
        t["escrow"]["held"] == false
    })
    .await;
    // Paid by card and left in escrow.
    let card = w.booking("accepted", 0).await;
    w.pay_by_card(&card, 700, "evt_totals").await;
    w.assert_ledger_ok().await;
    // 2000 left of the partly refunded payment and the 700 card payment.
    let held = 2000 + 700;
    let o =
        w.s.get("/api/v1/admin/overview", Some(&a.token))
            .await
            .expect(200);
    assert_eq!(o["escrowHeld"].as_f64(), Some(held as f64));
    let today = o["bookingsPerDay"].as_array().unwrap().last().unwrap();
    assert_eq!(
        (
            today["created"].clone(),
            today["completed"].clone(),
            today["cancelled"].clone()
        ),
        (json!(5), json!(1), json!(1)),
        "{today}"
    );
    assert_eq!(today["gmv"].as_f64(), Some(5000.0));
    assert_eq!(o["platformFees"].as_f64(), Some(500.0));
    let mut keys: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "bookingsPerDay",
            "currency",
            "days",
            "escrowHeld",
            "jobs",
            "platformFees",
            "success",
            "usersByRole"
        ]
    );
    let st =
        w.s.get("/api/v1/transactions/stats", Some(&a.token))
            .await
            .expect(200);
    assert_eq!(st["held"].as_f64(), Some(held as f64));
    assert_eq!(st["fees"].as_f64(), Some(500.0));
}

// ---------------------------------------------------------------- property

/// Random sequences of operations through the API; after each batch every
/// balance equals its postings, the ledger sums to zero, no wallet is
/// negative, and the wallets hold exactly what a simple model predicts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_operations_keep_every_ledger_invariant() {
    let w = World::start().await;
    let (c, t, a) = (&w.customer, &w.technician, &w.admin);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x0ba1_7ec4);
    let mut held: Vec<(String, i64)> = Vec::new();
    let (mut customer, mut technician) = (0i64, 0i64);
    let bookings: Vec<String> = join_all((0..4).map(|_| w.booking("in_progress", 0))).await;
    for step in 0..120 {
        match rng.gen_range(0..6) {
            0 => {
                let amount = rng.gen_range(1..500);
                w.topup_stripe(c, amount).await;
                customer += amount * 100;
            }
            1 | 2 => {
                let amount = rng.gen_range(1..40_000);
                let b = &bookings[rng.gen_range(0..bookings.len())];
                let res = w.pay_wallet(c, b, model_major(amount)).await;
                if amount <= customer {
                    let id = res.expect(201)["transaction"]["_id"]
                        .as_str()
                        .unwrap()
                        .to_string();
                    customer -= amount;
                    held.push((id, amount));
                } else {
                    assert_eq!(res.expect(400)["message"], "Insufficient wallet balance");
                }
            }
            3 if !held.is_empty() => {
                let (id, amount) = held.swap_remove(rng.gen_range(0..held.len()));
                w.s.post(
                    &format!("/api/v1/transactions/{id}/release-escrow"),
                    Some(&a.token),
                    json!({}),
                )
                .await
                .expect(200);
                technician += amount - (amount * 1000 + 5000) / 10_000;
            }
            4 if !held.is_empty() => {
                let i = rng.gen_range(0..held.len());
                let (id, amount) = held[i].clone();
                let part = rng.gen_range(1..=amount);
                w.s.post(
                    &format!("/api/v1/transactions/{id}/refund"),
                    Some(&a.token),
                    json!({"reason": "random", "amount": model_major(part)}),
                )
                .await
                .expect(200);
                customer += part;
                if part == amount {
                    held.swap_remove(i);
                } else {
                    held[i].1 -= part;
                }
            }
            _ if technician >= 1_000 => {
                let amount = (technician / 100).min(rng.gen_range(10..200)) * 100;
                let res =
                    w.s.post(
                        "/api/v1/wallet/withdraw",
                        Some(&t.token),
                        json!({"amount": amount / 100}),
                    )
                    .await;
                let id = res.expect(201)["transaction"]["_id"]
                    .as_str()
                    .unwrap()
                    .to_string();
                technician -= amount;
                w.wait_tx(&id, "the payout to be accepted", |t| {
                    t["status"] == "processing"
                })
                .await;
                let conv = w.tx(&id).await["mpesaDetails"]["conversationId"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let ok = rng.gen_bool(0.7);
                let receipt = format!("P{step:09}");
                let body = fake_daraja::b2c_result(
                    &id,
                    &conv,
                    if ok { 0 } else { 1 },
                    (amount / 100) as u64,
                    &receipt,
                );
                w.s.post(&format!("{}/result", w.callback_path()), None, body)
                    .await
                    .expect(200);
                if !ok {
                    technician += amount;
                }
            }
            _ => {}
        }
        if step % 20 == 19 {
            w.assert_ledger_ok().await;
        }
    }
    w.assert_ledger_ok().await;
    let cw = w.wallet(c).await;
    let tw = w.wallet(t).await;
    assert_eq!(
        cw["balance"],
        baitech::payments::model::major(customer),
        "customer"
    );
    assert_eq!(
        tw["balance"],
        baitech::payments::model::major(technician),
        "technician"
    );
    let escrow: i64 =
        w.s.query(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(balance_minor), 0) FROM ledger_accounts WHERE kind = 'escrow'",
                [],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(escrow, held.iter().map(|(_, a)| a).sum::<i64>());
}

fn model_major(minor: i64) -> Value {
    baitech::payments::model::major(minor)
}

// ---------------------------------------------------------------- kill -9

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_binary(dir: &std::path::Path, port: u16, stripe: &FakeStripe) -> Child {
    let child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_baitech"))
            .arg("serve")
            .env("BAITECH_DATA_DIR", dir)
            .env("BAITECH_LISTEN", format!("127.0.0.1:{port}"))
            .env("BAITECH_RATE_LIMITS", "off")
            .env("BAITECH_LOG_LEVEL", "error")
            .env("BAITECH_STRIPE_BASE_URL", &stripe.base)
            .env("BAITECH_STRIPE_SECRET_KEY", fake_stripe::SECRET_KEY)
            .env("BAITECH_STRIPE_WEBHOOK_SECRET", fake_stripe::WEBHOOK_SECRET)
            .env_remove("BAITECH_CONFIG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    for _ in 0..500 {
        if client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("server did not start");
}

/// kill -9 in the middle of a burst of wallet payments and Stripe webhooks;
/// after a restart the ledger invariants hold, every acknowledged webhook
/// took effect, and Stripe's redelivery of the rest credits each top-up once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_burst_keeps_the_ledger_and_loses_no_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let stripe = FakeStripe::start().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = start_binary(dir.path(), port, &stripe).await;
    let client = reqwest::Client::new();
    let register = |role: &str| {
        let (client, base, role) = (client.clone(), base.clone(), role.to_string());
        async move {
            let res: Value = client
                .post(format!("{base}/api/v1/auth/register"))
                .json(&json!({"firstName": "K", "lastName": "Nine", "email": format!("{role}@example.com"),
                              "phoneNumber": crate::harness::phone(), "password": "correct horse battery", "role": role}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (
                res["user"]["_id"].as_str().unwrap().to_string(),
                res["token"].as_str().unwrap().to_string(),
            )
        }
    };
    let (customer, token) = register("customer").await;
    let (technician, _) = register("technician").await;
    let db = dir.path().join("baitech.db");
    let bookings: Vec<String> = {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        (0..8)
            .map(|_| insert_booking(&conn, &customer, Some(&technician), "accepted", 0).unwrap())
            .collect()
    };
    // 40 top-ups of KES 100 awaiting their webhooks.
    let mut events = Vec::new();
    for i in 0..40 {
        let res: Value = client
            .post(format!("{base}/api/v1/transactions"))
            .bearer_auth(&token)
            .json(&json!({"type": "wallet_topup", "amount": 100, "gateway": "stripe"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let tx = res["transaction"]["_id"].as_str().unwrap().to_string();
        let intent = res["paymentIntentId"].as_str().unwrap().to_string();
        events.push((
            tx.clone(),
            fake_stripe::event(
                &format!("evt_kill_{i}"),
                "payment_intent.succeeded",
                fake_stripe::intent_succeeded(&intent, 10_000, "kes", &tx),
            ),
        ));
    }
    // The burst: webhooks and wallet payments together; kill -9 midway.
    let deliver = |body: String| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let sig = fake_stripe::sign(fake_stripe::WEBHOOK_SECRET, fake_stripe::now(), &body);
            client
                .post(format!("{base}/api/v1/transactions/webhook/stripe"))
                .header("content-type", "application/json")
                .header("Stripe-Signature", sig)
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16() == 200)
                .unwrap_or(false)
        }
    };
    let mut burst = Vec::new();
    for (i, (_, body)) in events.iter().enumerate() {
        burst.push(tokio::spawn(deliver(body.clone())));
        let (client, base, token, booking) = (
            client.clone(),
            base.clone(),
            token.clone(),
            bookings[i % 8].clone(),
        );
        burst.push(tokio::spawn(async move {
            client
                .post(format!("{base}/api/v1/transactions"))
                .bearer_auth(&token)
                .json(&json!({"booking": booking, "amount": 30, "gateway": "wallet"}))
                .send()
                .await
                .map(|r| r.status().as_u16() == 201)
                .unwrap_or(false)
        }));
    }
    tokio::time::sleep(Duration::from_millis(60)).await;
    let mut server = server;
    unsafe {
        libc::kill(server.0.id() as i32, libc::SIGKILL);
    }
    let _ = server.0.wait();
    let outcomes: Vec<bool> = join_all(burst)
        .await
        .into_iter()
        .map(|r| r.unwrap_or(false))
        .collect();
    let acked: Vec<usize> = (0..events.len()).filter(|i| outcomes[2 * i]).collect();

    let _server = start_binary(dir.path(), port, &stripe).await;
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let status = |id: &str| -> String {
        conn.query_row("SELECT status FROM transactions WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
    };
    for i in &acked {
        assert_eq!(
            status(&events[*i].0),
            "completed",
            "acknowledged webhook {i} was lost"
        );
    }
    // Stripe redelivers everything not acknowledged (and we send the rest again too).
    for (_, body) in &events {
        assert!(deliver(body.clone()).await, "redelivery answered 200");
    }
    for (tx, _) in &events {
        assert_eq!(status(tx), "completed");
    }
    let report = ledger::check(&conn).unwrap();
    assert!(report.is_ok(), "{}", report.summary());
    let processed: i64 = conn
        .query_row("SELECT COUNT(*) FROM payment_webhooks WHERE provider = 'stripe' AND outcome = 'processed'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(processed, 40, "each event processed exactly once");
    let paid: i64 = conn
        .query_row(
            "SELECT COALESCE(SUM(gross_minor), 0) FROM transactions WHERE type = 'booking_payment'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let balance: i64 = conn
        .query_row(
            "SELECT balance_minor FROM ledger_accounts WHERE key = ?1",
            [format!("wallet:{customer}:KES")],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(balance, 40 * 10_000 - paid);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_baitech"))
        .arg("ledger-check")
        .env("BAITECH_DATA_DIR", dir.path())
        .env_remove("BAITECH_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ledger: ok"));
}

// ---------------------------------------------------------------- property (library level)

/// Thousands of random movements straight through the library (every
/// gateway, refunds to wallets and gateways, payouts settled and refused,
/// late failures, refusals that roll back): after each batch the ledger
/// invariants hold, and every booking's escrow equals what its payments
/// still hold.
#[test]
fn thousands_of_random_movements_keep_the_ledger_and_escrow_consistent() {
    use baitech::payments::model::{Gateway, TxType};
    use baitech::payments::movements::{self, Actor, Evidence, PaymentRequest, RefundTo};
    use baitech::payments::store;

    let dir = tempfile::tempdir().unwrap();
    let db = baitech::db::Db::open(&dir.path().join("baitech.db"), 2).unwrap();
    let config = baitech::config::Config::for_data_dir(dir.path());
    let (customers, technicians, bookings) = db
        .write_blocking(|tx| {
            let mut ids = Vec::new();
            for (i, role) in [
                "customer",
                "customer",
                "customer",
                "technician",
                "technician",
            ]
            .iter()
            .enumerate()
            {
                let a = baitech::auth::store::insert(
                    tx,
                    &baitech::auth::store::NewAccount {
                        email: format!("p{i}@example.com"),
                        phone: format!("+25471100{i:04}"),
                        password_hash: "unused".into(),
                        first_name: "P".into(),
                        last_name: role.to_string(),
                        role: baitech::auth::Role::parse(role).unwrap(),
                        location: None,
                    },
                )?;
                ids.push(a.id);
            }
            let mut bookings = Vec::new();
            for i in 0..12 {
                bookings.push(insert_booking(
                    tx,
                    &ids[i % 3],
                    Some(&ids[3 + i % 2]),
                    "in_progress",
                    0,
                )?);
            }
            Ok((ids[..3].to_vec(), ids[3..].to_vec(), bookings))
        })
        .unwrap();
    let admin = Actor {
        id: &customers[0],
        is_admin: true,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x1ed9e2);
    let (mut applied, mut refused) = (0, 0);
    let ids_where = |c: &rusqlite::Connection, sql: &str| -> Vec<String> {
        let mut stmt = c.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    for step in 0..3000 {
        let op = rng.gen_range(0..10);
        let pick: usize = rng.gen();
        let amount = rng.gen_range(1..2_000) * 100
            + if rng.gen_bool(0.3) {
                rng.gen_range(0..100)
            } else {
                0
            };
        let customer = customers[pick % 3].clone();
        let booking = bookings[pick % bookings.len()].clone();
        let technician = technicians[pick % 2].clone();
        let gateway = [Gateway::Mpesa, Gateway::Stripe, Gateway::Cash][pick % 3];
        let to = if pick % 4 == 0 {
            RefundTo::Wallet
        } else {
            RefundTo::Original
        };
        let result = db.write_blocking(|tx| {
            let held = || ids_where(tx, "SELECT id FROM transactions WHERE stage = 'held' ORDER BY rowid");
            let nth = |v: Vec<String>| v.get(pick % v.len().max(1)).cloned();
            match op {
                0 | 1 => {
                    let req = PaymentRequest {
                        kind: TxType::WalletTopup,
                        method: if op == 0 { Gateway::Stripe } else { Gateway::Mpesa },
                        booking_id: None,
                        currency: None,
                        amount: amount - amount % 100,
                        description: None,
                        phone: None,
                    };
                    let t = movements::create_payment(tx, &config, Actor { id: &customer, is_admin: false }, &req)?;
                    let evidence = Evidence::Stripe { charge_id: None, webhook_id: 0 };
                    movements::confirm_payment(tx, &config, &t, &evidence)?.ok();
                }
                2 => {
                    let req = PaymentRequest {
                        kind: TxType::BookingPayment,
                        method: Gateway::Wallet,
                        booking_id: Some(booking),
                        currency: None,
                        amount,
                        description: None,
                        phone: None,
                    };
                    movements::create_payment(tx, &config, admin, &req)?;
                }
                3 => {
                    let req = PaymentRequest {
                        kind: TxType::BookingPayment,
                        method: gateway,
                        booking_id: Some(booking),
                        currency: None,
                        amount: if gateway == Gateway::Mpesa { amount - amount % 100 } else { amount },
                        description: None,
                        phone: None,
                    };
                    let t = movements::create_payment(tx, &config, admin, &req)?;
                    if pick % 5 != 0 {
                        movements::confirm_payment(tx, &config, &t, &Evidence::Cash { confirmed_by: customer.clone() })?.ok();
                    }
                }
                4 => {
                    if let Some(id) = nth(held()) {
                        movements::release(tx, &config, &id, "admin", None)?;
                    }
                }
                5 => {
                    if let Some(id) = nth(held()) {
                        let part = if pick % 3 == 0 { None } else { Some(amount % 5_000 + 1) };
                        movements::refund(tx, &id, part, "random", to, None)?;
                    }
                }
                6 => {
                    movements::withdraw(tx, &technician, amount - amount % 100 + 1_000, "+254711000003")?;
                }
                7 | 8 => {
                    let pending = ids_where(
                        tx,
                        "SELECT id FROM transactions WHERE type IN ('wallet_withdrawal', 'refund') AND stage IN ('pending', 'processing') ORDER BY rowid",
                    );
                    if let Some(id) = nth(pending) {
                        let t = store::find(tx, &id)?.unwrap();
                        if op == 7 {
                            movements::payout_settled(tx, &t, None, None)?.ok();
                        } else {
                            movements::payout_failed(tx, &t, "refused")?.ok();
                        }
                    }
                }
                _ => {
                    let pending = ids_where(
                        tx,
                        "SELECT id FROM transactions WHERE type IN ('booking_payment', 'wallet_topup') AND stage IN ('pending', 'processing', 'held') ORDER BY rowid",
                    );
                    if let Some(id) = nth(pending) {
                        let t = store::find(tx, &id)?.unwrap();
                        movements::fail_payment(tx, &t, "failed", "late failure", None)?.ok();
                    }
                }
            }
            Ok(())
        });
        match result {
            Ok(()) => applied += 1,
            Err(e @ baitech::error::ApiError::Internal(_)) => panic!("step {step}: {e:?}"),
            Err(_) => refused += 1,
        }
        if step % 500 == 499 {
            let report = db.read_blocking(ledger::check).unwrap();
            assert!(report.is_ok(), "after step {step}: {}", report.summary());
        }
    }
    assert!(
        applied > 1500 && refused > 0,
        "applied {applied}, refused {refused}"
    );
    let report = db.read_blocking(ledger::check).unwrap();
    assert!(report.is_ok(), "{}", report.summary());
    assert!(report.postings > 4000, "{}", report.summary());
    for b in &bookings {
        let key = format!("escrow:{b}:KES");
        let (escrow, expected): (i64, i64) = db
            .read_blocking(|c| {
                Ok(c.query_row(
                    "SELECT COALESCE((SELECT balance_minor FROM ledger_accounts WHERE key = ?1), 0),
                            (SELECT COALESCE(SUM(gross_minor - refunded_minor), 0) FROM transactions
                              WHERE booking_id = ?2 AND type = 'booking_payment' AND stage = 'held')",
                    rusqlite::params![key, b],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?)
            })
            .unwrap();
        assert_eq!(escrow, expected, "escrow of {b}");
    }
    let in_flight: i64 = db
        .read_blocking(|c| {
            Ok(c.query_row(
                "SELECT (SELECT COALESCE(SUM(balance_minor), 0) FROM ledger_accounts WHERE kind = 'payout')
                      - (SELECT COALESCE(SUM(gross_minor), 0) FROM transactions
                          WHERE type IN ('wallet_withdrawal', 'refund') AND payment_method != 'wallet' AND stage IN ('pending', 'processing'))",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(
        in_flight, 0,
        "payout accounts hold exactly the payouts in flight"
    );
}

/// The check itself finds what it must: a drifted balance, an unbalanced
/// entry, a posting in another currency.
#[test]
fn ledger_check_reports_each_kind_of_violation() {
    use baitech::payments::model::{Gateway, Op};
    let dir = tempfile::tempdir().unwrap();
    let db = baitech::db::Db::open(&dir.path().join("baitech.db"), 1).unwrap();
    db.write_blocking(|tx| {
        let op = Op::TopUp {
            gateway: Gateway::Mpesa,
            user_id: "u1".into(),
            amount: 500,
        };
        ledger::apply(tx, &op, "KES", None)?;
        ledger::apply(
            tx,
            &Op::TopUp {
                gateway: Gateway::Stripe,
                user_id: "u1".into(),
                amount: 7,
            },
            "USD",
            None,
        )?;
        Ok(())
    })
    .unwrap();
    assert!(db.read_blocking(ledger::check).unwrap().is_ok());
    let refused = db.write_blocking(|tx| {
        ledger::apply(
            tx,
            &Op::HoldFromWallet {
                user_id: "u1".into(),
                booking_id: "b".into(),
                amount: 501,
            },
            "KES",
            None,
        )
    });
    assert!(
        matches!(refused, Err(baitech::error::ApiError::BadRequest(m)) if m == "Insufficient wallet balance")
    );
    db.write_blocking(|tx| {
        tx.execute("UPDATE ledger_accounts SET balance_minor = balance_minor + 1 WHERE key = 'wallet:u1:KES'", [])?;
        tx.execute("INSERT INTO ledger_entries (id, kind, currency, created_at) VALUES (99, 'x', 'KES', 0)", [])?;
        tx.execute("INSERT INTO ledger_postings (entry_id, account_id, amount_minor, created_at) SELECT 99, id, 3, 0 FROM ledger_accounts WHERE key = 'clearing:mpesa:KES'", [])?;
        tx.execute("INSERT INTO ledger_postings (entry_id, account_id, amount_minor, created_at) SELECT 1, id, 1, 0 FROM ledger_accounts WHERE key = 'wallet:u1:USD'", [])?;
        Ok(())
    })
    .unwrap();
    let report = db.read_blocking(ledger::check).unwrap();
    assert!(!report.is_ok());
    assert_eq!(report.unbalanced_entries, vec![(1, 1), (99, 3)]);
    assert_eq!(report.mixed_currency_entries, vec![1]);
    let mut keys: Vec<&str> = report
        .mismatched_accounts
        .iter()
        .map(|m| m.0.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec!["clearing:mpesa:KES", "wallet:u1:KES", "wallet:u1:USD"]
    );
    assert!(report.totals.contains(&("KES".to_string(), 1)));
    assert!(report.summary().ends_with("ledger: VIOLATED"));
}

/// Issue 13: a retry without an Idempotency-Key charged the customer again
/// (1000 held three times for a booking of 1000). What is held or pending
/// for a booking never exceeds its total, also under concurrent requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_is_never_charged_beyond_its_total() {
    let s = TestServer::start().await;
    let customer = s.register("customer").await;
    let technician = s.register("technician").await;
    let booking = booking_row(&s, &customer.id, Some(&technician.id), "accepted", 1000).await;
    let pay = |amount: Value| json!({"booking": booking, "amount": amount, "gateway": "mpesa"});
    // (amount, expected status, message fragment)
    let steps = [
        (json!(400), 201, ""),
        (
            json!(700),
            409,
            "KES 400 of this booking's KES 1000 is already paid or pending",
        ),
        (json!(600), 201, ""),
        (json!(1000), 409, "This booking is already paid"),
        (json!(1), 409, "already paid"),
    ];
    for (amount, status, message) in steps {
        let res = s
            .post(
                "/api/v1/transactions",
                Some(&customer.token),
                pay(amount.clone()),
            )
            .await
            .expect(status);
        assert!(
            res["message"]
                .as_str()
                .unwrap_or_default()
                .contains(message),
            "{amount}: {res}"
        );
    }
    let b = booking.clone();
    let total: i64 = s
        .query(move |c| {
            c.query_row(
                "SELECT SUM(gross_minor) FROM transactions WHERE booking_id = ?1",
                [&b],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(total, 100_000);

    // Eight clients at once for another booking: exactly one is charged.
    let other = booking_row(&s, &customer.id, Some(&technician.id), "accepted", 1000).await;
    let body = json!({"booking": other, "amount": 1000, "gateway": "mpesa"});
    let answers = join_all(
        (0..8).map(|_| s.post("/api/v1/transactions", Some(&customer.token), body.clone())),
    )
    .await;
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
}
