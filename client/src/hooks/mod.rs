pub mod use_chat;
