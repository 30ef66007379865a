//! Hooks own every effect: the socket, storage and timers. Components call
//! them and render what they return.

pub mod use_chat;
pub mod use_compose;
pub mod use_embed;
pub mod use_notifications;
pub mod use_now;
pub mod use_page_visible;
pub mod use_shortcuts;
pub mod use_typing;
