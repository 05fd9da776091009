//! End-to-end tests of `majmin spectrum` (issue 15): the JSON fields, the top and bottom
//! eigenvalues of each part against a dense Hessian built here from exact Hessian-vector
//! products and diagonalised by Jacobi's method, checkpoints, the figure, and bad input (exit 2).
//! The networks are tiny perceptrons on a subsample of digits: each run takes about a second.

use std::path::PathBuf;
use std::process::{Command, Output};

use majmin_core::{ArchConfig, Group};
use majmin_flow::mlp::Mlp;

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

fn numbers(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("majmin-spectrum-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// 200 images of 4×4 pixels; the perceptron 16 → 8 → 4 → 10 has 222 parameters.
const DATA: &str = "digits,per-class=20,resize=4";
const WIDTH: &str = "0.03125";

fn spectrum(extra: &[&str]) -> Output {
    let mut args = vec![
        "--json", "spectrum", "--arch", "mlp", "--width", WIDTH, "--data", DATA,
    ];
    args.extend(extra);
    majmin(&args)
}

/// Eigenvalues of a symmetric `d × d` matrix (row-major) by the cyclic Jacobi method.
fn jacobi_eigenvalues(mut a: Vec<f64>, d: usize) -> Vec<f64> {
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * d + j].powi(2))
            .sum();
        if off < 1e-26 {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let akp = a[k * d + p];
                    let akq = a[k * d + q];
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let apk = a[p * d + k];
                    let aqk = a[q * d + k];
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
            }
        }
    }
    let mut values: Vec<f64> = (0..d).map(|i| a[i * d + i]).collect();
    values.sort_by(f64::total_cmp);
    values
}

#[test]
fn jacobi_finds_known_eigenvalues() {
    // [[2, 1, 0], [1, 2, 0], [0, 0, -3]]: eigenvalues −3, 1, 3
    let e = jacobi_eigenvalues(vec![2.0, 1.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0, -3.0], 3);
    for (got, want) in e.iter().zip([-3.0, 1.0, 3.0]) {
        assert!((got - want).abs() < 1e-12, "{e:?}");
    }
}

/// The dense Hessians of L1, L0 and L (each divided by the total n) of the seeded perceptron on
/// `DATA`, column by column from exact products with unit vectors.
fn dense_hessians(seed: u64) -> [Vec<f64>; 3] {
    let data = majmin_data::load(DATA).unwrap();
    let arch = majmin_models::Registry::builtin().get("mlp").unwrap();
    let config = ArchConfig::new(data.shape(), data.classes())
        .with_width(WIDTH.parse().unwrap())
        .with_seed(seed);
    let model = arch.build(&config).unwrap();
    let theta: Vec<f64> = model.params().into_iter().map(f64::from).collect();
    let mlp = Mlp::new(vec![16, 8, 4, 10]).unwrap();
    let d = mlp.num_params();
    assert_eq!(d, model.num_params());
    let n = data.len() as f64;
    let features = data.feature_len();
    let hessian = |groups: &[Group]| {
        let mut h = vec![0.0; d * d];
        let mut grad = vec![0.0; d];
        let mut e = vec![0.0; d];
        let mut column = vec![0.0; d];
        for j in 0..d {
            e.iter_mut().for_each(|x| *x = 0.0);
            e[j] = 1.0;
            column.iter_mut().for_each(|x| *x = 0.0);
            for (i, group) in data.groups().iter().enumerate() {
                if !groups.contains(group) {
                    continue;
                }
                let x: Vec<f64> = data.features()[i * features..(i + 1) * features]
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect();
                mlp.accumulate(
                    &theta,
                    &x,
                    data.labels()[i] as usize,
                    1.0 / n,
                    &mut grad,
                    Some((&e, &mut column)),
                );
            }
            for i in 0..d {
                h[i * d + j] = column[i];
            }
        }
        // symmetric to rounding
        for i in 0..d {
            for j in 0..i {
                let m = 0.5 * (h[i * d + j] + h[j * d + i]);
                h[i * d + j] = m;
                h[j * d + i] = m;
            }
        }
        h
    };
    [
        hessian(&[Group::Majority]),
        hessian(&[Group::Minority]),
        hessian(&[Group::Majority, Group::Minority]),
    ]
}

#[test]
fn top_and_bottom_eigenvalues_and_the_trace_agree_with_dense_hessians() {
    // enough steps for a full Krylov space: Lanczos is then exact to rounding
    let out = spectrum(&["--k", "4", "--steps", "222", "--trace-samples", "200"]);
    let v = json(&out);
    assert_eq!(v["params"], 222);
    assert_eq!(v["exact_products"], true);
    let dense = dense_hessians(0);
    for (name, h) in ["majority", "minority", "total"].iter().zip(dense) {
        let part = &v[*name];
        let exact = jacobi_eigenvalues(h.clone(), 222);
        let scale = exact.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let top = numbers(&part["top"]);
        let bottom = numbers(&part["bottom"]);
        assert_eq!(top.len(), 4);
        for i in 0..4 {
            let want_top = exact[221 - i];
            let want_bottom = exact[i];
            assert!(
                (top[i] - want_top).abs() <= 1e-6 * scale,
                "{name} λ{} (top): {} vs dense {want_top}",
                i + 1,
                top[i]
            );
            assert!(
                (bottom[i] - want_bottom).abs() <= 1e-6 * scale,
                "{name} λ{} (bottom): {} vs dense {want_bottom}",
                i + 1,
                bottom[i]
            );
        }
        assert!(
            top.windows(2).all(|w| w[0] >= w[1]),
            "{name} top not descending: {top:?}"
        );
        assert!(
            bottom.windows(2).all(|w| w[0] <= w[1]),
            "{name} bottom not ascending"
        );
        for r in numbers(&part["residuals"]["top"]) {
            assert!(r <= 1e-6 * scale, "{name}: residual {r}");
        }
        assert!(part["converged"]["top"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c == true));
        // ρmin: the smallest |λ| of the dense spectrum, unless the report says it is not converged
        let rho_exact = exact.iter().fold(f64::INFINITY, |m, x| m.min(x.abs()));
        let rho = &part["rho_min"];
        let rho_value = rho["value"].as_f64().unwrap();
        assert!(
            rho_value >= rho_exact - 1e-9 * scale,
            "{name}: ρmin {rho_value} below {rho_exact}"
        );
        if rho["converged"] == true {
            assert!(
                (rho_value - rho_exact).abs() <= 1e-4 * scale,
                "{name}: ρmin {rho_value} vs dense {rho_exact}"
            );
        } else {
            assert!(rho["reason"].is_string(), "{name}: {rho}");
        }
        // Hutchinson's trace within 4 standard errors of the dense trace
        let trace: f64 = (0..222).map(|i| h[i * 222 + i]).sum();
        let (t, se) = (
            part["trace"].as_f64().unwrap(),
            part["trace_stderr"].as_f64().unwrap(),
        );
        assert!(
            se > 0.0 && (t - trace).abs() <= 4.0 * se,
            "{name}: trace {t} ± {se} vs {trace}"
        );
    }
}

#[test]
fn json_has_every_field_and_few_steps_report_unconverged_values() {
    let v = json(&spectrum(&[
        "--k",
        "3",
        "--steps",
        "6",
        "--trace-samples",
        "4",
        "--density",
        "--density-runs",
        "2",
    ]));
    for name in ["majority", "minority", "total"] {
        let part = &v[name];
        for key in [
            "top",
            "bottom",
            "rho_min",
            "trace",
            "trace_stderr",
            "residuals",
        ] {
            assert!(!part[key].is_null(), "{name}.{key} missing: {part}");
        }
        assert_eq!(numbers(&part["top"]).len(), 3);
        assert_eq!(numbers(&part["bottom"]).len(), 3);
        assert_eq!(numbers(&part["residuals"]["top"]).len(), 3);
        // 6 Lanczos steps, 6 residual checks, 13 for ρmin, 4 probes, 2 × 6 for the density
        assert_eq!(part["products"], 6 + 6 + 13 + 4 + 12, "{name}");
        let density = &part["density"];
        let weights = numbers(&density["weights"]);
        assert_eq!(weights.len(), numbers(&density["nodes"]).len());
        assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(part["loss"].as_f64().unwrap() > 0.0);
    }
    // six steps cannot resolve the third-largest eigenvalue of a 222-dimensional Hessian
    let flags: Vec<bool> = ["majority", "minority", "total"]
        .iter()
        .flat_map(|n| v[*n]["converged"]["top"].as_array().unwrap().clone())
        .map(|c| c.as_bool().unwrap())
        .collect();
    assert!(flags.iter().any(|c| !c), "{flags:?}");
    assert_eq!(v["point"], "initialisation");
    assert!(v["cost"]["hvp_per_gradient"].as_f64().unwrap() > 0.0);
    // L = L1 + L0: traces add up, to the estimators' error
    let t = |n: &str| v[n]["trace"].as_f64().unwrap();
    let se = |n: &str| v[n]["trace_stderr"].as_f64().unwrap();
    assert!(
        (t("total") - t("majority") - t("minority")).abs()
            <= 6.0 * (se("total") + se("majority") + se("minority"))
    );
}

#[test]
fn a_checkpoint_moves_the_point_and_the_figure_is_drawn() {
    let dir = temp_dir("ckpt");
    // a checkpoint of the same perceptron with another seed's weights
    let data = majmin_data::load(DATA).unwrap();
    let arch = majmin_models::Registry::builtin().get("mlp").unwrap();
    let config = ArchConfig::new(data.shape(), data.classes())
        .with_width(WIDTH.parse().unwrap())
        .with_seed(7);
    let model = arch.build(&config).unwrap();
    let file = dir.join("seed7.safetensors");
    majmin_models::checkpoint::save(&file, model.as_ref(), &Default::default()).unwrap();
    let common = ["--k", "2", "--steps", "30", "--trace-samples", "4"];
    let at_init = json(&spectrum(&common));
    let mut args = common.to_vec();
    let stem = dir.join("spectrum");
    args.extend([
        "--checkpoint",
        file.to_str().unwrap(),
        "--figure",
        stem.to_str().unwrap(),
    ]);
    let at_ckpt = json(&spectrum(&args));
    assert_eq!(at_ckpt["point"], "checkpoint");
    let top = |v: &serde_json::Value| numbers(&v["total"]["top"])[0];
    assert!((top(&at_init) - top(&at_ckpt)).abs() > 1e-6 * top(&at_init).abs());
    // the same point as the initialisation with --seed 7
    let mut seeded = vec!["--seed", "7"];
    seeded.extend(common);
    let at_seed7 = json(&spectrum(&seeded));
    assert!((top(&at_seed7) - top(&at_ckpt)).abs() <= 1e-9 * top(&at_seed7).abs());
    let svg = std::fs::read_to_string(dir.join("spectrum.svg")).unwrap();
    assert!(
        svg.contains("majority L1") && svg.contains("λ1"),
        "figure without panels"
    );
    assert!(std::fs::metadata(dir.join("spectrum.png")).unwrap().len() > 5_000);
    assert_eq!(at_ckpt["figures"].as_array().unwrap().len(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_text_report_is_a_table_of_the_three_parts() {
    let out = majmin(&[
        "spectrum",
        "--arch",
        "mlp",
        "--width",
        WIDTH,
        "--data",
        DATA,
        "--k",
        "2",
        "--steps",
        "8",
        "--trace-samples",
        "3",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "majority L1",
        "minority L0",
        "total L",
        "λ2 (top)",
        "λ1 (bottom)",
        "ρmin",
        "trace ± stderr",
        "222 parameters",
    ] {
        assert!(text.contains(needle), "no `{needle}` in:\n{text}");
    }
}

#[test]
fn bad_input_exits_2_naming_the_problem() {
    let dir = temp_dir("bad");
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint at all").unwrap();
    // a checkpoint of another width: its tensors do not fit
    let data = majmin_data::load(DATA).unwrap();
    let other = majmin_models::Registry::builtin()
        .get("mlp")
        .unwrap()
        .build(&ArchConfig::new(data.shape(), data.classes()).with_width(0.0625))
        .unwrap();
    let wide = dir.join("wide.safetensors");
    majmin_models::checkpoint::save(&wide, other.as_ref(), &Default::default()).unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--arch", "nosuchnet", "--data", DATA], "nosuchnet"),
        (vec!["--k", "0"], "--k 0"),
        (vec!["--k", "300", "--steps", "400"], "222 parameters"),
        (vec!["--k", "10", "--steps", "5"], "--steps 5"),
        (vec!["--steps", "0"], "--steps 0"),
        (vec!["--trace-samples", "1"], "--trace-samples 1"),
        (vec!["--tol", "0"], "--tol 0"),
        (vec!["--zeta", "1.5"], "--zeta 1.5"),
        (vec!["--width", "0"], "--width 0"),
        (vec!["--figure", "spectrum.pdf"], "--figure spectrum.pdf"),
        (vec!["--checkpoint", "no-such.safetensors"], "no such file"),
        (
            vec!["--checkpoint", garbage.to_str().unwrap()],
            "garbage.safetensors",
        ),
        (vec!["--checkpoint", wide.to_str().unwrap()], "1.weight"),
        (vec!["--data", "nosuchdata"], "nosuchdata"),
    ];
    for (extra, needle) in cases {
        let mut args = vec![
            "spectrum", "--arch", "mlp", "--width", WIDTH, "--data", DATA,
        ];
        args.extend(&extra);
        let out = majmin(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(needle), "{extra:?}: no `{needle}` in {err}");
        assert!(!err.contains("panicked"), "{extra:?}: {err}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
