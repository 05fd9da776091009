//! Times the whole theory check against the dimension d, with the CLI's default settings, on
//! `L1 = Σ cos(x_i)`, `L0 = 0.01 Σ x_i²` over `[−1, 4]^d` — the measurement behind
//! `MAX_CHECK_DIM` (the check's cost grows like d³).
//!
//! ```text
//! cargo run --release -p majmin-theory --example check_dimension
//! ```
use std::time::Instant;

use majmin_theory::check::MAX_CHECK_DIM;
use majmin_theory::{check, CheckConfig, Domain, Problem};

fn main() {
    println!("{:>3} {:>10}  verdict", "d", "seconds");
    for d in [2, 4, 8, 12, MAX_CHECK_DIM] {
        let vars: Vec<String> = (1..=d).map(|i| format!("x{i}")).collect();
        let names: Vec<&str> = vars.iter().map(String::as_str).collect();
        let majority: Vec<String> = vars.iter().map(|x| format!("cos({x})")).collect();
        let minority: Vec<String> = vars.iter().map(|x| format!("0.01*{x}^2")).collect();
        let problem = Problem::from_formulas(
            "cosines",
            &names,
            &majority.join(" + "),
            &minority.join(" + "),
            Domain::cube(d, -1.0, 4.0),
        )
        .expect("the formulas parse");
        let started = Instant::now();
        let report = check(&problem, &CheckConfig::default()).expect("d is within the limit");
        println!(
            "{d:>3} {:>10.2}  {}",
            started.elapsed().as_secs_f64(),
            report.verdict.as_str()
        );
    }
}
