//! State dicts of the built-in architectures: PyTorch's names and shapes, a round trip that
//! gives the same logits, and the refusals of `load_state_dict`, each naming the tensor.

use majmin_core::{
    ArchConfig, Architecture, Model, ModelError, NamedTensor, Rng, StateDictError, TensorData,
};
use majmin_models::Registry;

fn model(name: &str, config: &ArchConfig) -> Box<dyn Model> {
    Registry::builtin()
        .get(name)
        .unwrap()
        .build(config)
        .unwrap()
}

fn inputs(config: &ArchConfig, n: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = Rng::seed_from_u64(seed);
    let x = (0..n * config.feature_len())
        .map(|_| rng.normal() as f32)
        .collect();
    let y = (0..n as u32).map(|i| i % config.classes as u32).collect();
    (x, y)
}

/// `nn.Sequential(nn.Flatten(), nn.Linear, nn.ReLU(), nn.Linear, nn.ReLU(), nn.Linear)`.
#[test]
fn mlp_keys_and_shapes_are_pytorchs() {
    let m = model("mlp", &ArchConfig::default());
    let got: Vec<(String, Vec<usize>)> = m
        .state_dict()
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.shape))
        .collect();
    let want: Vec<(String, Vec<usize>)> = [
        ("1.weight", vec![256, 3072]),
        ("1.bias", vec![256]),
        ("3.weight", vec![128, 256]),
        ("3.bias", vec![128]),
        ("5.weight", vec![10, 128]),
        ("5.bias", vec![10]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect();
    assert_eq!(got, want);
}

/// The state dict holds the flat parameters in PyTorch's memory order, and BatchNorm buffers
/// with `num_batches_tracked` counting training-mode passes.
#[test]
fn parameters_and_buffers_are_in_place() {
    let config = ArchConfig::new([1, 8, 8], 3).with_width(0.25).with_seed(2);
    let mut m = model("smallcnn", &config);
    let (x, y) = inputs(&config, 4, 1);
    let mut grad = vec![0.0; m.num_params()];
    m.loss_and_gradient(&x, &y, &mut grad).unwrap();
    m.loss_and_gradient(&x, &y, &mut grad).unwrap();
    let state = m.state_dict().unwrap();
    let names: Vec<&str> = state.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "0.weight",
            "1.weight",
            "1.bias",
            "1.running_mean",
            "1.running_var",
            "1.num_batches_tracked",
            "4.weight",
            "5.weight",
            "5.bias",
            "5.running_mean",
            "5.running_var",
            "5.num_batches_tracked",
            "10.weight",
            "10.bias",
        ]
    );
    // Parameters, concatenated in state-dict order, are the flat vector.
    let flat: Vec<f32> = state
        .iter()
        .filter(|t| !t.name.contains("running") && !t.name.contains("num_batches"))
        .flat_map(|t| match &t.data {
            TensorData::F32(v) => v.clone(),
            TensorData::I64(_) => panic!("{} is not f32", t.name),
        })
        .collect();
    assert_eq!(flat, m.params());
    assert_eq!(state[5].data, TensorData::I64(vec![2]));
    assert_eq!(state[5].shape, Vec::<usize>::new());
    match &state[3].data {
        TensorData::F32(mean) => assert!(mean.iter().any(|v| *v != 0.0)),
        other => panic!("running_mean is {other:?}"),
    }
}

/// For every built-in: train a step (moving the BatchNorm statistics), save, load into a fresh
/// model with another seed, and get the same evaluation-mode logits.
#[test]
fn round_trip_gives_identical_logits() {
    let registry = Registry::builtin();
    for entry in registry.iter() {
        let arch = entry.architecture.as_ref();
        let config = majmin_tests_config(arch);
        let mut a = arch.build(&config).unwrap();
        let (x, y) = inputs(&config, 3, 5);
        let mut grad = vec![0.0; a.num_params()];
        a.loss_and_gradient(&x, &y, &mut grad).unwrap();
        let state = a.state_dict().unwrap();
        let mut b = arch
            .build(&config.clone().with_seed(config.seed + 1))
            .unwrap();
        assert_ne!(a.params(), b.params(), "{}", arch.name());
        b.load_state_dict(&state).unwrap();
        a.set_training(false);
        b.set_training(false);
        assert_eq!(
            a.logits(&x).unwrap(),
            b.logits(&x).unwrap(),
            "{}",
            arch.name()
        );
        assert_eq!(b.state_dict().unwrap(), state, "{}", arch.name());
    }
}

/// The smallest square input of at least 8 (width 1/8, 3 classes) the architecture takes.
fn majmin_tests_config(arch: &dyn Architecture) -> ArchConfig {
    let base = ArchConfig::new([1, 8, 8], 3)
        .with_width(0.125)
        .with_seed(11);
    (8..=40)
        .map(|side| ArchConfig {
            input: [1, side, side],
            ..base.clone()
        })
        .find(|c| arch.param_count(c).is_ok())
        .unwrap_or(base)
}

fn refusal(state: &[NamedTensor]) -> StateDictError {
    let config = ArchConfig::new([1, 8, 8], 3).with_width(0.25);
    let mut m = model("smallcnn", &config);
    let before = m.state_dict().unwrap();
    let e = m.load_state_dict(state).unwrap_err();
    assert_eq!(
        m.state_dict().unwrap(),
        before,
        "a refused load changes nothing"
    );
    let text = e.to_string();
    assert!(text.contains("smallcnn"), "{text}");
    match e {
        ModelError::StateDict { error, .. } => error,
        other => panic!("expected a state-dict error, got {other}"),
    }
}

#[test]
fn refusals_name_the_tensor() {
    let config = ArchConfig::new([1, 8, 8], 3).with_width(0.25);
    let good = model("smallcnn", &config).state_dict().unwrap();

    let mut missing = good.clone();
    missing.retain(|t| t.name != "1.running_var");
    let e = refusal(&missing);
    assert_eq!(
        e,
        StateDictError::Missing {
            name: "1.running_var".into()
        }
    );
    assert!(e.to_string().contains("`1.running_var` is missing"), "{e}");

    let mut unexpected = good.clone();
    unexpected.push(NamedTensor {
        name: "fc.weight".into(),
        shape: vec![1],
        data: TensorData::F32(vec![0.0]),
    });
    assert_eq!(
        refusal(&unexpected),
        StateDictError::Unexpected {
            name: "fc.weight".into()
        }
    );

    let mut shape = good.clone();
    shape[0].shape = vec![4, 1, 9];
    let e = refusal(&shape);
    assert!(
        matches!(&e, StateDictError::Shape { name, .. } if name == "0.weight"),
        "{e}"
    );
    assert!(
        e.to_string().contains("[4, 1, 9]") && e.to_string().contains("[4, 1, 3, 3]"),
        "{e}"
    );

    let mut dtype = good.clone();
    let last_bn = dtype
        .iter_mut()
        .find(|t| t.name == "1.num_batches_tracked")
        .unwrap();
    last_bn.data = TensorData::F32(vec![0.0]);
    let e = refusal(&dtype);
    assert_eq!(
        e,
        StateDictError::Dtype {
            name: "1.num_batches_tracked".into(),
            expected: "i64",
            got: "f32"
        }
    );

    let mut length = good.clone();
    length[1].data = TensorData::F32(vec![1.0; 3]);
    assert!(matches!(
        refusal(&length),
        StateDictError::Length { name, expected: 4, got: 3, .. } if name == "1.weight"
    ));

    let mut nan = good.clone();
    if let TensorData::F32(v) = &mut nan[0].data {
        v[7] = f32::NAN;
    }
    let e = refusal(&nan);
    assert!(
        matches!(&e, StateDictError::InvalidValue { name, index: 7, .. } if name == "0.weight"),
        "{e}"
    );

    let mut negative_var = good;
    if let Some(TensorData::F32(v)) = negative_var
        .iter_mut()
        .find(|t| t.name == "5.running_var")
        .map(|t| &mut t.data)
    {
        v[0] = -1.0;
    }
    assert!(matches!(
        refusal(&negative_var),
        StateDictError::InvalidValue { name, index: 0, .. } if name == "5.running_var"
    ));
}

/// A model that does not name its tensors says so.
#[test]
fn the_default_refuses_clearly() {
    struct Bare;
    impl Model for Bare {
        fn num_params(&self) -> usize {
            0
        }
        fn input_shape(&self) -> [usize; 3] {
            [1, 1, 1]
        }
        fn classes(&self) -> usize {
            2
        }
        fn get_params(&self, _: &mut [f32]) -> Result<(), ModelError> {
            Ok(())
        }
        fn set_params(&mut self, _: &[f32]) -> Result<(), ModelError> {
            Ok(())
        }
        fn set_training(&mut self, _: bool) {}
        fn is_training(&self) -> bool {
            false
        }
        fn logits(&mut self, _: &[f32]) -> Result<Vec<f32>, ModelError> {
            Ok(vec![0.0; 2])
        }
        fn loss_and_gradient(
            &mut self,
            _: &[f32],
            _: &[u32],
            _: &mut [f32],
        ) -> Result<f32, ModelError> {
            Ok(0.0)
        }
    }
    let e = Bare.state_dict().unwrap_err();
    assert_eq!(e, ModelError::NoStateDict);
    assert!(e.to_string().contains("does not name its tensors"), "{e}");
    assert_eq!(
        Bare.load_state_dict(&[]).unwrap_err(),
        ModelError::NoStateDict
    );
}
