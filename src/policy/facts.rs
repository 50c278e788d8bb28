//! What is known about the hub when the policy decides: the answers to the Secret lookups
//! the rules asked for ([`super::secrets_needed`]). The server looks them up; the offline
//! commands pass [`Facts::Offline`], which checks nothing and assumes nothing is missing.

use std::collections::BTreeMap;

/// What is known about one Secret in the IBGU's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretLookup {
    /// Not looked up (no hub access configured).
    NotChecked,
    /// The Secret exists; what the rules read of it.
    Found(FoundSecret),
    /// No such Secret in the namespace.
    Missing,
    /// The lookup failed; the text says why (timeout, forbidden, ...).
    Unknown(String),
}

/// What is kept of a Secret that exists: never its data, only what TALM and
/// lifecycle-agent depend on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FoundSecret {
    /// Whether its data has the key lifecycle-agent reads (`.dockerconfigjson`).
    pub docker_config: bool,
    /// `type`, when set (unset is `Opaque`).
    pub type_: Option<String>,
    /// Its first owner (`Kind/name`) when it has `ownerReferences`: TALM copies them to
    /// every spoke, where that owner does not exist.
    pub owner: Option<String>,
}

impl FoundSecret {
    /// A Secret lifecycle-agent can use, with nothing else to say about it.
    pub fn usable() -> Self {
        FoundSecret {
            docker_config: true,
            ..FoundSecret::default()
        }
    }

    /// A Secret without the key lifecycle-agent reads.
    pub fn without_docker_config() -> Self {
        FoundSecret::default()
    }
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
