//! Mentions in a message being written: the `@name` being typed (for the
//! completion list) and which people a finished body names. The body keeps
//! `@name` for people to read; `send.mentions` carries ids, since names
//! change and repeat. Plain string scanning: no regex engine in the wasm.

use protocol::UserId;

/// The longest name a completion query is looked up for (a name is at most
/// 32 characters; longer text after an `@` is not a mention being typed).
const MAX_QUERY_CHARS: usize = 32;

/// The `@…` being typed at the end of `before_caret` (the text up to the
/// caret), without its `@`: the `@` must start the text or follow white
/// space (so `ann@example.org` is not one), and the query has no space.
pub fn mention_query(before_caret: &str) -> Option<&str> {
    let at = before_caret.rfind('@')?;
    let query = &before_caret[at + 1..];
    let starts_word = before_caret[..at].chars().next_back().is_none_or(char::is_whitespace);
    (starts_word && !query.contains(char::is_whitespace) && query.chars().count() <= MAX_QUERY_CHARS).then_some(query)
}

/// `before_caret` with its `@query` replaced by `@name ` (what choosing
/// `name` from the completion list writes).
pub fn complete(before_caret: &str, name: &str) -> Option<String> {
    let query = mention_query(before_caret)?;
    let start = before_caret.len() - query.len();
    Some(format!("{}{name} ", &before_caret[..start]))
}

/// Whether a completion query matches a name: anywhere in it, ignoring case.
pub fn name_matches(name: &str, query: &str) -> bool {
    name.to_lowercase().contains(&query.to_lowercase())
}

/// The people `body` mentions, in order of first appearance, each once:
/// every `@` (at the start or after white space) followed by one of
/// `people`'s names and then a character that cannot continue a name. The
/// longest name wins (`@Ann Lee` over `@Ann`); for two equal names, the
/// first in `people` (put the ones chosen from the completion list first).
pub fn mentioned<'a>(body: &str, people: impl IntoIterator<Item = (&'a UserId, &'a str)> + Clone) -> Vec<UserId> {
    let mut found: Vec<UserId> = Vec::new();
    let mut prev: Option<char> = None;
    for (i, c) in body.char_indices() {
        if c == '@' && prev.is_none_or(char::is_whitespace) {
            let rest = &body[i + 1..];
            let best = people
                .clone()
                .into_iter()
                .filter(|(_, name)| !name.is_empty() && rest.starts_with(name))
                .filter(|(_, name)| rest[name.len()..].chars().next().is_none_or(|n| !n.is_alphanumeric()))
                .fold(None::<(&UserId, &str)>, |best, p| match best {
                    Some(b) if b.1.len() >= p.1.len() => Some(b),
                    _ => Some(p),
                });
            if let Some((id, _)) = best {
                if !found.contains(id) {
                    found.push(id.clone());
                }
            }
        }
        prev = Some(c);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid(s: &str) -> UserId {
        UserId::new(s).unwrap()
    }

    #[test]
    fn the_mention_being_typed_is_found_at_the_caret() {
        assert_eq!(mention_query("@"), Some(""));
        assert_eq!(mention_query("hi @an"), Some("an"));
        assert_eq!(mention_query("hi\n@Zoë"), Some("Zoë"));
        assert_eq!(mention_query("mail ann@example.org"), None, "inside a word");
        assert_eq!(mention_query("@ann lee"), None, "a space ends it");
        assert_eq!(mention_query("no at sign"), None);
        assert_eq!(mention_query(&format!("@{}", "x".repeat(40))), None);
    }

    #[test]
    fn choosing_a_name_completes_the_query_and_adds_a_space() {
        assert_eq!(complete("hi @an", "Ann Lee").as_deref(), Some("hi @Ann Lee "));
        assert_eq!(complete("@", "Bob").as_deref(), Some("@Bob "));
        assert_eq!(complete("hi", "Bob"), None);
        assert!(name_matches("Ann Lee", "LEE") && !name_matches("Bob", "ann"));
    }

    #[test]
    fn a_body_mentions_the_people_it_names_after_an_at_sign() {
        let (ann, annlee, bob) = (uid("1"), uid("2"), uid("3"));
        let people = [(&ann, "Ann"), (&annlee, "Ann Lee"), (&bob, "Bob")];
        assert_eq!(mentioned("@Ann Lee and @Bob, and @Bob again", people), [annlee.clone(), bob.clone()]);
        assert_eq!(mentioned("@Ann: hi", people), std::slice::from_ref(&ann));
        assert_eq!(mentioned("@Annie hi", people), Vec::<UserId>::new(), "a longer word is someone else");
        assert_eq!(mentioned("bob@Bob.org", people), Vec::<UserId>::new(), "not after a space");
        assert_eq!(mentioned("@bob", people), Vec::<UserId>::new(), "names are matched as written");
        assert_eq!(mentioned("Café @Bob", people), [bob], "multi-byte text before it");
    }

    #[test]
    fn of_two_people_with_one_name_the_first_listed_wins() {
        let (a, b) = (uid("a"), uid("b"));
        assert_eq!(mentioned("@Sam", [(&b, "Sam"), (&a, "Sam")]), [b]);
    }
}
