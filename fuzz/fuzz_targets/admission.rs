//! Raw bytes as an AdmissionReview body: whatever `admission::parse` accepts is decided
//! on both endpoints under several policies and hub states, and every reply must be one
//! the apiserver accepts (see `tests/support/invariants.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/invariants.rs"]
mod invariants;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = invariants::check_admission(data) {
        panic!("invariant broken: {e}");
    }
});
