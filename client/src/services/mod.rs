//! Side effects: the socket, the browser's storage and the tab's icon.
//! Nothing here renders.

pub mod config;
pub mod favicon;
pub mod socket;
pub mod storage;
