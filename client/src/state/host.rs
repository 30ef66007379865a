//! What the host application changes about people (the server's
//! `user_updated` and `user_erased`): a new name or colour shows everywhere
//! the user appears; an erased user's messages disappear from every
//! conversation. (PROTOCOL.md: a client that was away gets `user_erased`
//! at the start of its resume; after a reload, history no longer has them.)

use super::State;
use protocol::{Conversation, Profile, UserId};

impl State {
    pub(super) fn user_updated(&mut self, user: Profile) {
        if self.me.as_ref().is_some_and(|me| me.id == user.id) {
            self.me = Some(user.clone());
        }
        if let Some(online) = self.online.get_mut(&user.id) {
            *online = user.clone();
        }
        for conversation in self.conversations.values_mut() {
            conversation.entries.update_where(|e| e.from.id == user.id, |e| e.from = user.clone());
        }
        self.people.insert(user.id.clone(), user);
    }

    pub(super) fn user_erased(&mut self, user: &UserId) {
        for conversation in self.conversations.values_mut() {
            conversation.entries.retain(|e| e.from.id != *user);
        }
        // What they sent is gone, so nothing of theirs is unread.
        if let Some(direct) = self.conversations.get_mut(&Conversation::Direct { user: user.clone() }) {
            direct.unread = 0;
        }
        self.online.remove(user);
        self.people.remove(user);
        self.remembered.remove(user);
        self.typing.retain(|(who, _), _| who != user);
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{dm, msg, profile, run, uid, welcome};
    use super::super::*;

    #[test]
    fn a_new_profile_shows_in_the_online_list_on_old_messages_and_as_me() {
        let s = run(vec![
            Action::Welcome { welcome: welcome("me", &["me", "b"]), resumed: false },
            Action::Message(msg(1, "b", Conversation::Room)),
            Action::UserUpdated(Profile { name: "Robert".into(), ..profile("b") }),
            Action::UserUpdated(Profile { name: "Myself".into(), ..profile("me") }),
        ]);
        assert_eq!(s.online[&uid("b")].name, "Robert");
        assert_eq!(s.people[&uid("b")].name, "Robert");
        assert_eq!(s.conversation(&Conversation::Room).unwrap().entries[0].from.name, "Robert");
        assert_eq!(s.me.as_ref().unwrap().name, "Myself");
    }

    #[test]
    fn an_erased_user_disappears_with_their_messages_and_ours_stay() {
        let s = run(vec![
            Action::Welcome { welcome: welcome("me", &["me", "e"]), resumed: false },
            Action::Message(msg(1, "e", Conversation::Room)),
            Action::Message(msg(2, "me", Conversation::Room)),
            Action::Message(msg(3, "e", dm("me"))),
            Action::Message(msg(4, "me", dm("e"))),
            Action::UserErased(uid("e")),
        ]);
        let ids = |c: &Conversation| s.conversation(c).unwrap().entries.iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(&Conversation::Room), [Some(MessageId(2))]);
        assert_eq!(ids(&dm("e")), [Some(MessageId(4))], "what we sent them stays ours");
        assert_eq!(s.conversation(&dm("e")).unwrap().unread, 0);
        assert!(!s.online.contains_key(&uid("e")) && !s.people.contains_key(&uid("e")));
    }
}
