//! The API key: a secret that prints as `[redacted]` everywhere but the request header.

use std::{borrow::Cow, fmt};

use reqwest::header::HeaderValue;

use crate::error::{Error, InvalidInput};

/// An Elastic Cloud API key.
///
/// `Debug` and `Display` print `[redacted]`, never the key. The key leaves this type
/// only as the value of the `Authorization: ApiKey <key>` header, which is marked
/// sensitive so that HTTP-level logging does not print it either.
///
/// ```
/// use ec_billing::ApiKey;
///
/// let key: ApiKey = "essu_c2VjcmV0".parse()?;
/// assert_eq!(format!("{key} {key:?}"), "[redacted] ApiKey([redacted])");
/// # Ok::<(), ec_billing::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key, refusing one that could not travel in an HTTP header.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the key is empty, has surrounding whitespace, or
    /// contains a character that is not visible ASCII. The error never quotes the key.
    pub fn new(key: impl Into<String>) -> Result<Self, Error> {
        let key = key.into();
        let problem = if key.is_empty() {
            Some("the API key is empty")
        } else if key.trim() != key {
            Some("the API key has leading or trailing whitespace")
        } else if !key.bytes().all(|b| b.is_ascii_graphic()) {
            Some("the API key contains a character that is not visible ASCII")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(InvalidInput::new(problem).into()),
            None => Ok(Self(key)),
        }
    }

    /// The `Authorization` header value, marked sensitive.
    pub(crate) fn header_value(&self) -> HeaderValue {
        // `new` allows only visible ASCII, which is always a valid header value; the
        // fallback is never taken.
        let mut value = HeaderValue::from_str(&format!("ApiKey {}", self.0))
            .unwrap_or_else(|_| HeaderValue::from_static("ApiKey"));
        value.set_sensitive(true);
        value
    }

    /// `text` (from a server, say) with every occurrence of this key replaced by
    /// `[redacted]`. The client does this to everything a server sends back that ends
    /// up in an error; use it on text of your own before printing or logging it.
    ///
    /// ```
    /// let key = ec_billing::ApiKey::new("essu_c2VjcmV0")?;
    /// assert_eq!(key.redact("bad key essu_c2VjcmV0"), "bad key [redacted]");
    /// # Ok::<(), ec_billing::Error>(())
    /// ```
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if text.contains(&self.0) {
            Cow::Owned(text.replace(&self.0, "[redacted]"))
        } else {
            Cow::Borrowed(text)
        }
    }
}

impl std::str::FromStr for ApiKey {
    type Err = Error;

    fn from_str(key: &str) -> Result<Self, Error> {
        Self::new(key)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_redacted_in_debug_display_and_header_debug() {
        let key = ApiKey::new("canary-123").unwrap();
        let shown = format!("{key} {key:?} {:?}", key.header_value());
        assert!(!shown.contains("canary-123"), "{shown}");
    }

    #[test]
    fn a_key_echoed_in_server_text_is_redacted() {
        let key = ApiKey::new("canary-123").unwrap();
        assert_eq!(
            key.redact("code canary-123, again canary-123"),
            "code [redacted], again [redacted]"
        );
        assert!(matches!(key.redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn unusable_keys_are_refused_without_being_quoted() {
        for bad in ["", " canary-123", "canary\n123", "canary é"] {
            let err = ApiKey::new(bad).unwrap_err().to_string();
            assert!(!err.contains("canary"), "{err}");
        }
    }
}
