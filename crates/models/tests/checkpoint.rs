//! Checkpoints in safetensors: a round trip for every built-in, and the refusals of damaged,
//! foreign and mismatched files, each naming the file (and the tensor where there is one).

use std::collections::BTreeMap;
use std::path::Path;

use majmin_core::{ArchConfig, Architecture, Model, NamedTensor, Rng, StateDictError, TensorData};
use majmin_models::checkpoint::{self, CheckpointError};
use majmin_models::Registry;

fn inputs(config: &ArchConfig, n: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = Rng::seed_from_u64(seed);
    let x = (0..n * config.feature_len())
        .map(|_| rng.normal() as f32)
        .collect();
    let y = (0..n as u32).map(|i| i % config.classes as u32).collect();
    (x, y)
}

/// The smallest square input of at least 8 (width 1/8, 3 classes) the architecture takes.
fn tiny_config(arch: &dyn Architecture) -> ArchConfig {
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

fn meta(arch: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("arch".to_string(), arch.to_string()),
        ("step".to_string(), "7".to_string()),
    ])
}

fn smallcnn() -> (ArchConfig, Box<dyn Model>) {
    let config = ArchConfig::new([1, 8, 8], 3).with_width(0.25).with_seed(3);
    let m = Registry::builtin()
        .get("smallcnn")
        .unwrap()
        .build(&config)
        .unwrap();
    (config, m)
}

/// Writes a smallcnn checkpoint into `dir` and returns its path.
fn smallcnn_file(dir: &Path) -> std::path::PathBuf {
    let (config, mut m) = smallcnn();
    let (x, y) = inputs(&config, 4, 1);
    let mut grad = vec![0.0; m.num_params()];
    m.loss_and_gradient(&x, &y, &mut grad).unwrap();
    let path = dir.join("smallcnn.safetensors");
    checkpoint::save(&path, m.as_ref(), &meta("smallcnn")).unwrap();
    path
}

/// Every built-in: train one step (so BatchNorm statistics move), save, load into a model of
/// another seed, and get the same evaluation-mode logits and the same state dict.
#[test]
fn round_trip_for_every_builtin() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::builtin();
    for entry in registry.iter() {
        let arch = entry.architecture.as_ref();
        let config = tiny_config(arch);
        let mut a = arch.build(&config).unwrap();
        let (x, y) = inputs(&config, 3, 5);
        let mut grad = vec![0.0; a.num_params()];
        a.loss_and_gradient(&x, &y, &mut grad).unwrap();
        let path = dir.path().join(format!("{}.safetensors", arch.name()));
        checkpoint::save(&path, a.as_ref(), &meta(arch.name())).unwrap();

        let (tensors, read_meta) = checkpoint::read(&path).unwrap();
        assert_eq!(read_meta["arch"], arch.name());
        assert_eq!(read_meta["step"], "7");
        assert_eq!(read_meta["format"], "pt");
        let mut want = a.state_dict().unwrap();
        let mut got = tensors.clone();
        want.sort_by(|p, q| p.name.cmp(&q.name));
        got.sort_by(|p, q| p.name.cmp(&q.name));
        assert_eq!(got, want, "{}", arch.name());

        let mut b = arch
            .build(&config.clone().with_seed(config.seed + 1))
            .unwrap();
        assert_ne!(a.params(), b.params(), "{}", arch.name());
        checkpoint::load(b.as_mut(), &path).unwrap();
        a.set_training(false);
        b.set_training(false);
        assert_eq!(
            a.logits(&x).unwrap(),
            b.logits(&x).unwrap(),
            "{}",
            arch.name()
        );
        assert_eq!(b.state_dict().unwrap(), a.state_dict().unwrap());
    }
    // Only the checkpoints are left: the temporary files were renamed.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| n.ends_with(".safetensors")),
        "{names:?}"
    );
}

/// Saving over an existing checkpoint replaces it; saving into a missing folder names it.
#[test]
fn save_replaces_and_names_a_missing_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = smallcnn_file(dir.path());
    let (_, m) = smallcnn();
    checkpoint::save(&path, m.as_ref(), &meta("again")).unwrap();
    assert_eq!(checkpoint::read(&path).unwrap().1["arch"], "again");

    let missing = dir.path().join("no-such-dir").join("x.safetensors");
    let err = checkpoint::save(&missing, m.as_ref(), &meta("x")).unwrap_err();
    assert!(matches!(err, CheckpointError::Io { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("no-such-dir"), "{text}");
}

#[test]
fn truncated_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = smallcnn_file(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    // Cut in the tensor data, in the header, and in the header length.
    for keep in [bytes.len() - 5, 40, 9, 5] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let err = checkpoint::read(&path).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("smallcnn.safetensors"), "{text}");
        if keep == 5 {
            assert!(
                matches!(err, CheckpointError::NotSafetensors { .. }),
                "{keep}: {err:?}"
            );
        } else {
            assert!(
                matches!(err, CheckpointError::Truncated { .. }),
                "{keep}: {err:?}"
            );
        }
    }
}

#[test]
fn flipped_header_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = smallcnn_file(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    // Flip bytes at several places inside the JSON header (not the opening brace).
    for at in [9, 12, 8 + header_len / 2, 8 + header_len - 3] {
        let mut bad = bytes.clone();
        bad[at] ^= 0xA5;
        std::fs::write(&path, &bad).unwrap();
        let err = checkpoint::read(&path).unwrap_err();
        assert!(
            matches!(err, CheckpointError::CorruptHeader { .. }),
            "byte {at}: {err:?}"
        );
        assert!(err.to_string().contains("smallcnn.safetensors"));
    }
    // A flipped high byte of the header length: an absurd length.
    let mut bad = bytes.clone();
    bad[5] ^= 0x40;
    std::fs::write(&path, &bad).unwrap();
    let err = checkpoint::read(&path).unwrap_err();
    assert!(
        matches!(err, CheckpointError::CorruptHeader { .. }),
        "{err:?}"
    );
    // A file of something else entirely.
    std::fs::write(&path, b"PK\x03\x04 this is a zip file, not safetensors").unwrap();
    let err = checkpoint::read(&path).unwrap_err();
    assert!(
        matches!(err, CheckpointError::NotSafetensors { .. }),
        "{err:?}"
    );
}

/// An mlp checkpoint does not load into a smallcnn: the first tensor that does not fit is named.
#[test]
fn wrong_architecture_is_refused_and_the_model_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let config = ArchConfig::new([1, 8, 8], 3).with_width(0.25);
    let mlp = Registry::builtin()
        .get("mlp")
        .unwrap()
        .build(&config)
        .unwrap();
    let path = dir.path().join("mlp.safetensors");
    checkpoint::save(&path, mlp.as_ref(), &meta("mlp")).unwrap();
    let (_, mut cnn) = smallcnn();
    let before = cnn.params();
    let err = checkpoint::load(cnn.as_mut(), &path).unwrap_err();
    match &err {
        CheckpointError::Mismatch { arch, error, .. } => {
            assert_eq!(arch, "smallcnn");
            assert!(
                matches!(
                    error.as_ref(),
                    StateDictError::Missing { .. }
                        | StateDictError::Unexpected { .. }
                        | StateDictError::Shape { .. }
                ),
                "{error:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("mlp.safetensors"), "{err}");
    assert_eq!(cnn.params(), before);
}

/// A tensor of the right name but another shape: both shapes in the message.
#[test]
fn misshapen_tensor_names_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let (_, m) = smallcnn();
    let mut state = m.state_dict().unwrap();
    let t = state.iter_mut().find(|t| t.name == "10.weight").unwrap();
    let [out, inp] = [t.shape[0], t.shape[1]];
    t.shape = vec![inp, out];
    let path = dir.path().join("bad-shape.safetensors");
    checkpoint::save_tensors(&path, &state, &meta("smallcnn")).unwrap();
    let (_, mut m2) = smallcnn();
    let err = checkpoint::load(m2.as_mut(), &path).unwrap_err();
    let CheckpointError::Mismatch { error, .. } = &err else {
        panic!("{err:?}");
    };
    match error.as_ref() {
        StateDictError::Shape {
            name,
            expected,
            got,
        } => {
            assert_eq!(name, "10.weight");
            assert_eq!(expected, &vec![out, inp]);
            assert_eq!(got, &vec![inp, out]);
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("10.weight")
            && text.contains(&format!("[{inp}, {out}]"))
            && text.contains(&format!("[{out}, {inp}]"))
            && text.contains("bad-shape.safetensors"),
        "{text}"
    );
}

/// An F64 tensor (PyTorch's `double()`) is refused, naming the tensor and the type.
#[test]
fn f64_tensor_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("double.safetensors");
    // A hand-made file: one F64 tensor `w` of shape [2].
    let header = br#"{"w":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}"#;
    let mut header = header.to_vec();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(&header);
    bytes.extend(1.5f64.to_le_bytes());
    bytes.extend(2.5f64.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = checkpoint::read(&path).unwrap_err();
    match &err {
        CheckpointError::UnsupportedDtype { name, dtype, .. } => {
            assert_eq!(name, "w");
            assert_eq!(dtype, "F64");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("double.safetensors"));
}

/// A state dict whose values disagree with its shape is not written.
#[test]
fn save_refuses_a_tensor_whose_values_do_not_fill_its_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.safetensors");
    let bad = [NamedTensor {
        name: "w".into(),
        shape: vec![2, 3],
        data: TensorData::F32(vec![0.0; 5]),
    }];
    let err = checkpoint::save_tensors(&path, &bad, &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().contains("`w`"), "{err}");
    assert!(!path.exists());
}

/// A model that does not name its tensors (e.g. a plugin's) has no checkpoint.
#[test]
fn a_model_without_a_state_dict_is_refused() {
    struct Anonymous;
    impl Model for Anonymous {
        fn num_params(&self) -> usize {
            0
        }
        fn input_shape(&self) -> [usize; 3] {
            [1, 1, 1]
        }
        fn classes(&self) -> usize {
            2
        }
        fn get_params(&self, _: &mut [f32]) -> Result<(), majmin_core::ModelError> {
            Ok(())
        }
        fn set_params(&mut self, _: &[f32]) -> Result<(), majmin_core::ModelError> {
            Ok(())
        }
        fn set_training(&mut self, _: bool) {}
        fn is_training(&self) -> bool {
            false
        }
        fn logits(&mut self, _: &[f32]) -> Result<Vec<f32>, majmin_core::ModelError> {
            Ok(vec![])
        }
        fn loss_and_gradient(
            &mut self,
            _: &[f32],
            _: &[u32],
            _: &mut [f32],
        ) -> Result<f32, majmin_core::ModelError> {
            Ok(0.0)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = smallcnn_file(dir.path());
    let err = checkpoint::save(&path, &Anonymous, &meta("x")).unwrap_err();
    assert!(
        matches!(err, CheckpointError::NoStateDict { .. }),
        "{err:?}"
    );
    let err = checkpoint::load(&mut Anonymous, &path).unwrap_err();
    assert!(
        matches!(err, CheckpointError::NoStateDict { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("smallcnn.safetensors"));
}

#[test]
fn sha256_is_of_the_file_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("abc");
    std::fs::write(&path, b"abc").unwrap();
    assert_eq!(
        checkpoint::sha256(&path).unwrap(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let err = checkpoint::sha256(&dir.path().join("missing")).unwrap_err();
    assert!(err.to_string().contains("missing"));
}
