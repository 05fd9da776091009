//! End-to-end tests of `majmin theory --arch …` (issue 16): the Theorem 1 experiment on the
//! narrow mlp on digits, the constants on a ball around θ̂1, the network figure, and bad input
//! (exit 2). Budgets are tiny: each run takes well under a second.

use std::path::PathBuf;
use std::process::{Command, Output};

fn majmin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_majmin"))
        .args(args)
        .output()
        .expect("the majmin binary runs")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON on stdout")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("majmin-theory-net-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const NET: [&str; 6] = ["--arch", "mlp", "--width", "0.125", "--data", "digits"];
const TINY: [&str; 10] = [
    "--region-samples",
    "2",
    "--pairs",
    "1",
    "--lanczos-steps",
    "5",
    "--rho-min-steps",
    "5",
    "--ascent-steps",
    "1",
];

fn theory(extra: &[&str]) -> Output {
    let mut args = vec!["--json", "theory"];
    args.extend(NET);
    args.extend(TINY);
    args.extend(extra);
    majmin(&args)
}

#[test]
fn the_critical_pair_reports_distance_bound_and_verdict_for_each_seed_and_zeta() {
    let dir = temp_dir("pair");
    let stem = dir.join("plane");
    let out = theory(&[
        "--critical-pair",
        "--zeta",
        "0.1,0.5",
        "--seeds",
        "2",
        "--max-steps",
        "40",
        "--tol",
        "1e-9",
        "--figure",
        stem.to_str().unwrap(),
        "--figure-grid",
        "6",
    ]);
    let v = json(&out);
    assert_eq!(v["arch"], "mlp");
    assert_eq!(v["params"], 2778);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    let seeds: Vec<u64> = runs.iter().map(|r| r["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, vec![0, 1, 0, 1]);
    assert_eq!(runs[0]["zeta"], 0.1);
    assert_eq!(runs[2]["zeta"], 0.5);
    assert_ne!(runs[0]["minority"], runs[2]["minority"]);
    for r in runs {
        // the budget cannot reach 1e-9: said so, and the verdict cannot be `holds`
        for phase in ["majority_descent", "total_descent"] {
            assert_eq!(r[phase]["reached"], false, "{phase}: {r}");
            assert_eq!(r[phase]["stopped_by"], "budget");
            assert_eq!(r[phase]["steps"], 40);
            assert!(r[phase]["gradient_norm"].as_f64().unwrap() > 1e-9);
        }
        assert_eq!(r["conclusive"], false);
        let verdict = r["verdict"].as_str().unwrap();
        assert!(
            verdict == "assumptions-fail" || verdict == "inconclusive",
            "{verdict}"
        );
        let distance = r["distance"].as_f64().unwrap();
        assert!(distance > 0.0);
        assert!((r["radius"].as_f64().unwrap() - 1.5 * distance).abs() < 1e-9 * distance);
        for key in ["delta", "c", "M", "tau"] {
            assert!(r["constants"][key].is_number(), "{key}: {r}");
        }
        for key in ["A1", "A2", "A3", "A4"] {
            assert!(r["assumptions"][key].is_boolean(), "{key}");
        }
        assert!(r["a4_bound"].is_number());
        assert_eq!(r["estimates"]["samples"], 2);
        assert_eq!(r["estimates"]["m_pairs"], 1);
        assert!(r["estimates"]["note"]
            .as_str()
            .unwrap()
            .contains("lower bounds of the true suprema"));
        // τ is at least the centre's ‖∇L0‖ and ρmax(∇²L0)
        let tau = r["constants"]["tau"].as_f64().unwrap();
        let at = &r["estimates"]["at_center"];
        assert!(tau >= at["minority_gradient_norm"].as_f64().unwrap());
        assert!(tau >= at["minority_rho_max"].as_f64().unwrap());
        // Theorem 2 along the descents: probes with distances and cosines
        let z = &r["zone_distances"];
        assert!(z["points"].as_u64().unwrap() >= 2, "{z}");
        assert!((-1.0..=1.0).contains(&z["min_cosine"].as_f64().unwrap()));
        assert_eq!(r["zone"]["points"], z["points"]);
    }
    // the figure of the first run, in both formats
    let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap();
    assert!(svg.contains("along θ̂ − θ̂1"));
    assert!(std::fs::metadata(stem.with_extension("png")).unwrap().len() > 2000);
    assert_eq!(v["figures"].as_array().unwrap().len(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_text_report_says_when_the_tolerance_was_not_reached() {
    let mut args = vec!["theory"];
    args.extend(NET);
    args.extend(TINY);
    args.extend(["--critical-pair", "--zeta", "0.2", "--max-steps", "5", "-q"]);
    let out = majmin(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tolerance 1.0e-3 NOT reached: stopped by budget"),
        "{text}"
    );
    assert!(text.contains("Theorem 1: ‖θ̂1 − θ̂‖ ="), "{text}");
    assert!(text.contains("verdict: "), "{text}");
}

#[test]
fn radius_mode_centres_k_on_the_majority_critical_point() {
    let out = theory(&["--zeta", "0.1", "--radius", "0.25", "--max-steps", "30"]);
    let v = json(&out);
    assert_eq!(v["region"]["kind"], "ball");
    assert_eq!(v["region"]["radius"], 0.25);
    assert_eq!(v["dim"], 2778);
    assert_eq!(v["centre"]["kind"], "critical-point-of-L1");
    assert_eq!(v["centre"]["descent"]["steps"], 30);
    let at = &v["estimates"]["at_center"];
    // the centre is θ̂1: its gradient norm is the descent's
    assert!(
        (at["majority_gradient_norm"].as_f64().unwrap()
            - v["centre"]["descent"]["gradient_norm"].as_f64().unwrap())
        .abs()
            < 1e-9
    );
    let tau = v["constants"]["tau"].as_f64().unwrap();
    assert!(tau >= at["minority_gradient_norm"].as_f64().unwrap());
    assert!(tau >= at["minority_rho_max"].as_f64().unwrap());
    let delta = v["constants"]["delta"].as_f64().unwrap();
    if at["majority_gradient_norm"].as_f64().unwrap() <= v["constants"]["c"].as_f64().unwrap() {
        assert!(delta <= at["majority_rho_min"].as_f64().unwrap());
    }
    let verdict = v["verdict"].as_str().unwrap();
    assert!(verdict == "holds" || verdict == "assumptions-fail");
    assert!(v["assumptions"]["A1"].is_boolean());
}

/// `--checkpoint F --radius R` centres K on a checkpoint written by `majmin train --save`, and
/// `--segment G` spans two of them; another width's checkpoint is refused, naming the tensor.
#[test]
fn checkpoints_from_train_centre_the_ball_and_end_the_segment() {
    let dir = temp_dir("from-train");
    let save = |steps: &str, name: &str, width: &str| {
        let file = dir.join(name);
        let out = majmin(&[
            "train",
            "--arch",
            "mlp",
            "--width",
            width,
            "--data",
            "digits",
            "--zeta",
            "0.1",
            "--steps",
            steps,
            "--out",
            dir.join(format!("run-{name}")).to_str().unwrap(),
            "--save",
            file.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        file
    };
    let early = save("1", "early.safetensors", "0.125");
    let late = save("40", "late.safetensors", "0.125");
    let ball = |file: &PathBuf| {
        json(&theory(&[
            "--zeta",
            "0.1",
            "--radius",
            "0.25",
            "--checkpoint",
            file.to_str().unwrap(),
        ]))
    };
    let (a, b) = (ball(&early), ball(&late));
    for (v, file) in [(&a, &early), (&b, &late)] {
        assert_eq!(v["region"]["kind"], "ball");
        assert_eq!(v["dim"], 2778);
        assert_eq!(v["centre"]["kind"], "checkpoint");
        assert_eq!(v["centre"]["checkpoint"], file.to_str().unwrap());
    }
    // the centre is the checkpoint's: trained longer, the majority's gradient is another
    let g = |v: &serde_json::Value| {
        v["estimates"]["at_center"]["majority_gradient_norm"]
            .as_f64()
            .unwrap()
    };
    assert_ne!(g(&a), g(&b));

    let seg = json(&theory(&[
        "--zeta",
        "0.1",
        "--checkpoint",
        early.to_str().unwrap(),
        "--segment",
        late.to_str().unwrap(),
    ]));
    assert_eq!(seg["region"]["kind"], "segment", "{}", seg["region"]);
    assert_eq!(seg["centre"]["checkpoint"], early.to_str().unwrap());

    let wide = save("1", "wide.safetensors", "0.25");
    let out = theory(&[
        "--zeta",
        "0.1",
        "--radius",
        "0.25",
        "--checkpoint",
        wide.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--checkpoint")
            && err.contains("wide.safetensors")
            && err.contains("tensor `1.weight`"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_network_input_exits_2_with_what_was_wrong() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--critical-pair", "--zeta", "1.5"],
            "ζ = 1.5 is out of range",
        ),
        (&["--critical-pair", "--radius", "1"], "exactly one of"),
        (&[], "exactly one of"),
        (&["--radius", "-1"], "--radius -1"),
        (
            &["--radius", "1", "--checkpoint", "no-such.safetensors"],
            "--checkpoint no-such.safetensors: no such file",
        ),
        (&["--segment", "g.safetensors"], "--checkpoint is missing"),
        (&["--critical-pair", "--tol", "0"], "--tol 0"),
        (&["--critical-pair", "--seeds", "0"], "--seeds 0"),
        (&["--critical-pair", "--figure", "x.jpg"], ".svg or .png"),
        (
            &["--radius", "1", "--figure", "x.svg"],
            "add --critical-pair",
        ),
        (&["--radius", "1", "--zeta", "0.1,0.2"], "one ζ"),
        (
            &["--critical-pair", "--figure-grid", "1"],
            "--figure-grid 1",
        ),
    ];
    for (extra, expected) in cases {
        let out = theory(extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{extra:?}: {err}");
    }
    // an existing file that is not a checkpoint: refused, naming the option and the file
    let dir = temp_dir("ckpt");
    let file = dir.join("model.safetensors");
    std::fs::write(&file, b"not a checkpoint").unwrap();
    let out = theory(&["--radius", "1", "--checkpoint", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--checkpoint") && err.contains("model.safetensors is not a safetensors file"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
    let out = majmin(&["theory", "--arch", "nope", "--critical-pair"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown architecture"));
    let out = majmin(&["theory", "--critical-pair"]);
    assert_eq!(out.status.code(), Some(2));
}
