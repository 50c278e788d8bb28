//! What the server learned from the hub before the policy decides.
//!
//! The policy does no I/O: the server asks [`secrets_to_check`] which Secrets matter for
//! a request, looks them up ([`lookup`]), and hands the answers in as a [`Hub`]. The
//! offline commands pass [`Hub::Offline`], which checks nothing and assumes nothing is
//! missing.

pub mod lookup;

use std::collections::BTreeMap;

use crate::action::Action;
use crate::ibgu::ImageBasedGroupUpgrade;
use crate::plan;
use crate::policy::Config;

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
pub enum Hub {
    /// No hub access: nothing is checked.
    #[default]
    Offline,
    /// Secrets looked up by name in the IBGU's namespace.
    Secrets(BTreeMap<String, SecretLookup>),
}

impl Hub {
    /// What is known about the Secret `name`.
    pub fn secret(&self, name: &str) -> SecretLookup {
        match self {
            Hub::Offline => SecretLookup::NotChecked,
            Hub::Secrets(map) => map.get(name).cloned().unwrap_or(SecretLookup::NotChecked),
        }
    }
}

/// The Secrets (in the IBGU's namespace) whose existence matters for this object: the
/// `pullSecretRef` it names (rule 11) and the seed pull secret the mutation would inject.
/// Both matter only when a step contains Prep, the stage that pulls the seed image.
pub fn secrets_to_check(config: &Config, new: &ImageBasedGroupUpgrade) -> Vec<String> {
    if !plan::has_action(new, Action::Prep) {
        return Vec::new();
    }
    let named = new
        .seed_image_ref()
        .and_then(|s| s.pull_secret_ref.as_ref())
        .and_then(|p| p.name.clone());
    let mut out: Vec<String> = named.into_iter().collect();
    if let Some(seed) = &config.seed_pull_secret
        && !out.contains(seed)
    {
        out.push(seed.clone());
    }
    out
}
