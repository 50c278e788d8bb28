//! What the offline commands do beyond the shared decision: `check` lints manifests the
//! way the apiserver would admit them (the CRD's schema, object metadata, then the
//! webhook's rules, each finding located in the file; text, JSON or SARIF), `next` says
//! what may be appended to a live plan (and writes the step into the manifest in git,
//! in its style), `certs` makes certificates for static installs (and `serve` its
//! development certificate).

pub mod certs;
pub mod check;
pub mod git_manifest;
pub mod look_alike;
pub mod manifest;
pub mod next;
pub mod object_meta;
pub mod plan_text;
pub mod position;
pub mod sarif;
pub mod scalar;
pub mod schema;
