//! Boots the real server on `127.0.0.1:0` with a temp data dir, and signs in
//! users of each role over real HTTP.

#![allow(dead_code)]

use std::net::SocketAddr;

use baitech::config::Config;
use baitech::state::AppState;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A running server and its data dir (removed on drop).
pub struct TestServer {
    pub base: String,
    pub addr: SocketAddr,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub phone: String,
    pub token: String,
    pub refresh: String,
    pub role: String,
}

/// An HTTP answer: status and JSON body (`Value::Null` when not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }
}

fn unique() -> String {
    baitech::ids::random_token(6)
}

/// A fresh Kenyan mobile number.
pub fn phone() -> String {
    format!("07{:08}", rand_u32() % 100_000_000)
}

fn rand_u32() -> u32 {
    u32::from_str_radix(&baitech::ids::random_token(4), 16).unwrap()
}

impl TestServer {
    /// A server with default settings (per-IP rate limits off).
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// A server whose configuration `tune` may change first.
    pub async fn start_with(tune: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_data_dir(dir.path());
        config.rate_limits = baitech::config::OnOff::Off;
        config.log_level = "warn".into();
        config.listen = "127.0.0.1:0".into();
        tune(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().unwrap();
        config.public_url = format!("http://{addr}");
        let state = baitech::build_state(config).expect("state");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serve_state = state.clone();
        let task = tokio::spawn(async move {
            baitech::serve(listener, serve_state, async move {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
        });
        TestServer {
            base: format!("http://{addr}"),
            addr,
            state,
            dir,
            client: reqwest::Client::builder().build().unwrap(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::DELETE, path, token, None).await
    }

    /// Registers (over HTTP) a customer, technician or corporate account.
    pub async fn register(&self, role: &str) -> TestUser {
        let email = format!("{role}-{}@example.com", unique());
        let password = "correct horse battery".to_string();
        let phone = phone();
        let body = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({"firstName": "Test", "lastName": role, "email": email, "phoneNumber": phone,
                       "password": password, "role": role}),
            )
            .await
            .expect(201);
        TestUser {
            id: body["user"]["_id"].as_str().unwrap().to_string(),
            email,
            password,
            phone,
            token: body["token"].as_str().unwrap().to_string(),
            refresh: body["refreshToken"].as_str().unwrap().to_string(),
            role: role.to_string(),
        }
    }

    /// Creates an admin or support account (as the CLI does) and signs it in.
    pub async fn staff(&self, role: &str) -> TestUser {
        let email = format!("{role}-{}@example.com", unique());
        let password = "correct horse battery".to_string();
        let phone = phone();
        let cost = self.state.password_cost();
        let hash = baitech::auth::password::hash(password.clone(), cost)
            .await
            .unwrap();
        let role_enum = baitech::auth::Role::parse(role).expect("role");
        let (e, p) = (
            email.clone(),
            baitech::auth::policy::normalize_phone(&phone).unwrap(),
        );
        self.state
            .db
            .write(move |tx| {
                baitech::auth::store::insert(
                    tx,
                    &baitech::auth::store::NewAccount {
                        email: e,
                        phone: p,
                        password_hash: hash,
                        first_name: "Staff".into(),
                        last_name: "Member".into(),
                        role: role_enum,
                        location: None,
                    },
                )
            })
            .await
            .unwrap();
        self.login(&email, &password, role).await
    }

    /// Signs in with email and password (no 2FA).
    pub async fn login(&self, email: &str, password: &str, role: &str) -> TestUser {
        let body = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await
            .expect(200);
        TestUser {
            id: body["user"]["_id"].as_str().unwrap().to_string(),
            email: email.to_string(),
            password: password.to_string(),
            phone: body["user"]["phoneNumber"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            token: body["token"].as_str().unwrap().to_string(),
            refresh: body["refreshToken"].as_str().unwrap().to_string(),
            role: role.to_string(),
        }
    }

    /// Runs a read query against the server's database (to assert stored state).
    pub async fn query<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> T {
        self.state.db.read(move |c| Ok(f(c)?)).await.expect("query")
    }

    /// Waits (bounded) until `cond` holds, polling every 20 ms.
    pub async fn eventually<F, Fut>(&self, what: &str, mut cond: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..500 {
            if cond().await {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for: {what}");
    }
}
