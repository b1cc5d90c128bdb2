//! Organization and deployment ids: what one path segment of a request may be, the
//! rules in one place, and the types of an id checked once ([`OrganizationId`],
//! [`DeploymentId`]).

use std::{fmt, str::FromStr};

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
/// request does before it is made, and gives them back checked: for a caller that
/// checks its input before doing anything else (a ledger's sync, before it touches a
/// file).
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
pub fn check_ids(
    organization: &str,
    deployment: &str,
) -> Result<(OrganizationId, DeploymentId), Error> {
    Ok((organization.parse()?, deployment.parse()?))
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Checks `id` (see [`check_ids`]).
            ///
            /// # Errors
            ///
            /// [`Error::InvalidInput`] for an empty or blank id, a dot segment (`.`,
            /// `..`), or one longer than [`MAX_ID_BYTES`].
            pub fn new(id: impl Into<String>) -> Result<Self, Error> {
                let id = id.into();
                check_id($what, &id)?;
                Ok(Self(id))
            }

            /// The id as given.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(id: &str) -> Result<Self, Error> {
                Self::new(id)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;

            fn try_from(id: String) -> Result<Self, Error> {
                Self::new(id)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl From<&$name> for String {
            fn from(id: &$name) -> String {
                id.0.clone()
            }
        }

        impl fmt::Display for $name {
            /// The id as given (a caller's input, printed as it was typed).
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An organization id, checked once: one path segment of every request (see
    /// [`check_ids`]). [`Client::items`](crate::Client::items) and the other
    /// operations take it, or a string they check the same way.
    ///
    /// ```
    /// use ec_billing::OrganizationId;
    ///
    /// let org: OrganizationId = "my-org".parse()?;
    /// assert_eq!(org.as_str(), "my-org");
    /// assert!("..".parse::<OrganizationId>().is_err());
    /// # Ok::<(), ec_billing::Error>(())
    /// ```
    OrganizationId,
    "organization"
);

id_type!(
    /// A deployment id, checked once: one path segment of every request (see
    /// [`check_ids`]).
    ///
    /// ```
    /// use ec_billing::DeploymentId;
    ///
    /// let deployment = DeploymentId::new("we/ird id")?;
    /// assert_eq!(deployment.to_string(), "we/ird id");
    /// assert!(DeploymentId::new("  ").is_err());
    /// # Ok::<(), ec_billing::Error>(())
    /// ```
    DeploymentId,
    "deployment"
);

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
