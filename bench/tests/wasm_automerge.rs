//! The Automerge measurements in V8: the same code as the native binary, in a release wasm32
//! build run by wasm-bindgen-test in headless Chromium (in a dedicated worker, so that the page
//! the runner watches stays responsive while a phase takes seconds). Built only with the
//! `wasm-bench` feature; see BENCHMARKS.md for the command. The trace is embedded from
//! `traces/` (CC BY 4.0, see its README).
#![cfg(target_arch = "wasm32")]

use bench::{table, Bench, Clock, Options, Trace};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_dedicated_worker);

static TRACE: &[u8] = include_bytes!("../../traces/automerge-paper.json.gz");

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

struct Performance;

impl Clock for Performance {
    fn now_ms(&self) -> f64 {
        performance_now()
    }
}

#[wasm_bindgen_test]
fn automerge_costs_in_v8() -> anyhow::Result<()> {
    let trace = Trace::from_gz(TRACE)?;
    let log = |line: &str| console_log!("  {line}");
    let mut bench = Bench::new(&Performance, &log);
    bench.run(&trace, &Options::default())?;
    console_log!(
        "{}",
        table::markdown(&bench.rows, "automerge 0.6.1, wasm32 in V8 (release)")
    );
    Ok(())
}
