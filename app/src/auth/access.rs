//! Who is asking: the session → user lookup every server function and page goes through, and
//! the checks built on it (signed in, owner staff, "Reject Leads as a Client", which rejection
//! tasks a user sees). Errors set the HTTP status (401/403/404…) of the response.

use leptos::prelude::*;
use tower_sessions::Session;

use crate::db::users::{self, Role, UserContext};
use crate::error::AppError;
use crate::state::{AppState, SessionSettings, app_state};

const USER_KEY: &str = "uid";
const CREATED_KEY: &str = "created";
const SEEN_KEY: &str = "seen";
/// The user's password version when the session signed in (absent: version 0).
const PASSWORD_VERSION_KEY: &str = "pwv";
/// `last seen` is written at most this often, so reading pages does not write on every request.
const TOUCH_EVERY_SECS: i64 = 60;

/// Sets the response status for `err` and hands it back; every server function's error goes
/// through here.
pub fn respond(err: AppError) -> AppError {
    set_status(use_context::<leptos_axum::ResponseOptions>().as_ref(), &err);
    err
}

fn set_status(resp: Option<&leptos_axum::ResponseOptions>, err: &AppError) {
    if let Some(resp) = resp
        && let Ok(status) = axum::http::StatusCode::from_u16(err.status_code())
    {
        resp.set_status(status);
    }
}

/// Runs a server function body and sets the HTTP status when it fails. The response options
/// are taken before the body first awaits: during server rendering the reactive owner's
/// ancestors (and so `use_context`) are not always reachable after an `.await`. For the same
/// reason server functions take the state (`app_state`) before their first `.await`.
pub async fn guarded<T>(body: impl Future<Output = Result<T, AppError>>) -> Result<T, AppError> {
    let resp = use_context::<leptos_axum::ResponseOptions>();
    body.await.inspect_err(|err| set_status(resp.as_ref(), err))
}

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|e| {
        tracing::error!(error = %e, "no session layer");
        AppError::Internal
    })
}

fn session_err(e: tower_sessions::session::Error) -> AppError {
    use tower_sessions::session::Error as SessionError;
    use tower_sessions::session_store::Error as StoreError;
    if let SessionError::Store(StoreError::Backend(message)) = &e
        && message.starts_with(super::session_store::POOL_BUSY)
    {
        tracing::warn!(error = %e, "session store: no database connection free");
        return AppError::Busy(crate::domain::messages::SERVER_BUSY.to_owned());
    }
    tracing::error!(error = %e, "session store");
    AppError::Internal
}

/// Starts a signed-in session for `user_id`, under a new session id (no fixation).
pub async fn sign_in(state: &AppState, session: &Session, user_id: i64) -> Result<(), AppError> {
    let now = state.clock.now().and_utc().timestamp();
    let version = state.db(move |conn| users::password_version(conn, user_id)).await?;
    session.cycle_id().await.map_err(session_err)?;
    session.clear().await;
    session.insert(USER_KEY, user_id).await.map_err(session_err)?;
    session.insert(PASSWORD_VERSION_KEY, version).await.map_err(session_err)?;
    session.insert(CREATED_KEY, now).await.map_err(session_err)?;
    session.insert(SEEN_KEY, now).await.map_err(session_err)?;
    Ok(())
}

/// Ends the session server-side: its cookie is useless afterwards.
pub async fn sign_out(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(session_err)
}

/// The signed-in user, if any, even one who must still replace a one-time password (the shell
/// and the change-password form need them). Expired sessions (idle or absolute) are ended here.
pub async fn optional_user() -> Result<Option<UserContext>, AppError> {
    let state = app_state()?;
    // Taken before the first await (see `guarded`).
    let seen = use_context::<RequestUser>();
    let session = session().await?;
    match seen {
        Some(seen) => seen.get_or_load(&session, signed_in_user(&state, &session)).await,
        None => signed_in_user(&state, &session).await,
    }
}

/// The signed-in user as this request found them, so a page loads them once: server rendering runs
/// the shell's `get_me` and the page's own server functions for the same request, and each asks
/// who is signed in. Provided afresh for every request (`server::router`); a request's
/// concurrent askers wait for the first lookup. The answer belongs to the session id it was
/// found under: signing in gives the session a new id and signing out removes it, and neither id
/// matches again, so the next asker looks the user up anew.
#[derive(Clone, Default)]
pub struct RequestUser(std::sync::Arc<tokio::sync::Mutex<Option<FoundUser>>>);

/// A user lookup's answer and the session id it was found under.
type FoundUser = (tower_sessions::session::Id, Option<UserContext>);

impl RequestUser {
    async fn get_or_load(
        &self,
        session: &Session,
        load: impl Future<Output = Result<Option<UserContext>, AppError>>,
    ) -> Result<Option<UserContext>, AppError> {
        let mut seen = self.0.lock().await;
        if let (Some((id, user)), Some(now)) = (seen.as_ref(), session.id())
            && *id == now
        {
            return Ok(user.clone());
        }
        let user = load.await?;
        // The id as the lookup left it: `None` when it ended the session (nothing is kept then).
        *seen = session.id().map(|id| (id, user.clone()));
        Ok(user)
    }
}

/// A user who must replace a one-time password may do nothing else (403).
fn may_act(user: UserContext) -> Result<UserContext, AppError> {
    if user.must_change_password { Err(AppError::PasswordChangeRequired) } else { Ok(user) }
}

/// The user signed in on `session`, if any (plain HTTP handlers call this directly); 403 while
/// they must replace a one-time password.
pub async fn user_of_session(state: &AppState, session: &Session) -> Result<Option<UserContext>, AppError> {
    signed_in_user(state, session).await?.map(may_act).transpose()
}

/// Where a session stands, from its stored values at `now` (the application clock, seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Nobody is signed in on it.
    Anonymous,
    /// Past the idle or the absolute limit: it must be ended.
    Expired,
    /// Signed in as `user_id` under password version `password_version`; `touch`: its `last seen`
    /// is due to be written.
    SignedIn { user_id: i64, password_version: i64, touch: bool },
}

/// The session values `uid`, `created`, `seen` and `pwv`, as stored.
#[derive(Debug, Clone, Copy, Default)]
struct Stored {
    user_id: Option<i64>,
    created: Option<i64>,
    seen: Option<i64>,
    password_version: Option<i64>,
}

fn standing(stored: Stored, now: i64, limits: SessionSettings) -> Standing {
    let Some(user_id) = stored.user_id else { return Standing::Anonymous };
    let (created, seen) = (stored.created.unwrap_or(0), stored.seen.unwrap_or(0));
    if now - seen > limits.idle_timeout.num_seconds()
        || now - created > limits.absolute_lifetime.num_seconds()
    {
        return Standing::Expired;
    }
    Standing::SignedIn {
        user_id,
        password_version: stored.password_version.unwrap_or(0),
        touch: now - seen >= TOUCH_EVERY_SECS,
    }
}

/// The signed-in user: in one database call when the session needs no change, else through the
/// session (which ends it or writes its `last seen`).
async fn signed_in_user(state: &AppState, session: &Session) -> Result<Option<UserContext>, AppError> {
    match signed_in_user_at_once(state, session).await? {
        Some(user) => Ok(user),
        None => signed_in_user_through_session(state, session).await,
    }
}

/// The session's row and its user read together, on one connection: what a page view usually
/// needs, and one blocking hop rather than two. `None` when the full path must decide (no such
/// row, a session ended by its limits, a changed password or a removed user, a `last seen` due,
/// a value of an unexpected type): it loads the session and ends or updates it.
async fn signed_in_user_at_once(
    state: &AppState,
    session: &Session,
) -> Result<Option<Option<UserContext>>, AppError> {
    // A session changed during this request (signed in or out) differs from its row; with no id
    // the full path needs no database at all.
    let Some(id) = session.id().filter(|_| !session.is_modified()) else { return Ok(None) };
    let now = state.clock.now().and_utc().timestamp();
    let limits = state.sessions;
    let found = state
        .db(move |conn| {
            let Some(values) = super::session_store::read_values(conn, &id)? else { return Ok(None) };
            let int = |key: &str| match values.get(key) {
                None => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or(()),
            };
            let (Ok(user_id), Ok(created), Ok(seen), Ok(password_version)) =
                (int(USER_KEY), int(CREATED_KEY), int(SEEN_KEY), int(PASSWORD_VERSION_KEY))
            else {
                return Ok(None);
            };
            match standing(Stored { user_id, created, seen, password_version }, now, limits) {
                Standing::Anonymous => Ok(Some(None)),
                Standing::SignedIn { user_id, password_version, touch: false } => {
                    Ok(users::load_context(conn, user_id)?
                        .filter(|user| user.password_version == password_version)
                        .map(Some))
                }
                Standing::SignedIn { touch: true, .. } | Standing::Expired => Ok(None),
            }
        })
        .await?;
    Ok(found)
}

async fn signed_in_user_through_session(
    state: &AppState,
    session: &Session,
) -> Result<Option<UserContext>, AppError> {
    let user_id = session.get::<i64>(USER_KEY).await.map_err(session_err)?;
    if user_id.is_none() {
        return Ok(None);
    }
    let stored = Stored {
        user_id,
        created: session.get::<i64>(CREATED_KEY).await.map_err(session_err)?,
        seen: session.get::<i64>(SEEN_KEY).await.map_err(session_err)?,
        password_version: session.get::<i64>(PASSWORD_VERSION_KEY).await.map_err(session_err)?,
    };
    let now = state.clock.now().and_utc().timestamp();
    match standing(stored, now, state.sessions) {
        Standing::Anonymous => Ok(None),
        Standing::Expired => {
            sign_out(session).await?;
            Ok(None)
        }
        Standing::SignedIn { user_id, password_version, touch } => {
            let user = state.db(move |conn| users::load_context(conn, user_id)).await?;
            if user.as_ref().is_none_or(|u| u.password_version != password_version) {
                // The account is gone, or its password changed since this session signed in.
                sign_out(session).await?;
                return Ok(None);
            }
            if touch {
                session.insert(SEEN_KEY, now).await.map_err(session_err)?;
            }
            Ok(user)
        }
    }
}

/// The signed-in user, or 401 (403 while they must replace a one-time password).
pub async fn current_user() -> Result<UserContext, AppError> {
    may_act(optional_user().await?.ok_or(AppError::Unauthenticated)?)
}

/// Owner staff of the instance, or 403.
pub async fn require_owner() -> Result<UserContext, AppError> {
    let user = current_user().await?;
    require_owner_user(&user)?;
    Ok(user)
}

/// 403 unless `user` is owner staff (plain HTTP handlers that already hold the user).
pub fn require_owner_user(user: &UserContext) -> Result<(), AppError> {
    if user.role == Role::OwnerStaff { Ok(()) } else { Err(AppError::Forbidden) }
}

/// A client user holding "Reject Leads as a Client", or 403.
pub async fn require_reject_permission() -> Result<UserContext, AppError> {
    let user = current_user().await?;
    may_reject(&user)?;
    Ok(user)
}

/// Who may read rejection tasks at all: owner staff, and client users holding the permission.
pub fn may_read_tasks(user: &UserContext) -> Result<(), AppError> {
    if user.role == Role::OwnerStaff { Ok(()) } else { may_reject(user) }
}

/// Which rejection tasks of their instance a user sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskVisibility {
    /// Owner staff: every task of the instance.
    All,
    /// A client user: the tasks this user started.
    StartedBy(i64),
}

impl TaskVisibility {
    /// The one rule for seeing a task (its page, its results, the history): owner staff see every
    /// task of their instance; a client user sees the tasks they started. Queries also keep to
    /// the user's instance.
    pub fn of(user: &UserContext) -> Self {
        if user.role == Role::OwnerStaff { TaskVisibility::All } else { TaskVisibility::StartedBy(user.id) }
    }

    /// Whether a task of the user's instance, started by `started_by`, is visible.
    pub fn allows(self, started_by: i64) -> bool {
        match self {
            TaskVisibility::All => true,
            TaskVisibility::StartedBy(user_id) => user_id == started_by,
        }
    }
}

/// 403 unless `user` is a client user holding "Reject Leads as a Client".
pub fn may_reject(user: &UserContext) -> Result<(), AppError> {
    if user.role == Role::ClientUser && user.can_reject_leads && user.client_id.is_some() {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn stored(user_id: Option<i64>, created_ago: i64, seen_ago: i64) -> Stored {
        Stored {
            user_id,
            created: Some(NOW - created_ago),
            seen: Some(NOW - seen_ago),
            password_version: Some(3),
        }
    }

    #[test]
    fn a_session_stands_by_its_user_and_its_limits() {
        let limits = SessionSettings::default();
        let idle = limits.idle_timeout.num_seconds();
        let lifetime = limits.absolute_lifetime.num_seconds();
        assert_eq!(standing(stored(None, 0, 0), NOW, limits), Standing::Anonymous);
        assert_eq!(standing(Stored::default(), NOW, limits), Standing::Anonymous);
        assert_eq!(
            standing(stored(Some(7), 10, 10), NOW, limits),
            Standing::SignedIn { user_id: 7, password_version: 3, touch: false }
        );
        // `last seen` is written once a minute at most.
        assert_eq!(
            standing(stored(Some(7), 100, TOUCH_EVERY_SECS - 1), NOW, limits),
            Standing::SignedIn { user_id: 7, password_version: 3, touch: false }
        );
        assert_eq!(
            standing(stored(Some(7), 100, TOUCH_EVERY_SECS), NOW, limits),
            Standing::SignedIn { user_id: 7, password_version: 3, touch: true }
        );
        // Idle up to the limit, not past it; the same for the absolute lifetime.
        assert!(matches!(standing(stored(Some(7), idle, idle), NOW, limits), Standing::SignedIn { .. }));
        assert_eq!(standing(stored(Some(7), idle + 1, idle + 1), NOW, limits), Standing::Expired);
        assert!(matches!(standing(stored(Some(7), lifetime, 0), NOW, limits), Standing::SignedIn { .. }));
        assert_eq!(standing(stored(Some(7), lifetime + 1, 0), NOW, limits), Standing::Expired);
        // Missing times count as the epoch: ended. A missing password version is version 0.
        let bare = Stored { user_id: Some(7), ..Stored::default() };
        assert_eq!(standing(bare, NOW, limits), Standing::Expired);
        let no_version = Stored { password_version: None, ..stored(Some(7), 0, 0) };
        assert_eq!(
            standing(no_version, NOW, limits),
            Standing::SignedIn { user_id: 7, password_version: 0, touch: false }
        );
    }
}
