//! Uploads: a stored upload starts one task for its owner only, who sees the task page and history;
//! unused uploads and partial files are pruned.

use app::domain::task::IdentifierChoice;
use app::engine::task::views;
use app::engine::task::{self, SubmitError};
use app::engine::uploads::{self, Storage, StoredFile};
use chrono::TimeDelta;
use sha2::Digest;

use crate::common::count;
use crate::support::{Env, now};

#[test]
fn an_upload_starts_one_task_and_only_for_its_owner() {
    for env in Env::all() {
        let l = env.db.label;
        let client = env.user("client@sendback.test");
        let bolt = env.user("bolt@sendback.test");
        let storage = env.storage();
        std::fs::create_dir_all(&storage.dir).expect("dir");
        let file = StoredFile { key: Storage::new_key(), size: 26, sha256: "00".into() };
        std::fs::write(storage.path_of(&file.key), b"Lead ID,Rejection Reason\n1,x\n").expect("write");
        let upload =
            uploads::record_upload(&mut env.conn(), &client, "mine.csv", &file, now()).expect("upload");
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
        std::fs::create_dir_all(&storage.dir).expect("dir");
        let mut keep = Vec::new();
        for name in ["used.csv", "unused.csv"] {
            let file = StoredFile { key: Storage::new_key(), size: 26, sha256: "00".into() };
            std::fs::write(storage.path_of(&file.key), b"Lead ID,Rejection Reason\n1,x\n").expect("write");
            let id = uploads::record_upload(&mut env.conn(), &client, name, &file, now()).expect("upload");
            keep.push((id, file.key));
        }
        let req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        task::submit_upload(&mut env.conn(), &storage, &client, &req, keep[0].0, now()).expect("task");
        std::fs::write(storage.dir.join("interrupted.csv.part"), b"Lead ID,").expect("part");
        // Not yet a day old: nothing goes.
        assert_eq!(uploads::prune_unused_uploads(&mut env.conn(), &storage, now()).expect("prune"), 0, "{l}");
        let later = now() + TimeDelta::days(2);
        let far_future = chrono::Utc::now().naive_utc() + TimeDelta::days(2);
        assert_eq!(
            uploads::prune_unused_uploads(&mut env.conn(), &storage, later.max(far_future)).expect("prune"),
            1,
            "{l}"
        );
        assert!(storage.path_of(&keep[0].1).exists(), "{l}: a task's file stays");
        assert!(!storage.path_of(&keep[1].1).exists(), "{l}: the unused file goes");
        assert!(!storage.dir.join("interrupted.csv.part").exists(), "{l}: partial files go");
        assert_eq!(count(&mut env.conn(), "SELECT COUNT(*) AS n FROM uploads"), 1, "{l}");
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
        std::fs::create_dir_all(&storage.dir).expect("dir");
        let lead = env.leads_where("Home Insurance UK", "received", 0, 2, 1)[0];
        let body = format!("Lead ID,Rejection Reason\n{lead},Wrong number\n");
        let mut req =
            env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        req.request_key = Some(format!("api:{}:retry-me", client.id));
        // Each request has its own stored copy; the ninth has another file under the same key.
        let copies: Vec<(StoredFile, std::path::PathBuf)> = (0..9)
            .map(|i| {
                let contents = if i == 8 { format!("{body}{lead},Again\n") } else { body.clone() };
                let key = Storage::new_key();
                std::fs::write(storage.path_of(&key), &contents).expect("write");
                let sha = uploads::hex(&sha2::Sha256::digest(contents.as_bytes()));
                (
                    StoredFile { key: key.clone(), size: contents.len() as u64, sha256: sha },
                    storage.path_of(&key),
                )
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
                        let file = task::ReceivedFile { name: "crm.csv", stored, path };
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
        let file = task::ReceivedFile { name: "crm.csv", stored, path };
        let reused = task::submit_file(&mut env.conn(), &client, &req, file, now()).expect("submit");
        assert_eq!(reused, task::Submitted::KeyReused, "{l}");
        // The same file with other settings under the key is refused too.
        let mut other = req.clone();
        other.options.count_towards_cap = !other.options.count_towards_cap;
        let (stored, path) = &copies[0];
        let file = task::ReceivedFile { name: "crm.csv", stored, path };
        let reused = task::submit_file(&mut env.conn(), &client, &other, file, now()).expect("submit");
        assert_eq!(reused, task::Submitted::KeyReused, "{l}");
        assert_eq!(count(&mut env.conn(), "SELECT COUNT(*) AS n FROM rejection_tasks"), 1, "{l}");
        assert_eq!(
            count(&mut env.conn(), "SELECT COUNT(*) AS n FROM uploads"),
            1,
            "{l}: one upload row, the task's"
        );
    }
}
