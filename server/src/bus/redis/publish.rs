//! The publisher side: the bounded queue of envelopes for Redis and the
//! task that publishes them.

use super::presence;
use super::{pause_unless_stopped, REDIS_TIMEOUT, RETRY_MAX, RETRY_MIN};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Envelopes sent to Redis in one pipeline.
pub(super) const PUBLISH_BATCH: usize = 64;

/// One envelope for the channel, and the presence entry it changes.
pub(super) struct Outgoing {
    pub(super) envelope: String,
    /// `(field, Some(profile))` to set, `(field, None)` to delete.
    pub(super) presence: Option<(String, Option<String>)>,
}

fn connection_config() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new().set_connection_timeout(REDIS_TIMEOUT).set_response_timeout(REDIS_TIMEOUT)
}

/// Sends the queued envelopes to Redis in batches, reconnecting (and
/// sending the unsent batch again) when the link breaks.
pub(super) async fn publish_loop(
    client: redis::Client,
    channel: String,
    keys: presence::Keys,
    mut rx: mpsc::Receiver<Outgoing>,
    stop: CancellationToken,
) {
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    let mut pause = RETRY_MIN;
    loop {
        if batch.is_empty() {
            tokio::select! {
                n = rx.recv_many(&mut batch, PUBLISH_BATCH) => if n == 0 { return },
                () = stop.cancelled() => return,
            }
        }
        let link = match &mut conn {
            Some(link) => link,
            None => match client.get_multiplexed_async_connection_with_config(&connection_config()).await {
                Ok(link) => conn.insert(link),
                Err(e) => {
                    warn!(error = %e, "cannot reach redis to publish; retrying");
                    if !pause_unless_stopped(pause, &stop).await {
                        return;
                    }
                    pause = (pause * 2).min(RETRY_MAX);
                    continue;
                }
            },
        };
        let mut pipe = redis::pipe();
        for out in &batch {
            match &out.presence {
                Some((field, Some(profile))) => pipe.hset(&keys.presence, field, profile).ignore(),
                Some((field, None)) => pipe.hdel(&keys.presence, field).ignore(),
                None => &mut pipe,
            };
            pipe.cmd("PUBLISH").arg(&channel).arg(&out.envelope).ignore();
        }
        match pipe.query_async::<()>(link).await {
            Ok(()) => {
                batch.clear();
                pause = RETRY_MIN;
            }
            Err(e) => {
                // The batch is kept and sent again on the next link.
                warn!(error = %e, "publishing to redis failed; reconnecting");
                conn = None;
                if !pause_unless_stopped(pause, &stop).await {
                    return;
                }
                pause = (pause * 2).min(RETRY_MAX);
            }
        }
    }
}
