//! Everything a client reads or waits for is bounded: error bodies by a small cap,
//! trickling bodies by the attempt's deadline, pacing waits by the request's deadline,
//! plans by a cap on windows; and what the same request would meet again (redirect
//! loops, requests that cannot be built) is not retried. Timeouts run on the client's
//! clock: a virtual one checks them exactly, never by wall time.

use std::time::Duration;

use ec_billing::{
    DateRange, Error, Format, MAX_ERROR_BODY_BYTES, WindowSize, error::TransportKind,
    policy::RetryPolicy,
};

use crate::support::{
    Captured, EndlessServer, ScriptedServer, TestClock, VirtualClock, http, in_flight,
    wrapper_builder, wrapper_client,
};

const ITEMS_OK: &str =
    r#"{"costs":{"total":0.1301,"dimensions":[]},"data_transfer_and_storage":[],"resources":[]}"#;

fn january() -> DateRange {
    DateRange::parse("2024-01-01", "2024-02-01").unwrap()
}

static PIECE: [u8; 64 * 1024] = [b'x'; 64 * 1024];

#[tokio::test]
async fn a_huge_error_body_is_read_up_to_the_cap_and_the_rest_is_never_taken() {
    for status in [
        "500 Internal Server Error",
        "502 Bad Gateway",
        "404 Not Found",
    ] {
        for format in [Format::Json, Format::Csv] {
            let head = format!(
                "HTTP/1.1 {status}\ncontent-type: text/html\ncontent-length: 500000000\n\n"
            );
            let server = EndlessServer::start(&head, &PIECE, Duration::ZERO).await;
            // No timer of this clock fires: the cap alone ends the read.
            let clock = VirtualClock::new();
            let client = wrapper_builder(server.base_url(), clock.clone())
                .retry_policy(RetryPolicy::never())
                .build()
                .unwrap();

            let err = client
                .items("acme", "prod")
                .range(january())
                .format(format)
                .send()
                .await
                .unwrap_err();

            let code = status[..3].parse::<u16>().unwrap();
            assert_eq!(err.status(), Some(code), "{status} {format:?}: {err:?}");
            assert_eq!(clock.elapsed(), Duration::ZERO, "{status} {format:?}");
            // Once the client has hung up, whatever the socket buffers took: a few MiB
            // at most, not 500 MB.
            server.until_closed(1).await;
            assert!(
                server.sent() < 16 << 20,
                "{status} {format:?}: {} bytes sent",
                server.sent()
            );
        }
    }
    assert_eq!(MAX_ERROR_BODY_BYTES, 64 * 1024);
}

#[tokio::test]
async fn a_body_that_keeps_trickling_ends_exactly_at_the_attempt_timeout_on_both_transports() {
    let head = "HTTP/1.1 200 OK\ncontent-type: application/json\ncontent-length: 100000000\n\n";
    let (read_timeout, attempt_timeout) = (Duration::from_secs(5), Duration::from_millis(300));
    for format in [Format::Json, Format::Csv] {
        let server = EndlessServer::start(head, b"0", Duration::from_millis(1)).await;
        let clock = VirtualClock::new();
        let client = wrapper_builder(server.base_url(), clock.clone())
            .read_timeout(read_timeout)
            .attempt_timeout(attempt_timeout)
            .retry_policy(RetryPolicy::never())
            .build()
            .unwrap();
        let fetch = tokio::spawn(async move {
            client
                .items("acme", "prod")
                .range(january())
                .format(format)
                .send()
                .await
        });

        // The head came (one read timer), and then pieces of the body (one each).
        clock.until_timers(read_timeout, 4).await;
        clock.advance(attempt_timeout - Duration::from_millis(1));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!fetch.is_finished(), "{format:?}: not before the deadline");
        clock.advance(Duration::from_millis(1));
        let err = fetch.await.unwrap().unwrap_err();

        assert!(
            matches!(&err, Error::Transport(t) if t.kind() == TransportKind::Timeout),
            "{format:?}: {err:?}"
        );
        assert!(err.is_retryable());
        assert_eq!(clock.elapsed(), attempt_timeout, "{format:?}");
        let timers = clock.timers();
        assert_eq!(timers[0], attempt_timeout, "{format:?}: {timers:?}");
        assert!(
            timers[1..].iter().all(|t| *t == read_timeout),
            "{format:?}: one attempt timer, then read timers: {timers:?}"
        );
    }
}

#[tokio::test]
async fn an_answer_that_never_starts_ends_exactly_at_the_read_timeout() {
    let script = vec![crate::support::Reply::Stall(
        Duration::from_secs(3600),
        Vec::new(),
    )];
    let server = ScriptedServer::start(script).await;
    let read_timeout = Duration::from_millis(200);
    for format in [Format::Json, Format::Csv] {
        let clock = VirtualClock::new();
        let client = wrapper_builder(server.base_url(), clock.clone())
            .read_timeout(read_timeout)
            .retry_policy(RetryPolicy::never())
            .build()
            .unwrap();
        let fetch = tokio::spawn(async move {
            client
                .items("acme", "prod")
                .range(january())
                .format(format)
                .send()
                .await
        });

        clock.until_timers(read_timeout, 1).await;
        clock.advance(read_timeout);
        let err = fetch.await.unwrap().unwrap_err();

        assert!(
            matches!(&err, Error::Transport(t) if t.kind() == TransportKind::Timeout),
            "{format:?}: {err:?}"
        );
        let cause = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(
            cause.as_deref(),
            Some("no answer within the read timeout"),
            "{format:?}"
        );
        assert_eq!(clock.elapsed(), read_timeout, "{format:?}");
    }
}

#[tokio::test]
async fn a_json_answer_over_the_body_limit_is_refused_and_not_retried() {
    let head = "HTTP/1.1 200 OK\ncontent-type: application/json\ncontent-length: 100000000\n\n";
    let server = EndlessServer::start(head, &PIECE, Duration::ZERO).await;
    let client = wrapper_builder(server.base_url(), TestClock::new())
        .max_body_bytes(1 << 20)
        .build()
        .unwrap();

    let err = client
        .items("acme", "prod")
        .range(january())
        .send()
        .await
        .unwrap_err();

    assert!(
        matches!(&err, Error::Transport(t) if t.kind() == TransportKind::TooLarge),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(err.attempts(), 1);
}

#[tokio::test]
async fn a_pacing_wait_past_the_deadline_is_an_error_without_waiting() {
    for limit in ["1", "1e-300", "0.0000001"] {
        let server = ScriptedServer::start(vec![http(
            200,
            &[
                ("x-ratelimit-limit", limit),
                ("x-ratelimit-interval", "1h"),
                ("x-ratelimit-remaining", "0"),
            ],
            ITEMS_OK,
        )])
        .await;
        let clock = TestClock::new();
        let client = wrapper_builder(server.base_url(), clock.clone())
            .concurrency(in_flight(1))
            .build()
            .unwrap();

        let err = client
            .items("acme", "prod")
            .range(DateRange::parse("2024-01-01", "2024-01-04").unwrap())
            .window(WindowSize::Day)
            .send()
            .await
            .unwrap_err();

        let Error::Pacing(pacing) = &err else {
            panic!("{limit}: {err:?}")
        };
        assert!(err.is_rate_limited() && !err.is_retryable());
        assert!(err.to_string().contains("past its deadline"), "{err}");
        assert_eq!(pacing.request().window().map(|w| w.index()), Some(2));
        assert!(clock.sleeps().is_empty(), "{limit}: nothing was waited for");
        assert_eq!(server.requests().len(), 2, "{limit}");
    }
}

#[tokio::test]
async fn a_long_pacing_wait_is_logged_with_the_rate_it_comes_from() {
    let captured = Captured::default();
    let _guard = captured.install(tracing::Level::INFO);
    let server = ScriptedServer::start(vec![http(
        200,
        &[("x-ratelimit-limit", "1"), ("x-ratelimit-interval", "5s")],
        ITEMS_OK,
    )])
    .await;
    let clock = TestClock::new();
    let client = wrapper_builder(server.base_url(), clock.clone())
        .concurrency(in_flight(1))
        .build()
        .unwrap();

    client
        .items("acme", "prod")
        .range(DateRange::parse("2024-01-01", "2024-01-04").unwrap())
        .window(WindowSize::Day)
        .send()
        .await
        .unwrap();

    let logs = captured.text();
    assert!(logs.contains("waiting for the API's rate limit"), "{logs}");
    assert!(logs.contains("1 per 5 s"), "{logs}");
    // The first request taught the pace, the second went at once, the third waited.
    assert_eq!(clock.sleeps().len(), 1, "{:?}", clock.sleeps());
}

#[tokio::test]
async fn a_plan_of_thousands_of_years_is_refused_before_any_request() {
    let server = ScriptedServer::start(vec![http(200, &[], ITEMS_OK)]).await;
    let client = wrapper_client(server.base_url(), TestClock::new());
    let millennia = DateRange::parse("1000-01-01", "9000-01-01").unwrap();

    let err = client
        .items("acme", "prod")
        .range(millennia)
        .window(WindowSize::Day)
        .send()
        .await
        .unwrap_err();

    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(
        err.to_string().contains("more than 100000 requests"),
        "{err}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn windows_at_the_end_of_the_time_scale_are_fetched_without_a_panic() {
    let server = ScriptedServer::start(vec![http(200, &[], ITEMS_OK)]).await;
    let client = wrapper_client(server.base_url(), TestClock::new());
    // The last whole second of the time scale.
    let end = DateRange::parse("9999-11-20", "9999-12-30T22:00:00Z").unwrap();
    for size in [
        WindowSize::Month,
        WindowSize::Day,
        WindowSize::days(92).unwrap(),
    ] {
        let report = client
            .items("acme", "prod")
            .range(end)
            .window(size)
            .send()
            .await
            .unwrap();
        assert_eq!(report.windows.last().unwrap().to(), end.to(), "{size}");
    }
    assert!(DateRange::parse("2024-01-01", "9999-12-31").is_err());
}

#[tokio::test]
async fn redirect_loops_disallowed_redirects_and_unbuildable_requests_are_not_retried() {
    let looping = ScriptedServer::start(vec![http(
        302,
        &[(
            "location",
            "/api/v1/billing/costs/acme/deployments/prod/items",
        )],
        "",
    )])
    .await;
    let err = wrapper_client(looping.base_url(), TestClock::new())
        .items("acme", "prod")
        .range(january())
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Transport(t) if t.kind() == TransportKind::Redirect),
        "{err:?}"
    );
    assert_eq!(err.attempts(), 1);
    assert!(looping.requests().len() <= 11, "one attempt's redirects");

    let elsewhere =
        ScriptedServer::start(vec![http(302, &[("location", "file:///etc/passwd")], "")]).await;
    let err = wrapper_client(elsewhere.base_url(), TestClock::new())
        .items("acme", "prod")
        .range(january())
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    assert_eq!(elsewhere.requests().len(), 1);

    let long_path = format!("http://127.0.0.1:9/{}", "p".repeat(70_000));
    let err = wrapper_client(&long_path, TestClock::new())
        .items("acme", "prod")
        .range(january())
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    assert_eq!(err.attempts(), 1, "{err:?}");
}

#[tokio::test]
async fn timeouts_and_deadlines_of_any_length_are_taken_without_a_panic() {
    let sim = crate::support::simulator(ec_billing_sim::Faults::default()).await;
    let client = wrapper_builder(&sim.base_url(), TestClock::new())
        .read_timeout(Duration::MAX)
        .attempt_timeout(Duration::MAX)
        .retry_policy(RetryPolicy::default().with_deadline(None))
        .build()
        .unwrap();
    for format in [Format::Json, Format::Csv] {
        let report = client
            .items("acme", "prod")
            .range(january())
            .format(format)
            .send()
            .await
            .expect("no limit is no panic");
        assert_eq!(
            Some(report.items.costs.total),
            sim.dataset()
                .items_total("acme", "prod", january().from(), january().to())
        );
    }
}

#[tokio::test]
async fn a_csv_record_that_never_ends_fails_as_too_large_without_a_retry() {
    let sim = crate::support::simulator(crate::support::every_answer(
        ec_billing_sim::Fault::EndlessCsvRecord,
    ))
    .await;
    let client = wrapper_client(&sim.base_url(), TestClock::new());
    let send = client
        .items("acme", "prod")
        .range(january())
        .format(Format::Csv)
        .send()
        .await
        .map(|_| ());
    let totals = client
        .items("acme", "prod")
        .range(january())
        .format(Format::Csv)
        .totals()
        .await
        .map(|_| ());

    for (how, outcome) in [("send", send), ("totals", totals)] {
        let err = outcome.unwrap_err();
        assert!(
            matches!(&err, Error::Transport(t) if t.kind() == TransportKind::TooLarge),
            "{how}: {err:?}"
        );
        assert!(!err.is_retryable(), "{how}");
        assert_eq!(err.attempts(), 1, "{how}");
        let csv = std::error::Error::source(&err)
            .and_then(|cause| cause.downcast_ref::<ec_billing::error::CsvError>())
            .expect("the CSV reader's error is the cause");
        assert_eq!(
            csv.kind(),
            ec_billing::error::CsvErrorKind::TooLarge,
            "{how}"
        );
        assert_eq!((csv.record(), csv.line()), (1, 2), "{how}");
    }
    assert_eq!(sim.stats().requests, 2, "one attempt each");
    assert_eq!(ec_billing::csv::MAX_CSV_RECORD_BYTES, 1 << 20);
}

#[tokio::test]
async fn a_csv_answer_whose_lines_are_kept_is_bounded_like_a_json_one() {
    static ROWS: std::sync::LazyLock<Vec<u8>> =
        std::sync::LazyLock::new(|| b"U,,data_out,s,,,,,,1,,0.01,,0.01\r\n".repeat(2048));
    let head = "HTTP/1.1 200 OK\ncontent-type: text/csv\ncontent-length: 1000000000\n\nName,Kind,Type,SKU,Period Start,Period End,Hours,Instance Count,Price Per Hour,Quantity,Quantity Formatted,Rate,Rate Formatted,Cost\n";
    let server = EndlessServer::start(head, &ROWS[..], Duration::ZERO).await;
    let client = wrapper_builder(server.base_url(), TestClock::new())
        .max_body_bytes(1 << 20)
        .build()
        .unwrap();

    let err = client
        .items("acme", "prod")
        .range(january())
        .format(Format::Csv)
        .send()
        .await
        .unwrap_err();

    assert!(
        matches!(&err, Error::Transport(t) if t.kind() == TransportKind::TooLarge),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(err.attempts(), 1);
}
