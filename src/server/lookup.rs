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
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use crate::policy::facts::{Facts, FoundSecret, SecretLookup};
use crate::policy::rules::pull_secret::DOCKER_CONFIG_KEY;

/// How long one lookup may take, at most.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an answer is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(10);

/// Looks Secrets up on the hub through a kube client, with a short cache of the answers.
pub struct SecretLookups {
    client: kube::Client,
    timeout: Duration,
    ttl: Duration,
    cache: Mutex<HashMap<(String, String), (Instant, SecretLookup)>>,
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
            cache: Mutex::new(HashMap::new()),
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
        if let Some(hit) = self.cached(&key) {
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
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, (Instant::now(), answer.clone()));
        }
        answer
    }

    fn cached(&self, key: &(String, String)) -> Option<SecretLookup> {
        let mut cache = self.cache.lock().ok()?;
        match cache.get(key) {
            Some((at, answer)) if at.elapsed() < self.ttl => Some(answer.clone()),
            Some(_) => {
                cache.remove(key);
                None
            }
            None => None,
        }
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
