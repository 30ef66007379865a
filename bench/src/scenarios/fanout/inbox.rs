//! What one fan-out receiver checks: that it got every message of a step
//! from every other sender exactly once, and how late.
//!
//! A body names its sender and a sequence number per sender, so a loss and
//! a duplicate cannot cancel out as they would in a count. Both servers
//! relay a connection's messages in the order it sent them (the chat server
//! orders by message id; the references relay each connection's frames in
//! turn over one TCP stream), so a receiver expects each sender's sequence
//! numbers in order: one above the next expected means those in between
//! were lost, one below means a duplicate. (A reordering, which neither
//! server may do, shows as a loss and a duplicate.)

use crate::scenarios::Latencies;

/// What a message body starts with: `{since} {sender} {seq}`. Anything
/// after (the references' padding) is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    /// The [`stamp`](crate::conn::stamp) latency is measured from: the
    /// earlier of when the message was due to be sent and when it was (see
    /// `fanout::step`).
    pub since: u64,
    /// The sender's connection index.
    pub sender: usize,
    /// Counts up from 0 per sender over the whole ladder.
    pub seq: u64,
}

impl Tag {
    pub fn body(self) -> String {
        format!("{} {} {}", self.since, self.sender, self.seq)
    }

    pub fn parse(body: &str) -> Option<Tag> {
        let mut words = body.split(' ');
        let mut next = || words.next()?.parse::<u64>().ok();
        Some(Tag { since: next()?, sender: usize::try_from(next()?).ok()?, seq: next()? })
    }
}

/// A step's figures, for one receiver or merged over all of them.
#[derive(Default)]
pub struct Tally {
    /// Messages received for the first time.
    pub delivered: u64,
    /// Messages never received (counted when the step closes).
    pub lost: u64,
    /// Messages received again.
    pub duplicates: u64,
    /// Bodies no sender of this run wrote to this receiver: unreadable, or
    /// from an unknown sender.
    pub unexpected: u64,
    /// The receiver's own messages sent back to it. One node never does;
    /// on several, a message its node read from the store (a gap fill)
    /// before its own sequencer handed it over goes to every connection,
    /// the sender's too. Counted apart: a client meets its own messages on
    /// every resume anyway, and `client_id` matches them.
    pub echoes: u64,
    /// [`stamp`](crate::conn::stamp) of the latest first delivery.
    pub last_stamp: u64,
    /// Of first deliveries, from the time each was due (see [`Tag::since`]).
    pub latencies: Latencies,
    /// The same, split by whether the sender's connection is on the
    /// receiver's node or another one (with clients spread over nodes).
    pub local: Latencies,
    pub cross: Latencies,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.delivered += other.delivered;
        self.lost += other.lost;
        self.duplicates += other.duplicates;
        self.unexpected += other.unexpected;
        self.echoes += other.echoes;
        self.last_stamp = self.last_stamp.max(other.last_stamp);
        self.latencies.merge(&other.latencies);
        self.local.merge(&other.local);
        self.cross.merge(&other.cross);
    }
}

/// One receiver's record. Each receiver task owns one (behind a lock that
/// only it takes, but for the step's end), so receivers never contend.
pub struct Inbox {
    /// This receiver's connection index: it gets no messages of its own.
    me: usize,
    /// Servers the connections are spread over: connection `i` is on
    /// server `i % nodes`.
    nodes: usize,
    /// Per sender: the sequence number expected next.
    next: Vec<u64>,
    step: Tally,
    /// Over the whole run, message frames and their bytes (the mean frame
    /// length the references pad to).
    pub frames: u64,
    pub bytes: u64,
}

impl Inbox {
    pub fn new(me: usize, senders: usize, nodes: usize) -> Self {
        Self { me, nodes: nodes.max(1), next: vec![0; senders], step: Tally::default(), frames: 0, bytes: 0 }
    }

    /// A message `body`, in a frame of `frame_len` bytes, received at `now`
    /// (a [`stamp`](crate::conn::stamp)).
    pub fn receive(&mut self, body: &str, frame_len: usize, now: u64) {
        let Some(tag) = Tag::parse(body) else {
            self.step.unexpected += 1;
            return;
        };
        if tag.sender == self.me {
            self.step.echoes += 1;
            return;
        }
        let Some(next) = self.next.get_mut(tag.sender) else {
            self.step.unexpected += 1;
            return;
        };
        if tag.seq < *next {
            self.step.duplicates += 1;
            return;
        }
        self.step.lost += tag.seq - *next;
        *next = tag.seq + 1;
        self.step.delivered += 1;
        self.step.last_stamp = self.step.last_stamp.max(now);
        let us = now.saturating_sub(tag.since) / 1000;
        self.step.latencies.record(us);
        if tag.sender % self.nodes == self.me % self.nodes {
            self.step.local.record(us);
        } else {
            self.step.cross.record(us);
        }
        self.frames += 1;
        self.bytes += frame_len as u64;
    }

    /// First deliveries in the step so far.
    pub fn delivered(&self) -> u64 {
        self.step.delivered
    }

    /// Ends a step in which `senders` each sent sequence numbers up to
    /// `end` (exclusive): what has not arrived is lost. Returns the step's
    /// tally and starts the next step's, which begins at `end`.
    pub fn close_step(&mut self, senders: &[usize], end: u64) -> Tally {
        for &s in senders.iter().filter(|&&s| s != self.me) {
            if let Some(next) = self.next.get_mut(s) {
                self.step.lost += end.saturating_sub(*next);
            }
        }
        for next in &mut self.next {
            *next = (*next).max(end);
        }
        std::mem::take(&mut self.step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(sender: usize, seq: u64) -> String {
        Tag { since: 1_000, sender, seq }.body()
    }

    #[test]
    fn a_body_round_trips_with_padding() {
        let tag = Tag { since: 123_456_789, sender: 7, seq: 42 };
        assert_eq!(Tag::parse(&format!("{} xxxx", tag.body())), Some(tag));
        assert_eq!(Tag::parse("123 7"), None);
        assert_eq!(Tag::parse("not a body"), None);
    }

    #[test]
    fn every_message_once_is_a_clean_step() {
        let mut inbox = Inbox::new(2, 2, 1);
        for seq in 0..3 {
            inbox.receive(&body(0, seq), 10, 2_000);
            inbox.receive(&body(1, seq), 10, 2_000);
        }
        let t = inbox.close_step(&[0, 1], 3);
        assert_eq!((t.delivered, t.lost, t.duplicates, t.unexpected), (6, 0, 0, 0));
        assert_eq!(t.latencies.summary().max_ms, 0.001);
        assert_eq!((inbox.frames, inbox.bytes), (6, 60));
    }

    #[test]
    fn a_loss_and_a_duplicate_do_not_cancel_out() {
        let mut inbox = Inbox::new(5, 2, 1);
        for seq in [0, 0, 2] {
            inbox.receive(&body(0, seq), 10, 2_000);
        }
        // Sender 1's last message never comes either.
        inbox.receive(&body(1, 0), 10, 2_000);
        inbox.receive(&body(1, 1), 10, 2_000);
        let t = inbox.close_step(&[0, 1], 3);
        assert_eq!((t.delivered, t.lost, t.duplicates), (4, 2, 1));
    }

    #[test]
    fn the_next_step_starts_where_the_last_ended() {
        let mut inbox = Inbox::new(0, 2, 1);
        inbox.receive(&body(1, 0), 10, 2_000);
        let first = inbox.close_step(&[0, 1], 1);
        assert_eq!((first.delivered, first.lost), (1, 0));
        inbox.receive(&body(1, 0), 10, 2_000); // a late copy
        inbox.receive(&body(1, 1), 10, 2_000);
        let second = inbox.close_step(&[0, 1], 3);
        assert_eq!((second.delivered, second.lost, second.duplicates), (1, 1, 1));
    }

    #[test]
    fn latencies_are_split_by_the_sender_s_node() {
        // Three nodes: receiver 4 is on node 1, like sender 1; sender 0 is on node 0.
        let mut inbox = Inbox::new(4, 2, 3);
        inbox.receive(&body(0, 0), 10, 3_000);
        inbox.receive(&body(1, 0), 10, 2_000);
        let t = inbox.close_step(&[0, 1], 1);
        assert_eq!(t.local.summary().max_ms, 0.001);
        assert_eq!(t.cross.summary().max_ms, 0.002);
        assert_eq!(t.latencies.summary().max_ms, 0.002);
    }

    #[test]
    fn unknown_senders_are_unexpected_and_its_own_an_echo() {
        let mut inbox = Inbox::new(0, 2, 1);
        inbox.receive(&body(0, 0), 10, 2_000);
        inbox.receive(&body(9, 0), 10, 2_000);
        inbox.receive("garbage", 10, 2_000);
        let t = inbox.close_step(&[0], 1);
        assert_eq!((t.delivered, t.lost, t.unexpected, t.echoes), (0, 0, 2, 1));
    }
}
