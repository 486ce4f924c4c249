//! Verifications waiting for the user to come back from the consent page, keyed by the `state` that travels
//! through it. The name and ID number stay here, on the server, while the browser is away: they never go into a
//! URL (URLs end up in histories, logs and Referer headers).
use identity::{CredId, OpenId, RealName};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A consent code lives 5 minutes; a user who comes back later than this starts again.
pub const TTL: Duration = Duration::from_secs(10 * 60);
/// A demo serves a handful of people; this only stops a runaway script from filling memory.
pub const CAPACITY: usize = 1_000;

/// What the back end needs to finish a verification once the code arrives. `Debug` masks (see the newtypes).
#[derive(Debug, Clone)]
pub struct Pending {
    pub openid: OpenId,
    pub name: RealName,
    pub cred: CredId,
    pub guardian_consent: bool,
}

#[derive(Debug, Default)]
pub struct PendingStore {
    inner: Mutex<HashMap<String, (Instant, Pending)>>,
}

impl PendingStore {
    /// Keep `p` under a fresh random state; `None` when full of live entries.
    pub fn insert(&self, p: Pending, now: Instant) -> Option<String> {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, (at, _)| now.saturating_duration_since(*at) < TTL);
        if map.len() >= CAPACITY {
            return None;
        }
        let state = hex::encode(rand::random::<[u8; 16]>());
        map.insert(state.clone(), (now, p));
        Some(state)
    }

    /// Take the entry for `state` out (it is used once), if it is there and not expired.
    pub fn take(&self, state: &str, now: Instant) -> Option<Pending> {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, p) = map.remove(state)?;
        (now.saturating_duration_since(at) < TTL).then_some(p)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Pending {
        Pending {
            openid: OpenId::parse("o-1").unwrap(),
            name: RealName::parse("张三").unwrap(),
            cred: CredId::parse("110101199003070038").unwrap(),
            guardian_consent: false,
        }
    }

    #[test]
    fn an_entry_is_taken_once_and_expires() {
        let store = PendingStore::default();
        let t0 = Instant::now();
        let s = store.insert(pending(), t0).unwrap();
        assert_eq!(s.len(), 32);
        assert!(store.take(&s, t0).is_some());
        assert!(store.take(&s, t0).is_none(), "single use");
        let s = store.insert(pending(), t0).unwrap();
        assert!(store.take(&s, t0 + TTL).is_none(), "expired");
    }

    #[test]
    fn a_full_store_refuses_until_entries_expire() {
        let store = PendingStore::default();
        let t0 = Instant::now();
        for _ in 0..CAPACITY {
            store.insert(pending(), t0).unwrap();
        }
        assert!(store.insert(pending(), t0).is_none());
        assert!(store.insert(pending(), t0 + TTL).is_some());
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn debug_masks_the_personal_data() {
        let text = format!("{:?}", pending());
        assert!(
            !text.contains("张三") && !text.contains("110101199003070038"),
            "{text}"
        );
    }
}
