//! The set-up commands an operator (or a deployment script) runs on the server: `sendback
//! instance|client|campaign|supplier add`, and the keys (`supplier-key create`, `api-key create`). Each opens (and migrates) the database, makes one
//! change through `app::db::setup` (audited as the command line) and prints what it made.

use anyhow::{Context as _, anyhow};
use app::db::audit::Actor;
use app::db::setup::{SetupError, campaigns, clients, instances, suppliers};
use app::db::{self, Pool};
use app::domain::setup::{FieldSpec, MAX_REJECTION_DAYS, parse_field_spec};
use chrono::NaiveDateTime;
use rand::seq::IndexedRandom as _;

use crate::config::DatabaseArgs;

/// Length of the owner's one-time password.
const PASSWORD_CHARS: usize = 20;
/// Letters and digits that cannot be mistaken for one another (no 0/O, 1/l/I) when read out.
const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

#[derive(Debug, clap::Subcommand)]
pub enum InstanceCommand {
    /// Create an instance (a tenant) and its owner-staff user, who gets a one-time password.
    Add(InstanceAdd),
}

#[derive(Debug, clap::Args)]
pub struct InstanceAdd {
    /// The instance's name (unique on this server).
    #[arg(long)]
    pub name: String,
    /// The owner's email address: their log-in (unique across all instances).
    #[arg(long, value_parser = parse_email)]
    pub owner_email: String,
    /// The owner's name. Default: the part of the email before `@`.
    #[arg(long)]
    pub owner_name: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Create a client (a buyer of leads) in an instance.
    Add(ClientAdd),
}

#[derive(Debug, clap::Args)]
pub struct ClientAdd {
    /// The instance's name.
    #[arg(long)]
    pub instance: String,
    /// The client's name (unique in the instance).
    #[arg(long)]
    pub name: String,
}

#[derive(Debug, clap::Subcommand)]
pub enum CampaignCommand {
    /// Create a campaign of a client, with its fields.
    Add(CampaignAdd),
}

#[derive(Debug, clap::Args)]
pub struct CampaignAdd {
    /// The instance's name.
    #[arg(long)]
    pub instance: String,
    /// The name of the client the campaign's leads are for.
    #[arg(long)]
    pub client: String,
    /// The campaign's name (unique in the instance).
    #[arg(long)]
    pub name: String,
    /// How many days after receiving a lead the client may reject it. Without it the campaign
    /// accepts no rejection tasks.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(i32).range(1..=i64::from(MAX_REJECTION_DAYS)))]
    pub max_rejection_days: Option<i32>,
    /// A field, `key:label:kind[:dedupe]` (kind: email, phone or text; `dedupe` makes its values
    /// identify leads). Repeat for each field, in the order they should appear.
    #[arg(long = "field", value_name = "SPEC", value_parser = parse_field_spec)]
    pub fields: Vec<FieldSpec>,
}

#[derive(Debug, clap::Subcommand)]
pub enum SupplierCommand {
    /// Create a supplier (a source of leads) in an instance.
    Add(SupplierAdd),
}

#[derive(Debug, clap::Args)]
pub struct SupplierAdd {
    /// The instance's name.
    #[arg(long)]
    pub instance: String,
    /// The supplier's name (unique in the instance).
    #[arg(long)]
    pub name: String,
    /// A campaign (by name) the supplier may send leads to. Repeat for each campaign.
    #[arg(long = "campaign", value_name = "NAME")]
    pub campaigns: Vec<String>,
}

/// An email address as stored: trimmed, lower-cased, shaped like `name@example.com`.
fn parse_email(s: &str) -> Result<String, String> {
    let email = s.trim().to_lowercase();
    if app::users::server_fns::valid_email(&email) {
        Ok(email)
    } else {
        Err("enter an email address like name@example.com".to_owned())
    }
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

/// A fresh random password from a CSPRNG (the thread's ChaCha, seeded by the OS).
fn one_time_password() -> String {
    let mut rng = rand::rng();
    (0..PASSWORD_CHARS).filter_map(|_| PASSWORD_ALPHABET.choose(&mut rng)).map(|&b| char::from(b)).collect()
}

/// `sendback instance add`.
pub async fn add_instance(database: &DatabaseArgs, args: InstanceAdd) -> anyhow::Result<()> {
    let pool = crate::open_pool(database).await?;
    let password = one_time_password();
    let hash = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || app::auth::password::hash_password(&password)).await??
    };
    let owner_name = args.owner_name.clone().unwrap_or_else(|| email_name(&args.owner_email));
    let email = args.owner_email.clone();
    let name = args.name.trim().to_owned();
    let (instance_id, _) = db::run_or(&pool, move |conn| {
        let new = instances::NewInstance {
            name: &name,
            owner_email: &email,
            owner_name: &owner_name,
            password_hash: hash.as_str(),
        };
        instances::create(conn, &new, now())
    })
    .await?;
    println!("created instance {instance_id} {:?}", args.name.trim());
    println!("owner: {}", args.owner_email);
    println!("one-time password: {password} (the owner must choose a new password at first log-in)");
    Ok(())
}

/// The part of an email address before `@`.
fn email_name(email: &str) -> String {
    email.split('@').next().unwrap_or(email).to_owned()
}

/// `sendback client add`.
pub async fn add_client(database: &DatabaseArgs, args: ClientAdd) -> anyhow::Result<()> {
    let pool = crate::open_pool(database).await?;
    let instance_id = instance_named(&pool, &args.instance).await?;
    let name = args.name.clone();
    let id =
        db::run_or(&pool, move |conn| clients::create(conn, Actor::command_line(instance_id), &name, now()))
            .await?;
    println!("created client {id} {:?} in instance {:?}", args.name.trim(), args.instance.trim());
    Ok(())
}

/// `sendback campaign add`.
pub async fn add_campaign(database: &DatabaseArgs, args: CampaignAdd) -> anyhow::Result<()> {
    let pool = crate::open_pool(database).await?;
    let instance_id = instance_named(&pool, &args.instance).await?;
    let client_id = client_named(&pool, instance_id, &args).await?;
    let (name, days, fields) = (args.name.clone(), args.max_rejection_days, args.fields.clone());
    let id = db::run_or(&pool, move |conn| {
        let new =
            campaigns::NewCampaign { client_id, name: &name, max_rejection_days: days, fields: &fields };
        campaigns::create(conn, Actor::command_line(instance_id), &new, now())
    })
    .await?;
    println!(
        "created campaign {id} {:?} for client {:?} in instance {:?}",
        args.name.trim(),
        args.client.trim(),
        args.instance.trim()
    );
    print_campaign_settings(args.max_rejection_days, &args.fields);
    Ok(())
}

fn print_campaign_settings(max_rejection_days: Option<i32>, fields: &[FieldSpec]) {
    match max_rejection_days {
        Some(days) => println!("max rejection days: {days}"),
        None => println!("max rejection days: none (the campaign accepts no rejection tasks)"),
    }
    for field in fields {
        let dedupe = if field.dedupe { ", deduplicated" } else { "" };
        println!("field: {} {:?} ({}{dedupe})", field.key, field.label, field.kind.as_str());
    }
}

/// `sendback supplier add`.
pub async fn add_supplier(database: &DatabaseArgs, args: SupplierAdd) -> anyhow::Result<()> {
    let pool = crate::open_pool(database).await?;
    let instance_id = instance_named(&pool, &args.instance).await?;
    let campaign_ids = campaigns_named(&pool, instance_id, &args).await?;
    let name = args.name.clone();
    // One transaction: a supplier is never left without the campaigns it was given.
    let id = db::run_or(&pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let actor = Actor::command_line(instance_id);
            let id = suppliers::create(conn, actor, &name, now())?;
            suppliers::set_campaigns(conn, actor, id, &campaign_ids, now())?;
            Ok::<_, SetupError>(id)
        })
    })
    .await?;
    println!("created supplier {id} {:?} in instance {:?}", args.name.trim(), args.instance.trim());
    for campaign in &args.campaigns {
        println!("may send leads to: {:?}", campaign.trim());
    }
    Ok(())
}

#[derive(Debug, clap::Subcommand)]
pub enum SupplierKeyCommand {
    /// Make an intake key for a supplier and print it (it is shown only this once).
    Create(SupplierKeyCreate),
}

#[derive(Debug, clap::Args)]
pub struct SupplierKeyCreate {
    /// The instance's name.
    #[arg(long)]
    pub instance: String,
    /// The supplier's name.
    #[arg(long)]
    pub supplier: String,
}

/// `sendback supplier-key create`: the key alone on standard output, for scripts.
pub async fn create_supplier_key(database: &DatabaseArgs, args: SupplierKeyCreate) -> anyhow::Result<()> {
    let pool = crate::open_pool(database).await?;
    let instance_id = instance_named(&pool, &args.instance).await?;
    let wanted = args.supplier.clone();
    let supplier_id = db::run(&pool, move |conn| suppliers::find_by_name(conn, instance_id, &wanted))
        .await
        .context("looking up the supplier")?
        .ok_or_else(|| {
            anyhow!(
                "there is no supplier named {:?} in instance {:?}",
                args.supplier.trim(),
                args.instance.trim()
            )
        })?;
    let (id, key) = db::run_or(&pool, move |conn| {
        app::db::keys::create_supplier_key(conn, Actor::command_line(instance_id), supplier_id, now())
    })
    .await?;
    eprintln!(
        "created intake key {id} for supplier {supplier_id} {:?}; it is shown only now, keep it secret:",
        args.supplier.trim()
    );
    println!("{key}");
    Ok(())
}

#[derive(Debug, clap::Subcommand)]
pub enum ApiKeyCommand {
    /// Make an API key for a client user and print it (it is shown only this once).
    Create(ApiKeyCreate),
}

#[derive(Debug, clap::Args)]
pub struct ApiKeyCreate {
    /// The client user's email address.
    #[arg(long)]
    pub email: String,
    /// What the key is for (shown on the API keys page), e.g. "CRM".
    #[arg(long)]
    pub name: String,
}

/// `sendback api-key create`: the key alone on standard output, for scripts. The key acts as the
/// user, so the user must be a client user holding "Reject Leads as a Client".
pub async fn create_api_key(database: &DatabaseArgs, args: ApiKeyCreate) -> anyhow::Result<()> {
    let pool = crate::open_pool(database).await?;
    let email = args.email.trim().to_lowercase();
    let wanted = email.clone();
    let user = db::run(&pool, move |conn| match app::db::users::find_for_login(conn, &wanted)? {
        Some(row) => app::db::users::load_context(conn, row.id),
        None => Ok(None),
    })
    .await
    .context("looking up the user")?
    .ok_or_else(|| anyhow!("there is no user with the email address {email:?}"))?;
    if user.role != app::db::users::Role::ClientUser {
        return Err(anyhow!("{email:?} is owner staff: API keys are for client users"));
    }
    if !user.can_reject_leads {
        return Err(anyhow!(
            "{email:?} does not hold Reject Leads as a Client: grant it first (a key would be refused)"
        ));
    }
    let name = args.name;
    let (id, key) = db::run_or(&pool, move |conn| {
        app::db::keys::create_client_key(conn, Actor::command_line(user.instance_id), &user, &name, now())
    })
    .await?;
    eprintln!("created API key {id} for {email:?}; it is shown only now, keep it secret:");
    println!("{key}");
    Ok(())
}

/// The id of the instance named `name`, or an error saying there is none.
pub(crate) async fn instance_named(pool: &Pool, name: &str) -> anyhow::Result<i64> {
    let wanted = name.to_owned();
    db::run(pool, move |conn| instances::find_by_name(conn, &wanted))
        .await
        .context("looking up the instance")?
        .ok_or_else(|| anyhow!("there is no instance named {:?}", name.trim()))
}

/// The id of the campaign's client, or an error saying the instance has none of that name.
async fn client_named(pool: &Pool, instance_id: i64, args: &CampaignAdd) -> anyhow::Result<i64> {
    let wanted = args.client.clone();
    db::run(pool, move |conn| clients::find_by_name(conn, instance_id, &wanted))
        .await
        .context("looking up the client")?
        .ok_or_else(|| {
            anyhow!(
                "there is no client named {:?} in instance {:?}",
                args.client.trim(),
                args.instance.trim()
            )
        })
}

/// The ids of the supplier's campaigns, or an error naming the first the instance lacks.
async fn campaigns_named(pool: &Pool, instance_id: i64, args: &SupplierAdd) -> anyhow::Result<Vec<i64>> {
    let wanted = args.campaigns.clone();
    let found = db::run(pool, move |conn| {
        wanted
            .iter()
            .map(|name| campaigns::find_by_name(conn, instance_id, name))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .context("looking up the campaigns")?;
    args.campaigns
        .iter()
        .zip(found)
        .map(|(name, id)| {
            id.ok_or_else(|| {
                anyhow!("there is no campaign named {:?} in instance {:?}", name.trim(), args.instance.trim())
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::config::{Cli, Command};

    #[test]
    fn one_time_passwords_are_long_random_and_unambiguous() {
        let (a, b) = (one_time_password(), one_time_password());
        assert_eq!(a.chars().count(), PASSWORD_CHARS);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| PASSWORD_ALPHABET.contains(&c)), "{a}");
        assert!(!a.contains(['0', 'O', '1', 'l', 'I']), "{a}");
    }

    #[test]
    fn the_owner_name_defaults_to_the_email_before_the_at() {
        assert_eq!(email_name("boss@acme.test"), "boss");
    }

    #[test]
    fn flags_are_checked_before_the_database_is_opened() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["sendback"], args].concat());
        let ok = parse(&["instance", "add", "--name", "Acme", "--owner-email", " Boss@Acme.test "]);
        match ok.map(|cli| cli.command) {
            Ok(Some(Command::Instance(InstanceCommand::Add(a)))) => {
                assert_eq!(a.owner_email, "boss@acme.test")
            }
            other => panic!("expected instance add, got {other:?}"),
        }
        assert!(parse(&["instance", "add", "--name", "Acme", "--owner-email", "boss"]).is_err());
        let campaign = ["campaign", "add", "--instance", "A", "--client", "C", "--name", "N"];
        assert!(parse(&[&campaign[..], &["--field", "email:Email:email:dedupe"]].concat()).is_ok());
        assert!(parse(&[&campaign[..], &["--field", "email"]].concat()).is_err());
        assert!(parse(&[&campaign[..], &["--max-rejection-days", "0"]].concat()).is_err());
    }
}
