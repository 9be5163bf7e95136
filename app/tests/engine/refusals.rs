//! File-level refusals (nothing is created) and the malformed-file corpus (never a panic).

use std::path::Path;

use app::domain::task::IdentifierChoice;
use app::engine::task::{RunEnd, RunLimits, SubmitError, TaskRequest};

use crate::common::{TestDb, count};
use crate::support::{Env, now};

/// Outcome counts, or a fragment of the refusal.
type Expected = Result<Vec<(&'static str, i64)>, &'static str>;

#[test]
fn file_level_refusals_create_nothing() {
    let env = Env::new(TestDb::sqlite());
    let good = env.file("good.csv", b"Lead ID,Rejection Reason\n1,x\n");
    let refused = |req: &TaskRequest, file: &Path| -> String {
        match env.submit(req, file) {
            Err(SubmitError::Refused { message, .. }) => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    };
    let base = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");

    let pet = env.request("Pet Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
    assert!(refused(&pet, &good).contains("no maximum rejection time"));
    let mut future = base.clone();
    future.reject_from = Some(now().date() + chrono::Days::new(1));
    assert!(refused(&future, &good).contains("in the future"));
    let car_email = env.request(
        "Car Insurance UK",
        IdentifierChoice::Field(env.field("Car Insurance UK", "email")),
        "Lead ID",
        "Rejection Reason",
    );
    assert!(refused(&car_email, &good).contains("not deduplicated"));
    let wrong_col = env.request("Home Insurance UK", IdentifierChoice::LeadId, "lead_id", "Rejection Reason");
    assert_eq!(refused(&wrong_col, &good), "The column \"lead_id\" is not in the file's header row.");
    let xlsx = env.file("book.csv", b"PK\x03\x04\x14\x00\x06\x00\x08\x00rest");
    assert!(refused(&base, &xlsx).contains("Excel"));
    let no_header = env.file("noheader.csv", b"1020069,Duplicate lead\n");
    assert!(refused(&base, &no_header).contains("no header row"));
    assert!(refused(&base, &env.file("empty.csv", b"")).contains("empty"));
    // Another client's campaign is not found, as if it did not exist.
    let bolt = env.request("Energy Switch UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
    assert!(matches!(env.submit(&bolt, &good), Err(SubmitError::CampaignNotFound)));

    // No task, and nothing besides the eight uploads themselves (each file became the client's
    // upload first, as the upload endpoint stores a request body; a refused task adds nothing
    // to it, and the upload stays so the form can be corrected).
    assert_eq!(count(&mut env.conn(), "SELECT COUNT(*) AS n FROM rejection_tasks"), 0);
    assert_eq!(count(&mut env.conn(), "SELECT COUNT(*) AS n FROM uploads"), 8);
    assert_eq!(std::fs::read_dir(env.dir.path().join("uploads")).expect("dir").count(), 8);
    assert_eq!(
        count(&mut env.conn(), "SELECT COUNT(*) AS n FROM lead_status_history WHERE task_id IS NOT NULL"),
        0
    );
}

#[test]
fn the_malformed_file_corpus_never_panics() {
    let env = Env::new(TestDb::sqlite());
    let inside = env.leads_where("Home Insurance UK", "received", 1, 6, 3);
    let (a, b) = (inside[0], inside[1]);
    let big_field = "z".repeat(10 * 1024 * 1024);
    // (name, contents, expected: Ok(outcome counts) or Err(refusal fragment))
    let corpus: Vec<(&str, Vec<u8>, Expected)> = vec![
        (
            "bom.csv",
            format!("\u{feff}Lead ID,Rejection Reason\n{a},x\n").into_bytes(),
            Ok(vec![("rejected", 1)]),
        ),
        (
            "semicolon.csv",
            format!("Lead ID;Rejection Reason\n{b};\"a; b\"\n").into_bytes(),
            Ok(vec![("rejected", 1)]),
        ),
        (
            "crlf.csv",
            format!("Lead ID,Rejection Reason\r\n{a},x\r\n\r\n").into_bytes(),
            Ok(vec![("already_rejected", 1)]),
        ),
        (
            "ragged.csv",
            format!("Lead ID,Rejection Reason\n{a}\n{b},x,extra,cells\n").into_bytes(),
            Ok(vec![("already_rejected", 1), ("invalid", 1)]),
        ),
        ("nul.csv", b"Lead ID,Rejection Reason\n1,\x00\n".to_vec(), Err("NUL")),
        ("xlsx.csv", b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00".to_vec(), Err("xlsx")),
        (
            "unterminated.csv",
            format!("Lead ID,Rejection Reason\n{},\"never closed\n{},y\n", inside[2], 5).into_bytes(),
            Ok(vec![("invalid", 1)]),
        ),
        (
            "bigfield.csv",
            format!("Lead ID,Rejection Reason\n{a},{big_field}\n").into_bytes(),
            Ok(vec![("invalid", 1)]),
        ),
        ("header-only.csv", b"Lead ID,Rejection Reason\n".to_vec(), Ok(vec![])),
        ("empty.csv", Vec::new(), Err("empty")),
        ("bad-utf8.csv", b"Lead ID,Rejection Reason\n1020001,\xFF\xFE\n".to_vec(), Ok(vec![("invalid", 1)])),
    ];
    for (name, contents, expected) in corpus {
        let file = env.file(name, &contents);
        let req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        match (env.submit(&req, &file), expected) {
            (Ok(_), Ok(counts)) => {
                let (task, end) = env.worker(1000).run_one(RunLimits::default()).expect("run").expect("task");
                assert_eq!(end, RunEnd::Completed, "{name}");
                let got: Vec<(&str, i64)> = env.counts(task).into_iter().collect();
                assert_eq!(got, counts, "{name}");
            }
            (Err(SubmitError::Refused { message, .. }), Err(fragment)) => {
                assert!(message.contains(fragment), "{name}: {message}");
            }
            (got, want) => panic!("{name}: got {got:?}, expected {want:?}"),
        }
    }
}
