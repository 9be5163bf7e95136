//! Uploads: a stored upload starts one task for its owner only, who sees the task page and history;
//! the file is kept in the database, so a server whose upload folder lacks it (another server)
//! runs the task from a copy of it, and a damaged copy is fetched again; unused uploads, their
//! parts and partial files are pruned.

use std::collections::BTreeMap;
use std::sync::Arc;

use app::clock::Clock as _;
use app::db::schema::{rejection_tasks, uploads as uploads_table};
use app::domain::task::IdentifierChoice;
use app::engine::task::views;
use app::engine::task::{self, RunEnd, RunLimits, SubmitError};
use app::engine::uploads::{self, Storage, StoredFile};
use app::engine::worker::Worker;
use chrono::TimeDelta;
use diesel::prelude::*;
use sha2::Digest;

use crate::common::count;
use crate::support::{Env, lead_id_csv, now};

/// `contents` written into `storage` under a fresh name, as the upload endpoint receives a body.
fn received(storage: &Storage, contents: &[u8]) -> StoredFile {
    std::fs::create_dir_all(&storage.dir).expect("dir");
    let key = Storage::new_key();
    std::fs::write(storage.path_of(&key), contents).expect("write");
    StoredFile { key, size: contents.len() as u64, sha256: uploads::hex(&sha2::Sha256::digest(contents)) }
}

/// The stored file name of task `task_id`'s upload.
fn key_of_task(env: &Env, task_id: i64) -> String {
    rejection_tasks::table
        .inner_join(uploads_table::table)
        .filter(rejection_tasks::id.eq(task_id))
        .select(uploads_table::storage_key)
        .first(&mut env.conn())
        .expect("key")
}

/// A worker of another server: same database, its own (empty) upload folder.
fn other_server(env: &Env, dir: &std::path::Path) -> Worker {
    let mut w = Worker::new(env.db.pool().clone(), Storage::new(dir), Arc::new(env.clock.clone()));
    w.batch_rows = 1000;
    w
}

/// Three leads to reject and 2,600 unknown ids with long reasons: about 2.4 MB, three parts.
fn large_file(env: &Env) -> (Vec<u8>, usize) {
    let leads = env.leads_where("Home Insurance UK", "received", 0, 2, 3);
    let reason = "r".repeat(900);
    let mut rows: Vec<(String, &str)> = leads.iter().map(|id| (id.to_string(), "Wrong number")).collect();
    rows.extend((0..2600).map(|i| (format!("{}", 900_000_000 + i), reason.as_str())));
    (lead_id_csv(&rows), leads.len())
}

#[test]
fn an_upload_starts_one_task_and_only_for_its_owner() {
    for env in Env::all() {
        let l = env.db.label;
        let client = env.user("client@sendback.test");
        let bolt = env.user("bolt@sendback.test");
        let storage = env.storage();
        let file = received(&storage, b"Lead ID,Rejection Reason\n1,x\n");
        let upload = uploads::record_upload(&mut env.conn(), &storage, &client, "mine.csv", &file, now())
            .expect("upload");
        let mut req =
            env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        req.request_key = Some(format!("upload-{upload}"));
        // Another user cannot use it, whatever id they send.
        let theirs = task::submit_upload(&mut env.conn(), &storage, &bolt, &req, upload, now());
        assert!(matches!(theirs, Err(SubmitError::Refused { field: "file", .. })), "{l}: {theirs:?}");
        let a = task::submit_upload(&mut env.conn(), &storage, &client, &req, upload, now()).expect("a");
        let b = task::submit_upload(&mut env.conn(), &storage, &client, &req, upload, now()).expect("b");
        assert_eq!(a, b, "{l}: the same form twice is one task");
        assert_eq!(count(&mut env.conn(), "SELECT COUNT(*) AS n FROM rejection_tasks"), 1, "{l}");
        // The task page and history: the client who started it and owner staff; nobody else.
        let owner = env.user("owner@sendback.test");
        let viewer = env.user("viewer@sendback.test");
        let other = env.user("other@sendback.test");
        let view = views::task_view(&mut env.conn(), &client, a).expect("view").expect("visible");
        assert_eq!(
            (view.file_name.as_str(), view.campaign.as_str()),
            ("mine.csv", "Home Insurance UK"),
            "{l}"
        );
        assert!(views::task_view(&mut env.conn(), &owner, a).expect("view").is_some(), "{l}");
        for who in [&bolt, &viewer, &other] {
            assert!(views::task_view(&mut env.conn(), who, a).expect("view").is_none(), "{l}: {}", who.email);
            assert!(views::task_history(&mut env.conn(), who, 20).expect("history").is_empty(), "{l}");
        }
        assert_eq!(views::task_history(&mut env.conn(), &client, 20).expect("history").len(), 1, "{l}");
        assert_eq!(views::task_history(&mut env.conn(), &owner, 20).expect("history").len(), 1, "{l}");
    }
}

#[test]
fn unused_uploads_are_pruned_after_a_day_and_used_ones_kept() {
    for env in Env::all() {
        let l = env.db.label;
        let client = env.user("client@sendback.test");
        let storage = env.storage();
        let mut keep = Vec::new();
        for name in ["used.csv", "unused.csv", "interrupted.csv"] {
            let file = received(&storage, b"Lead ID,Rejection Reason\n1,x\n");
            let id = uploads::record_upload(&mut env.conn(), &storage, &client, name, &file, now())
                .expect("upload");
            keep.push((id, file.key));
        }
        let req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        task::submit_upload(&mut env.conn(), &storage, &client, &req, keep[0].0, now()).expect("task");
        // The third as a server stopped while storing it leaves it: not usable.
        diesel::update(uploads_table::table.find(keep[2].0))
            .set(uploads_table::stored.eq(false))
            .execute(&mut env.conn())
            .expect("interrupt");
        let stuck = uploads::find_upload(&mut env.conn(), &client, keep[2].0).expect("find");
        assert_eq!(stuck, None, "{l}: an upload is usable only once stored");
        assert_eq!(count(&mut env.conn(), "SELECT COUNT(*) AS n FROM upload_parts"), 3, "{l}");
        std::fs::write(storage.dir.join("interrupted.csv.part"), b"Lead ID,").expect("part");
        std::fs::write(storage.dir.join(format!("{}.fetch-0123", keep[0].1)), b"Lead").expect("fetch");
        // A copy of an upload another server deleted.
        let orphan = Storage::new_key();
        std::fs::write(storage.path_of(&orphan), b"Lead ID,Rejection Reason\n").expect("orphan");
        // Not yet a day old: nothing goes.
        assert_eq!(uploads::prune_unused_uploads(&mut env.conn(), &storage, now()).expect("prune"), 0, "{l}");
        let later = now() + TimeDelta::days(2);
        let far_future = chrono::Utc::now().naive_utc() + TimeDelta::days(2);
        assert_eq!(
            uploads::prune_unused_uploads(&mut env.conn(), &storage, later.max(far_future)).expect("prune"),
            2,
            "{l}"
        );
        assert!(storage.path_of(&keep[0].1).exists(), "{l}: a task's file stays");
        assert!(!storage.path_of(&keep[1].1).exists(), "{l}: the unused file goes");
        assert!(!storage.path_of(&keep[2].1).exists(), "{l}: so does the interrupted one");
        assert!(!storage.dir.join("interrupted.csv.part").exists(), "{l}: partial files go");
        assert!(!storage.dir.join(format!("{}.fetch-0123", keep[0].1)).exists(), "{l}: partial copies go");
        assert!(!storage.path_of(&orphan).exists(), "{l}: copies of deleted uploads go");
        assert_eq!(count(&mut env.conn(), "SELECT COUNT(*) AS n FROM uploads"), 1, "{l}");
        let parts = count(&mut env.conn(), "SELECT COUNT(*) AS n FROM upload_parts");
        let kept = count(
            &mut env.conn(),
            &format!("SELECT COUNT(*) AS n FROM upload_parts WHERE upload_id = {}", keep[0].0),
        );
        assert_eq!((parts, kept), (1, 1), "{l}: the parts went with their uploads");
    }
}

/// The machine API's submit: eight requests with one idempotency key at once make one task (the
/// others are told it is theirs again); a different file under the key makes nothing.
#[test]
fn one_idempotency_key_sent_at_once_makes_one_task() {
    for env in Env::all() {
        let l = env.db.label;
        let client = env.user("client@sendback.test");
        let storage = env.storage();
        let lead = env.leads_where("Home Insurance UK", "received", 0, 2, 1)[0];
        let body = format!("Lead ID,Rejection Reason\n{lead},Wrong number\n");
        let mut req =
            env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        req.request_key = Some(format!("api:{}:retry-me", client.id));
        // Each request has its own stored copy; the ninth has another file under the same key.
        let copies: Vec<(StoredFile, std::path::PathBuf)> = (0..9)
            .map(|i| {
                let contents = if i == 8 { format!("{body}{lead},Again\n") } else { body.clone() };
                let stored = received(&storage, contents.as_bytes());
                let path = storage.path_of(&stored.key);
                (stored, path)
            })
            .collect();
        let barrier = std::sync::Barrier::new(8);
        let outcomes: Vec<task::Submitted> = std::thread::scope(|s| {
            let handles: Vec<_> = copies[..8]
                .iter()
                .map(|(stored, path)| {
                    let (env, req, client, barrier) = (&env, &req, &client, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        let file = task::ReceivedFile { name: "crm.csv", stored, path, quota_bytes: None };
                        task::submit_file(&mut env.conn(), client, req, file, now()).expect("submit")
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        let created: Vec<i64> = outcomes
            .iter()
            .filter_map(|o| if let task::Submitted::Created(id) = o { Some(*id) } else { None })
            .collect();
        assert_eq!(created.len(), 1, "{l}: {outcomes:?}");
        assert!(
            outcomes.iter().all(|o| matches!(o, task::Submitted::Created(id) | task::Submitted::Repeated(id) if *id == created[0])),
            "{l}: {outcomes:?}"
        );
        let (stored, path) = &copies[8];
        let file = task::ReceivedFile { name: "crm.csv", stored, path, quota_bytes: None };
        let reused = task::submit_file(&mut env.conn(), &client, &req, file, now()).expect("submit");
        assert_eq!(reused, task::Submitted::KeyReused, "{l}");
        // The same file with other settings under the key is refused too.
        let mut other = req.clone();
        other.options.count_towards_cap = !other.options.count_towards_cap;
        let (stored, path) = &copies[0];
        let file = task::ReceivedFile { name: "crm.csv", stored, path, quota_bytes: None };
        let reused = task::submit_file(&mut env.conn(), &client, &other, file, now()).expect("submit");
        assert_eq!(reused, task::Submitted::KeyReused, "{l}");
        assert_eq!(count(&mut env.conn(), "SELECT COUNT(*) AS n FROM rejection_tasks"), 1, "{l}");
        assert_eq!(
            count(&mut env.conn(), "SELECT COUNT(*) AS n FROM uploads"),
            1,
            "{l}: one upload row, the task's"
        );
        assert_eq!(
            count(&mut env.conn(), "SELECT COUNT(*) AS n FROM upload_parts"),
            1,
            "{l}: the file's one part, the others' went with them"
        );
    }
}

/// Two servers on one database: a task queued on one (its upload folder has the file) is run by a
/// worker of another, whose folder is empty; the file comes from the database, whole.
#[test]
fn a_task_queued_on_one_server_runs_on_another() {
    for env in Env::all() {
        let l = env.db.label;
        let (contents, leads) = large_file(&env);
        assert!(contents.len() > 2 * uploads::PART_BYTES, "{l}: three parts");
        let req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        let id = env.submit(&req, &env.file("big.csv", &contents)).expect("submitted");
        let other = tempfile::tempdir().expect("dir");
        let (ran, end) =
            other_server(&env, other.path()).run_one(RunLimits::default()).expect("run").expect("task");
        assert_eq!((ran, end), (id, RunEnd::Completed), "{l}");
        assert_eq!(env.counts(id), BTreeMap::from([("not_found", 2600), ("rejected", leads as i64)]), "{l}");
        let copy = std::fs::read(other.path().join(key_of_task(&env, id))).expect("the other server's copy");
        assert!(copy == contents, "{l}: the copy is the file received");
    }
}

/// A copy of the wrong size (a server stopped while writing it, a full disk) is not used: the file
/// is fetched again. Without its parts or a copy, the task fails saying the file cannot be read.
#[test]
fn a_damaged_copy_is_fetched_again_and_a_lost_file_fails_the_task() {
    for env in Env::all() {
        let l = env.db.label;
        let lead = env.leads_where("Home Insurance UK", "received", 0, 2, 1)[0];
        let contents = lead_id_csv(&[(lead.to_string(), "Wrong number")]);
        let req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        let upload = env.upload(&env.file("one.csv", &contents));
        let key: String = uploads_table::table
            .find(upload)
            .select(uploads_table::storage_key)
            .first(&mut env.conn())
            .expect("key");
        let copy = env.storage().path_of(&key);
        std::fs::write(&copy, &contents[..10]).expect("truncate");
        let id = env.submit_upload(&req, upload).expect("submitted on the file fetched again");
        assert!(std::fs::read(&copy).expect("copy") == contents, "{l}: fetched again");
        std::fs::write(&copy, &contents[..10]).expect("truncate");
        let (ran, end) = env.worker(1000).run_one(RunLimits::default()).expect("run").expect("task");
        assert_eq!((ran, end), (id, RunEnd::Completed), "{l}");
        assert_eq!(env.counts(id), BTreeMap::from([("rejected", 1)]), "{l}");

        // Lost: no parts, no copy on the server running it.
        let lost = env.submit(&req, &env.file("two.csv", &contents)).expect("submitted");
        diesel::sql_query(format!(
            "DELETE FROM upload_parts WHERE upload_id = (SELECT upload_id FROM rejection_tasks WHERE id = {lost})"
        ))
        .execute(&mut env.conn())
        .expect("lose the parts");
        let other = tempfile::tempdir().expect("dir");
        let (ran, end) =
            other_server(&env, other.path()).run_one(RunLimits::default()).expect("run").expect("task");
        assert_eq!((ran, end), (lost, RunEnd::Failed), "{l}");
        let reason: Option<String> = rejection_tasks::table
            .find(lost)
            .select(rejection_tasks::failure_reason)
            .first(&mut env.conn())
            .expect("reason");
        let reason = reason.unwrap_or_default();
        assert!(reason.starts_with("The file could not be read: "), "{l}: {reason}");
        assert_eq!(std::fs::read_dir(other.path()).expect("dir").count(), 0, "{l}: no partial copy left");
    }
}

/// Retention: an upload's file goes once every task using it has ended longer ago than the
/// period (its parts, this server's copy); the row, the task and its results stay, and the file
/// cannot be used again. A file whose task is still queued, or ended recently, stays.
#[test]
fn files_of_ended_tasks_go_after_the_retention_period_and_their_results_stay() {
    for env in Env::all() {
        let l = env.db.label;
        let lead = env.leads_where("Home Insurance UK", "received", 0, 2, 1)[0];
        let contents = lead_id_csv(&[(lead.to_string(), "Wrong number")]);
        let req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        let done = env.run(&req, &env.file("done.csv", &contents));
        let waiting = env.submit(&req, &env.file("waiting.csv", &contents)).expect("queued");
        let storage = env.storage();
        let (done_key, waiting_key) = (key_of_task(&env, done), key_of_task(&env, waiting));
        let results = env.results_csv(done);
        let parts_of = |key: &str| {
            count(
                &mut env.conn(),
                &format!(
                    "SELECT COUNT(*) AS n FROM upload_parts p JOIN uploads u ON u.id = p.upload_id \
                     WHERE u.storage_key = '{key}'"
                ),
            )
        };
        // Ended just now: within the period, nothing goes.
        let ended_before = env.clock.now() - TimeDelta::days(30);
        let pruned = uploads::prune_expired_uploads(&mut env.conn(), &storage, ended_before, env.clock.now());
        assert_eq!(pruned.expect("prune"), 0, "{l}");
        // 31 days on: the ended task's file goes, the queued one's stays.
        let later = env.clock.now() + TimeDelta::days(31);
        let pruned =
            uploads::prune_expired_uploads(&mut env.conn(), &storage, later - TimeDelta::days(30), later);
        assert_eq!(pruned.expect("prune"), 1, "{l}");
        assert!(!storage.path_of(&done_key).exists(), "{l}: the copy went");
        assert_eq!(parts_of(&done_key), 0, "{l}: the parts went");
        assert!(storage.path_of(&waiting_key).exists(), "{l}: a queued task's file stays");
        assert!(parts_of(&waiting_key) > 0, "{l}");
        assert_eq!(env.results_csv(done), results, "{l}: the results stay");
        let deleted_at: Option<chrono::NaiveDateTime> = uploads_table::table
            .filter(uploads_table::storage_key.eq(&done_key))
            .select(uploads_table::deleted_at)
            .first(&mut env.conn())
            .expect("row stays");
        assert_eq!(deleted_at, Some(later), "{l}");
        // The file cannot be had any more, and says why.
        let err = storage.local_copy(&mut env.conn(), &done_key).expect_err("gone");
        assert!(err.to_string().contains("retention"), "{l}: {err}");
        // Run again: nothing more.
        let again =
            uploads::prune_expired_uploads(&mut env.conn(), &storage, later, later + TimeDelta::days(1));
        assert_eq!(again.expect("prune"), 0, "{l}");
        // Another server's copies: the deleted file's goes at that server's next clean-up, the
        // queued task's stays.
        let other = tempfile::tempdir().expect("dir");
        let other_storage = Storage::new(other.path());
        for key in [&done_key, &waiting_key] {
            std::fs::write(other_storage.path_of(key), &contents).expect("copy");
        }
        let far_future = chrono::Utc::now().naive_utc() + TimeDelta::days(2);
        uploads::prune_unused_uploads(&mut env.conn(), &other_storage, far_future.max(later)).expect("prune");
        assert!(!other_storage.path_of(&done_key).exists(), "{l}: the other server's copy went");
        assert!(other_storage.path_of(&waiting_key).exists(), "{l}: a queued task's copy stays");
    }
}

/// The storage quota: an upload that would pass the instance's quota is refused with the figures,
/// and nothing is kept; deleted files no longer count.
#[test]
fn an_upload_past_the_instance_quota_is_refused() {
    for env in Env::all() {
        let l = env.db.label;
        let client = env.user("client@sendback.test");
        let mut storage = env.storage();
        let contents = b"Lead ID,Rejection Reason\n1,x\n".repeat(100);
        let used_before = uploads::storage_used(&mut env.conn(), client.instance_id).expect("used");
        storage.quota_bytes = Some(used_before + 2 * contents.len() as u64 + 10);
        let first = received(&storage, &contents);
        uploads::record_upload(&mut env.conn(), &storage, &client, "a.csv", &first, now()).expect("fits");
        let second = received(&storage, &contents);
        uploads::record_upload(&mut env.conn(), &storage, &client, "b.csv", &second, now()).expect("fits");
        let third = received(&storage, &contents);
        let uploads_before = count(&mut env.conn(), "SELECT COUNT(*) AS n FROM uploads");
        let err = uploads::record_upload(&mut env.conn(), &storage, &client, "c.csv", &third, now())
            .expect_err("over the quota");
        match &err {
            uploads::RecordError::Full(full) => {
                assert_eq!(full.used, used_before + 2 * contents.len() as u64, "{l}");
            }
            other => panic!("{l}: {other}"),
        }
        assert!(err.to_string().contains("does not fit"), "{l}: {err}");
        assert_eq!(
            count(&mut env.conn(), "SELECT COUNT(*) AS n FROM uploads"),
            uploads_before,
            "{l}: nothing kept"
        );
        // A deleted file no longer counts.
        diesel::update(uploads_table::table.filter(uploads_table::storage_key.eq(&first.key)))
            .set(uploads_table::deleted_at.eq(Some(now())))
            .execute(&mut env.conn())
            .expect("delete");
        uploads::record_upload(&mut env.conn(), &storage, &client, "c.csv", &third, now())
            .expect("fits again");
    }
}
