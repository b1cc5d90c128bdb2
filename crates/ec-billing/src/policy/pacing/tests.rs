//! Unit tests of the pacer: schedules, learnt rates, header dialects, waits.

use std::sync::Arc;

use proptest::prelude::*;
use reqwest::header::{HeaderName, HeaderValue};

use super::*;
use crate::policy::Sleep;

/// A clock whose sleeps move it forward at once.
#[derive(Debug)]
struct Virtual(Mutex<Timestamp>, Mutex<Vec<Duration>>);

impl Clock for Virtual {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        self.1.lock().unwrap().push(duration);
        let mut now = self.0.lock().unwrap();
        *now = now.checked_add(duration).unwrap();
        Box::pin(async {})
    }
}

fn clock() -> Arc<Virtual> {
    Arc::new(Virtual(
        Mutex::new("2024-01-01T00:00:00Z".parse().unwrap()),
        Mutex::default(),
    ))
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| {
            (
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            )
        })
        .collect()
}

fn limits(limit: &str, interval: &str) -> HeaderMap {
    headers(&[
        ("x-ratelimit-limit", limit),
        ("x-ratelimit-interval", interval),
    ])
}

#[tokio::test]
async fn without_a_known_limit_requests_are_not_paced() {
    let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
    for _ in 0..100 {
        pacer.acquire(&*clock, None).await.unwrap();
    }
    assert!(clock.1.lock().unwrap().is_empty());
    assert_eq!(pacer.rate(), None);
}

#[tokio::test]
async fn a_published_limit_spaces_requests_just_under_it() {
    let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
    pacer.observe(&*clock, 200, &limits("20", "1s"), 0, false);
    for _ in 0..3 {
        pacer.acquire(&*clock, None).await.unwrap();
    }
    let waits = clock.1.lock().unwrap().clone();
    assert_eq!(waits.len(), 2);
    let expected = 1.0 / (20.0 * MARGIN);
    assert!(
        waits
            .iter()
            .all(|w| (w.as_secs_f64() - expected).abs() < 1e-6),
        "{waits:?}"
    );
}

#[test]
fn every_common_shape_of_rate_limit_headers_is_understood() {
    let now: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
    let rate = |pairs: &[(&str, &str)]| {
        Announced::read(&headers(pairs), now)
            .sustained()
            .map(|s| s.0)
    };
    assert_eq!(
        rate(&[("x-ratelimit-limit", "20"), ("x-ratelimit-interval", "1s")]),
        Some(20.0)
    );
    assert_eq!(
        rate(&[("x-ratelimit-limit", "120"), ("x-ratelimit-interval", "60")]),
        Some(2.0)
    );
    assert_eq!(
        rate(&[
            ("x-ratelimit-limit", "20"),
            ("x-ratelimit-interval", "PT1S")
        ]),
        Some(20.0)
    );
    assert_eq!(
        rate(&[
            ("x-ratelimit-limit", "3600"),
            ("x-ratelimit-interval", "1h")
        ]),
        Some(1.0)
    );
    assert_eq!(rate(&[("ratelimit-policy", "100;w=50")]), Some(2.0));
    assert_eq!(rate(&[("ratelimit-limit", "100, 100;w=10")]), Some(10.0));
    assert_eq!(
        rate(&[
            ("x-rate-limit-limit", "5"),
            ("x-rate-limit-interval", "500ms")
        ]),
        Some(10.0)
    );
    for (reset, expected) in [
        ("1704067230", "2024-01-01T00:00:30Z"),
        ("30", "2024-01-01T00:00:30Z"),
        ("PT30S", "2024-01-01T00:00:30Z"),
        ("Mon, 01 Jan 2024 00:00:30 GMT", "2024-01-01T00:00:30Z"),
    ] {
        let announced = Announced::read(&headers(&[("x-ratelimit-reset", reset)]), now);
        assert_eq!(announced.reset, Some(expected.parse().unwrap()), "{reset}");
    }
}

#[tokio::test]
async fn a_spent_budget_with_a_reset_holds_requests_until_the_reset() {
    let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
    let answer = headers(&[
        ("x-ratelimit-limit", "20"),
        ("x-ratelimit-remaining", "2"),
        ("x-ratelimit-reset", "30"),
    ]);
    pacer.observe(&*clock, 200, &answer, 0, false);
    for _ in 0..3 {
        pacer.acquire(&*clock, None).await.unwrap();
    }
    assert!(
        clock.1.lock().unwrap().is_empty(),
        "two on credit, one free"
    );
    let spent = headers(&[
        ("x-ratelimit-limit", "20"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "30"),
    ]);
    pacer.observe(&*clock, 200, &spent, 0, false);
    pacer.acquire(&*clock, None).await.unwrap();
    assert_eq!(*clock.1.lock().unwrap(), [Duration::from_secs(30)]);
    let near = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1")]);
    pacer.observe(&*clock, 200, &near, 0, false);
    pacer.acquire(&*clock, None).await.unwrap();
    assert_eq!(
        clock.1.lock().unwrap().len(),
        1,
        "a reset a second away holds nothing"
    );
}

#[tokio::test]
async fn the_remaining_budget_less_what_is_in_flight_goes_out_unpaced() {
    let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
    let mut answer = limits("20", "1s");
    answer.insert("x-ratelimit-remaining", HeaderValue::from_static("5"));
    pacer.observe(&*clock, 200, &answer, 2, false);
    for _ in 0..5 {
        pacer.acquire(&*clock, None).await.unwrap();
    }
    // 3 on credit, then the pace: the 4th starts at once, the 5th waits its turn.
    assert_eq!(clock.1.lock().unwrap().len(), 1);
    pacer.observe(&*clock, 429, &answer, 0, false);
    assert_eq!(pacer.lock().credit, 0, "a 429 ends the credit");
}

#[tokio::test]
async fn a_retry_after_alone_is_a_pause_and_leaves_the_client_unpaced() {
    let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
    let retry_after = headers(&[("retry-after", "1")]);
    for _ in 0..50 {
        pacer.observe(&*clock, 429, &retry_after, 3, false);
        pacer.observe(&*clock, 200, &HeaderMap::new(), 3, false);
    }
    assert_eq!(pacer.rate(), None);
    for _ in 0..10 {
        pacer.acquire(&*clock, None).await.unwrap();
    }
    assert!(clock.1.lock().unwrap().is_empty());
}

#[tokio::test]
async fn repeated_throttling_paces_at_the_rate_of_successes_which_then_grows() {
    let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
    for _ in 0..20 {
        pacer.observe(&*clock, 200, &HeaderMap::new(), 0, false);
    }
    clock.sleep(Duration::from_millis(500)).await;
    pacer.observe(&*clock, 429, &HeaderMap::new(), 0, true);
    assert_eq!(pacer.rate(), Some(40.0), "20 successes in half a second");
    pacer.observe(&*clock, 200, &HeaderMap::new(), 0, false);
    assert_eq!(pacer.rate(), Some(40.025));
}

#[tokio::test]
async fn a_wait_past_the_deadline_is_refused_without_waiting() {
    let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
    pacer.observe(&*clock, 200, &limits("1", "1h"), 0, false);
    pacer
        .acquire(&*clock, Some(Duration::from_secs(600)))
        .await
        .unwrap();
    let refusal = pacer
        .acquire(&*clock, Some(Duration::from_secs(600)))
        .await
        .unwrap_err();
    assert!(refusal.wait.unwrap() > Duration::from_secs(3600));
    assert!(
        refusal.reason.contains("1 per 3600 s"),
        "{}",
        refusal.reason
    );
    assert!(clock.1.lock().unwrap().is_empty());
}

#[tokio::test]
async fn off_and_fixed_ignore_what_answers_say() {
    let clock = clock();
    let off = Pacer::new(Pacing::Off);
    off.observe(&*clock, 429, &limits("1", "1s"), 0, true);
    assert_eq!(off.rate(), None);
    let fixed = Pacer::new(Pacing::fixed(4.0).unwrap());
    fixed.observe(&*clock, 429, &limits("1", "1s"), 0, true);
    assert_eq!(fixed.rate(), Some(4.0));
}

#[test]
fn pacing_parses_from_the_cli_spelling() {
    assert_eq!("adaptive".parse::<Pacing>().unwrap(), Pacing::Adaptive);
    assert_eq!("OFF".parse::<Pacing>().unwrap(), Pacing::Off);
    assert_eq!(
        "2.5".parse::<Pacing>().unwrap(),
        Pacing::fixed(2.5).unwrap()
    );
    for bad in ["0", "-1", "NaN", "inf", "fast", ""] {
        assert!(bad.parse::<Pacing>().is_err(), "{bad}");
    }
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,24}",
        any::<f64>().prop_map(|f| f.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        Just("1e-300".to_string()),
        Just("1e300".to_string()),
        Just("0".to_string()),
        "[0-9]{1,30}(\\.[0-9]{0,10})?(ms|s|m|h|d)?",
        "PT[0-9]{1,20}(\\.[0-9]{1,9})?S",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_rate_limit_header_values_never_panic_nor_wait_past_the_budget(
        limit in header_value(),
        interval in header_value(),
        remaining in header_value(),
        reset in header_value(),
        status in prop_oneof![Just(200u16), Just(429u16)],
        in_flight in 0usize..64,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
        let mut map = HeaderMap::new();
        for (name, value) in [
            ("x-ratelimit-limit", &limit),
            ("x-ratelimit-interval", &interval),
            ("x-ratelimit-remaining", &remaining),
            ("ratelimit-reset", &reset),
        ] {
            if let Ok(value) = HeaderValue::from_str(value) {
                map.insert(name, value);
            }
        }
        pacer.observe(&*clock, status, &map, in_flight, true);
        let budget = Duration::from_secs(600);
        for _ in 0..4 {
            let _ = runtime.block_on(pacer.acquire(&*clock, Some(budget)));
        }
        for wait in clock.1.lock().unwrap().iter() {
            prop_assert!(*wait <= budget);
        }
    }
}
