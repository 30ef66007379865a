//! One WebSocket: reports its opening, its frames and its end to the
//! driver; writes what the driver sends; closes when the driver drops its
//! sender.

use client_core::Input;
use futures_util::{SinkExt, StreamExt};
use protocol::{ClientMsg, ServerMsg};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// An input, tagged with the generation of the socket it came from.
pub(crate) type Report = (u64, Input);

pub(crate) async fn run(
    url: String,
    generation: u64,
    reports: mpsc::UnboundedSender<Report>,
    mut outgoing: mpsc::UnboundedReceiver<ClientMsg>,
) {
    let report = |input| {
        let _ = reports.send((generation, input));
    };
    let dropped = || Input::Closed { code: 1006, reason: String::new() };
    let mut ws = match tokio_tungstenite::connect_async(url.as_str()).await {
        Ok((ws, _)) => ws,
        Err(e) => {
            tracing::debug!(error = %e, "connect failed");
            return report(dropped());
        }
    };
    report(Input::Opened);
    loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    // A newer server's message type is ignored.
                    if let Some(msg) = ServerMsg::from_frame(text.as_str()) {
                        report(Input::Frame(msg));
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                    return report(Input::Closed { code, reason });
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return report(dropped()),
            },
            msg = outgoing.recv() => match msg {
                Some(msg) => {
                    let json = serde_json::to_string(&msg).unwrap_or_default();
                    if ws.send(Message::text(json)).await.is_err() {
                        return report(dropped());
                    }
                }
                None => {
                    let _ = ws.close(None).await;
                    return;
                }
            },
        }
    }
}
