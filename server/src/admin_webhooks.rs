//! `sendback webhook add|list`: an instance's webhook endpoints from the command line, through
//! the same `app::db::webhooks` as the Webhooks page (audited as the command line).

use anyhow::{Context as _, anyhow};
use app::db::audit::Actor;
use app::db::setup::{campaigns, suppliers};
use app::db::{self, webhooks};
use app::domain::status::LeadStatus;

use crate::config::DatabaseArgs;

#[derive(Debug, clap::Subcommand)]
pub enum WebhookCommand {
    /// Add an endpoint; prints its id, then its signing secret (shown only this once).
    Add(WebhookAdd),
    /// List the instance's endpoints with their events by state.
    List(WebhookList),
}

#[derive(Debug, clap::Args)]
pub struct WebhookAdd {
    /// The instance's name.
    #[arg(long)]
    pub instance: String,
    /// The receiver's address (https://…).
    #[arg(long)]
    pub url: String,
    /// A status whose changes are sent (e.g. client_rejected); repeat for several. Default:
    /// client_rejected.
    #[arg(long = "status", value_name = "STATUS", value_parser = parse_status)]
    pub statuses: Vec<LeadStatus>,
    /// Only leads of this campaign (by name); repeat for several. Default: every campaign.
    #[arg(long = "campaign", value_name = "NAME")]
    pub campaigns: Vec<String>,
    /// Only leads of this supplier (by name); repeat for several. Default: every supplier.
    #[arg(long = "supplier", value_name = "NAME")]
    pub suppliers: Vec<String>,
    /// What the endpoint is for, shown on the Webhooks page.
    #[arg(long, default_value = "")]
    pub description: String,
}

#[derive(Debug, clap::Args)]
pub struct WebhookList {
    /// The instance's name.
    #[arg(long)]
    pub instance: String,
}

fn parse_status(s: &str) -> Result<LeadStatus, String> {
    let wanted = s.trim().to_lowercase().replace([' ', '-'], "_");
    LeadStatus::parse(&wanted).ok_or_else(|| {
        let all: Vec<&str> = LeadStatus::ALL.iter().map(|s| s.as_str()).collect();
        format!("{s:?} is not a status; use one of {}", all.join(", "))
    })
}

/// `sendback webhook add`: the id and the secret on standard output, one per line.
pub async fn add(database: &DatabaseArgs, args: WebhookAdd) -> anyhow::Result<()> {
    let pool = crate::open_pool(database).await?;
    let instance_id = crate::admin::instance_named(&pool, &args.instance).await?;
    // The operator is trusted with any address; the server checks it again at each delivery
    // (private ones only go out with --allow-private-webhooks).
    if let Err(why) = webhooks::check_url(&args.url, false) {
        webhooks::check_url(&args.url, true).map_err(|e| anyhow!(e))?;
        eprintln!("note: {why} It is delivered only by a server run with --allow-private-webhooks.");
    }
    let (campaign_names, supplier_names) = (args.campaigns.clone(), args.suppliers.clone());
    let (campaign_ids, supplier_ids) = db::run(&pool, move |conn| {
        let c = campaign_names
            .iter()
            .map(|n| campaigns::find_by_name(conn, instance_id, n).map(|id| id.ok_or_else(|| n.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        let s = supplier_names
            .iter()
            .map(|n| suppliers::find_by_name(conn, instance_id, n).map(|id| id.ok_or_else(|| n.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((c, s))
    })
    .await
    .context("looking up the campaigns and suppliers")?;
    let campaign_ids = campaign_ids.into_iter().collect::<Result<Vec<i64>, String>>().map_err(|n| {
        anyhow!("there is no campaign named {:?} in instance {:?}", n.trim(), args.instance.trim())
    })?;
    let supplier_ids = supplier_ids.into_iter().collect::<Result<Vec<i64>, String>>().map_err(|n| {
        anyhow!("there is no supplier named {:?} in instance {:?}", n.trim(), args.instance.trim())
    })?;
    let input = webhooks::EndpointInput {
        url: args.url.clone(),
        description: args.description.clone(),
        statuses: args.statuses.clone(),
        campaign_ids,
        supplier_ids,
    };
    let created = db::run_or(&pool, move |conn| {
        webhooks::create(conn, Actor::command_line(instance_id), &input, true, chrono::Utc::now().naive_utc())
    })
    .await?;
    eprintln!(
        "added webhook endpoint {} for {:?} in instance {:?}; its signing secret is shown only now:",
        created.id,
        args.url.trim(),
        args.instance.trim()
    );
    println!("{}", created.id);
    println!("{}", created.secret);
    Ok(())
}

/// `sendback webhook list`.
pub async fn list(database: &DatabaseArgs, args: WebhookList) -> anyhow::Result<()> {
    let pool = crate::open_pool(database).await?;
    let instance_id = crate::admin::instance_named(&pool, &args.instance).await?;
    let endpoints = db::run(&pool, move |conn| webhooks::list(conn, instance_id)).await?;
    if endpoints.is_empty() {
        println!("no webhook endpoints in instance {:?}", args.instance.trim());
    }
    for e in endpoints {
        let statuses: Vec<&str> = e.statuses.iter().map(|s| s.as_str()).collect();
        let names = |v: &[app::domain::setup_view::Named]| {
            if v.is_empty() {
                "all".to_owned()
            } else {
                v.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ")
            }
        };
        println!(
            "{}\t{}\t{}\tstatuses: {}\tcampaigns: {}\tsuppliers: {}\tpending {}, failed {}, delivered {}",
            e.id,
            if e.enabled { "enabled" } else { "disabled" },
            e.url,
            statuses.join(","),
            names(&e.campaigns),
            names(&e.suppliers),
            e.pending,
            e.failed,
            e.delivered
        );
    }
    Ok(())
}
