//! The cost of the plugin boundary: a training step of LeNet-5 linked in directly against the
//! same network loaded from `liblenet_plugin` through majmin's loader and C ABI.
//!
//! ```text
//! cargo build --release -p lenet-plugin -p majmin-models --example plugin_boundary_cost
//! target/release/examples/plugin_boundary_cost [STEPS]
//! ```
//!
//! A step is what the training loop does: `set_params` (θ into the model), `loss_and_gradient`
//! (forward, backward, gradient out) and the SGD update on the host, at batch 64, on 1×8×8
//! (the embedded digits' shape) and on 3×32×32. The two paths alternate in rounds and the
//! median round is reported, so drift of the machine affects both alike.

use std::time::Instant;

use majmin_core::{ArchConfig, Architecture, Model};

// The plugin's own source, compiled into this example: the network linked in directly. (Not a
// dependency on the `lenet-plugin` package: its rlib is written without a hash in its file name,
// so a second build of it in another feature context would overwrite the one this links.)
#[path = "../../../plugins/lenet/src/lib.rs"]
#[allow(dead_code)]
mod lenet_plugin;
use majmin_models::plugin_loader::{register_plugins, sha256_hex};
use majmin_models::Registry;

fn step_time(model: &mut dyn Model, x: &[f32], y: &[u32], steps: usize) -> f64 {
    let mut theta = model.params();
    let mut grad = vec![0.0; theta.len()];
    let start = Instant::now();
    for _ in 0..steps {
        model.set_params(&theta).unwrap();
        model.loss_and_gradient(x, y, &mut grad).unwrap();
        theta
            .iter_mut()
            .zip(&grad)
            .for_each(|(t, g)| *t -= 0.01 * g);
    }
    start.elapsed().as_secs_f64() / steps as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let steps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    // target/PROFILE/examples/plugin_boundary_cost → target/PROFILE/liblenet_plugin.so
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|p| p.parent()).unwrap();
    let library = profile_dir.join(format!(
        "{}lenet_plugin{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    let dir = std::env::temp_dir().join(format!("majmin-boundary-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("plugins.toml");
    let sha = sha256_hex(
        &std::fs::read(&library)
            .expect("the plugin library beside the example: cargo build --release -p lenet-plugin -p majmin-models --example plugin_boundary_cost"),
    );
    std::fs::write(
        &manifest,
        format!(
            "[[plugin]]\nname = \"lenet\"\npath = \"{}\"\nsha256 = \"{sha}\"\n",
            library.display()
        ),
    )
    .unwrap();
    let mut registry = Registry::builtin();
    register_plugins(&mut registry, &manifest).unwrap();
    let plugin = registry.get("lenet").unwrap();
    let direct = lenet_plugin::LENET;

    println!("LeNet-5 training step (set_params + loss_and_gradient + SGD update), batch 64, {steps} steps per round, median of 7 rounds");
    println!(
        "{:<10} {:>8} {:>14} {:>14} {:>10}",
        "input", "params", "direct ms", "plugin ms", "overhead"
    );
    for input in [[1, 8, 8], [3, 32, 32]] {
        let config = ArchConfig::new(input, 10).with_seed(1);
        let mut a = direct.build(&config).unwrap();
        let mut b = plugin.build(&config).unwrap();
        let d: usize = input.iter().product();
        let x: Vec<f32> = (0..64 * d)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
            .collect();
        let y: Vec<u32> = (0..64).map(|i| (i % 10) as u32).collect();
        // Same network, same numbers across the boundary.
        let (mut ga, mut gb) = (vec![0.0; a.num_params()], vec![0.0; b.num_params()]);
        assert_eq!(
            a.loss_and_gradient(&x, &y, &mut ga).unwrap(),
            b.loss_and_gradient(&x, &y, &mut gb).unwrap()
        );
        assert_eq!(ga, gb);
        step_time(a.as_mut(), &x, &y, steps / 5 + 1);
        step_time(b.as_mut(), &x, &y, steps / 5 + 1);
        let (mut ta, mut tb) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            ta.push(step_time(a.as_mut(), &x, &y, steps));
            tb.push(step_time(b.as_mut(), &x, &y, steps));
        }
        let (ma, mb) = (median(ta), median(tb));
        println!(
            "{:<10} {:>8} {:>14.3} {:>14.3} {:>9.1}%",
            format!("{}x{}x{}", input[0], input[1], input[2]),
            a.num_params(),
            ma * 1e3,
            mb * 1e3,
            100.0 * (mb - ma) / ma
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
