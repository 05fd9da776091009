//! Checkpoints: a model's state dict in a [safetensors](https://github.com/huggingface/safetensors)
//! file, readable by PyTorch's `safetensors.torch.load_file` + `load_state_dict(strict=True)`.
//!
//! A checkpoint holds the tensors of [`Model::state_dict`] under PyTorch's `state_dict()` keys,
//! with PyTorch's shapes and memory order (little-endian `F32` parameters and running
//! statistics, `I64` `num_batches_tracked`), and free-form string metadata (`__metadata__`), e.g.
//! `arch`, `width`, `classes`, `input`, `majmin_version`, `step`. [`save`] writes it atomically
//! (a temporary file in the same folder, then a rename); [`read`] returns its tensors and
//! metadata; [`load`] puts them into a model.
//!
//! Every failure is a [`CheckpointError`] whose message names the file, and for a tensor
//! problem the tensor and both shapes or element types.
//!
//! ```
//! use std::collections::BTreeMap;
//! use majmin_core::{ArchConfig, Model};
//! use majmin_models::{checkpoint, Registry};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("mlp.safetensors");
//! let config = ArchConfig::new([1, 4, 4], 3).with_width(0.125);
//! let arch = Registry::builtin().get("mlp").unwrap();
//! let a = arch.build(&config).unwrap();
//! let meta = BTreeMap::from([("arch".to_string(), "mlp".to_string())]);
//! checkpoint::save(&path, a.as_ref(), &meta).unwrap();
//! let mut b = arch.build(&config.clone().with_seed(9)).unwrap();
//! let read_meta = checkpoint::load(b.as_mut(), &path).unwrap();
//! assert_eq!(read_meta["arch"], "mlp");
//! assert_eq!(a.params(), b.params());
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use majmin_core::{Model, ModelError, NamedTensor, StateDictError, TensorData};
use safetensors::tensor::{Metadata, SafeTensorError, SafeTensors, View};
use safetensors::Dtype;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The largest checkpoint [`read`] and [`load`] accept: 4 GiB. The size is checked before
/// anything is read. The largest built-in at full width (resnet101, 42.7 M parameters for
/// 10 classes) takes about 171 MB, so the limit only stops files that are not checkpoints of
/// majmin's networks (or are damaged beyond use) from being read whole into memory.
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// The safetensors format's own limit on the JSON header (100 MB).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Why a checkpoint could not be written, read or loaded. Every message names the file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The file or its folder could not be opened, read or written.
    #[error("checkpoint {path}: cannot {action}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was tried (`read`, `write`, `create a temporary file in the folder of`, …).
        action: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file does not start like a safetensors file (an 8-byte little-endian header length,
    /// then a JSON object).
    #[error("checkpoint {path} is not a safetensors file: {reason}")]
    NotSafetensors {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The file ends before the header or the tensor data it announces.
    #[error("checkpoint {path} is truncated: {reason}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// How many bytes were announced and how many are there.
        reason: String,
    },
    /// The JSON header is damaged: not UTF-8, not JSON, or offsets and shapes that disagree.
    #[error("checkpoint {path} has a corrupt header: {reason}")]
    CorruptHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tensor has an element type majmin does not read (only `F32` and `I64`).
    #[error("checkpoint {path}: tensor `{name}` has element type {dtype}; majmin reads F32 and I64 tensors only (convert it, e.g. `tensor.float()` in PyTorch)")]
    UnsupportedDtype {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Its safetensors element type (`F64`, `F16`, `BF16`, …).
        dtype: String,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("checkpoint {path} has {size} bytes, more than the limit of {limit} bytes (majmin_models::checkpoint::MAX_FILE_BYTES)")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The checkpoint's tensors do not fit the model: a missing, unexpected or misshapen tensor,
    /// another element type, or a non-finite value.
    #[error("checkpoint {path} does not fit architecture `{arch}`: {error}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// The model's architecture.
        arch: String,
        /// Which tensor, and both shapes or element types (boxed: it is large).
        error: Box<StateDictError>,
    },
    /// The model does not name its tensors (e.g. a plugin's model through the C ABI), so it has
    /// no state dict to save or load ([`ModelError::NoStateDict`]).
    #[error("checkpoint {path}: the model does not name its tensors, so it has no state dict to save or load (models built with majmin-nn's NetBuilder have one; plugin models through the C ABI do not)")]
    NoStateDict {
        /// The file.
        path: PathBuf,
    },
    /// Any other error of the model or of the safetensors writer.
    #[error("checkpoint {path}: {message}")]
    Other {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// A [`NamedTensor`] as safetensors' [`View`]: little-endian bytes.
struct TensorBytes<'a> {
    tensor: &'a NamedTensor,
}

impl View for TensorBytes<'_> {
    fn dtype(&self) -> Dtype {
        match self.tensor.data {
            TensorData::F32(_) => Dtype::F32,
            TensorData::I64(_) => Dtype::I64,
        }
    }

    fn shape(&self) -> &[usize] {
        &self.tensor.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        match &self.tensor.data {
            TensorData::F32(v) => Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            TensorData::I64(v) => Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        }
    }

    fn data_len(&self) -> usize {
        match &self.tensor.data {
            TensorData::F32(v) => v.len() * 4,
            TensorData::I64(v) => v.len() * 8,
        }
    }
}

fn model_error(path: &Path, error: ModelError) -> CheckpointError {
    let path = path.to_path_buf();
    match error {
        ModelError::NoStateDict => CheckpointError::NoStateDict { path },
        ModelError::StateDict { arch, error } => CheckpointError::Mismatch {
            path,
            arch,
            error: Box::new(error),
        },
        other => CheckpointError::Other {
            path,
            message: other.to_string(),
        },
    }
}

/// Writes `tensors` and `metadata` to `path` as a safetensors file, atomically: the bytes go to
/// a temporary file in the same folder, which is then renamed over `path`, so a reader never
/// sees a half-written checkpoint. Each tensor's value count must match its shape.
pub fn save_tensors(
    path: &Path,
    tensors: &[NamedTensor],
    metadata: &BTreeMap<String, String>,
) -> Result<(), CheckpointError> {
    for t in tensors {
        let expected: usize = t.shape.iter().product();
        if t.data.len() != expected {
            return Err(CheckpointError::Mismatch {
                path: path.to_path_buf(),
                arch: "(the saved model)".into(),
                error: Box::new(StateDictError::Length {
                    name: t.name.clone(),
                    shape: t.shape.clone(),
                    expected,
                    got: t.data.len(),
                }),
            });
        }
    }
    let meta: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let views = tensors
        .iter()
        .map(|t| (t.name.as_str(), TensorBytes { tensor: t }));
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| CheckpointError::Other {
        path: path.to_path_buf(),
        message: format!("cannot serialise the tensors: {e}"),
    })?;
    let io = |action: &'static str| {
        move |source: std::io::Error| CheckpointError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(CheckpointError::Io {
            path: path.to_path_buf(),
            action: "write into its folder",
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("folder {} does not exist", parent.display()),
            ),
        });
    }
    let mut temp = tempfile::Builder::new()
        .prefix(".checkpoint-")
        .suffix(".tmp")
        .tempfile_in(parent)
        .map_err(io("create a temporary file in the folder of"))?;
    temp.write_all(&bytes).map_err(io("write"))?;
    temp.as_file().sync_all().map_err(io("write"))?;
    temp.persist(path).map_err(|e| CheckpointError::Io {
        path: path.to_path_buf(),
        action: "rename the temporary file to",
        source: e.error,
    })?;
    Ok(())
}

/// Saves `model`'s state dict and `metadata` to `path` (see [`save_tensors`]). Metadata is
/// free-form; majmin's CLI writes `arch`, `width`, `classes`, `input`, `seed`,
/// `majmin_version` and `step`. `format = "pt"` is added unless given, as PyTorch tools expect.
pub fn save(
    path: &Path,
    model: &dyn Model,
    metadata: &BTreeMap<String, String>,
) -> Result<(), CheckpointError> {
    let tensors = model.state_dict().map_err(|e| model_error(path, e))?;
    let mut meta = metadata.clone();
    meta.entry("format".into()).or_insert_with(|| "pt".into());
    save_tensors(path, &tensors, &meta)
}

/// Reads the bytes of `path`, refusing a file larger than [`MAX_FILE_BYTES`] before reading it.
fn read_bytes(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    let io = |action: &'static str| {
        move |source: std::io::Error| CheckpointError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let size = std::fs::metadata(path).map_err(io("read"))?.len();
    if size > MAX_FILE_BYTES {
        return Err(CheckpointError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: MAX_FILE_BYTES,
        });
    }
    std::fs::read(path).map_err(io("read"))
}

/// Parses safetensors bytes (the contents of `path`) into tensors, in file order, and metadata.
pub fn parse(
    path: &Path,
    bytes: &[u8],
) -> Result<(Vec<NamedTensor>, BTreeMap<String, String>), CheckpointError> {
    let not = |reason: String| CheckpointError::NotSafetensors {
        path: path.to_path_buf(),
        reason,
    };
    let truncated = |reason: String| CheckpointError::Truncated {
        path: path.to_path_buf(),
        reason,
    };
    let corrupt = |reason: String| CheckpointError::CorruptHeader {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() < 8 {
        return Err(not(format!(
            "it has {} bytes, fewer than the 8-byte header length that starts a safetensors file",
            bytes.len()
        )));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let rest = (bytes.len() - 8) as u64;
    match bytes.get(8) {
        Some(b'{') => {}
        Some(other) => {
            return Err(not(format!(
            "byte 8 is {other:#04x}, but a safetensors header is a JSON object starting with `{{`"
        )))
        }
        None => {
            return Err(truncated(format!(
                "it ends after the 8-byte header length ({n} header bytes announced)"
            )))
        }
    }
    if n == 0 || n > MAX_HEADER_BYTES {
        return Err(corrupt(format!(
            "the header length is {n} bytes; expected 2 to {MAX_HEADER_BYTES}"
        )));
    }
    if n > rest {
        return Err(truncated(format!(
            "the header announces {n} bytes, but only {rest} follow the header length"
        )));
    }
    let header = &bytes[8..8 + n as usize];
    let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| match e {
        SafeTensorError::MetadataIncompleteBuffer => {
            let have = rest - n;
            match serde_json::from_slice::<Metadata>(header) {
                Ok(m) if (m.data_len() as u64) > have => truncated(format!(
                    "the header announces {} bytes of tensor data, but only {have} are there",
                    m.data_len()
                )),
                Ok(m) => corrupt(format!(
                    "the header announces {} bytes of tensor data, but {have} follow it",
                    m.data_len()
                )),
                Err(e) => corrupt(e.to_string()),
            }
        }
        SafeTensorError::InvalidHeader(e) => corrupt(format!("the header is not UTF-8: {e}")),
        SafeTensorError::InvalidHeaderDeserialization(e) | SafeTensorError::JsonError(e) => {
            corrupt(format!("the header is not valid safetensors JSON: {e}"))
        }
        SafeTensorError::InvalidOffset(name) => corrupt(format!(
            "tensor `{name}` has data offsets that do not follow the previous tensor's"
        )),
        other => corrupt(other.to_string()),
    })?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
    let mut tensors = Vec::with_capacity(st.len());
    for name in metadata.offset_keys() {
        let view = st.tensor(&name).map_err(|e| corrupt(e.to_string()))?;
        let raw = view.data();
        let data = match view.dtype() {
            Dtype::F32 => TensorData::F32(
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .collect(),
            ),
            Dtype::I64 => TensorData::I64(
                raw.chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            ),
            other => {
                return Err(CheckpointError::UnsupportedDtype {
                    path: path.to_path_buf(),
                    name,
                    dtype: other.to_string(),
                })
            }
        };
        tensors.push(NamedTensor {
            name,
            shape: view.shape().to_vec(),
            data,
        });
    }
    let meta = metadata
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok((tensors, meta))
}

/// Reads a checkpoint: its tensors (in file order) and its metadata. Refuses, naming the
/// file, a file over [`MAX_FILE_BYTES`], one that is not safetensors, truncated or with a
/// corrupt header, and a tensor of another element type than `F32` or `I64`.
pub fn read(path: &Path) -> Result<(Vec<NamedTensor>, BTreeMap<String, String>), CheckpointError> {
    let bytes = read_bytes(path)?;
    parse(path, &bytes)
}

/// Loads the checkpoint at `path` into `model` and returns the checkpoint's metadata. Besides
/// [`read`]'s refusals, refuses tensors that do not fit the model ([`CheckpointError::Mismatch`],
/// naming the tensor and both shapes or element types) and a model without a state dict
/// ([`CheckpointError::NoStateDict`]); the model is unchanged then.
pub fn load(
    model: &mut dyn Model,
    path: &Path,
) -> Result<BTreeMap<String, String>, CheckpointError> {
    // Refuse a model without names before reading a possibly large file.
    if let Err(ModelError::NoStateDict) = model.state_dict() {
        return Err(model_error(path, ModelError::NoStateDict));
    }
    let (tensors, metadata) = read(path)?;
    model
        .load_state_dict(&tensors)
        .map_err(|e| model_error(path, e))?;
    Ok(metadata)
}

/// The SHA-256 of the file at `path`, as 64 lowercase hex digits (what a run started from a
/// checkpoint records in its identity). Refuses a file over [`MAX_FILE_BYTES`].
pub fn sha256(path: &Path) -> Result<String, CheckpointError> {
    let bytes = read_bytes(path)?;
    let digest = Sha256::digest(&bytes);
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}
