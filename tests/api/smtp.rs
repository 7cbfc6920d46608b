//! A real SMTP server on loopback that keeps what it receives: the email
//! provider is tested by speaking SMTP to it, not by a mock.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A running fake SMTP server.
pub struct FakeSmtp {
    pub port: u16,
    pub messages: Arc<Mutex<Vec<String>>>,
}

impl FakeSmtp {
    /// Accepts mail; `hang` makes it accept connections and never answer.
    pub async fn start(hang: bool) -> FakeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = messages.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let store = store.clone();
                tokio::spawn(async move {
                    if hang {
                        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                        drop(socket);
                        return;
                    }
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 fake.smtp ESMTP ready\r\n").await;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO")
                        {
                            b"250-fake.smtp\r\n250 8BITMIME\r\n"
                        } else if upper.starts_with("DATA") {
                            let _ = write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await;
                            let mut message = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                message.push_str(l.strip_prefix('.').unwrap_or(&l));
                                message.push('\n');
                            }
                            store.lock().unwrap().push(message);
                            b"250 queued\r\n"
                        } else if upper.starts_with("QUIT") {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"250 ok\r\n"
                        };
                        let _ = write.write_all(reply).await;
                    }
                });
            }
        });
        FakeSmtp { port, messages }
    }

    pub fn received(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }
}

/// The first URL in a message body that contains `marker`, unfolded from quoted-printable.
pub fn link_containing(message: &str, marker: &str) -> Option<String> {
    let unfolded = message
        .replace("\r\n", "\n")
        .replace("=\n", "")
        .replace("=3D", "=");
    unfolded
        .split_whitespace()
        .find(|w| w.contains(marker) && w.starts_with("http"))
        .map(|s| s.trim_end_matches(['.', ',']).to_string())
}
