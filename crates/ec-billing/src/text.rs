//! Text a server controls (error codes and messages, names, SKUs, CSV cells), made safe
//! to print: control characters escaped, length capped; and URLs made safe to print:
//! without the userinfo, query and fragment where secrets travel. The client's key is
//! redacted from server text where errors are built (see `ApiKey::redact`).

use std::fmt;

/// The most characters of server text an error's `Display` quotes.
pub(crate) const QUOTED_CHARS: usize = 200;

/// Text for a terminal or a one-line message: control characters (newlines, escape
/// sequences, C1 controls) and invisible direction overrides are written as escapes
/// (`\n`, `\u{1b}`), so that the text stays on one line and cannot repaint the screen;
/// with [`truncate`](Self::truncate), at most that many characters then `…`.
///
/// Made by [`escape`]. Everything else prints as it is.
///
/// ```
/// let name = "evil\u{1b}[2J\nname";
/// assert_eq!(ec_billing::text::escape(name).to_string(), r"evil\u{1b}[2J\nname");
/// assert_eq!(ec_billing::text::escape("abcdef").truncate(3).to_string(), "abc…");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Escaped<'a> {
    text: &'a str,
    max_chars: Option<usize>,
}

/// `text` made safe to print on a terminal line; see [`Escaped`].
pub fn escape(text: &str) -> Escaped<'_> {
    Escaped {
        text,
        max_chars: None,
    }
}

impl Escaped<'_> {
    /// At most `max_chars` characters of the text (escapes count as one), then `…`.
    pub fn truncate(mut self, max_chars: usize) -> Self {
        self.max_chars = Some(max_chars);
        self
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let limit = self.max_chars.unwrap_or(usize::MAX);
        for (count, c) in self.text.chars().enumerate() {
            if count == limit {
                return f.write_str("…");
            }
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if needs_escape(c) => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

/// Control characters, and the invisible characters that reorder or break lines.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
                | '\u{2028}' | '\u{2029}' | '\u{FEFF}'
        )
}

/// `text` escaped and cut to [`QUOTED_CHARS`], as an owned string: for a message built
/// now and printed later.
pub(crate) fn quoted(text: &str) -> String {
    escape(text).truncate(QUOTED_CHARS).to_string()
}

/// A URL as it may be printed: without its userinfo (`user:password@`), its query
/// (`?token=...`) and its fragment, where secrets travel; control characters escaped,
/// at most 200 characters. Made by [`redact_url`].
///
/// `Debug` prints the same, quoted: a type that holds a URL can show it through this.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RedactedUrl<'a> {
    url: &'a str,
}

/// `url` as it may be printed in a log line, an error or a warning: the scheme, host,
/// port and path, never the userinfo, query or fragment, whether or not it parses as a
/// URL; see [`RedactedUrl`].
///
/// ```
/// let url = "https://user:hunter2@proxy.example/api/v1?token=s3cret#frag";
/// assert_eq!(ec_billing::text::redact_url(url).to_string(), "https://proxy.example/api/v1");
/// assert_eq!(ec_billing::text::redact_url("not a url?key=1").to_string(), "not a url");
/// ```
pub fn redact_url(url: &str) -> RedactedUrl<'_> {
    RedactedUrl { url }
}

impl<'a> RedactedUrl<'a> {
    /// The text that may be shown, before escaping: the scheme and the slashes after
    /// it (when there are slashes), then the rest with everything up to its last `@`
    /// taken out (a password may hold a `/`, a `?` or a `#`, so neither the authority's
    /// end nor the query's start is trusted before it), up to the first `?` or `#`.
    fn parts(&self) -> (&'a str, &'a str) {
        let url = self.url;
        let scheme_end = url
            .find(':')
            .filter(|&colon| {
                let scheme = &url[..colon];
                scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            })
            .map_or(0, |colon| {
                let slashes = url[colon + 1..]
                    .chars()
                    .take_while(|c| matches!(c, '/' | '\\'))
                    .count();
                if slashes == 0 { 0 } else { colon + 1 + slashes }
            });
        let (scheme, rest) = url.split_at(scheme_end);
        let head_end = rest.find(['?', '#']).unwrap_or(rest.len());
        let at = match rest[..head_end].rfind('@') {
            // The usual case: the userinfo ends before any query.
            Some(at) => Some(at),
            // An `@` only after a `?` or `#`: a password that holds one (as
            // `postgres://user:pw?x@host/db` does) when no `/` comes before it; else an
            // `@` of the query.
            None => rest.rfind('@').filter(|&at| !rest[..at].contains('/')),
        };
        let rest = match at {
            Some(at) => &rest[at + 1..],
            None => rest,
        };
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        (scheme, rest)
    }
}

impl fmt::Display for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, rest) = self.parts();
        let budget = QUOTED_CHARS.saturating_sub(scheme.chars().count());
        write!(f, "{}{}", escape(scheme), escape(rest).truncate(budget))
    }
}

impl fmt::Debug for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_userinfo_query_or_fragment() {
        for (raw, shown) in [
            (
                "http://u:hunter2@127.0.0.1:1/api/v1?token=x",
                "http://127.0.0.1:1/api/v1",
            ),
            ("https://host/api/v1#frag", "https://host/api/v1"),
            (
                "postgres://postgres:hunter2?x@127.0.0.1:5432/db",
                "postgres://127.0.0.1:5432/db",
            ),
            (
                "postgres://postgres:hunter2#x@127.0.0.1:5432/db?sslmode=require",
                "postgres://127.0.0.1:5432/db",
            ),
            ("https://a@b@host/p", "https://host/p"),
            ("http://u:pa/ss@host/api", "http://host/api"),
            ("http:\\\\u:p@host/x", "http:\\\\host/x"),
            ("http:u:p@host/x", "host/x"),
            ("user:pass@host/api/v1", "host/api/v1"),
            ("http://host?x=1/a@b", "http://host"),
            ("http://u:p@host", "http://host"),
            (
                "https://api.elastic-cloud.com/api/v1",
                "https://api.elastic-cloud.com/api/v1",
            ),
            ("http://h/\u{1b}[2J", r"http://h/\u{1b}[2J"),
            ("", ""),
        ] {
            assert_eq!(redact_url(raw).to_string(), shown, "{raw:?}");
            assert_eq!(format!("{:?}", redact_url(raw)), format!("\"{shown}\""));
        }
        let long = format!("http://host/{}", "p".repeat(10_000));
        assert!(redact_url(&long).to_string().chars().count() <= QUOTED_CHARS + 1);
    }

    #[test]
    fn terminal_control_sequences_and_line_breaks_are_escaped() {
        for (raw, shown) in [
            ("plain é ü 中", "plain é ü 中"),
            ("a\nb\r\nc\td", r"a\nb\r\nc\td"),
            (
                "\u{1b}[2J\u{1b}]0;title\u{7}",
                r"\u{1b}[2J\u{1b}]0;title\u{7}",
            ),
            ("\u{9b}31m", r"\u{9b}31m"),
            ("abc\u{202e}fed", r"abc\u{202e}fed"),
            ("line\u{2028}sep", r"line\u{2028}sep"),
        ] {
            assert_eq!(escape(raw).to_string(), shown, "{raw:?}");
        }
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        let long = "x".repeat(5_000_000);
        let shown = quoted(&long);
        assert_eq!(shown.chars().count(), QUOTED_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(escape("short").truncate(10).to_string(), "short");
    }
}
