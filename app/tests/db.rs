//! The data layer against real databases: migrations, connection settings, transactions, the
//! demo seed and the sample files, on SQLite and (when configured) PostgreSQL.

// Test set-up fails loudly: a helper that cannot build its fixture panics with the reason.
#![allow(clippy::expect_used, reason = "test fixtures; clippy only exempts #[test] functions")]

mod common;

use app::db::{self, DbConn, DbError, schema::*, seed, write_transaction};
use chrono::{NaiveDate, NaiveDateTime};
use common::{TestDb, count};
use diesel::prelude::*;

fn fixed_now() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 26).and_then(|d| d.and_hms_opt(12, 0, 0)).expect("valid date")
}

#[test]
fn migrations_apply_and_are_idempotent() {
    for t in TestDb::all() {
        let mut conn = t.conn();
        // A second run finds nothing pending.
        db::run_migrations(&mut conn).expect("re-run migrations");
        let health = db::stats::health(&mut conn).expect("health");
        assert_eq!(health.schema_version, "20261201000017", "{}", t.label);
        assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM leads"), 0, "{}", t.label);
    }
}

#[test]
fn sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout() {
    let t = TestDb::sqlite();
    let mut conn = t.conn();
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = diesel::sql_types::Text)]
        journal_mode: String,
    }
    let mode: Mode = diesel::sql_query("PRAGMA journal_mode").get_result(&mut conn).expect("pragma");
    assert_eq!(mode.journal_mode, "wal");
    assert_eq!(count(&mut conn, "SELECT foreign_keys AS n FROM pragma_foreign_keys"), 1);
    assert_eq!(count(&mut conn, "SELECT timeout AS n FROM pragma_busy_timeout"), 10_000);
    // The bundled SQLite is built with the planner stability guarantee (`.cargo/config.toml`):
    // without it each cached statement with a bound `LIMIT` is compiled again at every use.
    assert_eq!(
        count(
            &mut conn,
            "SELECT COUNT(*) AS n FROM pragma_compile_options WHERE compile_options = 'ENABLE_QPSG'"
        ),
        1
    );
}

#[test]
fn a_connection_given_back_without_foreign_keys_has_them_again_at_its_next_checkout() {
    let dir = tempfile::tempdir().expect("temp dir");
    // One connection, so the next checkout is the same one.
    let pool = db::connect(&format!("sqlite://{}", dir.path().join("one.db").display()), 1).expect("pool");
    let mut conn = pool.get().expect("connection");
    diesel::connection::SimpleConnection::batch_execute(&mut *conn, "PRAGMA foreign_keys = OFF")
        .expect("off");
    assert_eq!(count(&mut conn, "SELECT foreign_keys AS n FROM pragma_foreign_keys"), 0);
    drop(conn);
    let mut conn = pool.get().expect("the same connection");
    assert_eq!(count(&mut conn, "SELECT foreign_keys AS n FROM pragma_foreign_keys"), 1);
    let orphan = diesel::insert_into(clients::table)
        .values((clients::instance_id.eq(999_i64), clients::name.eq("Orphan")))
        .execute(&mut conn);
    assert!(orphan.is_err(), "foreign keys are enforced again");
}

#[test]
fn foreign_keys_are_enforced() {
    for t in TestDb::all() {
        let mut conn = t.conn();
        let res = diesel::insert_into(clients::table)
            .values((clients::instance_id.eq(999_i64), clients::name.eq("Orphan")))
            .execute(&mut conn);
        assert!(res.is_err(), "{}: a client of a missing instance must be refused", t.label);
    }
}

#[test]
fn write_transactions_roll_back_on_error_and_nest() {
    for t in TestDb::all() {
        let mut conn = t.conn();
        let res: Result<(), DbError> = write_transaction(&mut conn, |c| {
            diesel::insert_into(instances::table)
                .values((instances::name.eq("Doomed"), instances::created_at.eq(fixed_now())))
                .execute(c)?;
            Err(DbError::Config("abort".into()))
        });
        assert!(res.is_err());
        assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM instances"), 0, "{}: rolled back", t.label);

        write_transaction(&mut conn, |c| {
            diesel::insert_into(instances::table)
                .values((instances::name.eq("Kept"), instances::created_at.eq(fixed_now())))
                .execute(c)?;
            // An inner failure rolls back only the inner part.
            let inner: Result<(), DbError> = write_transaction(c, |c| {
                diesel::insert_into(instances::table)
                    .values((instances::name.eq("Inner"), instances::created_at.eq(fixed_now())))
                    .execute(c)?;
                Err(DbError::Config("inner abort".into()))
            });
            assert!(inner.is_err());
            Ok::<_, DbError>(())
        })
        .expect("outer commits");
        let names: Vec<String> = instances::table.select(instances::name).load(&mut conn).expect("names");
        assert_eq!(names, ["Kept"], "{}", t.label);
    }
}

/// Group commit (`db::group`): writes posted together commit together, yet each decides alone —
/// one that fails is rolled back without the others, a later one sees an earlier one's rows, and
/// a write that panics fails its group (nothing of it stored) without stopping the writer.
#[test]
fn grouped_writes_commit_together_and_fail_alone() {
    for t in TestDb::all() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let writer = db::group::GroupWriter::new(t.pool().clone());
        let write = |i: usize| {
            let writer = writer.clone();
            async move {
                writer
                    .write(move |conn| {
                        write_transaction(conn, |c| {
                            // Each write sees the ones before it: "after" rows count them.
                            let before = instances::table.count().get_result::<i64>(c)?;
                            diesel::insert_into(instances::table)
                                .values((
                                    instances::name.eq(format!("w{i} after {before}")),
                                    instances::created_at.eq(fixed_now()),
                                ))
                                .execute(c)?;
                            if i.is_multiple_of(5) {
                                return Err(DbError::Inconsistent(format!("refused {i}")));
                            }
                            assert!(i != 7, "write 7 panics");
                            Ok(i)
                        })
                    })
                    .await
            }
        };
        let round = |writes: std::ops::Range<usize>| -> Vec<(usize, Result<usize, DbError>)> {
            runtime.block_on(async {
                let handles: Vec<_> = writes.map(|i| (i, tokio::spawn(write(i)))).collect();
                let mut results = Vec::new();
                for (i, h) in handles {
                    results.push((i, h.await.expect("joined")));
                }
                results
            })
        };
        // A round with a panic, then one without: that one commits every write it does not refuse.
        let first = round(0..40);
        let second = round(100..130);
        let mut conn = t.conn();
        let sqlite = matches!(&*conn, DbConn::Sqlite(_));
        let names: Vec<String> = instances::table.select(instances::name).load(&mut conn).expect("names");
        let stored = |i: usize| names.iter().any(|n| n.starts_with(&format!("w{i} after ")));
        let mut committed = 0;
        for (i, result) in first.iter().chain(&second) {
            match result {
                Ok(v) => {
                    assert_eq!(v, i, "{}", t.label);
                    assert!(stored(*i), "{}: write {i} answered ok but is not stored", t.label);
                    committed += 1;
                }
                Err(DbError::Inconsistent(m)) => {
                    assert!(i.is_multiple_of(5), "{}: {m}", t.label);
                    assert!(!stored(*i), "{}: refused write {i} was stored", t.label);
                }
                Err(e) => {
                    // Write 7 and, on SQLite, the writes grouped with it.
                    assert!(*i < 40, "{}: write {i} failed: {e}", t.label);
                    assert!(!stored(*i), "{}: write {i} failed ({e}) but is stored", t.label);
                }
            }
        }
        assert!(
            matches!(first[7].1, Err(DbError::Write(_) | DbError::Join(_))),
            "{}: {:?}",
            t.label,
            first[7].1
        );
        for (i, result) in &second {
            assert_eq!(result.is_ok(), !i.is_multiple_of(5), "{}: write {i}: {result:?}", t.label);
        }
        assert_eq!(committed, names.len(), "{}: {names:?}", t.label);
        if sqlite {
            // One at a time: each stored write saw exactly the writes stored before it.
            let mut seen: Vec<i64> = names
                .iter()
                .map(|n| n.rsplit(' ').next().and_then(|c| c.parse().ok()).expect("a count"))
                .collect();
            seen.sort_unstable();
            let expected: Vec<i64> = (0..i64::try_from(names.len()).expect("small")).collect();
            assert_eq!(seen, expected, "{}", t.label);

            // Writes queued while one runs are committed together, as one group.
            let (before_groups, before_writes) = writer.committed();
            let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
            let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
            let blocker = {
                let writer = writer.clone();
                runtime.spawn(async move {
                    writer
                        .write(move |conn| {
                            started_tx.send(()).expect("the test waits");
                            release_rx.recv().expect("released");
                            write_transaction(conn, |c| {
                                diesel::insert_into(instances::table)
                                    .values((
                                        instances::name.eq("blocker"),
                                        instances::created_at.eq(fixed_now()),
                                    ))
                                    .execute(c)
                                    .map_err(DbError::from)
                            })
                        })
                        .await
                })
            };
            started_rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the blocker runs");
            let queued: Vec<_> =
                (201_usize..213).filter(|i| !i.is_multiple_of(5)).map(|i| runtime.spawn(write(i))).collect();
            let waited = std::time::Instant::now();
            while writer.queued() < 10 {
                assert!(waited.elapsed().as_secs() < 10, "the writes did not queue: {}", writer.queued());
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            release_tx.send(()).expect("the blocker waits");
            runtime.block_on(blocker).expect("joined").expect("the blocker commits");
            for h in queued {
                runtime.block_on(h).expect("joined").expect("a queued write commits");
            }
            let (groups, writes) = writer.committed();
            assert_eq!((groups - before_groups, writes - before_writes), (2, 11), "{}", t.label);
        }
    }
}

#[test]
fn concurrent_sqlite_writers_wait_for_each_other() {
    // Read-then-write transactions on several connections: with BEGIN IMMEDIATE they queue on the
    // busy timeout instead of failing with SQLITE_BUSY.
    let t = TestDb::sqlite();
    let pool = t.pool().clone();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut conn = pool.get().expect("conn");
                for j in 0..25 {
                    write_transaction(&mut conn, |c| {
                        let n: i64 = instances::table.count().get_result(c)?;
                        diesel::insert_into(instances::table)
                            .values((
                                instances::name.eq(format!("w{i}-{j}-{n}")),
                                instances::created_at.eq(fixed_now()),
                            ))
                            .execute(c)?;
                        Ok::<_, DbError>(())
                    })
                    .expect("write succeeds");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer thread");
    }
    assert_eq!(count(&mut t.conn(), "SELECT COUNT(*) AS n FROM instances"), 100);
}

#[test]
fn sessions_store_binary_data() {
    for t in TestDb::all() {
        let mut conn = t.conn();
        let data = vec![0_u8, 159, 146, 150, 255];
        diesel::insert_into(sessions::table)
            .values((sessions::id.eq("abc"), sessions::data.eq(&data), sessions::expiry_date.eq(fixed_now())))
            .execute(&mut conn)
            .expect("insert session");
        let back: Vec<u8> = sessions::table.select(sessions::data).first(&mut conn).expect("read");
        assert_eq!(back, data, "{}", t.label);
    }
}

#[test]
fn seeds_the_demo_instance() {
    for t in TestDb::all() {
        let mut conn = t.conn();
        let report = seed::seed_if_empty(&mut conn, fixed_now()).expect("seed").expect("was empty");
        let l = t.label;
        assert!(report.leads >= 20_000, "{l}: {} leads", report.leads);
        assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM leads"), report.leads as i64);
        assert_eq!(seed::seed_if_empty(&mut conn, fixed_now()).expect("second call").map(|r| r.leads), None);
        assert!(seed::seed_demo(&mut conn, fixed_now()).is_err(), "{l}: refuses a non-empty database");

        let names: Vec<String> =
            instances::table.select(instances::name).order(instances::id).load(&mut conn).expect("instances");
        assert_eq!(names, ["Demo Leads Ltd", "Other Supplier Co"]);

        let campaigns: Vec<(String, Option<i32>)> = campaigns::table
            .select((campaigns::name, campaigns::max_rejection_days))
            .order(campaigns::id)
            .load(&mut conn)
            .expect("campaigns");
        for (name, days) in
            [("Home Insurance UK", Some(7)), ("Car Insurance UK", Some(30)), ("Pet Insurance UK", None)]
        {
            assert!(campaigns.contains(&(name.to_owned(), days)), "{l}: {name}");
        }
        let home_dedupe: Vec<String> = campaign_fields::table
            .inner_join(campaigns::table)
            .filter(campaigns::name.eq("Home Insurance UK").and(campaign_fields::dedupe.eq(true)))
            .select(campaign_fields::field_key)
            .order(campaign_fields::field_key)
            .load(&mut conn)
            .expect("fields");
        assert_eq!(home_dedupe, ["email", "phone"], "{l}");
        assert_eq!(
            count(
                &mut conn,
                "SELECT COUNT(*) AS n FROM campaign_fields f JOIN campaigns c ON c.id = f.campaign_id WHERE c.name = 'Car Insurance UK' AND f.dedupe"
            ),
            0
        );

        // Users, roles and the permission.
        let perms: Vec<String> = users::table
            .inner_join(user_permissions::table)
            .select(users::email)
            .order(users::email)
            .load(&mut conn)
            .expect("permissions");
        assert_eq!(perms, ["bolt@sendback.test", "client@sendback.test"], "{l}");
        let hash: String = users::table
            .filter(users::email.eq("viewer@sendback.test"))
            .select(users::password_hash)
            .first(&mut conn)
            .expect("viewer");
        assert!(app::auth::password::verify_password(
            seed::DEMO_PASSWORD,
            &app::auth::password::PasswordHashString::from_stored(hash)
        ));

        // Every status is represented, and leads span the last 45 days.
        let statuses: Vec<String> =
            leads::table.select(leads::status).distinct().load(&mut conn).expect("statuses");
        assert_eq!(statuses.len(), 8, "{l}: {statuses:?}");
        let oldest: Option<NaiveDateTime> =
            leads::table.select(diesel::dsl::min(leads::received_at)).first(&mut conn).expect("min");
        let newest: Option<NaiveDateTime> =
            leads::table.select(diesel::dsl::max(leads::received_at)).first(&mut conn).expect("max");
        assert!(fixed_now() - oldest.expect("some") <= chrono::TimeDelta::days(45));
        assert!(fixed_now() - oldest.expect("some") >= chrono::TimeDelta::days(40));
        assert!(newest.expect("some") <= fixed_now());

        // Data never crosses instances: each lead's campaign and supplier are of its instance.
        assert_eq!(
            count(
                &mut conn,
                "SELECT COUNT(*) AS n FROM leads l JOIN campaigns c ON c.id = l.campaign_id JOIN suppliers s ON s.id = l.supplier_id WHERE c.instance_id <> l.instance_id OR s.instance_id <> l.instance_id"
            ),
            0
        );
        assert!(
            count(
                &mut conn,
                "SELECT COUNT(*) AS n FROM leads l JOIN instances i ON i.id = l.instance_id WHERE i.name = 'Other Supplier Co'"
            ) > 0
        );

        // Cap usage equals the leads that counted, per cap.
        assert_eq!(
            count(
                &mut conn,
                "SELECT CAST(COALESCE(SUM(used), 0) AS BIGINT) AS n FROM cap_usage u JOIN caps c ON c.id = u.cap_id JOIN campaigns m ON m.id = c.campaign_id WHERE m.name = 'Home Insurance UK' AND c.supplier_id IS NULL"
            ),
            count(
                &mut conn,
                "SELECT COUNT(*) AS n FROM leads l JOIN campaigns m ON m.id = l.campaign_id WHERE m.name = 'Home Insurance UK' AND l.status <> 'rejected'"
            )
        );
        assert!(count(&mut conn, "SELECT COUNT(*) AS n FROM affiliate_events") > 1000);
        assert_eq!(
            count(&mut conn, "SELECT COUNT(*) AS n FROM lead_status_history WHERE from_status IS NULL"),
            report.leads as i64
        );

        // The known lead is found by its phone however it is written.
        let normalized = app::domain::identifiers::Phone::parse("07700 900123").expect("phone").into_inner();
        let found: Vec<i64> = lead_values::table
            .inner_join(campaign_fields::table)
            .filter(campaign_fields::field_key.eq("phone").and(lead_values::normalized.eq(normalized)))
            .select(lead_values::lead_id)
            .load(&mut conn)
            .expect("lookup");
        assert_eq!(found.len(), 1, "{l}");
    }
}

#[test]
fn seeding_is_deterministic_across_databases_and_backends() {
    let snapshot = |conn: &mut DbConn| -> Vec<(i64, String, String, NaiveDateTime)> {
        leads::table
            .select((leads::id, leads::uid, leads::status, leads::received_at))
            .order(leads::id)
            .load(conn)
            .expect("leads")
    };
    let dbs: Vec<TestDb> = std::iter::once(TestDb::sqlite()).chain(TestDb::all()).collect();
    let snaps: Vec<_> = dbs
        .iter()
        .map(|t| {
            let mut conn = t.conn();
            seed::seed_demo(&mut conn, fixed_now()).expect("seed");
            snapshot(&mut conn)
        })
        .collect();
    for (t, s) in dbs.iter().zip(&snaps).skip(1) {
        assert!(s == &snaps[0], "{}: seeded data differs", t.label);
    }
}

#[test]
fn postgres_lead_ids_continue_after_the_seeded_ones() {
    let Some(t) = TestDb::postgres() else { return };
    let mut conn = t.conn();
    seed::seed_demo(&mut conn, fixed_now()).expect("seed");
    let max = count(&mut conn, "SELECT MAX(id) AS n FROM leads");
    let next = count(&mut conn, "SELECT nextval(pg_get_serial_sequence('leads', 'id')) AS n");
    assert_eq!(next, max + 1);
}

#[test]
fn committed_samples_match_the_seed() {
    let dir = tempfile::tempdir().expect("dir");
    let written = seed::write_samples(dir.path(), fixed_now()).expect("samples");
    assert_eq!(written.len(), 4);
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples");
    for name in written {
        let fresh = std::fs::read(dir.path().join(&name)).expect("fresh");
        let old = std::fs::read(committed.join(&name))
            .unwrap_or_else(|_| panic!("samples/{name} is missing: run `make samples`"));
        assert!(fresh == old, "samples/{name} is out of date: run `make samples`");
    }
}

fn user(conn: &mut DbConn, email: &str) -> db::users::UserContext {
    let id: i64 = users::table.filter(users::email.eq(email)).select(users::id).first(conn).expect("user");
    db::users::load_context(conn, id).expect("load").expect("exists")
}

#[test]
fn lead_search_finds_by_id_uid_email_and_phone_written_any_way() {
    use app::db::leads::{ListFilter, Scope, list, search_ids};
    for t in TestDb::all() {
        let l = t.label;
        let mut conn = t.conn();
        seed::seed_demo(&mut conn, fixed_now()).expect("seed");
        let client = user(&mut conn, "client@sendback.test");
        let scope = Scope::of(&client);
        let by_email = search_ids(&mut conn, scope, "  Jane.Smith@Example.co.uk ").expect("search");
        assert_eq!(by_email.len(), 1, "{l}");
        let jane = by_email[0];
        for phone in ["+44 7700 900123", "07700900123", "0044 7700 900 123", "447700900123"] {
            assert_eq!(search_ids(&mut conn, scope, phone).expect("search"), [jane], "{l}: {phone}");
        }
        let uid: String = leads::table.find(jane).select(leads::uid).first(&mut conn).expect("uid");
        assert_eq!(search_ids(&mut conn, scope, &uid).expect("search"), [jane], "{l}");
        assert_eq!(search_ids(&mut conn, scope, &jane.to_string()).expect("search"), [jane], "{l}");
        assert!(search_ids(&mut conn, scope, "nobody@example.com").expect("search").is_empty());
        // The scope still applies: Bolt's user and the other instance do not get Jane.
        let filter = ListFilter { ids: Some(vec![jane]), ..ListFilter::default() };
        assert_eq!(list(&mut conn, scope, &filter, 10).expect("list").len(), 1, "{l}");
        let bolt = Scope::of(&user(&mut conn, "bolt@sendback.test"));
        assert!(list(&mut conn, bolt, &filter, 10).expect("list").is_empty(), "{l}");
        let other = user(&mut conn, "other@sendback.test");
        let other_ids = search_ids(&mut conn, Scope::of(&other), "jane.smith@example.co.uk").expect("search");
        assert!(other_ids.is_empty(), "{l}: another instance's search finds nothing of ours");
        let other_filter = ListFilter { ids: Some(other_ids), ..ListFilter::default() };
        assert!(list(&mut conn, Scope::of(&other), &other_filter, 10).expect("list").is_empty(), "{l}");
    }
}

#[test]
fn a_search_is_scoped_inside_its_query_so_other_tenants_never_crowd_it_out() {
    use app::db::leads::{Scope, search_ids};
    for t in TestDb::all() {
        let l = t.label;
        let mut conn = t.conn();
        seed::seed_demo(&mut conn, fixed_now()).expect("seed");
        let phone = "07700900999";
        // 1,001 leads of Demo Leads Ltd share the number in their phone field...
        let demo_phones: Vec<(i64, i64)> = lead_values::table
            .inner_join(campaign_fields::table.inner_join(campaigns::table.inner_join(clients::table)))
            .filter(campaign_fields::kind.eq("phone").and(clients::name.ne("Zenith Loans")))
            .select((lead_values::lead_id, lead_values::field_id))
            .order(lead_values::lead_id)
            .limit(1001)
            .load(&mut conn)
            .expect("demo phones");
        assert_eq!(demo_phones.len(), 1001, "{l}");
        // ...and one lead of Other Supplier Co's Loans UK has it too.
        let (theirs, their_field): (i64, i64) = lead_values::table
            .inner_join(campaign_fields::table.inner_join(campaigns::table))
            .filter(campaign_fields::kind.eq("phone").and(campaigns::name.eq("Loans UK")))
            .select((lead_values::lead_id, lead_values::field_id))
            .first(&mut conn)
            .expect("a Loans UK phone");
        for (lead, field) in demo_phones.iter().copied().chain([(theirs, their_field)]) {
            diesel::update(
                lead_values::table.filter(lead_values::lead_id.eq(lead).and(lead_values::field_id.eq(field))),
            )
            .set(lead_values::normalized.eq(phone))
            .execute(&mut conn)
            .expect("set phone");
        }
        let other = Scope::of(&user(&mut conn, "other@sendback.test"));
        assert_eq!(search_ids(&mut conn, other, "+44 7700 900999").expect("search"), [theirs], "{l}");
        // A client user's search keeps to their client's campaigns.
        let bolt = Scope::of(&user(&mut conn, "bolt@sendback.test"));
        let found = search_ids(&mut conn, bolt, phone).expect("search");
        let bolt_leads: i64 = leads::table
            .inner_join(campaigns::table.inner_join(clients::table))
            .filter(clients::name.eq("Bolt Energy").and(leads::id.eq_any(&found)))
            .count()
            .get_result(&mut conn)
            .expect("count");
        assert_eq!(bolt_leads, i64::try_from(found.len()).expect("len"), "{l}: only Bolt's leads");
    }
}

#[test]
fn lead_lists_filter_and_page_by_keyset_without_gaps_or_repeats() {
    use app::db::leads::{Cursor, ListFilter, Scope, list};
    use app::domain::status::LeadStatus;
    use app::leads::model::LeadSort;
    for t in TestDb::all() {
        let l = t.label;
        let mut conn = t.conn();
        seed::seed_demo(&mut conn, fixed_now()).expect("seed");
        let client = user(&mut conn, "client@sendback.test");
        let scope = Scope::of(&client);
        let home: i64 = campaigns::table
            .filter(campaigns::name.eq("Home Insurance UK"))
            .select(campaigns::id)
            .first(&mut conn)
            .expect("c");
        let from = fixed_now() - chrono::TimeDelta::days(10);
        let until = fixed_now() - chrono::TimeDelta::days(3);
        let expected = count(
            &mut conn,
            &format!(
                "SELECT COUNT(*) AS n FROM leads WHERE campaign_id = {home} AND status = 'received' \
                 AND received_at >= '{from}' AND received_at < '{until}'",
                from = from.format("%Y-%m-%d %H:%M:%S"),
                until = until.format("%Y-%m-%d %H:%M:%S")
            ),
        );
        assert!(expected > 120, "{l}: enough for several pages");
        for sort in LeadSort::ALL {
            let mut filter = ListFilter {
                campaign_id: Some(home),
                status: Some(LeadStatus::Received),
                from: Some(from),
                until: Some(until),
                sort,
                ..ListFilter::default()
            };
            let mut seen = Vec::new();
            loop {
                let page = list(&mut conn, scope, &filter, 50).expect("page");
                assert!(
                    page.iter().all(|r| r.status == "received" && r.campaign == "Home Insurance UK"),
                    "{l}"
                );
                assert!(page.iter().all(|r| r.received_at >= from && r.received_at < until), "{l}");
                let Some(last) = page.last() else { break };
                filter.after = Cursor::parse(&Cursor::after(last, sort), sort);
                seen.extend(page.iter().map(|r| (r.received_at, r.id)));
            }
            assert_eq!(seen.len() as i64, expected, "{l} {sort:?}: every lead once");
            let mut sorted = seen.clone();
            match sort {
                LeadSort::Newest => sorted.sort_by(|a, b| b.cmp(a)),
                LeadSort::Oldest => sorted.sort(),
                LeadSort::IdAsc => sorted.sort_by_key(|r| r.1),
                LeadSort::IdDesc => sorted.sort_by_key(|r| std::cmp::Reverse(r.1)),
            }
            assert_eq!(seen, sorted, "{l} {sort:?}: in order");
        }
        // A client user never sees another client's campaign, whatever the filter says.
        let energy: i64 = campaigns::table
            .filter(campaigns::name.eq("Energy Switch UK"))
            .select(campaigns::id)
            .first(&mut conn)
            .expect("c");
        let filter = ListFilter { campaign_id: Some(energy), ..ListFilter::default() };
        assert!(list(&mut conn, scope, &filter, 50).expect("list").is_empty(), "{l}");
    }
}

#[test]
fn the_lead_page_is_scoped_and_tells_the_window() {
    use app::db::leads::{Scope, detail};
    use app::leads::model::RejectionWindow;
    for t in TestDb::all() {
        let l = t.label;
        let mut conn = t.conn();
        seed::seed_demo(&mut conn, fixed_now()).expect("seed");
        let client = Scope::of(&user(&mut conn, "client@sendback.test"));
        let jane: i64 = lead_values::table
            .filter(lead_values::normalized.eq("jane.smith@example.co.uk"))
            .select(lead_values::lead_id)
            .first(&mut conn)
            .expect("jane");
        let today = fixed_now().date();
        let page = detail(&mut conn, client, jane, today).expect("detail").expect("visible");
        assert_eq!(page.campaign, "Home Insurance UK", "{l}");
        assert!(
            page.fields.iter().any(|(k, v)| k == "Email" && v == "jane.smith@example.co.uk"),
            "{l}: {:?}",
            page.fields
        );
        // Received two days before seeding, 7-day window: inside until received + 7 days.
        let until = (fixed_now() - chrono::TimeDelta::days(2)).date() + chrono::Days::new(7);
        assert_eq!(page.window, RejectionWindow::Inside { until: until.to_string(), days: 7 }, "{l}");
        assert!(!page.history.is_empty(), "{l}");
        for other in ["bolt@sendback.test", "other@sendback.test"] {
            let scope = Scope::of(&user(&mut conn, other));
            assert!(detail(&mut conn, scope, jane, today).expect("detail").is_none(), "{l}: {other}");
        }
        assert!(detail(&mut conn, client, 987_654_321, today).expect("detail").is_none(), "{l}");
    }
}

#[test]
fn report_queries_agree_with_the_rows_on_both_backends() {
    use app::db::reports::{Period, by_campaign, by_reason, by_supplier, per_day};
    for t in TestDb::all() {
        let l = t.label;
        let mut conn = t.conn();
        seed::seed_demo(&mut conn, fixed_now()).expect("seed");
        let owner = user(&mut conn, "owner@sendback.test");
        let to = fixed_now().date();
        let period = Period { from: to - chrono::Days::new(29), to };
        let start = period.from.and_hms_opt(0, 0, 0).expect("midnight");
        let received_rejected: i64 = leads::table
            .filter(leads::instance_id.eq(owner.instance_id))
            .filter(leads::received_at.ge(start).and(leads::status.eq("client_rejected")))
            .count()
            .get_result(&mut conn)
            .expect("count");
        assert!(received_rejected > 0, "{l}");
        let campaigns = by_campaign(&mut conn, owner.instance_id, period).expect("campaigns");
        assert_eq!(campaigns.iter().map(|r| r.client_rejected).sum::<i64>(), received_rejected, "{l}");
        assert!(campaigns.iter().all(|r| r.client_rejected <= r.delivered), "{l}");
        let suppliers = by_supplier(&mut conn, owner.instance_id, period).expect("suppliers");
        assert_eq!(
            suppliers.iter().map(|r| r.delivered).sum::<i64>(),
            campaigns.iter().map(|r| r.delivered).sum::<i64>(),
            "{l}"
        );
        let reasons = by_reason(&mut conn, owner.instance_id, period).expect("reasons");
        assert!(reasons.iter().map(|r| r.n).sum::<i64>() <= received_rejected, "{l}");
        // Four rejected leads given one reason, spelled three ways: one row, the most used spelling.
        let four: Vec<i64> = leads::table
            .filter(leads::instance_id.eq(owner.instance_id))
            .filter(leads::received_at.ge(start).and(leads::status.eq("client_rejected")))
            .select(leads::id)
            .order(leads::id)
            .limit(4)
            .load(&mut conn)
            .expect("leads");
        assert_eq!(four.len(), 4, "{l}");
        for (id, spelling) in
            four.iter().zip(["Spelt Variously", "spelt variously ", "SPELT \t Variously", "Spelt  Variously"])
        {
            diesel::update(leads::table.find(id))
                .set(leads::status_reason.eq(spelling))
                .execute(&mut conn)
                .expect("reason");
        }
        let reasons = by_reason(&mut conn, owner.instance_id, period).expect("reasons");
        let variously: Vec<_> =
            reasons.iter().filter(|r| r.name.to_lowercase().contains("variously")).collect();
        assert_eq!(variously.len(), 1, "{l}: {reasons:?}");
        assert_eq!((variously[0].name.as_str(), variously[0].n), ("Spelt Variously", 4), "{l}");
        let mut keys: Vec<String> = reasons.iter().map(|r| r.name.to_lowercase()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), reasons.len(), "{l}: every reason once");
        assert!(reasons.windows(2).all(|w| w[0].n >= w[1].n), "{l}: most first");
        let days = per_day(&mut conn, owner.instance_id, period).expect("days");
        let made: i64 = lead_status_history::table
            .inner_join(leads::table)
            .filter(leads::instance_id.eq(owner.instance_id))
            .filter(lead_status_history::to_status.eq("client_rejected"))
            .filter(lead_status_history::changed_at.ge(start))
            .count()
            .get_result(&mut conn)
            .expect("count");
        assert_eq!(days.iter().map(|d| d.n).sum::<i64>(), made, "{l}");
        assert!(days.iter().all(|d| d.name.len() == 10 && d.name.as_str() >= "2026-10-28"), "{l}: {days:?}");
    }
}

#[test]
fn log_in_attempts_are_reserved_atomically_under_parallel_requests() {
    use app::auth::throttle::{FREE_PER_ACCOUNT, Verdict, reserve};
    for t in TestDb::all() {
        let l = t.label;
        let now = fixed_now();
        let allowed = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..12 {
                let (pool, allowed) = (t.pool(), &allowed);
                s.spawn(move || {
                    let mut conn = pool.get().expect("conn");
                    if reserve(&mut conn, "victim@sendback.test", "203.0.113.9", now).expect("reserve")
                        == Verdict::Allowed
                    {
                        allowed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(allowed.into_inner(), usize::try_from(FREE_PER_ACCOUNT).expect("n"), "{l}");
        let mut conn = t.conn();
        assert_eq!(
            count(&mut conn, "SELECT COUNT(*) AS n FROM login_failures"),
            FREE_PER_ACCOUNT,
            "{l}: one failure recorded per attempt let through"
        );
        // Another account from another address is not held up.
        assert_eq!(
            reserve(&mut conn, "other@sendback.test", "198.51.100.1", now).expect("reserve"),
            Verdict::Allowed
        );
    }
}
