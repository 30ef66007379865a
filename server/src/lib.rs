//! The chat server: routes messages between authenticated WebSocket clients,
//! stores them, and serves the web client.
//!
//! `main.rs` only parses arguments, sets up logging and binds; everything
//! else starts at [`run`], which takes a bound listener and a shutdown
//! future so tests can run a real server on port 0.

pub mod addressees;
pub mod app;
pub mod auth;
pub mod bus;
pub mod config;
pub mod hub;
pub mod metrics;
pub mod outbox;
pub mod ratelimit;
pub mod retention;
pub mod routes;
pub mod sequencer;
pub mod server;
pub mod session;
pub mod store;
pub mod trim;
pub mod upgrade;

pub use config::Config;
pub use server::{run, run_with_store, shutdown_signal, ServerError};
