//! Any string handed to `evaluate` gives a number or an error, never a panic or a hang.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(expression) = std::str::from_utf8(data) {
        let _ = belay_servers::matheval::evaluate(expression);
    }
});
