//! Side effects: the socket and the browser's storage. Nothing here renders.

pub mod config;
pub mod socket;
pub mod storage;
