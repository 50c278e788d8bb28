//! Structure-aware variant of `admission`: the input is a JSON stream of the request's
//! `object` (and, for an UPDATE, the stored `oldObject`), placed in a fixed, valid
//! AdmissionReview envelope, so the fuzzer spends its time inside the IBGU objects
//! rather than on the envelope.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/invariants.rs"]
mod invariants;

fuzz_target!(|data: &[u8]| {
    let Some(body) = invariants::review_of_objects(data) else {
        return;
    };
    if let Err(e) = invariants::check_admission(&body) {
        panic!("invariant broken: {e}");
    }
});
