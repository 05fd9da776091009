//! Plugins through the real loader: the two example plugins (`lenet`, `densenet-bc`) are built
//! with cargo, listed in a manifest with their SHA-256, loaded, registered beside the built-ins
//! and checked like any architecture; every failure mode gives its own clear error and leaves
//! the process running.
//!
//! Failures that need a broken *declaration* (wrong magic, wrong ABI version, a panicking
//! architecture list, a clash with a built-in name) are selected by an environment variable of
//! the `testbad` fixture and tested in subprocesses by `crates/cli/tests/plugins_cli.rs`.

#[path = "../../plugins/test_support.rs"]
mod test_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use majmin_core::{ArchConfig, Architecture};
use majmin_models::plugin_loader::{register_plugins, sha256_hex, PluginError};
use majmin_models::{Registry, Source};
use test_support::library_file;

/// Writes a manifest listing `(name, file, sha256)` into `dir` and returns its path; `file` is
/// written relative to the manifest when it lies inside `dir`.
fn manifest(dir: &Path, entries: &[(&str, &Path, &str)]) -> PathBuf {
    let mut text = String::from("# written by tests/tests/plugins.rs\n");
    for (name, file, sha) in entries {
        let path = file.strip_prefix(dir).unwrap_or(file);
        text.push_str(&format!(
            "[[plugin]]\nname = \"{name}\"\npath = \"{}\"\nsha256 = \"{sha}\"\n\n",
            path.display()
        ));
    }
    let path = dir.join("plugins.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn hash(file: &Path) -> String {
    sha256_hex(&std::fs::read(file).unwrap())
}

/// A registry with the built-ins and the plugins listed as `(name, crate name)`.
fn load(entries: &[(&str, &str)]) -> Result<Registry, PluginError> {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<(String, PathBuf, String)> = entries
        .iter()
        .map(|(name, krate)| {
            let file = library_file(krate);
            let sha = hash(&file);
            (name.to_string(), file, sha)
        })
        .collect();
    let listed: Vec<(&str, &Path, &str)> = files
        .iter()
        .map(|(n, f, s)| (n.as_str(), f.as_path(), s.as_str()))
        .collect();
    let path = manifest(dir.path(), &listed);
    let mut registry = Registry::builtin();
    register_plugins(&mut registry, &path)?;
    Ok(registry)
}

fn examples() -> Registry {
    load(&[("lenet", "lenet_plugin"), ("densenet", "densenet_plugin")])
        .expect("the example plugins load")
}

fn testbad() -> Arc<dyn Architecture> {
    load(&[("testbad", "testbad_plugin")])
        .unwrap()
        .get("testbad")
        .unwrap()
}

fn build_error(arch: &dyn Architecture, config: &ArchConfig) -> String {
    match arch.build(config) {
        Ok(_) => panic!("`{}` built with {config:?}", arch.name()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn example_plugins_register_beside_the_builtins() {
    let registry = examples();
    let builtins = Registry::builtin().len();
    assert_eq!(registry.len(), builtins + 2);
    assert_eq!(
        registry.entry("lenet").unwrap().source,
        Source::Plugin("lenet".into())
    );
    assert_eq!(
        registry.entry("densenet-bc").unwrap().source.to_string(),
        "plugin:densenet"
    );
    let list = registry.list();
    let lenet = list.iter().find(|s| s.name == "lenet").unwrap();
    // The classic LeNet-5 count on 1×32×32 with 10 classes.
    assert_eq!(lenet.params, Ok(61_706));
    let densenet = list.iter().find(|s| s.name == "densenet-bc").unwrap();
    assert!(densenet.description.contains("DenseNet-BC"));
    let mut config = ArchConfig::default();
    config.options.insert("depth".into(), "100".into());
    // The paper's DenseNet-BC (L = 100, k = 12): 0.8M parameters.
    assert_eq!(
        registry.get("densenet-bc").unwrap().param_count(&config),
        Ok(769_162)
    );
}

/// The conformance suite every architecture passes (`majmin_tests::check_conformance`), run on
/// a plugin architecture loaded through the real loader.
fn conformance(arch: &dyn Architecture, config: &ArchConfig) {
    if let Err(e) = majmin_tests::check_conformance(arch, config) {
        panic!("{e}");
    }
}

/// The checks the suite does not make because they only matter across the boundary: the
/// per-sample path (`evaluate`, one call) agrees with the loss path and with `predict`.
fn boundary_paths_agree(arch: &dyn Architecture, config: &ArchConfig) {
    let mut model = arch.build(config).unwrap();
    model.set_training(false);
    let (x, y) = majmin_tests::batch(config, 5, 3);
    let eval = model.evaluate(&x, &y).unwrap();
    assert_eq!(eval.predictions, model.predict(&x).unwrap());
    let mean = eval.losses.iter().map(|&l| l as f64).sum::<f64>() / y.len() as f64;
    let mut grad = vec![0.0; model.num_params()];
    let loss = model.loss_and_gradient(&x, &y, &mut grad).unwrap() as f64;
    assert!(
        (mean - loss).abs() < 1e-4 * (1.0 + loss),
        "mean per-sample loss {mean} vs loss {loss}"
    );
}

/// Per-parameter finite differences of the mean per-sample loss (summed in f64) against the
/// gradient, on every `stride`-th parameter, in evaluation mode. ReLU and max-pool make the
/// loss piecewise smooth: where a kink lies within the central step (1e-3), the gradient must
/// match the one-sided difference (step 1e-4) on one side of it.
fn per_parameter_gradient_check(
    model: &mut dyn majmin_core::Model,
    config: &ArchConfig,
    stride: usize,
) {
    model.set_training(false);
    let (x, y) = majmin_tests::batch(config, 6, 1);
    let mut grad = vec![0.0; model.num_params()];
    model.loss_and_gradient(&x, &y, &mut grad).unwrap();
    let theta = model.params();
    let mean_loss = |model: &mut dyn majmin_core::Model, i: usize, v: f32| {
        let mut p = theta.clone();
        p[i] = v;
        model.set_params(&p).unwrap();
        let losses = model.per_sample_losses(&x, &y).unwrap();
        losses.iter().map(|&l| l as f64).sum::<f64>() / losses.len() as f64
    };
    for i in (0..theta.len()).step_by(stride) {
        let g = grad[i] as f64;
        let close = |numeric: f64| (numeric - g).abs() <= 5e-4 + 0.02 * numeric.abs();
        let (h, t) = (1e-3f32, theta[i]);
        let central = (mean_loss(model, i, t + h) - mean_loss(model, i, t - h)) / (2.0 * h as f64);
        if close(central) {
            continue;
        }
        let (h, at) = (1e-4f32, mean_loss(model, i, t));
        let right = (mean_loss(model, i, t + h) - at) / h as f64;
        let left = (at - mean_loss(model, i, t - h)) / h as f64;
        assert!(
            close(right) || close(left),
            "parameter {i}: gradient {g}, central difference {central}, one-sided {left} / {right}"
        );
    }
    model.set_params(&theta).unwrap();
}

#[test]
fn lenet_passes_the_conformance_suite_through_the_loader() {
    let registry = examples();
    let lenet = registry.get("lenet").unwrap();
    conformance(lenet.as_ref(), &majmin_tests::tiny_config(lenet.as_ref()));
    let digits = ArchConfig::new([1, 8, 8], 10).with_seed(3);
    conformance(lenet.as_ref(), &digits);
    let cifar = ArchConfig::new([3, 32, 32], 10)
        .with_width(0.5)
        .with_seed(4);
    conformance(lenet.as_ref(), &cifar);
    // Stronger than the suite's four directions: every 7th parameter on its own.
    per_parameter_gradient_check(lenet.build(&digits).unwrap().as_mut(), &digits, 7);
    boundary_paths_agree(lenet.as_ref(), &digits);
}

#[test]
fn densenet_passes_the_conformance_suite_through_the_loader() {
    let registry = examples();
    let densenet = registry.get("densenet-bc").unwrap();
    conformance(
        densenet.as_ref(),
        &majmin_tests::tiny_config(densenet.as_ref()),
    );
    let digits = ArchConfig::new([1, 8, 8], 10).with_seed(5);
    conformance(densenet.as_ref(), &digits);
    boundary_paths_agree(densenet.as_ref(), &digits);
}

#[test]
fn lenet_learns_the_digits_through_the_boundary() {
    let data = majmin_data::digits::load_digits().unwrap();
    let registry = examples();
    let config = ArchConfig::new(data.shape(), data.classes()).with_seed(1);
    let mut model = registry.get("lenet").unwrap().build(&config).unwrap();
    let n = 256;
    let x = &data.features()[..n * data.feature_len()];
    let y = &data.labels()[..n];
    let mut grad = vec![0.0; model.num_params()];
    let mut theta = model.params();
    let mut velocity = vec![0.0f32; theta.len()];
    // Full-batch gradient descent with momentum until the loss falls below 60 % of its start.
    let mut losses: Vec<f32> = Vec::new();
    for _ in 0..150 {
        let loss = model.loss_and_gradient(x, y, &mut grad).unwrap();
        losses.push(loss);
        if loss < 0.6 * losses[0] {
            break;
        }
        for ((t, v), g) in theta.iter_mut().zip(&mut velocity).zip(&grad) {
            *v = 0.9 * *v + g;
            *t -= 0.05 * *v;
        }
        model.set_params(&theta).unwrap();
    }
    let last = *losses.last().unwrap();
    assert!(
        last < 0.6 * losses[0],
        "no learning through the plugin in 150 steps: {losses:?}"
    );
}
#[test]
fn missing_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("libnothing.so");
    let path = manifest(dir.path(), &[("ghost", &missing, &"0".repeat(64))]);
    let e = register_plugins(&mut Registry::builtin(), &path).unwrap_err();
    assert!(matches!(e, PluginError::FileMissing { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("plugin `ghost`")
            && text.contains("libnothing.so")
            && text.contains("does not exist"),
        "{text}"
    );
}

#[test]
fn a_file_that_is_not_a_library_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("libtext.so");
    std::fs::write(&file, "just some text\n").unwrap();
    let path = manifest(dir.path(), &[("text", &file, &hash(&file))]);
    let e = register_plugins(&mut Registry::builtin(), &path).unwrap_err();
    assert!(matches!(e, PluginError::NotALibrary { .. }), "{e}");
    assert!(
        e.to_string().contains("plugin `text`")
            && e.to_string().contains("not a loadable dynamic library"),
        "{e}"
    );
}

#[test]
fn a_library_without_the_symbol_is_refused() {
    let e = load(&[("nosymbol", "nosymbol_plugin")]).unwrap_err();
    assert!(matches!(e, PluginError::SymbolMissing { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("no symbol `majmin_plugin_declaration`"),
        "{e}"
    );
}

#[test]
fn one_changed_byte_is_a_hash_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let original = library_file("lenet_plugin");
    let expected = hash(&original);
    let mut bytes = std::fs::read(&original).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let copy = dir.path().join("liblenet_plugin.so");
    std::fs::write(&copy, &bytes).unwrap();
    let path = manifest(dir.path(), &[("lenet", &copy, &expected)]);
    let mut registry = Registry::builtin();
    let e = register_plugins(&mut registry, &path).unwrap_err();
    let PluginError::HashMismatch {
        expected: said,
        actual,
        ..
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!(said, &expected);
    assert_eq!(actual, &sha256_hex(&bytes));
    assert!(
        e.to_string().contains("sha256 mismatch") && e.to_string().contains(&expected),
        "{e}"
    );
    assert_eq!(
        registry.len(),
        Registry::builtin().len(),
        "nothing registered"
    );
}

#[test]
fn duplicate_architecture_names_are_refused() {
    let e = load(&[("lenet", "lenet_plugin"), ("lenet-again", "lenet_plugin")]).unwrap_err();
    let PluginError::DuplicateName {
        plugin,
        arch,
        other,
        ..
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!(
        (plugin.as_str(), arch.as_str(), other.as_str()),
        ("lenet-again", "lenet", "plugin:lenet")
    );
    assert!(
        e.to_string()
            .contains("architecture `lenet` is already registered by plugin:lenet"),
        "{e}"
    );
}

#[test]
fn a_panicking_constructor_is_an_error_and_the_host_goes_on() {
    let arch = testbad();
    let mut config = ArchConfig::new([1, 2, 2], 2);
    config.options.insert("fail".into(), "build-panic".into());
    let e = build_error(arch.as_ref(), &config);
    assert!(
        e.contains("plugin `testbad`")
            && e.contains("build panicked: the testbad constructor exploded"),
        "{e}"
    );
    let e = arch.param_count(&config).unwrap_err().to_string();
    assert!(e.contains("panicked"), "{e}");
    config.options.insert("fail".into(), "build-error".into());
    let e = build_error(arch.as_ref(), &config);
    assert!(
        e.contains("build failed") && e.contains("refused on purpose"),
        "{e}"
    );
    // The same architecture still builds afterwards.
    let model = arch.build(&ArchConfig::new([1, 2, 2], 2)).unwrap();
    assert_eq!(model.num_params(), 8);
}

#[test]
fn a_panicking_loss_is_an_error_and_the_model_goes_on() {
    let arch = testbad();
    let mut config = ArchConfig::new([1, 2, 2], 2);
    config.options.insert("fail".into(), "loss-panic".into());
    let mut model = arch.build(&config).unwrap();
    let mut grad = vec![0.0; 8];
    let e = model
        .loss_and_gradient(&[0.5; 4], &[1], &mut grad)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("loss_and_gradient panicked: testbad loss exploded"),
        "{e}"
    );
    // Other entry points of the same model still work, and so does a fresh model.
    assert_eq!(model.evaluate(&[0.5; 4], &[1]).unwrap().losses.len(), 1);
    let mut fine = arch.build(&ArchConfig::new([1, 2, 2], 2)).unwrap();
    let loss = fine.loss_and_gradient(&[0.5; 4], &[1], &mut grad).unwrap();
    assert!((loss - 2f32.ln()).abs() < 1e-6, "{loss}");
}
