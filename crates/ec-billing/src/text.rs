//! Text a server controls (error codes and messages, names, SKUs, CSV cells), made safe
//! to print: control characters escaped, length capped. The client's key is redacted
//! from such text where errors are built (see `ApiKey::redact`).

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
/// assert_eq!(ec_billing::escape(name).to_string(), r"evil\u{1b}[2J\nname");
/// assert_eq!(ec_billing::escape("abcdef").truncate(3).to_string(), "abc…");
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

#[cfg(test)]
mod tests {
    use super::*;

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
