//! Bytes as the manifest text `ibgu-webhook check` reads (multi-document YAML, or JSON):
//! it is read or refused, and every object in it is checked as a CREATE and as an
//! UPDATE, without a panic and without failing to apply its own defaults.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/invariants.rs"]
mod invariants;

fuzz_target!(|data: &[u8]| {
    // `check` reads files as UTF-8 text and refuses anything else before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = invariants::check_manifest(text) {
        panic!("invariant broken: {e}");
    }
});
