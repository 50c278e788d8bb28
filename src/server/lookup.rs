//! Secret lookups on the hub, for rule 11 and the seed pull secret injection.
//!
//! Each lookup is one `GET` of a Secret by name in the IBGU's namespace (the RBAC grants
//! exactly that), bounded by a short timeout and by the request's own deadline. Only the
//! answer is kept — whether the Secret exists, whether it has a `.dockerconfigjson` key,
//! its `type` and its first owner ([`FoundSecret`]) — for a short time, so that a burst of applies costs one lookup; the Secret's data
//! is dropped as soon as it is read, and never logged. A failed or slow lookup becomes
//! [`SecretLookup::Unknown`], which the policy turns into a warning saying what it could
//! not check: the webhook keeps answering when the hub API does not.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use crate::policy::facts::{Facts, FoundSecret, SecretLookup};
use crate::policy::rules::pull_secret::DOCKER_CONFIG_KEY;

/// How long one lookup may take, at most.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an answer is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(10);
/// How many answers are kept at most: a hub's IBGU creations name a handful of Secrets,
/// while a client creating IBGUs that each name another Secret must not grow the cache
/// without end.
pub const CACHE_MAX_ENTRIES: usize = 1024;

/// Looks Secrets up on the hub through a kube client, with a short cache of the answers.
pub struct SecretLookups {
    client: kube::Client,
    timeout: Duration,
    ttl: Duration,
    cache: AnswerCache,
}

impl std::fmt::Debug for SecretLookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretLookups")
            .field("timeout", &self.timeout)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SecretLookups {
    /// Lookups through `client`, with the default timeout and cache lifetime.
    pub fn new(client: kube::Client) -> Self {
        Self::with_limits(client, LOOKUP_TIMEOUT, CACHE_TTL)
    }

    /// Lookups with a given timeout and cache lifetime.
    pub fn with_limits(client: kube::Client, timeout: Duration, ttl: Duration) -> Self {
        SecretLookups {
            client,
            timeout,
            ttl,
            cache: AnswerCache::new(ttl, CACHE_MAX_ENTRIES),
        }
    }

    /// Looks up `names` in `namespace`, concurrently, each within `budget` (and the
    /// lookup timeout).
    pub async fn look_up(&self, namespace: &str, names: &[String], budget: Duration) -> Facts {
        let limit = budget.min(self.timeout);
        let answers =
            futures::future::join_all(names.iter().map(|n| self.one(namespace, n, limit))).await;
        Facts::Secrets(
            names
                .iter()
                .cloned()
                .zip(answers)
                .collect::<BTreeMap<_, _>>(),
        )
    }

    async fn one(&self, namespace: &str, name: &str, limit: Duration) -> SecretLookup {
        let key = (namespace.to_owned(), name.to_owned());
        if let Some(hit) = self.cache.get(&key) {
            return hit;
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let answer = match tokio::time::timeout(limit, api.get_opt(name)).await {
            Err(_) => {
                return SecretLookup::Unknown(format!(
                    "hub API did not answer within {}ms",
                    limit.as_millis()
                ));
            }
            Ok(Ok(Some(secret))) => SecretLookup::Found(read(&secret)),
            Ok(Ok(None)) => SecretLookup::Missing,
            Ok(Err(kube::Error::Api(status))) => {
                return SecretLookup::Unknown(format!(
                    "hub API answered {} {}",
                    status.code, status.reason
                ));
            }
            Ok(Err(e)) => {
                return SecretLookup::Unknown(format!("hub API unreachable: {}", short(&e)));
            }
        };
        // Only definite answers are cached; failures are retried on the next request.
        self.cache.put(key, answer.clone());
        answer
    }
}

/// A Secret's namespace and name.
type Key = (String, String);

/// The answers of recent lookups, each kept for `ttl`, at most `max` of them.
struct AnswerCache {
    ttl: Duration,
    max: usize,
    entries: Mutex<HashMap<Key, (Instant, SecretLookup)>>,
}

impl AnswerCache {
    fn new(ttl: Duration, max: usize) -> Self {
        AnswerCache {
            ttl,
            max: max.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The map, whatever a panicking holder left: every write below leaves it whole,
    /// so a poisoned lock is no reason to stop caching.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (Instant, SecretLookup)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer for `key`, if one is fresh; an expired one is dropped.
    fn get(&self, key: &Key) -> Option<SecretLookup> {
        let mut entries = self.lock();
        match entries.get(key) {
            Some((at, answer)) if at.elapsed() < self.ttl => Some(answer.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `answer` for `key`. When full, expired answers go first (they would never
    /// be read again), then the oldest.
    fn put(&self, key: Key, answer: SecretLookup) {
        let mut entries = self.lock();
        if entries.len() >= self.max && !entries.contains_key(&key) {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= self.max {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(key, (Instant::now(), answer));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// What the rules read of a Secret; its data is not kept.
fn read(secret: &Secret) -> FoundSecret {
    let owner = secret
        .metadata
        .owner_references
        .as_deref()
        .and_then(<[_]>::first)
        .map(|o| format!("{}/{}", o.kind, o.name));
    FoundSecret {
        docker_config: secret
            .data
            .as_ref()
            .is_some_and(|d| d.contains_key(DOCKER_CONFIG_KEY))
            || secret
                .string_data
                .as_ref()
                .is_some_and(|d| d.contains_key(DOCKER_CONFIG_KEY)),
        type_: secret.type_.clone(),
        owner,
    }
}

/// The first line of an error, short enough for a warning.
fn short(e: &kube::Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or("");
    line.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> Key {
        ("ztp".to_owned(), format!("pull-secret-{i}"))
    }

    #[test]
    fn the_cache_is_bounded_and_drops_what_expired() {
        let cache = AnswerCache::new(Duration::from_secs(60), 8);
        for i in 0..20 {
            cache.put(key(i), SecretLookup::Missing);
        }
        assert_eq!(cache.len(), 8, "bounded");
        // The newest answers are the ones kept.
        assert_eq!(cache.get(&key(19)), Some(SecretLookup::Missing));
        assert_eq!(cache.get(&key(0)), None);

        let short = AnswerCache::new(Duration::from_millis(20), 8);
        for i in 0..8 {
            short.put(key(i), SecretLookup::Missing);
        }
        std::thread::sleep(Duration::from_millis(40));
        short.put(key(100), SecretLookup::Missing);
        assert_eq!(
            short.len(),
            1,
            "expired answers are evicted, not kept until read"
        );
    }

    #[test]
    fn a_poisoned_lock_keeps_the_cache_working() {
        let cache = AnswerCache::new(Duration::from_secs(60), 8);
        cache.put(key(1), SecretLookup::Missing);
        let poisoned = std::thread::scope(|s| {
            s.spawn(|| {
                let _held = cache.entries.lock();
                panic!("a holder panics");
            })
            .join()
        });
        assert!(poisoned.is_err() && cache.entries.is_poisoned());
        assert_eq!(cache.get(&key(1)), Some(SecretLookup::Missing));
        cache.put(key(2), SecretLookup::Missing);
        assert_eq!(cache.get(&key(2)), Some(SecretLookup::Missing));
    }
}
