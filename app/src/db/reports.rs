//! Owner reports: what came back from clients, per campaign.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::{DbConn, DbError};

#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct CampaignRejections {
    #[diesel(sql_type = Text)]
    pub campaign: String,
    #[diesel(sql_type = Text)]
    pub client: String,
    /// Leads that reached the client: received, accepted, sale or client rejected.
    #[diesel(sql_type = BigInt)]
    pub delivered: i64,
    #[diesel(sql_type = BigInt)]
    pub client_rejected: i64,
}

pub fn rejections_by_campaign(
    conn: &mut DbConn,
    instance_id: i64,
) -> Result<Vec<CampaignRejections>, DbError> {
    Ok(diesel::sql_query(
        "SELECT c.name AS campaign, k.name AS client, \
           CAST(COUNT(l.id) AS BIGINT) AS delivered, \
           CAST(COALESCE(SUM(CASE WHEN l.status = 'client_rejected' THEN 1 ELSE 0 END), 0) AS BIGINT) AS client_rejected \
         FROM campaigns c JOIN clients k ON k.id = c.client_id \
         LEFT JOIN leads l ON l.campaign_id = c.id AND l.status IN ('received', 'accepted', 'sale', 'client_rejected') \
         WHERE c.instance_id = $1 \
         GROUP BY c.id, c.name, k.name ORDER BY c.name",
    )
    .bind::<BigInt, _>(instance_id)
    .load(conn)?)
}
