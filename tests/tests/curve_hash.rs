//! Training curves pinned by a stored hash: moving the layer library (issue 13) must not change
//! a single bit of what a fixed seed and thread count train.
//!
//! For every built-in architecture and both example plugins (through the real loader), a tiny
//! configuration (`majmin_tests::tiny_config`) trains 4 plain SGD steps (learning rate 0.05)
//! on seeded batches of 6 samples inside a 2-thread rayon pool, with an evaluation-mode forward
//! pass after every step. The hash (FNV-1a, 64 bits) covers every training loss, every logit
//! of every evaluation and the final parameters, as bits. The stored values were measured on
//! main at 587c284, before the network builder moved to `majmin-nn`.
//!
//! SqueezeNet's default initialisation changed on purpose afterwards (torchvision's, see the zoo):
//! its row is measured with `init = "pytorch"`, the initialisation of 587c284, which must still
//! give the same bits.
//!
//! Two kernels changed on purpose with issue 14, and the rows of the networks they touch at these
//! tiny configurations were measured after the change: the VGGs' 3×3 stride-1 layers of 16
//! channels and more on 8×8 maps now run with Winograd F(2×2, 3×3), which rounds differently
//! (within the bound of `majmin_nn::kernels::winograd::error_bound`), and MobileNetV2's
//! stride-1 depthwise layers sum their weight gradients in 16 interleaved lanes over whole
//! planes. Every other row still gives the bits of 587c284. The VGG rows were measured again
//! when those 8×8 layers moved to Winograd F(4×4, 3×3) (within the bound checked by
//! `majmin_nn::kernels::winograd::check_against_definition`), and again when 8×8 maps went
//! back to F(2×2) (the faster there): vgg11 is back at its F(2×2) value, vgg19 (whose tiny
//! configuration also has 16×16 maps, now F(4×4)) has a new one.
//!
//! Later in issue 14, convolutions on 1×1 maps came to compute only the kernel tap that reads
//! the pixel (`ConvGeometry::one_pixel_tap`; the other taps of a 3×3 layer there read padding and
//! only added zeros, but the shorter sums round differently). On 8×8 inputs the tiny
//! MobileNetV2, SqueezeNet and ResNets reach 1×1 maps; their rows were measured after that
//! change. Then Winograd came to need 32 channels in and out (16 before: SqueezeNet's 16-channel
//! layers ran faster with im2col), which moved the tiny VGGs' 16-channel layers back to im2col;
//! their rows were measured again.

#[path = "../../plugins/test_support.rs"]
mod test_support;

use std::path::{Path, PathBuf};

use majmin_core::Model;
use majmin_models::plugin_loader::{register_plugins, sha256_hex};
use majmin_models::Registry;
use majmin_tests::{batch, tiny_config};

/// FNV-1a over 64-bit words.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    fn word(&mut self, w: u64) {
        for byte in w.to_le_bytes() {
            self.0 ^= byte as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn floats(&mut self, values: &[f32]) {
        self.word(values.len() as u64);
        values.iter().for_each(|v| self.word(v.to_bits() as u64));
    }
}

/// The hash of a short training run of `model` (see the module docs).
fn curve_hash(model: &mut dyn Model, config: &majmin_core::ArchConfig) -> u64 {
    let mut h = Fnv::new();
    let mut params = model.params();
    let mut grad = vec![0.0f32; params.len()];
    let (probe, _) = batch(config, 4, 99);
    for step in 0..4 {
        let (x, y) = batch(config, 6, step);
        model.set_training(true);
        let loss = model.loss_and_gradient(&x, &y, &mut grad).unwrap();
        h.floats(&[loss]);
        params
            .iter_mut()
            .zip(&grad)
            .for_each(|(p, g)| *p -= 0.05 * g);
        model.set_params(&params).unwrap();
        model.set_training(false);
        h.floats(&model.logits(&probe).unwrap());
    }
    h.floats(&model.params());
    h.0
}

fn registry_with_plugins() -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for (name, krate) in [("lenet", "lenet_plugin"), ("densenet", "densenet_plugin")] {
        let file: PathBuf = test_support::library_file(krate);
        let sha = sha256_hex(&std::fs::read(&file).unwrap());
        text.push_str(&format!(
            "[[plugin]]\nname = \"{name}\"\npath = \"{}\"\nsha256 = \"{sha}\"\n\n",
            file.display()
        ));
    }
    let path: &Path = &dir.path().join("plugins.toml");
    std::fs::write(path, text).unwrap();
    let mut registry = Registry::builtin();
    register_plugins(&mut registry, path).expect("the example plugins load");
    registry
}

/// The hashes measured on main before the move (see the module docs).
const STORED: [(&str, u64); 11] = [
    ("mlp", 0x79fc9d28562e5e7e),
    ("smallcnn", 0x3ea441ceb81cd47a),
    ("mobilenetv2", 0xc0a2456e19127e01),
    ("squeezenet", 0x84868d4c98e2cbde),
    ("vgg11", 0xc55574fa65114211),
    ("vgg19", 0x4aff77f517ebfeb8),
    ("resnet18", 0x646150f96c624c9f),
    ("resnet50", 0x025eb4976da57bb0),
    ("resnet101", 0x264e3b24eec2352d),
    ("lenet", 0x45cec3e5bd4c52a0),
    ("densenet-bc", 0x222e3cdab058e2af),
];

#[test]
fn training_curves_are_unchanged_by_the_move() {
    let registry = registry_with_plugins();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let measured: Vec<(String, u64)> = pool.install(|| {
        STORED
            .iter()
            .map(|(name, _)| {
                let entry = registry
                    .entry(name)
                    .expect("a stored architecture is registered");
                let arch = entry.architecture.as_ref();
                let mut config = tiny_config(arch);
                if *name == "squeezenet" {
                    config.options.insert("init".into(), "pytorch".into());
                }
                let mut model = arch.build(&config).unwrap();
                (arch.name().to_string(), curve_hash(model.as_mut(), &config))
            })
            .collect()
    });
    for (name, hash) in &measured {
        eprintln!("    (\"{name}\", {hash:#018x}),");
    }
    assert!(registry.len() >= STORED.len());
    let stored: Vec<(String, u64)> = STORED.iter().map(|(n, h)| (n.to_string(), *h)).collect();
    assert_eq!(measured, stored);
}
