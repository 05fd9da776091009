//! End-to-end tests of `majmin theory` and `majmin flow` (docs/problems.md, docs/command-line.md): exit codes, error
//! positions, JSON fields and verdicts.

use std::path::PathBuf;
use std::process::{Command, Output};

fn majmin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_majmin"))
        .args(args)
        .output()
        .expect("the majmin binary runs")
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("majmin-theory-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON on stdout")
}

#[test]
fn a_formula_syntax_error_exits_2_naming_line_and_column() {
    let path = temp_file(
        "bad.toml",
        "name = \"bad\"\nvars = [\"x\", \"y\"]\nmajority = \"x^2 + * y\"\nminority = \"0.1*x\"\n[domain]\nlower = [-1, -1]\nupper = [1, 1]\n",
    );
    let out = majmin(&["theory", "--problem", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    // `majority = "` is 12 characters: the formula starts at column 13, the `*` is its 7th
    assert!(err.contains("bad.toml:3:19"), "{err}");
    assert!(
        err.contains("expected") && err.contains("majority"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn an_unknown_key_exits_2_naming_the_file_and_line() {
    let path = temp_file(
        "key.toml",
        "vars = [\"x\"]\nmajority = \"x^2\"\nminority = \"0.1*x\"\n[domain]\nlower = [-1]\nupper = [1]\nextra = true\n",
    );
    let out = majmin(&["theory", "--problem", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("key.toml:7:1") && err.contains("extra"),
        "{err}"
    );
    let out = majmin(&["theory", "--problem", "no-such-problem"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cosine-grid"));
}

#[test]
fn theory_json_of_a_builtin_has_the_spec_fields_and_verdict() {
    let v = json(&majmin(&[
        "--json",
        "theory",
        "--problem",
        "cosine-grid",
        "--grid",
        "81",
    ]));
    for key in ["delta", "c", "M", "tau"] {
        assert!(
            v["constants"][key].as_f64().unwrap() > 0.0,
            "constants.{key}"
        );
    }
    for key in ["A1", "A2", "A3", "A4"] {
        assert_eq!(v["assumptions"][key], true, "{key}");
    }
    let (tau, delta) = (
        v["constants"]["tau"].as_f64().unwrap(),
        v["constants"]["delta"].as_f64().unwrap(),
    );
    assert!((v["bound_critical"].as_f64().unwrap() - 4.0 * tau / delta).abs() < 1e-12);
    assert!((v["bound_zone"].as_f64().unwrap() - 2.0 * tau / delta).abs() < 1e-12);
    assert_eq!(
        v["critical_points"]["majority"].as_array().unwrap().len(),
        4
    );
    assert_eq!(v["critical_points"]["total"].as_array().unwrap().len(), 4);
    let pairs = v["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 4);
    for p in pairs {
        assert!(p["distance"].as_f64().unwrap() <= v["bound_critical"].as_f64().unwrap());
        assert_eq!(p["majority"].as_array().unwrap().len(), 2);
    }
    assert!(v["zone"]["adversarial_fraction"].as_f64().unwrap() < 0.01);
    assert_eq!(v["zone"]["inside_balls"], true);
    assert!(
        v["zone"]["max_distance_to_critical"].as_f64().unwrap()
            <= v["bound_zone"].as_f64().unwrap()
    );
    assert_eq!(v["verdict"], "holds");

    let v = json(&majmin(&[
        "--json",
        "theory",
        "--problem",
        "double-well",
        "--grid",
        "41",
    ]));
    assert_eq!(v["verdict"], "assumptions-fail");
    assert_eq!(v["assumptions"]["A4"], false);
}

#[test]
fn a_user_problem_file_in_three_dimensions() {
    // L1 = x² + y² + z² − 2 cos(x)…: a single minimum; tiny minority pull
    let path = temp_file(
        "three.toml",
        "name = \"three\"\nvars = [\"a\", \"b\", \"c\"]\nmajority = \"a^2 + 2*b^2 + 3*c^2\"\nminority = \"0.001*(a - 1)^2\"\n[domain]\nlower = [-1, -1, -1]\nupper = [1, 1, 1]\n",
    );
    let v = json(&majmin(&[
        "--json",
        "theory",
        "--problem",
        path.to_str().unwrap(),
        "--grid",
        "21",
        "--starts",
        "3",
    ]));
    assert_eq!(
        v["critical_points"]["majority"].as_array().unwrap().len(),
        1
    );
    // the minimum of L: a = 0.001 / 1.001
    let a = v["critical_points"]["total"][0][0].as_f64().unwrap();
    assert!((a - 0.001 / 1.001).abs() < 1e-9, "{a}");
    assert!((v["constants"]["delta"].as_f64().unwrap() - 2.0).abs() < 1e-9);
    assert_eq!(v["verdict"], "holds");
}

#[test]
fn flow_json_has_t_theta_final_and_events() {
    let v = json(&majmin(&[
        "--json",
        "flow",
        "--problem",
        "cosine-grid",
        "--init",
        "0.3,0.4",
        "--t-end",
        "20",
    ]));
    let t = v["t"].as_array().unwrap();
    let theta = v["theta"].as_array().unwrap();
    assert_eq!(t.len(), theta.len());
    assert_eq!(t[0].as_f64().unwrap(), 0.0);
    assert_eq!(t.last().unwrap().as_f64().unwrap(), 20.0);
    let fin: Vec<f64> = v["final"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(fin.len(), 2);
    // starting near the maximum (0, 0) the flow runs away towards the minimum near (π, π)
    assert!(fin[0] > 2.0 && fin[1] > 2.0, "{fin:?}");
    assert!(v["events"].is_array());
    // Euler is gradient descent: one state per step plus the start
    let v = json(&majmin(&[
        "--json",
        "flow",
        "--problem",
        "cosine-grid",
        "--init",
        "1,1",
        "--t-end",
        "1",
        "--method",
        "euler",
        "--step",
        "0.1",
    ]));
    assert_eq!(v["theta"].as_array().unwrap().len(), 11);
    let out = majmin(&["flow", "--problem", "cosine-grid", "--init", "1,2,3"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn theory_list_and_figure() {
    let out = majmin(&["theory", "--list"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "cosine-grid",
        "poster",
        "double-well",
        "linear-regression",
        "logistic-regression",
    ] {
        assert!(text.contains(name), "{text}");
    }
    let svg = std::env::temp_dir()
        .join(format!("majmin-theory-cli-{}", std::process::id()))
        .join("poster.svg");
    let out = majmin(&[
        "-q",
        "theory",
        "--problem",
        "poster",
        "--grid",
        "41",
        "--figure",
        svg.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("critical points of L1") && text.contains("gradient flow"));
}

#[test]
fn problems_with_many_variables_are_refused_at_once() {
    for d in [17usize, 50, 64] {
        let vars: Vec<String> = (0..d).map(|i| format!("\"x{i}\"")).collect();
        let squares: Vec<String> = (0..d).map(|i| format!("x{i}^2")).collect();
        let text = format!(
            "name = \"wide\"\nvars = [{}]\nmajority = \"{}\"\nminority = \"0.01*x0\"\n[domain]\nlower = [{}]\nupper = [{}]\n",
            vars.join(", "),
            squares.join(" + "),
            vec!["-1"; d].join(", "),
            vec!["1"; d].join(", ")
        );
        let file = temp_file(&format!("wide{d}.toml"), &text);
        let started = std::time::Instant::now();
        let out = majmin(&["theory", "--problem", file.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{d}: {err}");
        assert!(
            err.contains(&format!("{d} variables")) && err.contains("at most 16"),
            "{err}"
        );
        assert!(
            started.elapsed().as_secs() < 10,
            "{d} variables took {:?}",
            started.elapsed()
        );
    }
}
