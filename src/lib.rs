//! `ibgu-webhook`: the admission guard for OpenShift TALM's `ImageBasedGroupUpgrade`.
//!
//! The layers, inside out; each imports only those above it:
//!
//! - [`model`]: the IBGU and TALM's status as the rules read them, and field errors.
//! - [`policy`]: the rules ([`policy::rules`], one module each) and the pure decision
//!   over them, the admission pipeline [`policy::admit`].
//! - [`admission`]: AdmissionReview v1 in and out around the policy, and the wire checks.
//! - [`server`]: HTTPS (rustls, certificate reload), limits, hub lookups, metrics.
//! - [`cli`]: the offline commands' work: `check` (the CRD's schema, object metadata,
//!   positions, SARIF), `next`, and the certificates of `certs`.

pub mod admission;
pub mod cli;
pub mod model;
pub mod policy;
pub mod server;
