//! A terminal chat client on the same [`client_core`] as the web app:
//! follows the room or one direct conversation, prints its messages (and
//! their edits, deletions and reactions), sends each stdin line, resumes
//! after a dropped connection from its cursor (no duplicates, no gaps) and
//! exits on end of input once its sends are acked and its changes answered.
//!
//! A line starting with `/` is a command ([`command`]): `/edit ID TEXT`,
//! `/delete ID`, `/react ID EMOJI`, `/unreact ID EMOJI`; `//…` sends the
//! line from its second `/`.
//!
//! This file is the driver: a tokio-tungstenite socket, one timer, stdin
//! and stdout. Every decision is the core's.

mod args;
mod socket;

pub use args::{Args, Target};

use client_core::{ClientCore, Command, Effect, Event, Input, Moment};
use protocol::{Change, ChatMessage, Conversation, ServerMsg, Update, UserId};
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server refused us for good (bad token, guests disabled, ...).
    #[error("signed out: {0}")]
    SignedOut(String),
    /// Reading stdin or writing stdout failed.
    #[error("terminal: {0}")]
    Io(#[from] std::io::Error),
}

fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// A random number in 0..=1 for the backoff's jitter (std's per-process
/// random hash keys; no cryptographic use).
fn random() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

fn moment() -> Moment {
    Moment { now_ms: now_ms(), random: random() }
}

/// Runs the client until end of input (after its sends are acked), or
/// until the server refuses it for good.
pub async fn run(args: Args, input: impl AsyncRead + Unpin, output: impl AsyncWrite + Unpin) -> Result<(), CliError> {
    let auth = args.auth();
    let target = args.to.clone();
    let prefix = format!("cli{:x}", (random() * 1e12) as u64);
    let (reports, mut reported) = mpsc::unbounded_channel::<socket::Report>();
    let mut driver = Driver {
        core: ClientCore::new(auth, prefix),
        url: args.url.clone(),
        reports,
        socket: None,
        generation: 0,
        wake_at: None,
        target,
        me: None,
        name: None,
        output,
        printed: Vec::new(),
        shown: std::collections::HashSet::new(),
        unacked: std::collections::HashMap::new(),
        end: None,
    };
    let mut lines = BufReader::new(input).lines();
    let mut input_done = false;
    driver.feed(Input::Start).await?;
    loop {
        if let Some(end) = driver.end.take() {
            return end;
        }
        let settled = driver.core.unacked() == 0 && driver.core.unanswered_changes() == 0;
        if input_done && settled && driver.core.is_online() {
            driver.feed(Input::Command(Command::SignOut)).await?;
            return Ok(());
        }
        let wake = driver.wake_at;
        tokio::select! {
            line = lines.next_line(), if !input_done => match line? {
                Some(line) if line.trim().is_empty() => {}
                Some(line) => match command(&line, driver.target.conversation()) {
                    Ok(command) => driver.feed(Input::Command(command)).await?,
                    Err(usage) => {
                        driver.printed.push(format!("! {usage}"));
                        driver.feed(Input::Tick).await?;
                    }
                },
                None => input_done = true,
            },
            Some((generation, input)) = reported.recv() => {
                if generation == driver.generation {
                    driver.feed(input).await?;
                }
            }
            _ = sleep_until(wake), if wake.is_some() => {
                driver.wake_at = None;
                driver.feed(Input::Tick).await?;
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

struct Driver<W> {
    core: ClientCore,
    url: String,
    reports: mpsc::UnboundedSender<socket::Report>,
    socket: Option<mpsc::UnboundedSender<protocol::ClientMsg>>,
    generation: u64,
    wake_at: Option<Instant>,
    target: Target,
    me: Option<UserId>,
    name: Option<String>,
    output: W,
    /// Lines printed but not yet written (effects are performed in order,
    /// the writes after them).
    printed: Vec<String>,
    /// Our own sends by client id, printed when acked (the server does not
    /// echo them back).
    unacked: std::collections::HashMap<protocol::ClientMsgId, (Conversation, String)>,
    /// Ids already printed. Our own message can come twice: replayed after a
    /// reconnect (it was stored, but its ack was lost with the link), then
    /// acked again as a duplicate of the resend.
    shown: std::collections::HashSet<protocol::MessageId>,
    end: Option<Result<(), CliError>>,
}

impl<W: AsyncWrite + Unpin> Driver<W> {
    async fn feed(&mut self, input: Input) -> Result<(), CliError> {
        let mut inputs = vec![input];
        while let Some(input) = inputs.pop() {
            for effect in self.core.handle(input, moment()) {
                if let Some(answer) = self.perform(effect) {
                    inputs.push(answer);
                }
            }
        }
        for line in self.printed.drain(..) {
            self.output.write_all(line.as_bytes()).await?;
            self.output.write_all(b"\n").await?;
        }
        self.output.flush().await?;
        Ok(())
    }

    fn perform(&mut self, effect: Effect) -> Option<Input> {
        match effect {
            Effect::Connect => {
                self.generation += 1;
                let (frames, outgoing) = mpsc::unbounded_channel();
                self.socket = Some(frames);
                tokio::spawn(socket::run(self.url.clone(), self.generation, self.reports.clone(), outgoing));
            }
            Effect::Send(msg) => {
                if let Some(socket) = &self.socket {
                    let _ = socket.send(msg);
                }
            }
            Effect::CloseSocket => self.socket = None,
            Effect::WakeAfter(ms) => {
                self.wake_at = Some(Instant::now() + std::time::Duration::from_millis(ms.ceil() as u64))
            }
            // The terminal client keeps nothing between runs.
            Effect::SaveSession { .. } | Effect::ForgetSession | Effect::SaveOutbox { .. } => {}
            Effect::LoadOutbox { .. } => return Some(Input::OutboxLoaded(Vec::new())),
            Effect::Ui(event) => self.show(event),
            Effect::Stop => {
                self.socket = None;
                self.end.get_or_insert(Ok(()));
            }
        }
        None
    }

    fn show(&mut self, event: Event) {
        match event {
            Event::Welcome { welcome, .. } => {
                tracing::info!(user = %welcome.me.id, project = %welcome.project, "signed in");
                self.printed.push(format!("* signed in as {} ({})", welcome.me.name, welcome.me.id));
                self.name = Some(welcome.me.name);
                self.me = Some(welcome.me.id);
            }
            Event::Reconnecting { at_ms } => {
                tracing::info!(in_ms = (at_ms - now_ms()).max(0.0) as u64, "connection lost; reconnecting");
            }
            Event::Message { message, .. } => self.print_message(&message),
            Event::Update { update, .. } => self.print_update(&update),
            Event::Queued { client_id, to, body, .. } => {
                self.unacked.insert(client_id, (to, body));
            }
            Event::Acked { client_id, id, .. } => {
                if let Some((to, body)) = self.unacked.remove(&client_id) {
                    if to == self.target.conversation() && self.shown.insert(id) {
                        let name = self.name.clone().unwrap_or_default();
                        self.printed.push(format!("#{id} {name}: {body}"));
                    }
                }
            }
            Event::Server(ServerMsg::Presence { user, online }) => {
                tracing::info!(user = %user.name, online, "presence");
            }
            Event::SendFailed { client_id, reason } => {
                self.printed.push(format!("! not sent ({client_id}): {reason}"));
            }
            Event::Notice(text) => self.printed.push(format!("! {text}")),
            Event::SignedOut { reason, code } => {
                self.end = Some(Err(CliError::SignedOut(format!("{reason} ({code})"))));
            }
            _ => {}
        }
    }

    fn print_message(&mut self, message: &ChatMessage) {
        let Some(me) = &self.me else { return };
        if message.conversation_for(me) == self.target.conversation() && self.shown.insert(message.id) {
            self.printed.push(format!("#{} {}: {}", message.id, message.from.name, message.body));
        }
    }
}

impl<W: AsyncWrite + Unpin> Driver<W> {
    /// An edit, deletion or reaction change of a message of this
    /// conversation, once (an update has its own id in the log).
    fn print_update(&mut self, update: &Update) {
        let Some(me) = &self.me else { return };
        if update.conversation_for(me) != self.target.conversation() || !self.shown.insert(update.id) {
            return;
        }
        let target = update.target;
        self.printed.push(match &update.change {
            Change::Edited { body, .. } => format!("* #{target} edited: {body}"),
            Change::Deleted => format!("* #{target} deleted"),
            Change::Reactions { reactions } if reactions.is_empty() => format!("* #{target} reactions: none"),
            Change::Reactions { reactions } => {
                let counts: Vec<String> = reactions.iter().map(|r| format!("{} {}", r.emoji, r.users.len())).collect();
                format!("* #{target} reactions: {}", counts.join(" "))
            }
        });
    }
}

/// What a line of input asks for: a message, or a `/` command.
pub fn command(line: &str, to: Conversation) -> Result<Command, String> {
    let Some(rest) = line.strip_prefix('/') else { return Ok(Command::send(to, line.to_owned())) };
    if rest.starts_with('/') {
        return Ok(Command::send(to, rest.to_owned()));
    }
    let mut words = rest.splitn(3, ' ');
    let (name, id, arg) = (words.next().unwrap_or(""), words.next(), words.next().map(str::trim));
    let id = id.and_then(|id| id.trim_start_matches('#').parse::<u64>().ok()).map(protocol::MessageId);
    match (name, id, arg) {
        ("edit", Some(id), Some(body)) if !body.is_empty() => Ok(Command::Edit { id, body: body.to_owned() }),
        ("delete", Some(id), None) => Ok(Command::Delete { id }),
        ("react" | "unreact", Some(id), Some(emoji)) if !emoji.is_empty() => {
            Ok(Command::React { id, emoji: emoji.to_owned(), on: name == "react" })
        }
        _ => Err(
            "commands: /edit ID TEXT, /delete ID, /react ID EMOJI, /unreact ID EMOJI (// sends a line starting with /)"
                .to_owned(),
        ),
    }
}

impl Target {
    pub fn conversation(&self) -> Conversation {
        match self {
            Target::Room => Conversation::Room,
            Target::User(user) => Conversation::Direct { user: user.clone() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Auth, ClientMsgId, MessageId, Profile};

    fn driver() -> Driver<Vec<u8>> {
        let (reports, _) = mpsc::unbounded_channel();
        Driver {
            core: ClientCore::new(Auth::Token { token: "t".into(), project: None }, "test"),
            url: String::new(),
            reports,
            socket: None,
            generation: 0,
            wake_at: None,
            target: Target::Room,
            me: Some(UserId::new("me").unwrap()),
            name: Some("Me".into()),
            output: Vec::new(),
            printed: Vec::new(),
            shown: std::collections::HashSet::new(),
            unacked: std::collections::HashMap::new(),
            end: None,
        }
    }

    #[test]
    fn a_line_is_a_message_or_a_command_and_a_bad_command_says_how() {
        let room = || Conversation::Room;
        let body = |c: Command| match c {
            Command::Send { body, .. } => body,
            other => panic!("{other:?}"),
        };
        assert_eq!(body(command("hello", room()).unwrap()), "hello");
        assert_eq!(body(command("//etc/hosts", room()).unwrap()), "/etc/hosts");
        assert!(matches!(
            command("/edit #7 fixed it", room()),
            Ok(Command::Edit { id: MessageId(7), body }) if body == "fixed it"
        ));
        assert!(matches!(command("/delete 7", room()), Ok(Command::Delete { id: MessageId(7) })));
        assert!(matches!(command("/unreact 7 👍", room()), Ok(Command::React { on: false, .. })));
        for bad in ["/edit 7", "/edit x text", "/delete", "/delete 7 now", "/react 7", "/", "/shout hi"] {
            assert!(command(bad, room()).unwrap_err().starts_with("commands:"), "{bad}");
        }
    }

    /// The link dropped after our message was stored but before its ack:
    /// the resume replays it, and the resend is acked as its duplicate.
    #[test]
    fn our_message_replayed_then_acked_again_is_printed_once() {
        let mut d = driver();
        let client_id = ClientMsgId::new("test-1").unwrap();
        d.show(Event::Queued {
            client_id: client_id.clone(),
            to: Conversation::Room,
            body: "hi".into(),
            reply_to: None,
            mentions: vec![],
        });
        let me = Profile { id: UserId::new("me").unwrap(), name: "Me".into(), color: "#000000".into() };
        let stored = ChatMessage {
            client_id: Some(client_id.clone()),
            ..ChatMessage::plain(MessageId(5), 0, me, Conversation::Room, "hi".into())
        };
        d.show(Event::Message { message: stored, replayed: true });
        d.show(Event::Acked { client_id, id: MessageId(5), ts: 0 });
        assert_eq!(d.printed, ["#5 Me: hi"]);
    }
}
