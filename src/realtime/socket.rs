//! The Socket.IO server: socketioxide (protocol v4, websocket and polling)
//! as a tower layer at `/socket.io/` on the API port.
//!
//! - Auth at the handshake: `auth.token`, else the second word of the
//!   `Authorization` header; a missing, bad or revoked token, an unknown or
//!   inactive account is refused with a `connect_error`.
//! - Rooms: `<userId>` (every socket of a user), `conversation:<id>` and
//!   `booking:<id>`; joining a conversation or booking room is checked
//!   against membership, and a refusal is an `error` event.
//! - Both vocabularies in: the original server's (`join_conversation`,
//!   `typing`, `subscribe_booking`, `update_location`...) and the web
//!   client's (`user:join`, `conversation:join`, `typing:start`...).
//! - Presence: `user:online` / `user:offline {userId, lastSeen}` go to the
//!   user's contacts when their first socket connects and their last one
//!   leaves (tabs and reconnects counted by [`Realtime`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::{json, Value};
use socketioxide::extract::{Data, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::SocketIo;

use crate::auth::tokens::{self, JwtKeys};
use crate::chat::store as chat_store;
use crate::db::Db;
use crate::ids::{is_valid_id, iso, now_ms};
use crate::realtime::{Emitter, Realtime};
use crate::state::AppState;

/// What socket handlers share. It holds the realtime state weakly so the
/// server does not keep the application state alive in a cycle.
#[derive(Clone)]
struct Ctx {
    db: Db,
    jwt: Arc<JwtKeys>,
    realtime: Weak<Realtime>,
}

/// The authenticated user of a socket, and the conversation rooms it joined.
#[derive(Clone)]
struct Caller {
    id: Arc<str>,
    joined: Arc<Mutex<HashSet<String>>>,
}

/// The tower layer serving `/socket.io/`; built on first use for this
/// state, which also installs the emitter other modules use.
pub fn layer(state: &AppState) -> SocketIoLayer {
    let (layer, _) = state.realtime.server.get_or_init(|| build(state));
    layer.clone()
}

fn build(state: &AppState) -> (SocketIoLayer, SocketIo) {
    let ctx = Ctx {
        db: state.db.clone(),
        jwt: state.jwt.clone(),
        realtime: Arc::downgrade(&state.realtime),
    };
    // pingInterval 25 s and pingTimeout 60 s, the original's (social.md §5):
    // clients time a dead connection from these handshake values.
    let (layer, io) = SocketIo::builder()
        .ping_interval(Duration::from_secs(25))
        .ping_timeout(Duration::from_secs(60))
        .max_buffer_size(64)
        .ws_read_buffer_size(1024)
        .with_state(ctx)
        .build_layer();
    io.ns("/", on_connect.with(authenticate));
    state
        .realtime
        .install(Arc::new(SocketEmitter { io: io.clone() }));
    (layer, io)
}

/// [`Emitter`] over the local Socket.IO server; a multi-node adapter
/// (socketioxide's Redis one) plugs in at `SocketIo::builder().with_adapter`.
struct SocketEmitter {
    io: SocketIo,
}

impl Emitter for SocketEmitter {
    fn to_user(&self, user_id: &str, event: &str, payload: &Value) {
        self.to_room(user_id, event, payload);
    }

    fn to_room(&self, room: &str, event: &str, payload: &Value) {
        let op = self.io.to(room.to_string());
        let (event, payload) = (event.to_string(), payload.clone());
        tokio::spawn(async move {
            let _ = op.emit(&event, &payload).await;
        });
    }
}

/// A handshake refusal, sent to the client as `connect_error`.
#[derive(Debug)]
struct Refusal(String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The token of a handshake: `auth.token`, else the `Authorization` header's second word.
fn handshake_token(auth: Option<&Value>, header: Option<&str>) -> Option<String> {
    if let Some(t) = auth
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        return Some(t.strip_prefix("Bearer ").unwrap_or(t).to_string());
    }
    header
        .and_then(|h| h.split_whitespace().nth(1))
        .map(String::from)
}

async fn authenticate(
    s: SocketRef,
    TryData(auth): TryData<Value>,
    State(ctx): State<Ctx>,
) -> Result<(), Refusal> {
    let header = s
        .req_parts()
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = handshake_token(auth.as_ref().ok(), header)
        .ok_or_else(|| Refusal("Authentication error: No token provided".into()))?;
    let claims = ctx
        .jwt
        .verify(&token, tokens::ACCESS)
        .ok_or_else(|| Refusal("Authentication error: Invalid token".into()))?;
    let id = claims.id.clone();
    let account = ctx
        .db
        .read(move |c| crate::auth::store::find_by_id(c, &id))
        .await
        .map_err(|_| Refusal("Authentication error: Server unavailable".into()))?
        .ok_or_else(|| Refusal("Authentication error: User not found".into()))?;
    if account.token_version != claims.ver {
        return Err(Refusal("Authentication error: Invalid token".into()));
    }
    if account.status != "active" {
        return Err(Refusal(format!(
            "Authentication error: Account is {}",
            account.status
        )));
    }
    s.extensions.insert(Caller {
        id: Arc::from(account.id.as_str()),
        joined: Arc::default(),
    });
    Ok(())
}

fn caller(s: &SocketRef) -> Option<Caller> {
    s.extensions.get::<Caller>()
}

/// An id sent bare (`"abc"`) or in an object (`{conversationId: "abc"}`).
fn id_in(v: &Value, key: &str) -> Option<String> {
    let raw = match v {
        Value::String(s) => Some(s.as_str()),
        Value::Object(_) => v.get(key).and_then(Value::as_str),
        _ => None,
    }?;
    let raw = raw.trim();
    is_valid_id(raw).then(|| raw.to_string())
}

fn refuse(s: &SocketRef, event: &str, message: &str, extra: Value) {
    let mut body = json!({"event": event, "message": message});
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    let _ = s.emit("error", &body);
}

async fn on_connect(s: SocketRef, State(ctx): State<Ctx>) {
    let Some(me) = caller(&s) else {
        let _ = s.disconnect();
        return;
    };
    s.join(me.id.to_string());
    for ev in ["join_conversation", "conversation:join"] {
        s.on(ev, join_conversation);
    }
    for ev in ["leave_conversation", "conversation:leave"] {
        s.on(ev, leave_conversation);
    }
    for ev in ["typing", "typing:start"] {
        s.on(ev, typing_start);
    }
    for ev in ["stop_typing", "typing:stop"] {
        s.on(ev, typing_stop);
    }
    for ev in ["subscribe_booking", "booking:subscribe"] {
        s.on(ev, subscribe_booking);
    }
    for ev in ["unsubscribe_booking", "booking:unsubscribe"] {
        s.on(ev, unsubscribe_booking);
    }
    for ev in ["update_location", "location:update"] {
        s.on(ev, update_location);
    }
    s.on("user:join", user_join);
    s.on("message:delivered", message_delivered);
    s.on("message:read", message_read);
    s.on_disconnect(on_disconnect);
    if let Some(rt) = ctx.realtime.upgrade() {
        if rt.socket_connected(&me.id) {
            announce(&ctx, &rt, &me.id, true).await;
        }
    }
}

/// Tells the user's contacts they came online or went offline.
async fn announce(ctx: &Ctx, rt: &Realtime, user_id: &str, online: bool) {
    let uid = user_id.to_string();
    let now = now_ms();
    let contacts = if online {
        ctx.db.read(move |c| chat_store::contacts(c, &uid)).await
    } else {
        ctx.db
            .write(move |tx| {
                chat_store::set_last_seen(tx, &uid, now)?;
                chat_store::contacts(tx, &uid)
            })
            .await
    };
    let Ok(contacts) = contacts else { return };
    let (event, payload) = if online {
        ("user:online", json!({"userId": user_id, "isOnline": true}))
    } else {
        (
            "user:offline",
            json!({"userId": user_id, "isOnline": false, "lastSeen": iso(now)}),
        )
    };
    rt.emit_to_rooms(contacts, event, &payload).await;
}

async fn on_disconnect(s: SocketRef, State(ctx): State<Ctx>) {
    let Some(me) = caller(&s) else { return };
    let Some(rt) = ctx.realtime.upgrade() else {
        return;
    };
    let joined: Vec<String> = me
        .joined
        .lock()
        .map(|mut j| j.drain().collect())
        .unwrap_or_default();
    for c in joined {
        rt.set_viewing(&me.id, &c, false);
    }
    if rt.socket_disconnected(&me.id) {
        announce(&ctx, &rt, &me.id, false).await;
    }
}

async fn is_member(ctx: &Ctx, conversation_id: &str, user_id: &str) -> bool {
    let (c, u) = (conversation_id.to_string(), user_id.to_string());
    matches!(
        ctx.db
            .read(move |conn| chat_store::membership(conn, &c, &u))
            .await,
        Ok(Some(_))
    )
}

async fn join_conversation(s: SocketRef, Data(v): Data<Value>, State(ctx): State<Ctx>) {
    let Some(me) = caller(&s) else { return };
    let Some(cid) = id_in(&v, "conversationId") else {
        return refuse(
            &s,
            "conversation:join",
            "Valid conversation ID is required",
            json!({}),
        );
    };
    if !is_member(&ctx, &cid, &me.id).await {
        return refuse(
            &s,
            "conversation:join",
            "Not a participant in this conversation",
            json!({"conversationId": cid}),
        );
    }
    s.join(format!("conversation:{cid}"));
    let first = me
        .joined
        .lock()
        .map(|mut j| j.insert(cid.clone()))
        .unwrap_or(false);
    if first {
        if let Some(rt) = ctx.realtime.upgrade() {
            rt.set_viewing(&me.id, &cid, true);
        }
    }
    let _ = s.emit("conversation:joined", &json!({"conversationId": cid}));
}

async fn leave_conversation(s: SocketRef, Data(v): Data<Value>, State(ctx): State<Ctx>) {
    let Some(me) = caller(&s) else { return };
    let Some(cid) = id_in(&v, "conversationId") else {
        return;
    };
    s.leave(format!("conversation:{cid}"));
    let was = me
        .joined
        .lock()
        .map(|mut j| j.remove(&cid))
        .unwrap_or(false);
    if was {
        if let Some(rt) = ctx.realtime.upgrade() {
            rt.set_viewing(&me.id, &cid, false);
        }
    }
}

/// Typing goes to the others in the conversation room, never to the
/// sender's own sockets (other tabs included); only from a joined socket.
async fn typing(s: SocketRef, v: Value, started: bool) {
    let Some(me) = caller(&s) else { return };
    let Some(cid) = id_in(&v, "conversationId") else {
        return;
    };
    let room = format!("conversation:{cid}");
    // The room, not the socket's own record: a removed member is taken out of it.
    if !s.rooms().iter().any(|r| *r == room) {
        return refuse(
            &s,
            if started {
                "typing:start"
            } else {
                "typing:stop"
            },
            "Join the conversation first",
            json!({"conversationId": cid}),
        );
    }
    let payload = json!({"userId": &*me.id, "conversationId": cid});
    let (legacy, current) = if started {
        ("user_typing", "typing:start")
    } else {
        ("user_stop_typing", "typing:stop")
    };
    for ev in [legacy, current] {
        let _ = s
            .to(room.clone())
            .except(me.id.to_string())
            .emit(ev, &payload)
            .await;
    }
}

async fn typing_start(s: SocketRef, Data(v): Data<Value>) {
    typing(s, v, true).await
}

async fn typing_stop(s: SocketRef, Data(v): Data<Value>) {
    typing(s, v, false).await
}

async fn booking_parties(
    ctx: &Ctx,
    booking_id: &str,
) -> Option<crate::bookings::store::BookingParties> {
    let b = booking_id.to_string();
    ctx.db
        .read(move |c| crate::bookings::store::find_parties(c, &b))
        .await
        .ok()
        .flatten()
}

async fn subscribe_booking(s: SocketRef, Data(v): Data<Value>, State(ctx): State<Ctx>) {
    let Some(me) = caller(&s) else { return };
    let Some(bid) = id_in(&v, "bookingId") else {
        return refuse(
            &s,
            "booking:subscribe",
            "Valid booking ID is required",
            json!({}),
        );
    };
    let party = booking_parties(&ctx, &bid)
        .await
        .is_some_and(|p| p.customer_id == *me.id || p.technician_id.as_deref() == Some(&*me.id));
    if !party {
        return refuse(
            &s,
            "booking:subscribe",
            "Not a party to this booking",
            json!({"bookingId": bid}),
        );
    }
    s.join(format!("booking:{bid}"));
    let _ = s.emit("booking:subscribed", &json!({"bookingId": bid}));
}

async fn unsubscribe_booking(s: SocketRef, Data(v): Data<Value>) {
    if let Some(bid) = id_in(&v, "bookingId") {
        s.leave(format!("booking:{bid}"));
    }
}

/// The booking's technician shares where they are; only the booking's
/// customer hears it (`technician_location` and `technician:location`).
async fn update_location(s: SocketRef, Data(v): Data<Value>, State(ctx): State<Ctx>) {
    let Some(me) = caller(&s) else { return };
    let Some(bid) = id_in(&v, "bookingId") else {
        return refuse(
            &s,
            "update_location",
            "Valid booking ID is required",
            json!({}),
        );
    };
    let Some(location) = v.get("location").filter(|l| !l.is_null()).cloned() else {
        return refuse(
            &s,
            "update_location",
            "A location is required",
            json!({"bookingId": bid}),
        );
    };
    let parties = booking_parties(&ctx, &bid).await;
    let Some(p) = parties.filter(|p| p.technician_id.as_deref() == Some(&*me.id)) else {
        return refuse(
            &s,
            "update_location",
            "Only the booking's technician shares a location",
            json!({"bookingId": bid}),
        );
    };
    let payload = json!({"technicianId": &*me.id, "bookingId": bid, "location": location,
                         "timestamp": iso(now_ms())});
    if let Some(rt) = ctx.realtime.upgrade() {
        for ev in ["technician_location", "technician:location"] {
            rt.emit_to_rooms(vec![p.customer_id.clone()], ev, &payload)
                .await;
        }
    }
}

/// The web client announces its user id; only its own is accepted (its
/// room is joined at connect already).
async fn user_join(s: SocketRef, Data(v): Data<Value>) {
    let Some(me) = caller(&s) else { return };
    if id_in(&v, "userId").as_deref() != Some(&*me.id) {
        refuse(&s, "user:join", "You can only join as yourself", json!({}));
    }
}

/// A recipient's client confirms it received a message.
async fn message_delivered(s: SocketRef, Data(v): Data<Value>, State(ctx): State<Ctx>) {
    let Some(me) = caller(&s) else { return };
    let Some(mid) = id_in(&v, "messageId") else {
        return;
    };
    let uid = me.id.to_string();
    let now = now_ms();
    let marked = ctx
        .db
        .write(move |tx| {
            let Some(m) = chat_store::find_message(tx, &mid)? else {
                return Ok(None);
            };
            if m.sender_id.as_deref() == Some(uid.as_str())
                || chat_store::membership(tx, &m.conversation_id, &uid)?.is_none()
            {
                return Ok(None);
            }
            if !chat_store::mark_delivered(tx, &m.id, &uid, now)? {
                return Ok(None);
            }
            let members = chat_store::member_ids(tx, &m.conversation_id)?;
            Ok(Some((m, members)))
        })
        .await;
    if let (Ok(Some((m, members))), Some(rt)) = (marked, ctx.realtime.upgrade()) {
        let payload = json!({"messageId": m.id, "conversationId": m.conversation_id,
                             "userId": &*me.id, "deliveredAt": iso(now)});
        rt.emit_to_rooms(members, "message:delivered", &payload)
            .await;
    }
}

/// The web client's read mark over the socket: as `PUT /messages/mark-read`.
async fn message_read(s: SocketRef, Data(v): Data<Value>, State(ctx): State<Ctx>) {
    let Some(me) = caller(&s) else { return };
    let Some(cid) = id_in(&v, "conversationId") else {
        return;
    };
    let uid = me.id.to_string();
    let _ = ctx
        .db
        .write(move |tx| {
            if chat_store::membership(tx, &cid, &uid)?.is_none() {
                return Ok(());
            }
            let ids = chat_store::mark_read(tx, &cid, &uid, now_ms())?;
            if !ids.is_empty() {
                crate::events::emit(
                    tx,
                    "message.read",
                    Some(&cid),
                    Some(&uid),
                    &json!({"conversationId": cid, "readerId": uid, "messageIds": ids}),
                )?;
            }
            Ok(())
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_from_auth_or_header() {
        let auth = json!({"token": "abc"});
        assert_eq!(handshake_token(Some(&auth), None).as_deref(), Some("abc"));
        let bearer = json!({"token": "Bearer abc"});
        assert_eq!(handshake_token(Some(&bearer), None).as_deref(), Some("abc"));
        assert_eq!(
            handshake_token(None, Some("Bearer xyz")).as_deref(),
            Some("xyz")
        );
        assert_eq!(handshake_token(Some(&json!({"token": ""})), None), None);
        assert_eq!(handshake_token(None, Some("Bearer")), None);
    }

    #[test]
    fn ids_bare_or_wrapped() {
        let id = "aaaaaaaaaaaaaaaaaaaaaaaa";
        assert_eq!(id_in(&json!(id), "conversationId").as_deref(), Some(id));
        assert_eq!(
            id_in(&json!({"conversationId": id}), "conversationId").as_deref(),
            Some(id)
        );
        assert_eq!(id_in(&json!({"other": id}), "conversationId"), None);
        assert_eq!(id_in(&json!("nope"), "conversationId"), None);
        assert_eq!(id_in(&Value::Null, "conversationId"), None);
    }
}
