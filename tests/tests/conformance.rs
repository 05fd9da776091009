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
    smallcnn => "smallcnn",
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

/// Rewrites a gradient in place.
type Corruption = fn(&mut [f32]);

/// A model with a corrupted gradient — the kind of bug the gradient check exists for.
struct Corrupted(Box<dyn majmin_core::Model>, Corruption);

impl majmin_core::Model for Corrupted {
    fn num_params(&self) -> usize {
        self.0.num_params()
    }
    fn input_shape(&self) -> [usize; 3] {
        self.0.input_shape()
    }
    fn classes(&self) -> usize {
        self.0.classes()
    }
    fn get_params(&self, out: &mut [f32]) -> Result<(), majmin_core::ModelError> {
        self.0.get_params(out)
    }
    fn set_params(&mut self, params: &[f32]) -> Result<(), majmin_core::ModelError> {
        self.0.set_params(params)
    }
    fn set_training(&mut self, training: bool) {
        self.0.set_training(training)
    }
    fn is_training(&self) -> bool {
        self.0.is_training()
    }
    fn logits(&mut self, inputs: &[f32]) -> Result<Vec<f32>, majmin_core::ModelError> {
        self.0.logits(inputs)
    }
    fn loss_and_gradient(
        &mut self,
        inputs: &[f32],
        labels: &[u32],
        grad: &mut [f32],
    ) -> Result<f32, majmin_core::ModelError> {
        let loss = self.0.loss_and_gradient(inputs, labels, grad)?;
        (self.1)(grad);
        Ok(loss)
    }
}

#[test]
fn the_gradient_check_catches_wrong_gradients() {
    let corruptions: [(&str, Corruption); 3] = [
        ("every other component missing", |g| {
            g.iter_mut().step_by(2).for_each(|a| *a = 0.0)
        }),
        ("scaled by 1.3", |g| g.iter_mut().for_each(|a| *a *= 1.3)),
        ("the second half missing", |g| {
            let half = g.len() / 2;
            g[half..].iter_mut().for_each(|a| *a = 0.0)
        }),
    ];
    let registry = Registry::builtin();
    for name in ["smallcnn", "mobilenetv2"] {
        let arch = registry.get(name).unwrap();
        let config = tiny_config(arch.as_ref());
        let (x, y) = majmin_tests::batch(&config, 6, 1);
        for (what, corrupt) in corruptions {
            let mut model = Corrupted(arch.build(&config).unwrap(), corrupt);
            let e = majmin_tests::check_gradient(&mut model, &x, &y)
                .expect_err(&format!("{name}: a gradient with {what} passed the check"));
            assert!(e.contains("finite differences"), "{name}: {e}");
        }
    }
}
