//! Runs one target: a short, fixed-seed run by default, or batches of cases until `FUZZ_SECONDS`
//! have passed. Every batch has its own seed, printed on failure with the command that replays it.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// The seed of the short runs: they are the same on every machine.
const DEFAULT_SEED: u64 = 0x6d65_7368_626f_6172;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    match parsed {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}={v} is not a number"),
    }
}

fn rng(seed: u64) -> TestRng {
    // ChaCha wants 32 bytes: spread the seed with splitmix64
    let mut bytes = [0u8; 32];
    let mut x = seed;
    for chunk in bytes.chunks_exact_mut(8) {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// Run `cases` cases from `seed`; on failure, panic with the seed and the shrunk input.
fn batch<S>(
    name: &str,
    seed: u64,
    cases: u32,
    strategy: &S,
    test: &(impl Fn(S::Value) -> Result<(), TestCaseError> + Sync),
    executed: &AtomicU64,
) where
    S: Strategy,
    S::Value: Debug + Clone,
{
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_time: 120_000,
        max_shrink_iters: 100_000,
        max_global_rejects: cases.saturating_mul(4).max(1024),
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, rng(seed));
    let result = runner.run(strategy, |value| {
        executed.fetch_add(1, Ordering::Relaxed);
        test(value)
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, value)) => {
            eprintln!("fuzz target {name}: FAILED with seed {seed:#x}: {reason}");
            eprintln!("minimal failing input: {value:#?}");
            panic!(
                "fuzz target {name} failed: {reason}\n  replay: FUZZ_SEED={seed:#x} FUZZ_CASES={cases} \
                 cargo test -p crdt --test fuzz -- --nocapture --exact {name}"
            );
        }
        Err(TestError::Abort(reason)) => {
            panic!("fuzz target {name} aborted with seed {seed:#x}: {reason}")
        }
    }
}

/// Run a target: `short_cases` cases (a few seconds in debug) unless `FUZZ_SECONDS` is set.
///
/// * `FUZZ_SECONDS=N` keeps running batches with fresh seeds for N seconds of wall-clock time.
/// * `FUZZ_SEED=S` starts from seed S (decimal or 0x-hex) instead of the fixed one (short run) or
///   the clock (long run); `FUZZ_CASES=N` sets the cases per batch.
pub fn run<S>(
    name: &str,
    short_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError> + Sync,
) where
    S: Strategy,
    S::Value: Debug + Clone,
{
    crate::limit_memory();
    let executed = AtomicU64::new(0);
    let start = Instant::now();
    let Some(seconds) = env_u64("FUZZ_SECONDS") else {
        let seed = env_u64("FUZZ_SEED").unwrap_or(DEFAULT_SEED);
        let cases =
            env_u64("FUZZ_CASES").map_or(short_cases, |n| n.clamp(1, u32::MAX.into()) as u32);
        batch(name, seed, cases, &strategy, &test, &executed);
        eprintln!(
            "fuzz target {name}: {} cases in {:.1?} (seed {seed:#x})",
            executed.load(Ordering::Relaxed),
            start.elapsed(),
        );
        return;
    };
    let deadline = Duration::from_secs(seconds);
    let base = env_u64("FUZZ_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    // batches of about two seconds, so that a failure's seed replays quickly
    let mut cases =
        env_u64("FUZZ_CASES").map_or(short_cases.max(16), |n| n.clamp(1, u32::MAX.into()) as u32);
    let adapt = std::env::var_os("FUZZ_CASES").is_none();
    eprintln!("fuzz target {name}: running for {seconds} s from seed {base:#x}");
    let mut last_report = Instant::now();
    let mut batches = 0u64;
    while start.elapsed() < deadline {
        let seed = base.wrapping_add(batches);
        let t = Instant::now();
        eprintln!("fuzz target {name}: batch {batches} seed {seed:#x} cases {cases}");
        batch(name, seed, cases, &strategy, &test, &executed);
        batches += 1;
        if adapt {
            let took = t.elapsed().as_secs_f64().max(0.001);
            let scaled = (f64::from(cases) * 2.0 / took).clamp(16.0, 100_000.0);
            cases = scaled as u32;
        }
        if last_report.elapsed() >= Duration::from_secs(60) {
            last_report = Instant::now();
            eprintln!(
                "fuzz target {name}: {} cases in {batches} batches, {:.0?}",
                executed.load(Ordering::Relaxed),
                start.elapsed(),
            );
        }
    }
    eprintln!(
        "fuzz target {name}: DONE, {} cases in {batches} batches, {:.1?}, no failure (seeds \
         {base:#x}..{:#x})",
        executed.load(Ordering::Relaxed),
        start.elapsed(),
        base.wrapping_add(batches)
    );
}
