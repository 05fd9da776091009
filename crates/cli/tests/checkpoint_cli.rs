//! End-to-end tests of checkpoints in `majmin train` (issue 15): `--save`, `--save-every`,
//! `--init`, and the refusal (exit 2, naming the flag and the file) of missing folders, a zero
//! K, and corrupt, truncated and mismatched checkpoints. Budgets are tiny (a few steps of the
//! narrow mlp on digits).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn majmin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_majmin"))
        .args(args)
        .output()
        .expect("the majmin binary runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("majmin-ckpt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `majmin train` of the narrow mlp on digits for `steps` steps into `out`, with `extra` flags.
fn train(out: &Path, steps: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "train", "--arch", "mlp", "--width", "0.125", "--data", "digits", "--steps", steps, "--out",
    ];
    args.push(s(out));
    args.extend(extra);
    majmin(&args)
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn refused(out: &Output, must_contain: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    for m in must_contain {
        assert!(stderr.contains(m), "`{m}` not in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn run_record(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap()
}

fn losses(record: &serde_json::Value) -> Vec<(u64, f64)> {
    record["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["step"].as_u64().unwrap(), p["loss"].as_f64().unwrap()))
        .collect()
}

/// Train with --save, then train again from it: the second run's step-0 loss is the first
/// run's last loss, and the checkpoint's SHA-256 is in the second run's identity.
#[test]
fn save_then_init_continues_where_the_first_run_ended() {
    let dir = temp_dir("continue");
    let ckpt = dir.join("first.safetensors");
    let first = dir.join("first");
    ok(&train(
        &first,
        "6",
        &["--eval-every", "2", "--save", s(&ckpt), "--save-every", "2"],
    ));
    let a = run_record(&first);
    let a_losses = losses(&a);
    assert_eq!(a_losses.last().unwrap().0, 6);
    // every 2nd evaluation point (steps 0, 2, 4, 6 → points 2 and the last) and the last
    let mut saved: Vec<String> = std::fs::read_dir(first.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    saved.sort();
    assert_eq!(saved, ["step-4.safetensors", "step-6.safetensors"]);
    // --save holds the last point's state, as the last --save-every file does
    let (saved_tensors, meta) = majmin_models::checkpoint::read(&ckpt).unwrap();
    let (last_tensors, _) =
        majmin_models::checkpoint::read(&first.join("checkpoints/step-6.safetensors")).unwrap();
    assert!(saved_tensors == last_tensors, "--save and step-6 differ");
    assert_eq!(meta["arch"], "mlp");
    assert_eq!(meta["step"], "6");
    assert_eq!(meta["width"], "0.125");
    assert_eq!(meta["run"], a["id"].as_str().unwrap());
    assert!(a["config"].get("init").is_none());

    // --save into --out, which the run creates
    let second = dir.join("second");
    let inside = second.join("model.safetensors");
    ok(&train(
        &second,
        "2",
        &["--init", s(&ckpt), "--save", s(&inside)],
    ));
    assert!(inside.is_file());
    let b = run_record(&second);
    let b_losses = losses(&b);
    assert_eq!(b_losses[0].0, 0);
    assert_eq!(b_losses[0].1, a_losses.last().unwrap().1);
    let hash = b["config"]["init"].as_str().unwrap();
    assert_eq!(hash.len(), 64);
    assert_ne!(a["id"], b["id"]);

    // from an earlier checkpoint the run starts elsewhere
    let third = dir.join("third");
    ok(&train(
        &third,
        "2",
        &["--init", s(&first.join("checkpoints/step-4.safetensors"))],
    ));
    let c = run_record(&third);
    assert_ne!(losses(&c)[0].1, b_losses[0].1);
    assert_ne!(c["config"]["init"], b["config"]["init"]);
}

/// JTT's two stages both start from --init: its first stage's errors are those of the
/// checkpoint's model, so the run differs from one without --init.
#[test]
fn jtt_starts_both_stages_from_init() {
    let dir = temp_dir("jtt");
    let ckpt = dir.join("erm.safetensors");
    ok(&train(&dir.join("erm"), "30", &["--save", s(&ckpt)]));
    let jtt = ["--method", "jtt", "--jtt-epochs", "0.1", "--holdout", "0.2"];
    let mut with = jtt.to_vec();
    with.extend(["--init", s(&ckpt)]);
    let from_init = dir.join("jtt-init");
    ok(&train(&from_init, "2", &with));
    let plain = dir.join("jtt-plain");
    ok(&train(&plain, "2", &jtt));
    let (a, b) = (run_record(&from_init), run_record(&plain));
    assert_ne!(a["jtt"]["errors"], b["jtt"]["errors"], "{a} {b}");
    assert_ne!(losses(&a)[0].1, losses(&b)[0].1);
}

#[test]
fn bad_checkpoint_options_are_refused_with_exit_2() {
    let dir = temp_dir("bad");
    let out = dir.join("run");
    let missing = dir.join("no-such-folder").join("m.safetensors");
    refused(
        &train(&out, "2", &["--save", s(&missing)]),
        &["--save", "no-such-folder"],
    );
    refused(
        &train(&out, "2", &["--save-every", "0"]),
        &["--save-every 0"],
    );
    refused(
        &train(&out, "2", &["--init", s(&dir.join("absent.safetensors"))]),
        &["--init", "absent.safetensors"],
    );
    assert!(!out.exists(), "nothing is written before the checks");

    // a good checkpoint to damage
    let good = dir.join("good.safetensors");
    ok(&train(&dir.join("source"), "2", &["--save", s(&good)]));
    let bytes = std::fs::read(&good).unwrap();

    let truncated = dir.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() - 16]).unwrap();
    refused(
        &train(&out, "2", &["--init", s(&truncated)]),
        &["--init", "truncated.safetensors", "truncated"],
    );

    let corrupt = dir.join("corrupt.safetensors");
    let mut bad = bytes.clone();
    for b in &mut bad[10..20] {
        *b ^= 0x5a;
    }
    std::fs::write(&corrupt, &bad).unwrap();
    refused(
        &train(&out, "2", &["--init", s(&corrupt)]),
        &["--init", "corrupt.safetensors", "corrupt header"],
    );

    let text = dir.join("notes.safetensors");
    std::fs::write(&text, "just some text, not a checkpoint").unwrap();
    refused(
        &train(&out, "2", &["--init", s(&text)]),
        &["notes.safetensors", "not a safetensors file"],
    );

    // another architecture, another width
    let mut args = vec![
        "train", "--arch", "smallcnn", "--width", "0.125", "--data", "digits", "--steps", "2",
        "--out",
    ];
    args.extend([s(&out), "--init", s(&good)]);
    refused(
        &majmin(&args),
        &["good.safetensors", "smallcnn", "tensor `"],
    );
    let mut args = vec![
        "train", "--arch", "mlp", "--width", "0.25", "--data", "digits", "--steps", "2", "--out",
    ];
    args.extend([s(&out), "--init", s(&good)]);
    refused(
        &majmin(&args),
        &[
            "good.safetensors",
            "tensor `1.weight`",
            "[32, 64]",
            "[64, 64]",
        ],
    );
    assert!(!out.exists());
}
