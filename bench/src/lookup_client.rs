//! The lookup load's HTTP client: keep-alive HTTP/1.1 connections driven by hyper directly.
//!
//! The load generator shares the machine's 2 cores with the server it measures, so it should
//! cost as little as a load generator can: a request here is one `send_request` on a
//! connection the caller holds, and its answer read to the end. reqwest's pool, retry,
//! redirect and timeout layers cost about a third of both cores at 20k 100-key lookups/s,
//! time the server then waits for.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;

/// How long a lookup may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(5);

/// One connection to the server's lookup endpoint.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Connection {
    /// Opens a connection to `authority` (`127.0.0.1:PORT`).
    pub async fn open(authority: &str) -> Result<Connection> {
        let stream = tokio::net::TcpStream::connect(authority)
            .await
            .with_context(|| format!("connecting to {authority}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Connection { sender, host: HeaderValue::from_str(authority)? })
    }

    /// Posts `body` to `/v1/lookup` and reads the answer to the end: whether it was a success.
    pub async fn lookup(&mut self, body: Bytes) -> bool {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/v1/lookup")
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Full::new(body));
        let Ok(request) = request else { return false };
        let answered = async {
            self.sender.ready().await.ok()?;
            let response = self.sender.send_request(request).await.ok()?;
            let success = response.status().is_success();
            // The answer counts once its body is in: a client cannot use the rows before.
            response.into_body().collect().await.ok()?;
            Some(success)
        };
        matches!(tokio::time::timeout(TIMEOUT, answered).await, Ok(Some(true)))
    }

    /// Whether the connection can take another request.
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }
}

/// A fixed set of connections, each used by one request at a time.
pub struct Pool {
    authority: String,
    idle: Mutex<Vec<Connection>>,
    free: Semaphore,
}

impl Pool {
    /// Opens `size` connections to `authority`.
    pub async fn open(authority: &str, size: usize) -> Result<Pool> {
        let mut idle = Vec::with_capacity(size);
        for _ in 0..size {
            idle.push(Connection::open(authority).await?);
        }
        Ok(Pool { authority: authority.to_string(), idle: Mutex::new(idle), free: Semaphore::new(size) })
    }

    /// Waits for an idle connection, posts `body` on it (on a new one if the server closed
    /// it), and gives it back: whether the lookup succeeded, and when it was sent.
    pub async fn lookup(&self, body: Bytes) -> (bool, std::time::Instant) {
        let permit = self.free.acquire().await.expect("never closed");
        let sent = std::time::Instant::now();
        let held = self.idle.lock().expect("pool lock").pop();
        let connection = match held {
            Some(connection) if connection.is_open() => Ok(connection),
            _ => Connection::open(&self.authority).await,
        };
        let ok = match connection {
            Ok(mut connection) => {
                let ok = connection.lookup(body).await;
                // A failed lookup may have left its answer half read: not reused.
                if ok && connection.is_open() {
                    self.idle.lock().expect("pool lock").push(connection);
                }
                ok
            }
            Err(_) => false,
        };
        drop(permit);
        (ok, sent)
    }
}
