//! Training methods against the catch-up overcost end to end (issue 18): `overcost --methods`
//! writes one table per method, the comparison and its figure, and a method in every run entry;
//! `train --method` reports per-group and worst-group metrics on the training and held-out sets;
//! unknown methods and parameters that apply to none of the methods exit with code 2 before
//! anything is trained or written.

use std::path::PathBuf;
use std::process::{Command, Output};

fn majmin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_majmin"))
        .args(args)
        .output()
        .expect("the majmin binary runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("majmin-methods-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const TINY: &[&str] = &[
    "--archs",
    "mlp",
    "--width",
    "0.25",
    "--zetas",
    "0.1,0.8",
    "--kappas",
    "0.9",
    "--seeds",
    "1",
    "--epochs",
    "2",
    "--eval-points",
    "8",
    "-q",
];

fn overcost(extra: &[&str], out: &std::path::Path) -> Output {
    let mut args = vec!["overcost"];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    majmin(&args)
}

#[test]
fn a_methods_sweep_writes_a_table_per_method_the_comparison_and_its_figure() {
    let out = tmp("sweep");
    let o = overcost(&["--methods", "erm,reweight,resample+reweight,jtt"], &out);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "table.md",
        "table.csv",
        "table_erm.md",
        "table_reweight.csv",
        "table_resample+reweight.tex",
        "table_jtt.md",
        "comparison.md",
        "comparison.csv",
        "overcost_vs_zeta_methods_mlp-w0p25.svg",
        "overcost_vs_zeta_methods_mlp-w0p25.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // table.csv: a method column, one block of rows per method
    let csv = std::fs::read_to_string(out.join("table.csv")).unwrap();
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("method,arch,params,kappa,zeta"));
    let methods: Vec<&str> = lines.map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(
        methods,
        [
            "erm",
            "erm",
            "reweight",
            "reweight",
            "resample+reweight",
            "resample+reweight",
            "jtt",
            "jtt"
        ]
    );
    // summary.json: every run entry names its method and has the held-out worst-group accuracy
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 8);
    for r in runs {
        let method = r["method"].as_str().unwrap();
        assert!(
            ["erm", "reweight", "resample+reweight", "jtt"].contains(&method),
            "{r}"
        );
        assert!(
            r["run"].as_str().unwrap().contains(&format!("_{method}_")) || method == "erm",
            "the method is part of the run's name: {r}"
        );
        let worst = r["holdout_worst_group_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&worst), "{r}");
    }
    assert!(summary["definitions"]
        .as_str()
        .unwrap()
        .contains("Worst-group accuracy: the smaller"));
    // the comparison: a row per method and ζ with the held-out accuracy, definitions stated
    let comparison = std::fs::read_to_string(out.join("comparison.csv")).unwrap();
    assert_eq!(comparison.lines().count(), 1 + 4 * 2, "{comparison}");
    for line in comparison.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let worst: f64 = cols[9].parse().unwrap();
        let (maj, min): (f64, f64) = (cols[11].parse().unwrap(), cols[12].parse().unwrap());
        assert!(worst <= maj && worst <= min, "{line}");
    }
    let md = std::fs::read_to_string(out.join("comparison.md")).unwrap();
    assert!(md.contains("Average accuracy: correct predictions over all samples"));
    assert!(
        md.contains("| mlp ×0.25 (") && md.contains("| jtt |"),
        "{md}"
    );
    // JTT's run file records its first stage
    let jtt_run = std::fs::read_dir(out.join("runs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().contains("_jtt_"))
        .expect("a jtt run file");
    let text = std::fs::read_to_string(jtt_run.path()).unwrap();
    assert!(text.contains("\"jtt\"") && text.contains("\"minority_errors\""));

    // the same command again resumes: nothing is trained
    let o = overcost(&["--methods", "erm,reweight,resample+reweight,jtt"], &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["runs_trained_now"].as_u64(), Some(0));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn unknown_methods_and_parameters_that_do_not_apply_exit_2_before_training() {
    let out = tmp("refused");
    let cases: &[(&[&str], &str)] = &[
        (&["--methods", "erm,reweigth"], "unknown method `reweigth`"),
        (&["--methods", "erm,reweight,erm"], "listed twice"),
        (&["--methods", "pcngd+reweight"], "pcngd normalises"),
        (&["--methods", "resample+subsample"], "two samplers"),
        (
            &["--methods", "erm,reweight", "--dro-eta", "0.1"],
            "--dro-eta applies to group-dro only",
        ),
        (
            &["--methods", "group-dro", "--jtt-lambda", "5"],
            "--jtt-lambda applies to jtt only",
        ),
        (&["--methods", "jtt", "--jtt-lambda", "0.5"], "--jtt-lambda"),
        (&["--methods", "group-dro", "--dro-eta", "-1"], "--dro-eta"),
        (&["--methods", "jtt", "--jtt-epochs", "0"], "--jtt-epochs"),
        (&["--holdout", "0.9"], "--holdout 0.9"),
    ];
    for (extra, expected) in cases {
        let o = overcost(extra, &out);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expected), "{extra:?}: {}", stderr(&o));
        assert!(!out.exists(), "{extra:?}: nothing is written");
    }
    let o = majmin(&[
        "train",
        "--arch",
        "mlp",
        "--method",
        "erm,reweight",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("overcost --methods"), "{}", stderr(&o));
    let o = majmin(&[
        "reproduce",
        "--method",
        "dro",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unknown method `dro`"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

#[test]
fn train_reports_per_group_and_worst_group_metrics_on_both_sets() {
    let out = tmp("train");
    let o = majmin(&[
        "train",
        "--arch",
        "mlp",
        "--width",
        "0.25",
        "--zeta",
        "0.1",
        "--epochs",
        "2",
        "--eval-points",
        "6",
        "--method",
        "group-dro",
        "--dro-eta",
        "0.05",
        "--json",
        "-q",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["method"], "group-dro");
    assert_eq!(v["method_parameters"], "η_q = 0.05, C = 0");
    let m = &v["final_metrics"];
    for set in ["train", "holdout"] {
        let s = &m[set];
        let (maj, min) = (
            s["majority_accuracy"].as_f64().unwrap(),
            s["minority_accuracy"].as_f64().unwrap(),
        );
        assert_eq!(s["worst_group_accuracy"].as_f64().unwrap(), maj.min(min));
        let (l1, l0) = (
            s["majority_loss"].as_f64().unwrap(),
            s["minority_loss"].as_f64().unwrap(),
        );
        assert_eq!(s["worst_group_loss"].as_f64().unwrap(), l1.max(l0));
    }
    // 20 % of each group of digits (about 900 each) is held out before ζ
    let (hm, h0) = (
        m["holdout_majority"].as_u64().unwrap(),
        m["holdout_minority"].as_u64().unwrap(),
    );
    assert!(
        (170..=190).contains(&hm) && (170..=190).contains(&h0),
        "{m}"
    );
    assert_eq!(v["majority"].as_u64().unwrap() + hm, 901, "{v}");
    assert!(m["definitions"].as_str().unwrap().contains("Worst-group"));
    let _ = std::fs::remove_dir_all(&out);

    // --holdout 0: all the data is trained on, whatever the method
    let o = majmin(&[
        "train",
        "--arch",
        "mlp",
        "--width",
        "0.25",
        "--zeta",
        "0.1",
        "--steps",
        "3",
        "--method",
        "reweight",
        "--holdout",
        "0",
        "--json",
        "-q",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["majority"].as_u64(), Some(901));
    assert!(v["final_metrics"]["holdout"].is_null());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn an_erm_sweep_has_no_held_out_split_and_grows_only_with_holdout_0() {
    let out = tmp("old");
    // erm alone: no held-out split by default
    let o = overcost(&[], &out);
    assert!(o.status.success(), "{}", stderr(&o));
    // ERM without a held-out split: the run names of before (no method in the name)
    let names: Vec<String> = std::fs::read_dir(out.join("runs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert!(
        names.iter().all(|n| n.starts_with("mlp-w0p25_z0p")),
        "{names:?}"
    );
    // another method brings the default held-out split, which this folder's runs lack
    let o = overcost(&["--methods", "erm,subsample"], &out);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("without a held-out split") && e.contains("--holdout 0"),
        "{e}"
    );
    // with --holdout 0 and another method the sweep grows in the same folder
    let o = overcost(&["--holdout", "0", "--methods", "erm,subsample"], &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["runs_trained_now"].as_u64(), Some(2));
    assert_eq!(summary["runs_resumed"].as_u64(), Some(2));
    let _ = std::fs::remove_dir_all(&out);
}
