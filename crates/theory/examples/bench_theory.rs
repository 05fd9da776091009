//! Times the whole theory check (constants, critical points, both theorems) on every built-in
//! problem with the CLI's default settings, best of `REPEATS` runs each.
//!
//! ```text
//! cargo run --release -p majmin-theory --example bench_theory
//! ```
use std::time::Instant;

use majmin_theory::{builtin, check, CheckConfig, BUILTINS};

const REPEATS: usize = 5;

fn main() {
    let config = CheckConfig::default();
    println!(
        "{:<22} {:>3} {:>10} {:>8} {:>8} {:>9} {:>9}  verdict",
        "problem", "d", "best ms", "crit L1", "crit L", "δ", "τ"
    );
    for b in BUILTINS {
        let problem = builtin(b.name)
            .and_then(|c| c.build(None))
            .expect("built-in problems build");
        let mut best = f64::INFINITY;
        let mut last = None;
        for _ in 0..REPEATS {
            let t = Instant::now();
            let report = check(&problem, &config).expect("built-in problems check");
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
            last = Some(report);
        }
        let r = last.expect("at least one run");
        println!(
            "{:<22} {:>3} {:>10.1} {:>8} {:>8} {:>9.4} {:>9.5}  {}  (A1 {} A2 {} A3 {} A4 {}; T1 {} T2 {}; adv {:.4})",
            b.name,
            r.dim,
            best,
            r.critical_points.majority.len(),
            r.critical_points.total.len(),
            r.constants.delta,
            r.constants.tau,
            r.verdict.as_str(),
            r.assumptions.a1,
            r.assumptions.a2,
            r.assumptions.a3,
            r.assumptions.a4,
            r.theorem1.confirmed,
            r.zone.inside_balls,
            r.zone.adversarial_fraction
        );
    }
}
