//! The ledger on PostgreSQL, where it shares a database with a team's own tables and
//! with other processes: a foreign `ec_billing` schema is refused untouched, a newer one
//! refused, the password never printed, different deployments synced in parallel and
//! one deployment never by two at once, a cut connection rolled back, and the same
//! exports, byte for byte, as SQLite's. Each test runs when `EC_BILLING_TEST_POSTGRES`
//! names a server (see `support::stores`).

use std::time::Duration;

use ec_billing_ledger::{Error, Export, ExportFormat, Ledger, Query, SyncPlan};
use ec_billing_sim::{Dataset, Faults, Simulator};
use jiff::SignedDuration;

use crate::{
    ledger::{at, client},
    support::{
        CANARY_KEY, TempDir, TestDatabase, connect_postgres, postgres_server, with_database,
    },
};

/// A database of the test's own, when a server is named.
async fn database(name: &str) -> Option<TestDatabase> {
    let server = postgres_server()?;
    Some(TestDatabase::create(&server, name).await)
}

fn quarter(deployments: &[&str]) -> SyncPlan {
    SyncPlan::new("acme", deployments.iter().copied())
        .from(at("2024-01-01T00:00:00Z"))
        .to(at("2024-04-01T00:00:00Z"))
        .now(at("2024-06-01T00:00:00Z"))
}

#[tokio::test]
async fn a_schema_ec_billing_of_another_application_is_refused_and_left_untouched() {
    let Some(db) = database("foreign-schema").await else {
        return;
    };
    let admin = connect_postgres(&db.url).await;
    admin
        .batch_execute(
            "CREATE SCHEMA ec_billing; CREATE TABLE ec_billing.invoices (id int);
             INSERT INTO ec_billing.invoices VALUES (7);",
        )
        .await
        .unwrap();

    let err = Ledger::open(&db.url).await.unwrap_err();

    assert!(matches!(err, Error::NotALedger(_)), "{err}");
    assert!(err.to_string().contains("invoices"), "{err}");
    let tables: Vec<String> = admin
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'ec_billing'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(tables, ["invoices"]);
    let kept: i32 = admin
        .query_one("SELECT id FROM ec_billing.invoices", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 7);
}

#[tokio::test]
async fn the_ledger_shares_a_database_with_a_teams_tables_and_a_newer_one_is_refused() {
    let Some(db) = database("shared").await else {
        return;
    };
    let admin = connect_postgres(&db.url).await;
    admin
        .batch_execute("CREATE TABLE public.budgets (team text, amount numeric); INSERT INTO public.budgets VALUES ('search', 12.5);")
        .await
        .unwrap();
    let sim = Simulator::new().api_key(CANARY_KEY).start().await.unwrap();

    let ledger = Ledger::open(&db.url).await.unwrap();
    ledger
        .sync(&client(&sim), &quarter(&["prod"]))
        .await
        .unwrap();
    drop(ledger);

    let budgets: Vec<(String, String)> = admin
        .query("SELECT team, amount::text FROM public.budgets", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(budgets, [("search".to_string(), "12.5".to_string())]);
    let money: String = admin
        .query_one(
            "SELECT data_type FROM information_schema.columns
             WHERE table_schema = 'ec_billing' AND table_name = 'lines' AND column_name = 'cost'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(money, "numeric", "money is exact");

    admin
        .execute(
            "UPDATE ec_billing.meta SET value = '99' WHERE key = 'version'",
            &[],
        )
        .await
        .unwrap();
    let err = Ledger::open(&db.url).await.unwrap_err();
    assert!(
        matches!(err, Error::NewerSchema { version: 99, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_password_in_the_url_is_never_printed() {
    let Some(server) = postgres_server() else {
        return;
    };
    let mut url = with_database(&server, "ec_billing_no_such_database");
    url = url.replacen("://", "://postgres:hunter2-secret@", 1);
    if url.matches('@').count() > 1 {
        // The server's URL named a user already: keep its host, give ours.
        let host = url.rsplit('@').next().unwrap_or_default().to_string();
        url = format!("postgres://postgres:hunter2-secret@{host}");
    }

    let err = Ledger::open(&url).await.unwrap_err();

    for text in [
        err.to_string(),
        format!("{err:?}"),
        format!("{:#}", anyhow_like(&err)),
    ] {
        assert!(!text.contains("hunter2"), "{text}");
    }
    assert!(
        err.to_string().contains("ec_billing_no_such_database"),
        "{err}"
    );
}

/// The error and its causes, as a command prints them.
fn anyhow_like(err: &Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause} {cause:?}"));
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn different_deployments_sync_in_parallel_and_one_deployment_never_twice_at_once() {
    let Some(db) = database("workers").await else {
        return;
    };
    let sim = Simulator::new()
        .api_key(CANARY_KEY)
        .faults(Faults {
            latency: Duration::from_millis(100),
            ..Faults::default()
        })
        .start()
        .await
        .unwrap();
    // Two processes would each have a pool of their own: so do these.
    let one = Ledger::open(&db.url).await.unwrap();
    let two = Ledger::open(&db.url).await.unwrap();
    let client = client(&sim);

    let (prod, staging) = (quarter(&["prod"]), quarter(&["staging"]));
    let (a, b) = tokio::join!(one.sync(&client, &prod), two.sync(&client, &staging));
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");

    let impatient = quarter(&["prod"])
        .refetch_final(true)
        .lock_wait(Duration::ZERO);
    let (a, b) = tokio::join!(one.sync(&client, &impatient), async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        two.sync(&client, &impatient).await
    });
    let busy = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Err(Error::Busy { .. })))
        .count();
    assert_eq!(busy, 1, "{a:?} {b:?}");
    let message = [a, b]
        .into_iter()
        .find_map(Result::err)
        .unwrap()
        .to_string();
    assert!(message.contains("\"prod\""), "{message}");

    for deployment in ["prod", "staging"] {
        let served = sim
            .items_total(
                "acme",
                deployment,
                at("2024-01-01T00:00:00Z"),
                at("2024-04-01T00:00:00Z"),
            )
            .unwrap();
        let stored = one
            .total(&Query::all().deployments([deployment]))
            .await
            .unwrap();
        assert_eq!(stored, served, "nothing counted twice in {deployment}");
    }
}

#[tokio::test]
async fn a_connection_cut_mid_sync_rolls_its_window_back_and_the_next_sync_completes() {
    let Some(db) = database("cut").await else {
        return;
    };
    let sim = Simulator::new()
        .api_key(CANARY_KEY)
        .dataset(Dataset::standard().with_copies(20))
        .faults(Faults {
            latency: Duration::from_millis(20),
            ..Faults::default()
        })
        .start()
        .await
        .unwrap();
    let ledger = Ledger::open(&db.url).await.unwrap();
    let client = client(&sim);
    let plan = SyncPlan::new("acme", ["prod"])
        .from(at("2024-01-01T00:00:00Z"))
        .to(at("2025-01-01T00:00:00Z"))
        .now(at("2025-06-01T00:00:00Z"));
    let admin = connect_postgres(&db.url).await;
    let name = db.url.rsplit('/').next().unwrap_or_default().to_string();

    let (cut, _) = tokio::join!(ledger.sync(&client, &plan), async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&name],
            )
            .await
            .unwrap();
    });
    if let Err(err) = &cut {
        assert!(matches!(err, Error::Storage(_)), "{err}");
        assert!(!err.to_string().contains('\n'), "one line: {err}");
    }

    let again = ledger.sync(&client, &plan).await.unwrap();
    let served = sim
        .items_total(
            "acme",
            "prod",
            at("2024-01-01T00:00:00Z"),
            at("2025-01-01T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(again.deployments[0].total, served);
    assert_eq!(ledger.total(&Query::all()).await.unwrap(), served);
}

#[tokio::test]
async fn both_stores_export_the_same_bytes() {
    let Some(db) = database("same-bytes").await else {
        return;
    };
    let sim = Simulator::new()
        .api_key(CANARY_KEY)
        .dataset(Dataset::standard().with_revisions(SignedDuration::from_hours(72)))
        .now(at("2024-03-10T00:00:00Z"))
        .start()
        .await
        .unwrap();
    let dir = TempDir::new("same-bytes");
    let plan = SyncPlan::new("acme", ["prod", "staging", "we/ird id"])
        .from(at("2024-01-01T00:00:00Z"))
        .now(at("2024-03-10T00:00:00Z"));
    let mut exports = Vec::new();
    for location in [dir.join("costs.db").display().to_string(), db.url.clone()] {
        let ledger = Ledger::open(&location).await.unwrap();
        ledger.sync(&client(&sim), &plan).await.unwrap();
        let mut bytes = Vec::new();
        for format in [ExportFormat::Focus, ExportFormat::Csv, ExportFormat::Json] {
            ledger
                .export(&Query::all(), &Export::new(format), &mut bytes)
                .await
                .unwrap();
        }
        exports.push(bytes);
    }
    assert!(exports[0].len() > 10_000);
    assert!(
        exports[0] == exports[1],
        "SQLite and PostgreSQL exports differ"
    );
}

#[tokio::test]
async fn a_service_embeds_the_ledger_with_a_pool_of_its_own() {
    let Some(db) = database("pool").await else {
        return;
    };
    let sim = Simulator::new().api_key(CANARY_KEY).start().await.unwrap();
    let mut config = ec_billing_ledger::deadpool_postgres::Config::new();
    config.url = Some(db.url.clone());
    let pool = config
        .create_pool(
            Some(ec_billing_ledger::deadpool_postgres::Runtime::Tokio1),
            ec_billing_ledger::deadpool_postgres::tokio_postgres::NoTls,
        )
        .unwrap();

    let ledger = Ledger::open_pool(pool, "the service's database")
        .await
        .unwrap();
    let report = ledger
        .sync(&client(&sim), &quarter(&["prod"]))
        .await
        .unwrap();

    assert_eq!(
        report.deployments[0].total,
        sim.items_total(
            "acme",
            "prod",
            at("2024-01-01T00:00:00Z"),
            at("2024-04-01T00:00:00Z")
        )
        .unwrap()
    );
}

#[tokio::test]
async fn a_password_holding_a_question_mark_or_a_hash_is_never_printed() {
    let Some(server) = postgres_server() else {
        return;
    };
    let host = server
        .split("://")
        .nth(1)
        .and_then(|rest| rest.rsplit('@').next())
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("127.0.0.1:5432")
        .to_string();
    for secret in ["hunter2?x", "hunter2#x", "hunter2/x?y"] {
        for scheme in ["postgres", "POSTGRESQL"] {
            let url = format!("{scheme}://postgres:{secret}@{host}/ec_billing_no_such_database");
            let err = Ledger::open(&url).await.unwrap_err();
            let text = anyhow_like(&err);
            assert!(!text.contains("hunter2"), "{text}");
            assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
        }
    }
}

#[tokio::test]
async fn a_servers_idle_timeout_does_not_take_a_syncs_lock_away() {
    let Some(db) = database("idle-lock").await else {
        return;
    };
    let name = db.url.rsplit('/').next().unwrap_or_default().to_string();
    let admin = connect_postgres(&db.url).await;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{name}\" SET idle_session_timeout = '300ms'"
        ))
        .await
        .unwrap();
    let sim = Simulator::new()
        .api_key(CANARY_KEY)
        .faults(Faults {
            latency: Duration::from_millis(600),
            ..Faults::default()
        })
        .start()
        .await
        .unwrap();
    let one = Ledger::open(&db.url).await.unwrap();
    let two = Ledger::open(&db.url).await.unwrap();
    // One request at a time: the first sync holds its lock for over two seconds, its
    // lock's connection idle for longer than the server allows between windows.
    let client = crate::support::wrapper_builder(&sim.base_url(), crate::support::TestClock::new())
        .concurrency(crate::support::in_flight(1))
        .build()
        .unwrap();
    let slow = quarter(&["prod"]).to(at("2024-05-01T00:00:00Z"));
    let impatient = slow.clone().lock_wait(Duration::ZERO);

    let (a, b) = tokio::join!(one.sync(&client, &slow), async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        two.sync(&client, &impatient).await
    });

    assert!(a.is_ok(), "{a:?}");
    assert!(matches!(b, Err(Error::Busy { .. })), "{b:?}");
}

#[tokio::test]
async fn a_hostile_schema_is_refused_and_unreadable_values_are_named_then_repaired() {
    let Some(db) = database("hostile").await else {
        return;
    };
    let sim = Simulator::new().api_key(CANARY_KEY).start().await.unwrap();
    let ledger = Ledger::open(&db.url).await.unwrap();
    ledger
        .sync(&client(&sim), &quarter(&["prod"]))
        .await
        .unwrap();
    drop(ledger);
    let served = sim
        .items_total(
            "acme",
            "prod",
            at("2024-01-01T00:00:00Z"),
            at("2024-04-01T00:00:00Z"),
        )
        .unwrap();
    let admin = connect_postgres(&db.url).await;
    let february = "window_start = '2024-02-01T00:00:00Z'";
    for (what, sql) in [
        (
            "a cost not a number",
            format!("UPDATE ec_billing.lines SET cost = 'NaN' WHERE {february}"),
        ),
        (
            "an end at infinity",
            format!("UPDATE ec_billing.windows SET window_end = 'infinity' WHERE {february}"),
        ),
        (
            "an end moved earlier",
            format!(
                "UPDATE ec_billing.windows SET window_end = '2024-02-20T00:00:00Z' WHERE {february}"
            ),
        ),
        (
            "a total of null",
            format!(
                "ALTER TABLE ec_billing.windows ALTER total DROP NOT NULL; UPDATE ec_billing.windows SET total = NULL WHERE {february}"
            ),
        ),
    ] {
        admin.batch_execute(&sql).await.unwrap();
        let ledger = Ledger::open(&db.url).await.unwrap();
        let mut out = Vec::new();
        let err = ledger
            .export(&Query::all(), &Export::new(ExportFormat::Csv), &mut out)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Inconsistent(_)), "{what}: {err}");
        assert!(
            err.to_string().contains("2024-02-01T00:00:00Z"),
            "{what}: {err}"
        );
        assert!(out.is_empty(), "{what}");
        let report = ledger
            .sync(&client(&sim), &quarter(&["prod"]))
            .await
            .unwrap();
        assert_eq!(
            report.deployments[0].windows_repaired, 1,
            "{what}: {report:?}"
        );
        assert_eq!(report.deployments[0].revisions, 0, "{what}");
        assert_eq!(ledger.total(&Query::all()).await.unwrap(), served, "{what}");
    }

    // A schema whose columns are not the ledger's is refused.
    admin
        .batch_execute("ALTER TABLE ec_billing.lines ALTER cost TYPE double precision")
        .await
        .unwrap();
    let err = Ledger::open(&db.url).await.unwrap_err();
    assert!(matches!(err, Error::NotALedger(_)), "{err}");
    assert!(err.to_string().contains("lines.cost"), "{err}");
}

#[tokio::test]
async fn a_foreign_table_this_role_cannot_see_still_keeps_the_ledger_out() {
    let Some(db) = database("unseen").await else {
        return;
    };
    let role = format!("ec_billing_test_role_{}", std::process::id());
    let admin = connect_postgres(&db.url).await;
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN;
             CREATE SCHEMA ec_billing; CREATE TABLE ec_billing.team_secret (x int);
             GRANT USAGE, CREATE ON SCHEMA ec_billing TO {role};"
        ))
        .await
        .unwrap();
    let url = db.url.replacen("://", &format!("://{role}@"), 1);
    let url = match url.matches('@').count() {
        1 => url,
        _ => {
            let rest = db.url.rsplit('@').next().unwrap_or_default().to_string();
            format!("postgres://{role}@{rest}")
        }
    };

    let opened = Ledger::open(&url).await;

    let tables: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'ec_billing' AND c.relkind = 'r'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    admin
        .batch_execute(&format!(
            "DROP SCHEMA ec_billing CASCADE; DROP OWNED BY {role}; DROP ROLE {role};"
        ))
        .await
        .unwrap();
    let err = opened.unwrap_err();
    assert!(matches!(err, Error::NotALedger(_)), "{err}");
    assert_eq!(tables, 1, "nothing created beside the team's table");
}
