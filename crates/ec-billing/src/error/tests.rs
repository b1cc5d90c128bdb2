//! Unit tests of the error type: its contract, codes, and messages.

use super::*;

#[test]
fn error_is_send_sync_and_static() {
    fn assert_bounds<T: Send + Sync + 'static + StdError>() {}
    assert_bounds::<Error>();
}

#[test]
fn every_documented_code_round_trips() {
    for code in [
        "costs.invalid_date_range",
        "organization.invalid_access",
        "organization.not_found",
        "billing_service.es_cluster_id_not_found",
        "billing_service.rate_limited",
        "billing_service.failed_request",
    ] {
        let parsed = ErrorCode::from(code);
        assert!(!matches!(parsed, ErrorCode::Unknown(_)), "{code}");
        assert_eq!(parsed.as_str(), code);
        assert_eq!(ErrorCode::from(parsed.as_str()), parsed);
    }
    for unknown in ["root.unauthorized", "costs.new", ""] {
        let parsed = ErrorCode::from(unknown);
        assert!(matches!(&parsed, ErrorCode::Unknown(code) if code.as_str() == unknown));
        assert_eq!(ErrorCode::from(parsed.as_str()), parsed);
    }
}

#[test]
fn csv_error_names_problem_column_record_and_line() {
    let err = CsvError {
        kind: CsvErrorKind::Malformed,
        problem: "invalid decimal \"12,x\"".into(),
        column: Some("Cost".into()),
        record: 12,
        line: 13,
        byte: 400,
        source: None,
    };
    assert_eq!(
        err.to_string(),
        "invalid decimal \"12,x\" in column \"Cost\" at record 12 (line 13)"
    );
}
