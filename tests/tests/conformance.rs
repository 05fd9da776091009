//! The conformance suite on every built-in architecture (tiny width and input).

use majmin_core::ArchConfig;
use majmin_models::Registry;
use majmin_tests::{check_conformance, tiny_config};

fn run(name: &str) {
    let registry = Registry::builtin();
    let arch = registry.get(name).unwrap();
    let config = tiny_config(arch.as_ref());
    check_conformance(arch.as_ref(), &config).unwrap_or_else(|e| panic!("{e}"));
}

macro_rules! conformance {
    ($($(#[$attr:meta])* $test:ident => $name:literal),* $(,)?) => {
        $($(#[$attr])* #[test] fn $test() { run($name); })*
        /// Every registered built-in has a test above.
        #[test]
        fn every_builtin_is_covered() {
            let covered = [$($name),*];
            for name in Registry::builtin().names() {
                assert!(covered.contains(&name.as_str()), "no conformance test for `{name}`");
            }
        }
    };
}

conformance! {
    mlp => "mlp",
    #[ignore = "known failure: the eval-mode directional derivative is ~15 % off finite differences (see issue 4 note)"]
    smallcnn => "smallcnn",
    #[ignore = "known failure: the eval-mode directional derivative disagrees with finite differences (see issue 4 note)"]
    mobilenetv2 => "mobilenetv2",
    squeezenet => "squeezenet",
    vgg11 => "vgg11",
    vgg19 => "vgg19",
    resnet18 => "resnet18",
    resnet50 => "resnet50",
    resnet101 => "resnet101",
}

#[test]
fn a_too_small_input_names_the_resize_transform() {
    let registry = Registry::builtin();
    let e = registry
        .get("vgg19")
        .unwrap()
        .build(&ArchConfig::new([1, 8, 8], 10))
        .err()
        .unwrap();
    let text = e.to_string();
    assert!(
        text.contains("vgg19") && text.contains("resize") && text.contains("32×32"),
        "{text}"
    );
}

#[test]
fn unknown_names_list_the_known_ones() {
    let e = Registry::builtin()
        .get("resnet7")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("resnet7") && e.contains("mobilenetv2"), "{e}");
}
