//! Database health: the backend and the newest applied migration, for `/health` and the start page.
//! Deliberately tenant-free: it reveals nothing of any instance's data.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::{Backend, DbConn, DbError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub backend: Backend,
    /// Version of the newest applied migration (its folder name's date prefix, digits only).
    pub schema_version: String,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    version: String,
}

pub fn health(conn: &mut DbConn) -> Result<Health, DbError> {
    let row: Version = diesel::sql_query("SELECT MAX(version) AS version FROM __diesel_schema_migrations")
        .get_result(conn)?;
    Ok(Health { backend: conn.backend(), schema_version: row.version })
}
