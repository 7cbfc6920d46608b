//! Realtime delivery to connected clients: who is online, who is looking at
//! which conversation, and emitting an event to a user's sockets.
//!
//! This is the one seam other modules use (notifications ask "is this user
//! watching the conversation?" and push `notification` / `notification:new`); the Socket.IO
//! server plugs its emitter in with [`Realtime::install`]. Keeping the
//! emitting behind this type lets a multi-node adapter replace it later.
//!
//! [`socket`] is the Socket.IO server (socketioxide, protocol v4, at
//! `/socket.io/` on the API port): handshake auth, rooms, both event
//! vocabularies, presence. [`fanout`] is the event-outbox consumer that
//! turns committed domain events into socket events, so nothing is
//! announced that was not stored.

pub mod fanout;
pub mod socket;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

/// Sends events to connected sockets; implemented by the Socket.IO layer.
pub trait Emitter: Send + Sync {
    /// Emits `event` to every socket of `user_id` (all tabs and devices).
    fn to_user(&self, user_id: &str, event: &str, payload: &Value);
    /// Emits `event` to every socket in `room` (e.g. `conversation:<id>`).
    fn to_room(&self, room: &str, event: &str, payload: &Value);
}

/// Presence and delivery, shared by every handler and consumer.
#[derive(Default)]
pub struct Realtime {
    presence: Mutex<Presence>,
    emitter: OnceLock<Arc<dyn Emitter>>,
    /// The Socket.IO server and its tower layer, built once per process state.
    server: OnceLock<(socketioxide::layer::SocketIoLayer, socketioxide::SocketIo)>,
}

#[derive(Default)]
struct Presence {
    /// Open sockets per user.
    sockets: HashMap<String, usize>,
    /// Open sockets per (user, conversation) that joined its room.
    viewing: HashMap<(String, String), usize>,
}

fn bump<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: K, up: bool) -> usize {
    if up {
        let n = map.entry(key).or_insert(0);
        *n += 1;
        *n
    } else {
        match map.get_mut(&key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                *n
            }
            Some(_) => {
                map.remove(&key);
                0
            }
            None => 0,
        }
    }
}

impl Realtime {
    /// Plugs in the socket layer's emitter; the first one installed wins.
    pub fn install(&self, emitter: Arc<dyn Emitter>) {
        let _ = self.emitter.set(emitter);
    }

    /// Emits to every socket of a user; a no-op while nobody is connected
    /// or before the socket layer is installed.
    pub fn emit_to_user(&self, user_id: &str, event: &str, payload: &Value) {
        if let Some(e) = self.emitter.get() {
            e.to_user(user_id, event, payload);
        }
    }

    /// Emits to every socket in a room.
    pub fn emit_to_room(&self, room: &str, event: &str, payload: &Value) {
        if let Some(e) = self.emitter.get() {
            e.to_room(room, event, payload);
        }
    }

    /// Emits `event` once to every socket in any of `rooms` (a socket in
    /// several of them gets it once), and waits until it is queued on them:
    /// the fan-out consumer's ordered path.
    pub async fn emit_to_rooms(&self, rooms: Vec<String>, event: &str, payload: &Value) {
        if rooms.is_empty() {
            return;
        }
        if let Some((_, io)) = self.server.get() {
            if let Err(e) = io.to(rooms).emit(event, payload).await {
                tracing::debug!(event, error = %e, "socket broadcast failed");
            }
        }
    }

    /// The Socket.IO server, once [`socket::layer`] built it.
    pub fn io(&self) -> Option<&socketioxide::SocketIo> {
        self.server.get().map(|(_, io)| io)
    }

    /// Records a socket of `user_id` connecting; returns true when it is
    /// the user's first (the user just came online).
    pub fn socket_connected(&self, user_id: &str) -> bool {
        let mut p = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        bump(&mut p.sockets, user_id.to_string(), true) == 1
    }

    /// Records a socket of `user_id` going away; returns true when it was
    /// the user's last (the user is now offline).
    pub fn socket_disconnected(&self, user_id: &str) -> bool {
        let mut p = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        bump(&mut p.sockets, user_id.to_string(), false) == 0
    }

    /// Records a socket of `user_id` joining (`true`) or leaving a
    /// conversation's room.
    pub fn set_viewing(&self, user_id: &str, conversation_id: &str, joined: bool) {
        let mut p = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        bump(
            &mut p.viewing,
            (user_id.to_string(), conversation_id.to_string()),
            joined,
        );
    }

    /// Whether the user has at least one socket connected.
    pub fn is_online(&self, user_id: &str) -> bool {
        let p = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        p.sockets.contains_key(user_id)
    }

    /// Whether one of the user's sockets has the conversation open (joined
    /// its room): such a user needs no "new message" notification.
    pub fn is_viewing(&self, user_id: &str, conversation_id: &str) -> bool {
        let p = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        p.viewing
            .contains_key(&(user_id.to_string(), conversation_id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_counts_tabs_and_rooms() {
        let rt = Realtime::default();
        assert!(rt.socket_connected("u1"));
        assert!(!rt.socket_connected("u1"));
        assert!(!rt.socket_disconnected("u1"));
        assert!(rt.is_online("u1"));
        assert!(rt.socket_disconnected("u1"));
        assert!(!rt.is_online("u1"));
        rt.set_viewing("u1", "c1", true);
        rt.set_viewing("u1", "c1", true);
        rt.set_viewing("u1", "c1", false);
        assert!(rt.is_viewing("u1", "c1"));
        rt.set_viewing("u1", "c1", false);
        assert!(!rt.is_viewing("u1", "c1"));
        // A leave without a join never underflows.
        rt.set_viewing("u2", "c1", false);
        assert!(!rt.is_viewing("u2", "c1"));
    }
}
