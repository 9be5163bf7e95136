//! Time as the server sees it. Everything that expires (sessions, throttling) asks a [`Clock`],
//! so tests can move time forward instead of sleeping.

use std::sync::Arc;
use std::sync::Mutex;

use chrono::{NaiveDateTime, TimeDelta, Utc};

pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in UTC.
    fn now(&self) -> NaiveDateTime;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> NaiveDateTime {
        Utc::now().naive_utc()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<NaiveDateTime>>);

impl ManualClock {
    pub fn starting_now() -> Self {
        Self::at(Utc::now().naive_utc())
    }

    pub fn at(t: NaiveDateTime) -> Self {
        Self(Arc::new(Mutex::new(t)))
    }

    pub fn advance(&self, by: TimeDelta) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> NaiveDateTime {
        self.0.lock().map(|t| *t).unwrap_or_else(|p| *p.into_inner())
    }
}

pub type SharedClock = Arc<dyn Clock>;
