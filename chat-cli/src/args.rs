//! Command-line flags (each also an environment variable).

use clap::Parser;
use protocol::{Auth, ProjectId, UserId};
use std::str::FromStr;

#[derive(Debug, Clone, Parser)]
#[command(name = "chat-cli", about = "Follow a chat conversation in the terminal; each stdin line is sent")]
#[command(group(clap::ArgGroup::new("identity").required(true).args(["token", "guest"])))]
pub struct Args {
    /// The server's WebSocket address.
    #[arg(long, env = "CHAT_URL", default_value = "ws://127.0.0.1:8080/ws")]
    pub url: String,
    /// Sign in with a token from the host application (or a session token).
    #[arg(long, env = "CHAT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Sign in as a guest with this display name.
    #[arg(long, env = "CHAT_GUEST")]
    pub guest: Option<String>,
    /// The guest's colour (`#rrggbb`).
    #[arg(long, env = "CHAT_COLOR", default_value = "#3366cc")]
    pub color: String,
    /// The project: required for a guest; for a token, checked against it.
    #[arg(long, env = "CHAT_PROJECT", value_parser = parse_project)]
    pub project: Option<ProjectId>,
    /// The conversation to follow and send to: `room`, or `user:ID` for a
    /// direct conversation.
    #[arg(long, env = "CHAT_TO", default_value = "room")]
    pub to: Target,
}

fn parse_project(s: &str) -> Result<ProjectId, String> {
    ProjectId::new(s).map_err(|e| e.to_string())
}

impl Args {
    pub fn auth(&self) -> Auth {
        match (&self.token, &self.guest) {
            (Some(token), _) => Auth::Token { token: token.clone(), project: self.project.clone() },
            (None, name) => Auth::Guest {
                name: name.clone().unwrap_or_default(),
                color: self.color.clone(),
                project: self.project.clone().unwrap_or_else(|| ProjectId::new("lobby").expect("a valid id")),
            },
        }
    }
}

/// Which conversation the client follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Room,
    User(UserId),
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "room" => Ok(Target::Room),
            Some(("user", id)) => UserId::new(id).map(Target::User).map_err(|e| format!("user id: {e}")),
            _ => Err(format!("`{s}`: expected `room` or `user:ID`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_bad_ones_say_why() {
        assert_eq!("room".parse::<Target>(), Ok(Target::Room));
        assert_eq!("user:g-1".parse::<Target>(), Ok(Target::User(UserId::new("g-1").unwrap())));
        assert!("user:".parse::<Target>().unwrap_err().contains("user id"));
        assert!("lobby".parse::<Target>().unwrap_err().contains("expected"));
    }

    #[test]
    fn a_token_or_a_guest_is_required() {
        assert!(Args::try_parse_from(["chat-cli"]).is_err());
        let a = Args::try_parse_from(["chat-cli", "--guest", "Ann", "--project", "p"]).unwrap();
        assert!(matches!(a.auth(), Auth::Guest { name, .. } if name == "Ann"));
        let t = Args::try_parse_from(["chat-cli", "--token", "abc"]).unwrap();
        assert_eq!(t.auth(), Auth::Token { token: "abc".into(), project: None });
    }
}
