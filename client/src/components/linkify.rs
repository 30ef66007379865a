//! Splits a message body into text and http(s) links. Pure, so it is tested
//! natively; the component renders each piece as a DOM node (text node or
//! `<a>` with the URL as an attribute), never as HTML.

#[derive(Debug, Clone, PartialEq)]
pub enum Piece<'a> {
    Text(&'a str),
    /// An `http://` or `https://` URL, exactly as written.
    Link(&'a str),
}

/// Characters that end a URL when they come last (sentence punctuation).
const TRAILING: &[char] = &['.', ',', ';', ':', '!', '?', '\'', '"'];

/// The body in order; links are only `http://` and `https://` URLs with
/// something after the scheme (so `javascript:`, `data:` and friends stay
/// text). A URL ends at whitespace, at `<`, `>` or `"`, and does not take
/// trailing punctuation or an unbalanced closing bracket.
pub fn pieces(body: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut text_from = 0;
    let mut i = 0;
    while i < body.len() {
        let rest = &body[i..];
        let scheme = if starts_with_ignore_case(rest, "https://") {
            8
        } else if starts_with_ignore_case(rest, "http://") {
            7
        } else {
            0
        };
        // A scheme glued to a word ("xhttp://") is not a link.
        let at_boundary = body[..i].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        if scheme > 0 && at_boundary {
            let len = url_len(rest);
            if len > scheme {
                if text_from < i {
                    out.push(Piece::Text(&body[text_from..i]));
                }
                out.push(Piece::Link(&rest[..len]));
                i += len;
                text_from = i;
                continue;
            }
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    if text_from < body.len() {
        out.push(Piece::Text(&body[text_from..]));
    }
    out
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// How many bytes of `s` (starting with a scheme) are the URL.
fn url_len(s: &str) -> usize {
    let mut end =
        s.find(|c: char| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"')).unwrap_or(s.len());
    loop {
        let url = &s[..end];
        let Some(last) = url.chars().next_back() else { return 0 };
        let unbalanced =
            |open: char, close: char| last == close && url.matches(close).count() > url.matches(open).count();
        if TRAILING.contains(&last) || unbalanced('(', ')') || unbalanced('[', ']') {
            end -= last.len_utf8();
        } else {
            return end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{pieces, Piece::*};

    #[test]
    fn urls_become_links_and_the_rest_stays_text() {
        assert_eq!(
            pieces("see https://example.org/a?b=1#c now"),
            vec![Text("see "), Link("https://example.org/a?b=1#c"), Text(" now")]
        );
        assert_eq!(pieces("http://a.b"), vec![Link("http://a.b")]);
        assert_eq!(pieces("HTTPS://X.org"), vec![Link("HTTPS://X.org")]);
        assert_eq!(
            pieces("two: http://a.b and https://c.d/e"),
            vec![Text("two: "), Link("http://a.b"), Text(" and "), Link("https://c.d/e")]
        );
    }

    #[test]
    fn only_http_and_https_are_links() {
        for body in ["javascript:alert(1)", "JaVaScRiPt://x", "data:text/html,<b>x</b>", "ftp://x.org", "file:///etc"] {
            assert!(pieces(body).iter().all(|p| matches!(p, Text(_))), "{body}");
        }
        // A scheme with nothing after it, or glued to a word, is text.
        assert_eq!(pieces("http:// x"), vec![Text("http:// x")]);
        assert_eq!(pieces("xhttp://a.b"), vec![Text("xhttp://a.b")]);
    }

    #[test]
    fn html_cannot_ride_along_in_a_link() {
        let p = pieces("https://a.b/<img src=x onerror=alert(1)>");
        assert_eq!(p, vec![Link("https://a.b/"), Text("<img src=x onerror=alert(1)>")]);
        let p = pieces("https://a.b/\"onmouseover=\"x");
        assert_eq!(p[0], Link("https://a.b/"));
    }

    #[test]
    fn trailing_punctuation_and_brackets_are_not_part_of_the_link() {
        assert_eq!(pieces("go to https://a.b/c."), vec![Text("go to "), Link("https://a.b/c"), Text(".")]);
        assert_eq!(pieces("(https://a.b/c)"), vec![Text("("), Link("https://a.b/c"), Text(")")]);
        assert_eq!(
            pieces("https://en.wikipedia.org/wiki/Rust_(language)"),
            vec![Link("https://en.wikipedia.org/wiki/Rust_(language)")]
        );
    }

    #[test]
    fn the_text_comes_back_whole() {
        for body in ["", "plain", "ünï https://ü.example/ä?ö done", "https://a.b\nhttp://c.d!", "http://"] {
            let joined: String = pieces(body)
                .iter()
                .map(|p| match p {
                    Text(t) | Link(t) => *t,
                })
                .collect();
            assert_eq!(joined, body);
        }
    }
}
