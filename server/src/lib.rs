//! The chat server: routes messages between authenticated WebSocket clients,
//! stores them, and serves the web client.
//!
//! `main.rs` only parses arguments, sets up logging and binds; everything
//! else starts at [`run`], which takes a bound listener and a shutdown
//! future so tests can run a real server on port 0.
//!
//! Public are only what the binary, the integration tests and a second
//! [`store::Store`] or [`bus::Bus`] implementation need; test helpers
//! (`Config::for_tests`, `store::conformance`, `bus::conformance`, the
//! `testing` services) are
//! behind the `test-support` feature, which the crate's own tests enable.

mod addressees;
mod api;
mod app;
pub mod auth;
mod bus;
mod clock;
mod config;
mod connection;
mod hub;
mod metrics;
mod moderation;
mod outbox;
mod ratelimit;
mod replay_budget;
mod retention;
mod routes;
mod sequencer;
mod server;
pub mod store;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
mod trim;
mod upgrade;
mod webhooks;

pub use config::{ApiKey, Config};
#[cfg(unix)]
pub use server::raise_fd_limit;
pub use server::{run, run_with_store, shutdown_signal, FdLimits, ServerError};
