//! Background pruning of old messages, per the retention settings.

use crate::app::App;
use crate::clock::now_millis;
use crate::store::Retention;
use std::sync::Arc;

pub(crate) async fn run(app: Arc<App>, mut policy: Retention) {
    let mut tick = tokio::time::interval(app.config.retention_interval);
    let max_age_ms = i64::from(app.config.retention_days) * 86_400_000;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = app.shutdown.cancelled() => return,
        }
        policy.older_than = (max_age_ms > 0).then(|| now_millis() - max_age_ms);
        match app.store.prune(policy).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "retention pruned messages"),
            Err(e) => tracing::warn!(error = %e, "retention pass failed"),
        }
    }
}
