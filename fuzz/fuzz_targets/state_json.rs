//! `state.json` through `SavedState::from_json`; what parses must survive a save and reload.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stembox::storage::state::SavedState;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = SavedState::from_json(data) {
        let again = SavedState::from_json(state.to_json().as_bytes());
        assert!(again.is_ok(), "saved state does not load back: {again:?}");
    }
});
