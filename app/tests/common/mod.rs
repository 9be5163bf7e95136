//! Test databases: a fresh migrated SQLite file per test (in a temp dir) and, when
//! `TEST_POSTGRES_URL` names a PostgreSQL server, a fresh database there, dropped afterwards.

#![allow(dead_code)] // each test binary uses part of this module

use std::sync::atomic::{AtomicU32, Ordering};

use app::db::{self, DbConn, Pool};
use diesel::prelude::*;

pub struct TestDb {
    pool: Option<Pool>,
    pub label: &'static str,
    _dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested/dir/sendback.db");
        let pool = db::connect(&format!("sqlite://{}", path.display()), 4).expect("sqlite pool");
        Self { pool: Some(pool), label: "sqlite", _dir: Some(dir), pg_drop: None }
    }

    /// `None` (and a note on stderr) when `TEST_POSTGRES_URL` is not set.
    pub fn postgres() -> Option<Self> {
        let admin = match std::env::var("TEST_POSTGRES_URL") {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                eprintln!("TEST_POSTGRES_URL is not set: skipping the PostgreSQL variant of this test");
                return None;
            }
        };
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "sendback_test_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        let mut conn = diesel::PgConnection::establish(&admin).expect("connect to TEST_POSTGRES_URL");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .expect("create test database");
        let (base, _) = admin.rsplit_once('/').expect("TEST_POSTGRES_URL has a database path");
        let url = format!("{base}/{name}");
        let pool = db::connect(&url, 4).expect("postgres pool");
        Some(Self { pool: Some(pool), label: "postgres", _dir: None, pg_drop: Some((admin, name)) })
    }

    /// SQLite always, PostgreSQL when configured.
    pub fn all() -> Vec<Self> {
        let mut v = vec![Self::sqlite()];
        v.extend(Self::postgres());
        v
    }

    pub fn pool(&self) -> &Pool {
        self.pool.as_ref().expect("pool is open until drop")
    }

    pub fn conn(&self) -> db::PooledConn {
        self.pool().get().expect("connection")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_drop.take() {
            // Close our connections first, then drop the database.
            drop(self.pool.take());
            if let Ok(mut conn) = diesel::PgConnection::establish(&admin) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

pub fn count(conn: &mut DbConn, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql).get_result::<N>(conn).unwrap_or_else(|e| panic!("{sql}: {e}")).n
}
