//! Organization and deployment ids: what one path segment of a request may be, the
//! rules in one place.

use crate::{
    error::{Error, InvalidInput},
    text,
};

/// The longest id accepted, in bytes. Elastic's ids are 32 hexadecimal characters.
pub const MAX_ID_BYTES: usize = 256;

/// Refuses an id that cannot be one path segment of the request: empty or blank, a dot
/// segment (`.`, `..`, which a URL parser would resolve, changing the path), or longer
/// than [`MAX_ID_BYTES`]. Any other character is percent-encoded on the wire.
pub(crate) fn check_id(what: &str, id: &str) -> Result<(), Error> {
    let problem = if id.trim().is_empty() {
        "it is empty"
    } else if matches!(id, "." | "..") {
        "a dot segment would change the request's path"
    } else if id.len() > MAX_ID_BYTES {
        "it is longer than 256 bytes"
    } else {
        return Ok(());
    };
    let shown = text::escape(id).truncate(64);
    Err(InvalidInput::new(format!("invalid {what} id \"{shown}\": {problem}")).into())
}

/// Refuses an organization and a deployment id that no request could carry, as every
/// request does before it is made: for a caller that checks its input before doing
/// anything else (a ledger's sync, before it touches a file).
///
/// ```
/// assert!(ec_billing::check_ids("my-org", "we/ird id").is_ok());
/// assert!(ec_billing::check_ids("my-org", "..").is_err());
/// ```
///
/// # Errors
///
/// [`Error::InvalidInput`] for an empty or blank id, a dot segment (`.`, `..`), or one
/// longer than [`MAX_ID_BYTES`].
pub fn check_ids(organization: &str, deployment: &str) -> Result<(), Error> {
    check_id("organization", organization)?;
    check_id("deployment", deployment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_cannot_be_one_path_segment_are_refused_quoting_them_safely() {
        for (id, problem) in [
            ("", "empty"),
            ("  \t", "empty"),
            (".", "dot segment"),
            ("..", "dot segment"),
        ] {
            let err = check_id("deployment", id).unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)));
            assert!(err.to_string().contains(problem), "{err}");
        }
        let long = "x\n".repeat(200);
        let err = check_id("organization", &long).unwrap_err().to_string();
        assert!(
            err.contains("longer than 256 bytes") && !err.contains('\n'),
            "{err}"
        );
        for fine in [
            "prod",
            "we/ird id",
            r"..\..\steal",
            "...",
            "a..b",
            "%2e%2e",
            "?#",
        ] {
            assert!(check_id("deployment", fine).is_ok(), "{fine}");
        }
    }
}
