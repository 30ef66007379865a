//! The chat wire contract, shared by the server and the WebAssembly client.
//!
//! Architecture invariant: this crate knows nothing about tokio, warp, or the
//! DOM. It is plain data (serde types), validation and constants, so it
//! compiles for `wasm32-unknown-unknown` and for native tools alike.

pub mod close;
mod frame;
pub mod ids;
pub mod limits;
pub mod messages;
pub mod parse;
pub mod session;
pub mod validate;

pub use close::CloseCode;
pub use ids::{ClientMsgId, IdError, MessageId, ProjectId, UserId};
pub use limits::Limits;
pub use messages::*;
pub use parse::ParseError;

/// The protocol version this crate speaks. A `hello` carrying another
/// version is refused with [`CloseCode::UnsupportedVersion`].
pub const PROTOCOL_VERSION: u32 = 1;
