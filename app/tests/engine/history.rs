//! The task history's keyset pages: newest first, every visible task once whichever way the user
//! pages, the same pages while new tasks arrive, and only the tasks the user may see.

use app::domain::task::IdentifierChoice;
use app::engine::task::views::{self, HistoryPage, HistorySlice};
use chrono::TimeDelta;

use crate::support::Env;

fn ids(slice: &HistorySlice) -> Vec<i64> {
    slice.tasks.iter().map(|t| t.id).collect()
}

#[test]
fn the_history_pages_through_every_task_newest_first() {
    for env in Env::all() {
        let l = env.db.label;
        let client = env.user("client@sendback.test");
        let owner = env.user("owner@sendback.test");
        let req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        let file = env.file("many.csv", b"Lead ID,Rejection Reason\n1,a\n");
        // 45 tasks, several made in the same second (the id orders those).
        for i in 0..45 {
            env.submit(&req, &file).expect("submit");
            if i % 4 == 0 {
                env.clock.advance(TimeDelta::seconds(1));
            }
        }
        for user in [&client, &owner] {
            let all = views::task_history(&mut env.conn(), user, 1000).expect("all");
            assert!(all.len() >= 45, "{l}");
            let all: Vec<i64> = all.iter().map(|t| t.id).collect();
            // Older, page by page.
            let mut page =
                views::task_history_page(&mut env.conn(), user, HistoryPage::Newest, 20).expect("page");
            assert!(!page.has_newer && page.has_older, "{l}");
            let mut seen = ids(&page);
            let mut pages = vec![ids(&page)];
            while page.has_older {
                let last = *seen.last().expect("a task");
                page = views::task_history_page(&mut env.conn(), user, HistoryPage::OlderThan(last), 20)
                    .expect("page");
                assert!(page.has_newer, "{l}");
                seen.extend(ids(&page));
                pages.push(ids(&page));
            }
            assert_eq!(seen, all, "{l}: {}: every task once, newest first", user.email);
            assert!(pages.iter().all(|p| p.len() <= 20), "{l}");
            // Newer, from the oldest page back to the first.
            let mut back = pages.last().cloned().expect("pages");
            for want in pages.iter().rev().skip(1) {
                let first = back[0];
                let page = views::task_history_page(&mut env.conn(), user, HistoryPage::NewerThan(first), 20)
                    .expect("page");
                back = ids(&page);
                assert_eq!(&back, want, "{l}");
            }
        }
        // A new task does not move the pages already counted from a cursor.
        let first =
            views::task_history_page(&mut env.conn(), &client, HistoryPage::Newest, 20).expect("page");
        let second_before = views::task_history_page(
            &mut env.conn(),
            &client,
            HistoryPage::OlderThan(*ids(&first).last().expect("task")),
            20,
        )
        .expect("page");
        let newest = env.submit(&req, &file).expect("submit");
        let second_after = views::task_history_page(
            &mut env.conn(),
            &client,
            HistoryPage::OlderThan(*ids(&first).last().expect("task")),
            20,
        )
        .expect("page");
        assert_eq!(ids(&second_after), ids(&second_before), "{l}");
        let newer =
            views::task_history_page(&mut env.conn(), &client, HistoryPage::NewerThan(ids(&first)[0]), 20)
                .expect("page");
        assert_eq!((ids(&newer), newer.has_newer, newer.has_older), (vec![newest], false, true), "{l}");
        // Nobody else sees these tasks, whatever cursor they send.
        for who in ["bolt@sendback.test", "other@sendback.test"] {
            let who = env.user(who);
            for page in
                [HistoryPage::Newest, HistoryPage::OlderThan(newest), HistoryPage::NewerThan(ids(&first)[0])]
            {
                let slice = views::task_history_page(&mut env.conn(), &who, page, 20).expect("page");
                assert!(!slice.tasks.iter().any(|t| all_of(&env, t.id)), "{l}: {}", who.email);
            }
        }
    }
}

/// Whether task `id` was started by the test's client.
fn all_of(env: &Env, id: i64) -> bool {
    use app::db::schema::rejection_tasks;
    use diesel::prelude::*;
    let client = env.user("client@sendback.test");
    rejection_tasks::table
        .find(id)
        .select(rejection_tasks::user_id)
        .first::<i64>(&mut env.conn())
        .is_ok_and(|by| by == client.id)
}
