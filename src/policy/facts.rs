//! What is known about the hub when the policy decides: the answers to the Secret lookups
//! the rules asked for ([`super::secrets_needed`]). The server looks them up; the offline
//! commands pass [`Facts::Offline`], which checks nothing and assumes nothing is missing.

use std::collections::BTreeMap;

/// What is known about one Secret in the IBGU's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretLookup {
    /// Not looked up (no hub access configured).
    NotChecked,
    /// The Secret exists; `docker_config` says whether it has a `.dockerconfigjson` key.
    Found {
        /// Whether the Secret's data has the key lifecycle-agent reads.
        docker_config: bool,
    },
    /// No such Secret in the namespace.
    Missing,
    /// The lookup failed; the text says why (timeout, forbidden, ...).
    Unknown(String),
}

/// The hub facts a decision may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Facts {
    /// No hub access: nothing is checked.
    #[default]
    Offline,
    /// Secrets looked up by name in the IBGU's namespace.
    Secrets(BTreeMap<String, SecretLookup>),
}

impl Facts {
    /// What is known about the Secret `name`.
    pub fn secret(&self, name: &str) -> SecretLookup {
        match self {
            Facts::Offline => SecretLookup::NotChecked,
            Facts::Secrets(map) => map.get(name).cloned().unwrap_or(SecretLookup::NotChecked),
        }
    }
}
