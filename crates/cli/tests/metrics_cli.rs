//! `majmin metrics overcost` end to end on curve files written the way a tester would: analytic
//! curves sampled at irregular times, with answers derived by hand for the piecewise-linear curve
//! through the samples (docs/definitions.md: the crossing is interpolated between the bracketing points).

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn majmin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_majmin"))
        .args(args)
        .output()
        .expect("the majmin binary runs")
}

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("majmin-metrics-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn json(args: &[&str]) -> Value {
    let o = majmin(args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("--json prints JSON")
}

/// `actual` within 0.1 % of `expected` (relative).
fn close(actual: &Value, expected: f64, what: &str) {
    let a = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {actual}"));
    assert!(
        (a - expected).abs() <= 1e-3 * expected.abs(),
        "{what}: {a} vs hand-derived {expected}"
    );
}

/// The piecewise-linear crossing of `f` through the samples at `ts` (what the hand derivations
/// below evaluate): first `i` with f(t_i) ≤ level, then
/// `t_{i−1} + (level − f(t_{i−1})) / (f(t_i) − f(t_{i−1})) · (t_i − t_{i−1})`.
fn samples(ts: &[f64], f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
    ts.iter().map(|&t| (t, f(t))).collect()
}

/// Three seeds, loss curves sampled at irregular times, rows shuffled:
/// - seed0: L̄1 = e^{−t}, L̄0 = e^{−t/2}, t ∈ {0, 0.3, 1.1, 2, 2.7, 4.2, 5, 6.5, 8}
/// - seed1: L̄1 = e^{−1.2t}, L̄0 = e^{−0.4t}, t ∈ {0, 0.5, 1.7, 2.2, 3.1, 4.4, 6, 7.3, 9, 12}
/// - seed2 (the minority is faster): L̄1 = e^{−t/2}, L̄0 = e^{−t}, t ∈ {0, 1, 2.5, 3, 4, 5.5, 7, 10}
///
/// L̄(θ0) = 1 in every run (the `all` row at t = 0), so the κ = 0.9 level is 0.1 and the κ = 0.99
/// level 0.01.
fn exponential_curves() -> String {
    let runs: [(&str, Vec<f64>, f64, f64); 3] = [
        (
            "seed0",
            vec![0.0, 0.3, 1.1, 2.0, 2.7, 4.2, 5.0, 6.5, 8.0],
            1.0,
            0.5,
        ),
        (
            "seed1",
            vec![0.0, 0.5, 1.7, 2.2, 3.1, 4.4, 6.0, 7.3, 9.0, 12.0],
            1.2,
            0.4,
        ),
        (
            "seed2",
            vec![0.0, 1.0, 2.5, 3.0, 4.0, 5.5, 7.0, 10.0],
            0.5,
            1.0,
        ),
    ];
    let mut text = String::from("t,group,loss,accuracy,run\n");
    for (run, ts, majority_rate, minority_rate) in &runs {
        let majority = samples(ts, |t| (-majority_rate * t).exp());
        let minority = samples(ts, |t| (-minority_rate * t).exp());
        let mut rows = Vec::new();
        for ((t, l1), (_, l0)) in majority.iter().zip(&minority) {
            // the global mean of a ζ = 0.1 split, L̄ = (L̄1 + 0.1·L̄0) / 1.1, which is 1 at t = 0;
            // seed2 records it at t = 0 only
            if *t == 0.0 || *run != "seed2" {
                rows.push(format!("{t},all,{:.12},,{run}", (l1 + 0.1 * l0) / 1.1));
            }
            rows.push(format!("{t},majority,{l1:.12},,{run}"));
            rows.push(format!("{t},minority,{l0:.12},,{run}"));
        }
        // rows in any order: latest first
        rows.reverse();
        for r in rows {
            text.push_str(&r);
            text.push('\n');
        }
    }
    text
}

// Hand-derived times (linear interpolation between the bracketing samples), e.g. seed0, κ = 0.9,
// majority: e^{−2} = 0.1353353 at t = 2 and e^{−2.7} = 0.0672055 at t = 2.7 bracket 0.1, so
// T1 = 2 + 0.7·(0.1353353 − 0.1)/(0.1353353 − 0.0672055) = 2 + 0.7·0.518647 = 2.363053.
// (The continuous curves would give ln 10 = 2.302585 and an overcost of exactly 100 %.)
const SEED0_K90: (f64, f64, f64) = (2.363053, 4.644996, 96.56762);
const SEED1_K90: (f64, f64, f64) = (1.955923, 5.817388, 197.42416);
const SEED2_K90: (f64, f64, f64) = (4.742261, 2.405973, -49.26528);
// κ = 0.99: seed0's minority (e^{−t/2} = 0.0183 at its last t = 8) never reaches 0.01: censored,
// lower bound 100·(8 − T1)/T1 with T1 = 4.683972.
const SEED0_K99_T1: f64 = 4.683972;
const SEED0_K99_BOUND: f64 = 70.79521;
const SEED1_K99: (f64, f64, f64) = (4.066702, 11.721862, 188.24002);
const SEED2_K99: (f64, f64, f64) = (9.582848, 4.876630, -49.11084);

fn check_run(run: &Value, name: &str, (t1, t0, overcost): (f64, f64, f64)) {
    assert_eq!(run["run"], name);
    close(&run["t_majority"], t1, &format!("{name} T1"));
    close(&run["t_minority"], t0, &format!("{name} T0"));
    close(&run["overcost_pct"], overcost, &format!("{name} overcost"));
    assert_eq!(run["censored"], false, "{name}");
}

#[test]
fn exponential_curves_with_irregular_times_several_seeds_and_censoring() {
    let file = write("exp.csv", &exponential_curves());
    let out = json(&[
        "metrics",
        "overcost",
        "--curves",
        file.to_str().unwrap(),
        "--kappas",
        "0.9,0.99",
        "--json",
    ]);
    let k90 = &out["0.9"];
    let runs = k90["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    check_run(&runs[0], "seed0", SEED0_K90);
    check_run(&runs[1], "seed1", SEED1_K90);
    check_run(&runs[2], "seed2", SEED2_K90);
    // median of three: the middle value (seed0)
    close(&k90["median_overcost_pct"], SEED0_K90.2, "median κ = 0.9");
    assert_eq!(k90["median_is_lower_bound"], false);
    close(&k90["min_overcost_pct"], SEED2_K90.2, "min κ = 0.9");
    close(&k90["max_overcost_pct"], SEED1_K90.2, "max κ = 0.9");
    assert_eq!(k90["censored_runs"], 0);
    close(&runs[0]["level"], 0.1, "level κ = 0.9");

    let k99 = &out["0.99"];
    let runs = k99["runs"].as_array().unwrap();
    let seed0 = &runs[0];
    close(&seed0["t_majority"], SEED0_K99_T1, "seed0 T1 κ = 0.99");
    assert!(seed0["t_minority"].is_null());
    assert_eq!(seed0["censored"], true);
    close(&seed0["overcost_pct"], SEED0_K99_BOUND, "seed0 lower bound");
    close(&seed0["last_t"], 8.0, "seed0 last t");
    check_run(&runs[1], "seed1", SEED1_K99);
    check_run(&runs[2], "seed2", SEED2_K99);
    // sorted: −49.1, >70.8 (censored), 188.2: the median is the censored run's bound, so only a
    // lower bound
    close(
        &k99["median_overcost_pct"],
        SEED0_K99_BOUND,
        "median κ = 0.99",
    );
    assert_eq!(k99["median_is_lower_bound"], true);
    assert_eq!(k99["censored_runs"], 1);
    assert_eq!(k99["undefined_runs"], 0);

    // the human table shows the censored run as a lower bound
    let o = majmin(&[
        "metrics",
        "overcost",
        "--curves",
        file.to_str().unwrap(),
        "--kappas",
        "0.99",
    ]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains(">71"), "{text}");
    assert!(text.contains(">8"), "{text}");
    assert!(text.contains("censored: 1"), "{text}");
}

/// Accuracy curves, piecewise linear by construction (no `all` rows, no loss):
/// majority (0, 0.1), (1, 0.5), (3, 0.95); minority (0, 0.1), (2, 0.3), (5, 0.8), (7, 0.92),
/// (9, 0.995). κ = 0.9: T1 = 1 + 2·0.4/0.45 = 25/9, T0 = 5 + 2·0.1/0.12 = 20/3, overcost
/// 100·(20/3 − 25/9)/(25/9) = 140 %. κ = 0.99: the majority stops at 0.95: n/a.
const ACCURACY: &str = "run,t,group,loss,accuracy\n\
    a,0,majority,,0.1\na,1,majority,,0.5\na,3,majority,,0.95\n\
    a,0,minority,,0.1\na,2,minority,,0.3\na,5,minority,,0.8\na,7,minority,,0.92\na,9,minority,,0.995\n";

#[test]
fn accuracy_criterion_and_an_undefined_run() {
    let file = write("acc.csv", ACCURACY);
    let path = file.to_str().unwrap();
    let out = json(&[
        "metrics",
        "overcost",
        "--curves",
        path,
        "--kappas",
        "0.90,0.99",
        "--criterion",
        "accuracy",
        "--json",
    ]);
    // keyed by κ as written
    let run = &out["0.90"]["runs"][0];
    close(&run["t_majority"], 25.0 / 9.0, "T1");
    close(&run["t_minority"], 20.0 / 3.0, "T0");
    close(&run["overcost_pct"], 140.0, "overcost");
    let undefined = &out["0.99"]["runs"][0];
    assert!(undefined["overcost_pct"].is_null());
    assert!(undefined["t_majority"].is_null());
    assert!(undefined["reason"]
        .as_str()
        .unwrap()
        .contains("majority never reaches"));
    assert_eq!(out["0.99"]["undefined_runs"], 1);
    assert!(out["0.99"]["median_overcost_pct"].is_null());

    // the loss criterion needs the `all` rows: exit 2, saying so
    let o = majmin(&["metrics", "overcost", "--curves", path, "--kappas", "0.9"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("`all` rows"));
}

#[test]
fn a_point_exactly_at_the_level_and_a_faster_minority() {
    // L̄(θ0) = 2, κ = 0.75: level 0.5, met exactly by the majority at t = 3 and crossed by the
    // minority halfway between t = 1 (0.7) and t = 2 (0.3): T0 = 1.5, overcost 100·(1.5 − 3)/3 = −50 %.
    let file = write(
        "exact.csv",
        "t,group,loss,accuracy\n0,all,2,\n0,majority,2,\n1,majority,1,\n3,majority,0.5,\n4,majority,0.1,\n\
         0,minority,2,\n1,minority,0.7,\n2,minority,0.3,\n",
    );
    let out = json(&[
        "metrics",
        "overcost",
        "--curves",
        file.to_str().unwrap(),
        "--kappas",
        "0.75",
        "--json",
    ]);
    let run = &out["0.75"]["runs"][0];
    assert_eq!(run["run"], "run");
    assert_eq!(run["t_majority"].as_f64(), Some(3.0));
    close(&run["t_minority"], 1.5, "T0");
    close(&run["overcost_pct"], -50.0, "overcost");
}

#[test]
fn bad_input_exits_2_with_where_and_what() {
    let file = write(
        "bad.csv",
        "t,group,loss,accuracy\n0,all,1,\n0,majority,1,\n0.5,minorty,1,\n",
    );
    let o = majmin(&["metrics", "overcost", "--curves", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.csv:4: column 2 (`group`)") && err.contains("`minorty`"),
        "{err}"
    );

    let file = write(
        "dup.csv",
        "t,group,loss\n0,all,1\n0,majority,1\n0,minority,1\n0,majority,0.9\n",
    );
    let o = majmin(&["metrics", "overcost", "--curves", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already appears on line 3"));

    let good = write(
        "good.csv",
        "t,group,loss\n0,all,1\n0,majority,1\n0,minority,1\n",
    );
    for kappas in ["1.5", "0", "abc"] {
        let o = majmin(&[
            "metrics",
            "overcost",
            "--curves",
            good.to_str().unwrap(),
            "--kappas",
            kappas,
        ]);
        assert_eq!(o.status.code(), Some(2), "--kappas {kappas}");
    }
    let o = majmin(&["metrics", "overcost", "--curves", "/nonexistent/curves.csv"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn figures_are_written_per_run() {
    let file = write("fig.csv", &exponential_curves());
    let dir = std::env::temp_dir().join(format!("majmin-metrics-cli-fig-{}", std::process::id()));
    let o = majmin(&[
        "metrics",
        "overcost",
        "--curves",
        file.to_str().unwrap(),
        "--figures",
        dir.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for run in ["seed0", "seed1", "seed2"] {
        assert!(dir.join(format!("{run}.svg")).exists() && dir.join(format!("{run}.png")).exists());
    }
    let svg = std::fs::read_to_string(dir.join("seed0.svg")).unwrap();
    assert!(
        svg.contains("κ = 99 %") && svg.contains("T0 &gt; 8"),
        "the censored T0 is marked"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
