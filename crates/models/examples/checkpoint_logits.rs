//! Writes checkpoints and evaluation-mode logits for `crates/models/bench/checkpoint_roundtrip.py`,
//! which loads each checkpoint into the PyTorch module of the same structure and compares logits.
//!
//! ```text
//! cargo run --release -p majmin-models --example checkpoint_logits -- DIR [ARCH ...]
//! cargo run --release -p majmin-models --example checkpoint_logits -- DIR --from FILE
//! ```
//!
//! The first form builds each built-in (all by default) at its default configuration
//! (3×32×32, 10 classes, width 1, seed 0), takes one training-mode pass (so BatchNorm's
//! running statistics and `num_batches_tracked` move), and writes `DIR/ARCH.safetensors` (the
//! checkpoint) and `DIR/ARCH.io.safetensors` (`inputs` `[B, C, H, W]` and the evaluation-mode
//! `logits` `[B, classes]`). The second form reads a checkpoint written by `majmin train --save`,
//! rebuilds its network from the metadata (`arch`, `width`, `input`, `classes`), loads it, and
//! writes `DIR/from.io.safetensors` the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use majmin_core::{ArchConfig, Model, NamedTensor, Rng, TensorData};
use majmin_models::{checkpoint, Registry};

const BATCH: usize = 4;

fn io_file(dir: &Path, name: &str, model: &mut dyn Model, input: [usize; 3], seed: u64) {
    let mut rng = Rng::seed_from_u64(seed);
    let len = BATCH * input.iter().product::<usize>();
    let x: Vec<f32> = (0..len).map(|_| rng.normal() as f32).collect();
    model.set_training(false);
    let logits = model.logits(&x).expect("logits");
    let k = model.classes();
    let tensors = [
        NamedTensor {
            name: "inputs".into(),
            shape: vec![BATCH, input[0], input[1], input[2]],
            data: TensorData::F32(x),
        },
        NamedTensor {
            name: "logits".into(),
            shape: vec![BATCH, k],
            data: TensorData::F32(logits),
        },
    ];
    let path = dir.join(format!("{name}.io.safetensors"));
    checkpoint::save_tensors(&path, &tensors, &BTreeMap::new()).expect("write inputs and logits");
    println!("wrote {}", path.display());
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .expect("usage: checkpoint_logits DIR [ARCH ...] | DIR --from FILE"),
    );
    std::fs::create_dir_all(&dir).expect("create DIR");
    let rest: Vec<String> = args.collect();
    let registry = Registry::builtin();
    if rest.first().map(String::as_str) == Some("--from") {
        let file = PathBuf::from(rest.get(1).expect("--from FILE"));
        let (_, meta) = checkpoint::read(&file).unwrap_or_else(|e| panic!("{e}"));
        let get = |k: &str| {
            meta.get(k)
                .unwrap_or_else(|| panic!("{}: no `{k}` in the metadata", file.display()))
        };
        let input: Vec<usize> = get("input")
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|v| v.trim().parse().expect("input = [C, H, W]"))
            .collect();
        let input = [input[0], input[1], input[2]];
        let config = ArchConfig::new(input, get("classes").parse().expect("classes"))
            .with_width(get("width").parse().expect("width"))
            .with_seed(12345);
        let mut model = registry
            .get(get("arch"))
            .expect("a built-in architecture")
            .build(&config)
            .expect("build");
        checkpoint::load(model.as_mut(), &file).unwrap_or_else(|e| panic!("{e}"));
        io_file(&dir, "from", model.as_mut(), input, 7);
        return;
    }
    for entry in registry.iter() {
        let arch = entry.architecture.as_ref();
        if !rest.is_empty() && !rest.iter().any(|a| a == arch.name()) {
            continue;
        }
        let config = arch.default_config();
        let mut model = arch
            .build(&config)
            .expect("the default configuration builds");
        // one training-mode pass: BatchNorm's running statistics move off their start
        let mut rng = Rng::seed_from_u64(1);
        let x: Vec<f32> = (0..BATCH * config.feature_len())
            .map(|_| rng.normal() as f32)
            .collect();
        let y: Vec<u32> = (0..BATCH as u32)
            .map(|i| i % config.classes as u32)
            .collect();
        let mut grad = vec![0.0; model.num_params()];
        model
            .loss_and_gradient(&x, &y, &mut grad)
            .expect("a training pass");
        let path = dir.join(format!("{}.safetensors", arch.name()));
        let meta = BTreeMap::from([("arch".to_string(), arch.name().to_string())]);
        checkpoint::save(&path, model.as_ref(), &meta).expect("save");
        io_file(&dir, arch.name(), model.as_mut(), config.input, 2);
    }
}
