//! POSTing one delivery: hyper-util's client over plain HTTP (see
//! ARCHITECTURE.md for why not reqwest), under a timeout.

use super::sign::{signature, SIGNATURE_HEADER};
use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

pub(crate) struct Poster {
    client: Client<HttpConnector, Full<Bytes>>,
    secret: Vec<u8>,
    timeout: Duration,
}

/// Why an attempt failed (logged; every failure is retried).
#[derive(Debug, thiserror::Error)]
pub(crate) enum PostError {
    #[error("answered {0}")]
    Status(StatusCode),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Transport(String),
}

impl Poster {
    pub(crate) fn new(secret: Vec<u8>, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(2).build(connector);
        Self { client, secret, timeout }
    }

    /// One attempt: 2xx is delivered; anything else (a status, a refused
    /// connection, silence past the timeout) is a failure to retry.
    pub(crate) async fn post(
        &self,
        url: &Uri,
        event_id: &str,
        kind: &str,
        attempt: u32,
        body: &str,
    ) -> Result<(), PostError> {
        let unix_secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let request = Request::post(url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "chat-webhooks/1")
            .header(SIGNATURE_HEADER, signature(&self.secret, unix_secs, body))
            .header("chat-event-id", event_id)
            .header("chat-event-type", kind)
            .header("chat-attempt", attempt.to_string())
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
            .map_err(|e| PostError::Transport(e.to_string()))?;
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Err(_) => Err(PostError::Timeout(self.timeout)),
            Ok(Err(e)) => Err(PostError::Transport(e.to_string())),
            Ok(Ok(response)) if response.status().is_success() => Ok(()),
            Ok(Ok(response)) => Err(PostError::Status(response.status())),
        }
    }
}
