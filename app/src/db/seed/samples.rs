//! Sample files: the rejection files under `samples/`, made from the same generated leads as the
//! seed so that every row gives the outcome it promises.

use std::fmt::Write as _;
use std::path::Path;

use chrono::NaiveDateTime;

use super::catalogue::{CAMPAIGNS, CLIENT_REJECTION_REASONS};
use super::generate::{DemoData, GenLead};
use crate::domain::status::LeadStatus;

/// Writes the sample rejection files under `dir`, matching the leads that `seed_demo(now)` creates.
/// The committed `samples/` folder is this function's output (a test keeps them in step).
pub fn write_samples(dir: &Path, now: NaiveDateTime) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let data = DemoData::generate(now);
    let mut written = Vec::new();
    for (name, contents) in sample_files(&data, now) {
        std::fs::write(dir.join(name), contents)?;
        written.push(name.to_owned());
    }
    Ok(written)
}

/// The sample files' names and contents.
fn sample_files(data: &DemoData, now: NaiveDateTime) -> Vec<(&'static str, String)> {
    let campaign = |name: &str| CAMPAIGNS.iter().position(|c| c.name == name).unwrap_or(0);
    let (home, car) = (campaign("Home Insurance UK"), campaign("Car Insurance UK"));
    let p = Picker { data, now };
    vec![
        ("home-insurance-lead-ids.csv", lead_ids(&p, home, car)),
        ("home-insurance-emails.csv", emails(&p, home)),
        ("home-insurance-phones.csv", phones(&p, home)),
        ("car-insurance-uids.csv", uids(&p, car)),
    ]
}

/// The generated leads, as the sample files choose from them.
struct Picker<'a> {
    data: &'a DemoData,
    now: NaiveDateTime,
}

impl<'a> Picker<'a> {
    fn age_days(&self, l: &GenLead) -> i64 {
        (self.now - l.received_at).num_days()
    }

    /// The first `n` leads of `campaign` (by id) that match `pred`.
    fn pick(&self, campaign: usize, pred: &dyn Fn(&GenLead) -> bool, n: usize) -> Vec<&'a GenLead> {
        self.data.leads.iter().filter(|l| l.campaign == campaign && pred(l)).take(n).collect()
    }
}

/// The raw value of field `key` of lead `l`.
fn value(l: &GenLead, key: &str) -> String {
    l.values.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()).unwrap_or_default()
}

/// Home Insurance UK by Lead ID: recent deliveries, a few of every other outcome.
fn lead_ids(p: &Picker, home: usize, car: usize) -> String {
    let reasons = CLIENT_REJECTION_REASONS;
    let mut ids = String::from("Lead ID,Rejection Reason,Agent\n");
    let recent = p.pick(home, &|l| l.status == LeadStatus::Received && p.age_days(l) <= 4, 20);
    for (i, l) in recent.iter().enumerate() {
        let _ = writeln!(ids, "{},{},agent-{}", l.id, reasons[i % reasons.len()], i % 3 + 1);
    }
    for l in p.pick(home, &|l| l.status == LeadStatus::Received && p.age_days(l) >= 10, 3) {
        let _ = writeln!(ids, "{},Outside the window,agent-1", l.id);
    }
    for l in p.pick(home, &|l| l.status == LeadStatus::ClientRejected, 2) {
        let _ = writeln!(ids, "{},Duplicate lead,agent-2", l.id);
    }
    for l in p.pick(home, &|l| l.status == LeadStatus::Pending, 2) {
        let _ = writeln!(ids, "{},Not interested,agent-3", l.id);
    }
    for l in p.pick(car, &|l| l.status == LeadStatus::Received, 1) {
        let _ = writeln!(ids, "{},Lead of another campaign,agent-1", l.id);
    }
    if let Some(first) = recent.first() {
        let _ = writeln!(ids, "{},Repeated row,agent-1", first.id);
    }
    ids.push_str("99999999,No such lead,agent-1\n");
    ids.push_str("ABC-123,Not a number,agent-2\n");
    ids.push_str(",Missing identifier,agent-2\n");
    if let Some(l) = p.pick(home, &|l| l.status == LeadStatus::Received && p.age_days(l) <= 4, 21).last() {
        let _ = writeln!(ids, "{},,agent-3", l.id);
    }
    ids
}

/// Home Insurance UK by email: `;`-delimited, with a BOM, values written untidily.
fn emails(p: &Picker, home: usize) -> String {
    let mut emails = String::from("\u{feff}email;rejection_reason\n");
    for (i, l) in
        p.pick(home, &|l| l.status == LeadStatus::Received && p.age_days(l) <= 5, 15).iter().enumerate()
    {
        let e = value(l, "email");
        let e = if i % 2 == 0 { format!(" {} ", e.to_uppercase()) } else { e };
        let _ = writeln!(emails, "{e};\"Wrong number; no answer\"");
    }
    emails.push_str("nobody@example.com;Unknown email\n");
    emails
}

/// Home Insurance UK by phone: `|`-delimited, numbers in several formats.
fn phones(p: &Picker, home: usize) -> String {
    let mut phones = String::from("Phone|Reason|Notes\n");
    for (i, l) in p
        .pick(home, &|l| l.status == LeadStatus::Received && (1..=5).contains(&p.age_days(l)), 15)
        .iter()
        .enumerate()
    {
        let digits = crate::domain::identifiers::Phone::parse(&value(l, "phone"))
            .map(|p| p.into_inner())
            .unwrap_or_default();
        let shown = match i % 3 {
            0 => digits.clone(),
            1 => format!("+44 {}", &digits[1..]),
            _ => format!("{} {}", &digits[..5], &digits[5..]),
        };
        let _ = writeln!(phones, "{shown}|Not interested|called twice");
    }
    phones
}

/// Car Insurance UK by UID: tab-delimited with CRLF line ends.
fn uids(p: &Picker, car: usize) -> String {
    let mut uids = String::from("uid\treason\r\n");
    for l in p.pick(car, &|l| l.status == LeadStatus::Received && p.age_days(l) <= 20, 15) {
        let _ = write!(uids, "{}\tCustomer never requested a quote\r\n", l.uid);
    }
    for l in p.pick(car, &|l| l.status == LeadStatus::Received && p.age_days(l) > 31, 2) {
        let _ = write!(uids, "{}\tToo old to reject\r\n", l.uid);
    }
    uids
}
