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
    /// The bare reference with `TCP_NODELAY` on its sockets (it sustains
    /// less; see BENCHMARKS.md). Only with `bench --bare-nodelay`.
    BareNodelay,
    Tuned,
}

impl Style {
    /// The `--style` value that selects it.
    pub fn arg(self) -> &'static str {
        match self {
            Style::Bare => "bare",
            Style::BareNodelay => "bare-nodelay",
            Style::Tuned => "tuned",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Style::Bare => "bare reference (warp's websockets_chat)",
            Style::BareNodelay => "bare reference (warp's websockets_chat) with TCP_NODELAY",
            Style::Tuned => "tuned reference (roofline)",
        }
    }
}

pub async fn run(style: Style, listen: std::net::SocketAddr) -> anyhow::Result<()> {
    match style {
        Style::Bare => bare::run(listen, false).await,
        Style::BareNodelay => bare::run(listen, true).await,
        Style::Tuned => tuned::run(listen).await,
    }
}
