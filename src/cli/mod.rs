//! What the offline commands do beyond the shared decision: `check` lints manifests the
//! way the apiserver would admit them, `certs` makes certificates for static installs
//! (and `serve` its development certificate).

pub mod certs;
pub mod check;
pub mod position;
pub mod sarif;
