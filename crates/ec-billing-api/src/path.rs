//! Path parameters as single path segments, and the check that every request stays on
//! its operation's path.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Every byte but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes `value` as one path segment: every byte but RFC 3986's unreserved
/// characters becomes `%XX`, so that no character of it (`/`, `\`, `?`, `#`, `%`, a
/// space, a control character) can end the segment, start a query or a fragment, or be
/// read as something else by a URL parser. The generated client encodes its path
/// parameters with this (`cargo xtask codegen` wires it in); the `ec-billing` wrapper's
/// own CSV request does too.
///
/// `.` and `..` stay as they are, and a URL parser would resolve them as dot segments
/// (so would their encodings `%2E`, `%2e`): no encoding makes them safe. The generated
/// client refuses a request whose path they changed (see [`CallHooks`](crate::CallHooks));
/// the wrapper refuses such ids before any request.
///
/// ```
/// assert_eq!(ec_billing_api::encode_path("we/ird id"), "we%2Fird%20id");
/// assert_eq!(ec_billing_api::encode_path(r"a\b?c#d%e"), "a%5Cb%3Fc%23d%25e");
/// assert_eq!(ec_billing_api::encode_path("a1-b.c_d~"), "a1-b.c_d~");
/// ```
pub fn encode_path(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// The path segments every operation's path has after the base URL's own:
/// `billing/costs/{organization_id}/deployments/{deployment_id}/{operation}`.
const OPERATION_SEGMENTS: usize = 6;

/// Whether `path` is the base path followed by exactly the segments of one of the two
/// operations, with non-empty parameters: what a request must look like unless a path
/// parameter changed the path (a dot segment, an empty id).
pub(crate) fn is_operation_path(base_path: &str, path: &str) -> bool {
    let Some(rest) = path.strip_prefix(base_path.trim_end_matches('/')) else {
        return false;
    };
    let Some(rest) = rest.strip_prefix('/') else {
        return false;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    segments.len() == OPERATION_SEGMENTS
        && matches!(
            segments.as_slice(),
            ["billing", "costs", organization, "deployments", deployment, "items" | "charts"]
                if is_parameter(organization) && is_parameter(deployment)
        )
}

/// A path parameter as it must travel: non-empty and not a dot segment.
fn is_parameter(segment: &str) -> bool {
    !segment.is_empty()
        && !matches!(
            segment.to_ascii_lowercase().as_str(),
            "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e."
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reserved_and_control_character_is_encoded() {
        for (id, expected) in [
            ("..", ".."),
            ("a/b", "a%2Fb"),
            (r"..\..\steal", r"..%5C..%5Csteal"),
            ("a?b#c", "a%3Fb%23c"),
            ("100%", "100%25"),
            ("a\nb\x1b[2J", "a%0Ab%1B%5B2J"),
            ("é", "%C3%A9"),
        ] {
            assert_eq!(encode_path(id), expected, "{id:?}");
        }
    }

    #[test]
    fn only_the_operation_paths_under_the_base_path_pass() {
        let base = "/api/v1";
        assert!(is_operation_path(
            base,
            "/api/v1/billing/costs/o/deployments/d/items"
        ));
        assert!(is_operation_path(
            "/",
            "/billing/costs/o/deployments/a%2Fb/charts"
        ));
        for path in [
            "/api/v1/billing/costs/o/items",
            "/api/steal/items",
            "/api/v1/billing/costs/o/deployments//items",
            "/api/v1/billing/costs/o/deployments/d/other",
            "/api/v1/billing/costs/o/deployments/d/items/x",
            "/api/v2/billing/costs/o/deployments/d/items",
            "/api/v1/billing/costs/%2E%2E/deployments/d/items",
        ] {
            assert!(!is_operation_path(base, path), "{path}");
        }
    }
}
