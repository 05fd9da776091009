//! `majmin train` end to end on a tiny MLP and the embedded digits.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn majmin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_majmin"))
        .args(args)
        .output()
        .expect("the majmin binary runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("majmin-train-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const TINY: &[&str] = &[
    "--arch",
    "mlp",
    "--data",
    "digits",
    "--width",
    "0.25",
    "--epochs",
    "1",
    "--eval-points",
    "8",
    "-q",
];

#[test]
fn one_run_writes_curves_figure_and_manifest() {
    let out = tmp("one");
    let o = majmin(
        &[
            &[
                "train",
                "--zeta",
                "0.1",
                "--out",
                out.to_str().unwrap(),
                "--json",
            ],
            TINY,
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json prints JSON");
    assert_eq!(summary["status"], "finished");
    assert_eq!(
        (summary["majority"].as_u64(), summary["minority"].as_u64()),
        (Some(901), Some(90))
    );
    let curves = text(&out.join("curves.csv"));
    let mut lines = curves.lines();
    assert_eq!(lines.next(), Some("run,t,group,loss,accuracy"));
    let run: serde_json::Value = serde_json::from_str(&text(&out.join("run.json"))).unwrap();
    // the `run` column is the run's id, and every group starts at t = 0
    let id = run["id"].as_str().unwrap();
    assert!(id.starts_with("mlp"), "{id}");
    for group in ["majority", "minority", "all"] {
        assert!(
            curves.contains(&format!("\n{id},0,{group},")),
            "{group}: {curves}"
        );
    }
    assert_eq!(run["status"]["status"], "finished");
    let points = run["points"].as_array().unwrap();
    assert!(points.len() >= 5);
    let (l0, l1) = (
        points[0]["loss"].as_f64().unwrap(),
        points.last().unwrap()["loss"].as_f64().unwrap(),
    );
    assert!(l1 < l0, "one epoch lowers the loss: {l0} → {l1}");
    assert!(
        text(&out.join("curves_wide.csv")).starts_with("t,step,loss,majority_loss,minority_loss")
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&text(&out.join("manifest.json"))).unwrap();
    assert_eq!(manifest["command"], "train");
    for f in ["curves.svg", "curves.png"] {
        assert!(
            std::fs::metadata(out.join(f))
                .map(|m| m.len() > 500)
                .unwrap_or(false),
            "{f} missing"
        );
    }
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn same_seed_same_curves() {
    let (a, b) = (tmp("det-a"), tmp("det-b"));
    for dir in [&a, &b] {
        let o = majmin(
            &[
                &[
                    "train",
                    "--zeta",
                    "0.3",
                    "--seed",
                    "5",
                    "--threads",
                    "2",
                    "--out",
                    dir.to_str().unwrap(),
                ],
                TINY,
            ]
            .concat(),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(text(&a.join("curves.csv")), text(&b.join("curves.csv")));
    std::fs::remove_dir_all(a).ok();
    std::fs::remove_dir_all(b).ok();
}

#[test]
fn divergence_is_reported_with_exit_code_1() {
    let out = tmp("div");
    let o = majmin(
        &[
            &[
                "train",
                "--zeta",
                "0.3",
                "--lr",
                "1e30",
                "--out",
                out.to_str().unwrap(),
            ],
            TINY,
        ]
        .concat(),
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("diverged at t ="));
    let run: serde_json::Value = serde_json::from_str(&text(&out.join("run.json"))).unwrap();
    assert_eq!(run["status"]["status"], "diverged");
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn bad_input_exits_2() {
    let out = tmp("bad");
    let o = tmp("bad").join("x");
    let cases: Vec<Vec<&str>> = vec![
        vec!["train", "--arch", "nosuchnet", "--out", o.to_str().unwrap()],
        vec![
            "train",
            "--arch",
            "mlp",
            "--zeta",
            "1.5",
            "--out",
            o.to_str().unwrap(),
        ],
        vec![
            "train",
            "--arch",
            "mlp",
            "--data",
            "nosuchdata",
            "--out",
            o.to_str().unwrap(),
        ],
        vec![
            "train",
            "--arch",
            "mlp",
            "--schedule",
            "step:3",
            "--out",
            o.to_str().unwrap(),
        ],
        vec![
            "train",
            "--arch",
            "mlp",
            "--lr",
            "-1",
            "--out",
            o.to_str().unwrap(),
        ],
    ];
    for args in cases {
        let r = majmin(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("internal error"),
            "{args:?}: {err}"
        );
    }
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn zone_probe_columns_with_zone() {
    let out = tmp("zone");
    let o = majmin(&[
        "train",
        "--arch",
        "mlp",
        "--data",
        "digits",
        "--width",
        "0.25",
        "--epochs",
        "1",
        "--zeta",
        "0.3",
        "--zone",
        "--eval-every",
        "5",
        "-q",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let wide = text(&out.join("curves_wide.csv"));
    let header = wide.lines().next().unwrap();
    assert!(
        header.ends_with(",inner_product,majority_grad_norm,minority_grad_norm"),
        "{header}"
    );
    // at initialisation both groups' gradients point the same way: inside the majority-training zone
    let first: Vec<f64> = wide
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(
        first[8] > 0.0 && first[9] > 0.0 && first[10] > 0.0,
        "{first:?}"
    );
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn zone_probes_are_summarised_with_the_minority_initial_drop() {
    let out = std::env::temp_dir().join(format!("majmin-train-zone-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = Command::new(env!("CARGO_BIN_EXE_majmin"))
        .args([
            "train",
            "--arch",
            "mlp",
            "--width",
            "0.25",
            "--zeta",
            "0.1",
            "--epochs",
            "3",
            "--optimizer",
            "gd",
            "--lr",
            "0.5",
            "--zone",
            "--json",
            "-q",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let zone = &s["zone"];
    assert_eq!(zone["points"].as_u64(), Some(4), "{s}");
    let f = zone["adversarial_time_fraction"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&f) && f.is_sign_positive(), "{zone}");
    assert!(zone["median_cosine"].as_f64().unwrap() > 0.9, "{zone}");
    // full-batch GD at ζ = 10 %: the minority's loss first rises while the global loss falls
    assert_eq!(s["minority_drop"]["detected"], true, "{s}");
    assert!(s["minority_drop"]["rise"].as_f64().unwrap() > 0.0);
    std::fs::remove_dir_all(out).ok();
}
