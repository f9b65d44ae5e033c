//! Fuzz target: featurestore's request parsing. Under `cargo fuzz run featurestore` libFuzzer drives it;
//! built without `--cfg fuzzing` (plain `cargo build`), it replays the files and
//! folders given as arguments.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vendor_mock_fuzz::request("featurestore", data));

#[cfg(not(fuzzing))]
fn main() {
    vendor_mock_fuzz::replay(|data| vendor_mock_fuzz::request("featurestore", data));
}
