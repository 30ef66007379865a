//! One component per file. They render state and call back; none of them
//! touches the socket.

pub mod chat_screen;
pub mod composer;
pub mod join_form;
pub mod message_list;
pub mod sidebar;
pub mod status_banner;
