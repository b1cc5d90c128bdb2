//! Text on the page: amounts as exact decimals, and text a server controls (names,
//! SKUs, ids) made safe for HTML and SVG.

use std::fmt::Write;

use rust_decimal::Decimal;

/// An amount as the ledger holds it, exact: trailing zeros dropped (`12.5`, `0`).
pub(crate) fn amount(value: Decimal) -> String {
    value.normalize().to_string()
}

/// An amount with its sign (`+1.5`, `-0.25`, `0`).
pub(crate) fn signed(value: Decimal) -> String {
    let text = amount(value);
    if value > Decimal::ZERO {
        format!("+{text}")
    } else {
        text
    }
}

/// Text a server controls, for a label: control characters (which XML cannot hold,
/// even escaped) written as `\u{..}`, cut to `max` characters with an ellipsis.
pub(crate) fn label(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count == max {
            out.push('…');
            break;
        }
        if hidden(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` escaped for HTML and XML text and attribute values; control characters as
/// [`label`] writes them.
pub(crate) fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if hidden(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// A character that must not reach the page as itself: a control character, a
/// noncharacter, or a bidirectional control (which could show an amount reversed).
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{fffe}'
                | '\u{ffff}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_control_characters_never_reach_the_page_raw() {
        assert_eq!(
            xml("<script>\"a\" & 'b'\u{1b}[31m"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;\\u{1b}[31m"
        );
        assert_eq!(label("abc\u{7}def", 4), "abc\\u{7}…");
        assert_eq!(
            xml("kind\u{202e}42"),
            "kind\\u{202e}42",
            "no reversed amounts"
        );
    }

    #[test]
    fn amounts_are_the_exact_decimals() {
        assert_eq!(amount("12.5000".parse().unwrap()), "12.5");
        assert_eq!(
            amount("0.0000000000000000000000000001".parse().unwrap()),
            "0.0000000000000000000000000001"
        );
        assert_eq!(signed("-0.25".parse().unwrap()), "-0.25");
        assert_eq!(signed("3".parse().unwrap()), "+3");
    }
}
