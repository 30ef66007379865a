//! The reference servers scenario 1 is measured against, run by this
//! binary's `reference` subcommand in a process of their own. Both relay
//! every text frame a client sends, unchanged, to every other client: no
//! JSON, no auth, no store.
//!
//! - [`bare`]: the target's denominator. A bare broadcast written the way
//!   warp's own `websockets_chat` example writes it (the baseline).
//! - [`tuned`]: the roofline. The same relay with the chat server's own
//!   hot-path techniques, to show what typing, auth and storage cost.

mod bare;
mod tuned;

/// Which reference to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Style {
    Bare,
    Tuned,
}

impl Style {
    pub fn label(self) -> &'static str {
        match self {
            Style::Bare => "bare reference (warp's websockets_chat)",
            Style::Tuned => "tuned reference (roofline)",
        }
    }
}

pub async fn run(style: Style, listen: std::net::SocketAddr) -> anyhow::Result<()> {
    match style {
        Style::Bare => bare::run(listen).await,
        Style::Tuned => tuned::run(listen).await,
    }
}
