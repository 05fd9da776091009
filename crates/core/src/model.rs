//! Trainable models on flat `f32` parameters, and the named architectures that build them.
//!
//! These traits carry no tensor types: `majmin-models` implements them with dfdx, and plugins
//! carry them across a C ABI. Inputs are sample-major flat buffers of `batch · C·H·W` values;
//! logits are `batch · classes` values. The per-sample loss is softmax cross-entropy on logits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::loss::Loss;

/// How to build an architecture: input shape, class count, width multiplier, initialisation
/// seed, and free-form options an architecture may read (e.g. `dropout = "0.5"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchConfig {
    /// Input shape `[C, H, W]`.
    pub input: [usize; 3],
    /// Number of classes.
    pub classes: usize,
    /// Width multiplier applied to channel and hidden sizes (1.0 = the published network).
    pub width: f64,
    /// Seed of the parameter initialisation (and of dropout masks).
    pub seed: u64,
    /// Architecture-specific options, as strings.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl Default for ArchConfig {
    fn default() -> Self {
        Self {
            input: [3, 32, 32],
            classes: 10,
            width: 1.0,
            seed: 0,
            options: BTreeMap::new(),
        }
    }
}

impl ArchConfig {
    /// A configuration for the given input and class count (width 1, seed 0).
    pub fn new(input: [usize; 3], classes: usize) -> Self {
        Self {
            input,
            classes,
            ..Self::default()
        }
    }

    /// Sets the width multiplier.
    pub fn with_width(mut self, width: f64) -> Self {
        self.width = width;
        self
    }

    /// Sets the initialisation seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Values per input sample, `C·H·W`.
    pub fn feature_len(&self) -> usize {
        self.input.iter().product()
    }

    /// `round(width · channels)`, at least 1: the channel count after the width multiplier.
    pub fn scaled(&self, channels: usize) -> usize {
        ((channels as f64 * self.width).round() as usize).max(1)
    }

    /// The configuration as a TOML string (what crosses the plugin boundary).
    pub fn to_config_string(&self) -> String {
        toml_like(self)
    }

    /// Parses [`ArchConfig::to_config_string`]'s output.
    pub fn from_config_string(text: &str) -> Result<Self, ModelError> {
        parse_toml_like(text)
    }

    /// Checks the generic fields and returns an error naming the architecture otherwise.
    pub fn validate(&self, arch: &str) -> Result<(), ModelError> {
        let bad = |message: String| {
            Err(ModelError::InvalidConfig {
                arch: arch.into(),
                message,
            })
        };
        if self.input.contains(&0) {
            return bad(format!(
                "input shape {:?} has a zero side; expected [C, H, W] with positive sides",
                self.input
            ));
        }
        if self.classes < 2 {
            return bad(format!("classes = {}; expected at least 2", self.classes));
        }
        if !(self.width.is_finite() && self.width > 0.0) {
            return bad(format!(
                "width = {}; expected a positive multiplier such as 1.0 or 0.25",
                self.width
            ));
        }
        Ok(())
    }
}

// A tiny fixed-format serialisation (key = value lines) keeps serde formats out of core.
// Option names and values are quoted and escaped (`\\`, `\"`, `\n`, `\r`, `\t`), so any text —
// quotes, newlines, `=` — round-trips and every entry stays on one line.
fn toml_like(c: &ArchConfig) -> String {
    let mut s = format!(
        "input = [{}, {}, {}]\nclasses = {}\nwidth = {:?}\nseed = {}\n",
        c.input[0], c.input[1], c.input[2], c.classes, c.width, c.seed
    );
    for (k, v) in &c.options {
        s.push_str(&format!("option.{} = {}\n", quote(k), quote(v)));
    }
    s
}

/// `text` in double quotes, with `\`, `"`, newline, carriage return and tab escaped.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reads a string quoted by [`quote`] at the start of `text`; returns it and the rest.
fn unquote(text: &str) -> Result<(String, &str), &'static str> {
    let mut chars = text.char_indices();
    if chars.next().map(|(_, c)| c) != Some('"') {
        return Err("expected a quoted string");
    }
    let mut out = String::new();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '"' => return Ok((out, &text[i + 1..])),
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                _ => return Err("unknown escape (expected \\\\, \\\", \\n, \\r or \\t)"),
            },
            c => out.push(c),
        }
    }
    Err("unterminated quoted string")
}

fn parse_toml_like(text: &str) -> Result<ArchConfig, ModelError> {
    let mut c = ArchConfig::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let err = |what: &str| {
            ModelError::Other(format!(
                "architecture configuration line {}: {what}: `{line}`",
                n + 1
            ))
        };
        if let Some(rest) = line.strip_prefix("option.") {
            let (name, rest) =
                unquote(rest.trim_start()).map_err(|m| err(&format!("option name: {m}")))?;
            let rest = rest
                .trim_start()
                .strip_prefix('=')
                .ok_or_else(|| err("expected `option.\"NAME\" = \"VALUE\"`"))?;
            let (value, rest) =
                unquote(rest.trim_start()).map_err(|m| err(&format!("option value: {m}")))?;
            if !rest.trim().is_empty() {
                return Err(err("unexpected text after the option value"));
            }
            c.options.insert(name, value);
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| err("expected `key = value`"))?;
        let (key, value) = (key.trim(), value.trim());
        let num = |v: &str| {
            v.trim()
                .parse::<f64>()
                .map_err(|_| err("expected a number"))
        };
        match key {
            "input" => {
                let inner = value.trim_start_matches('[').trim_end_matches(']');
                let parts: Vec<&str> = inner.split(',').collect();
                if parts.len() != 3 {
                    return Err(err("expected input = [C, H, W]"));
                }
                for (i, p) in parts.iter().enumerate() {
                    c.input[i] = num(p)? as usize;
                }
            }
            "classes" => c.classes = num(value)? as usize,
            "width" => c.width = num(value)?,
            "seed" => {
                c.seed = value
                    .parse()
                    .map_err(|_| err("expected an unsigned integer"))?
            }
            _ => {
                return Err(err(
                    "unknown key (expected input, classes, width, seed or option.NAME)",
                ))
            }
        }
    }
    Ok(c)
}

/// A tensor's element type and values in a state dict.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// 32-bit floats (parameters, BatchNorm running statistics).
    F32(Vec<f32>),
    /// 64-bit integers (BatchNorm's `num_batches_tracked`).
    I64(Vec<i64>),
}

impl TensorData {
    /// `f32` or `i64`.
    pub fn dtype(&self) -> &'static str {
        match self {
            TensorData::F32(_) => "f32",
            TensorData::I64(_) => "i64",
        }
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::I64(v) => v.len(),
        }
    }

    /// Whether there is no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One tensor of a model's state, named as in the PyTorch module of the same structure
/// (e.g. `3.body.0.weight`), with PyTorch's shape and memory order (row-major over `shape`).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// The PyTorch `state_dict()` key.
    pub name: String,
    /// The shape, outermost first (Linear weight `[out, in]`, Conv2d weight
    /// `[out, in/groups, kh, kw]`, a scalar `[]`).
    pub shape: Vec<usize>,
    /// The values, row-major over `shape`.
    pub data: TensorData,
}

/// Per-sample results of an evaluation pass.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evaluation {
    /// Cross-entropy loss of each sample.
    pub losses: Vec<f32>,
    /// Predicted class of each sample (argmax of the logits).
    pub predictions: Vec<u32>,
}

/// A trainable classifier on flat `f32` parameters.
///
/// `&mut self` everywhere: a forward pass may update BatchNorm running statistics (training mode)
/// or advance a dropout generator.
pub trait Model: Send {
    /// Number of trainable parameters.
    fn num_params(&self) -> usize;

    /// The input shape `[C, H, W]` the model was built for.
    fn input_shape(&self) -> [usize; 3];

    /// Number of classes (logits per sample).
    fn classes(&self) -> usize;

    /// Floating-point operations of one sample's training step through the convolution and
    /// linear layers, counted as their direct definition does (two per multiply-add; forward,
    /// weight gradient, and input gradient except for the layer that reads the input),
    /// whatever algorithm the kernels run; `None` when the model does not know its layers.
    /// Benchmarks divide it by the time of a step to report useful GFLOP/s.
    fn direct_flops_per_sample(&self) -> Option<f64> {
        None
    }

    /// Copies the parameters into `out` (length [`Model::num_params`]), in a fixed order.
    fn get_params(&self, out: &mut [f32]) -> Result<(), ModelError>;

    /// Replaces the parameters (length [`Model::num_params`], the order of [`Model::get_params`]).
    fn set_params(&mut self, params: &[f32]) -> Result<(), ModelError>;

    /// Training mode (batch statistics, dropout) or evaluation mode (running statistics, no
    /// dropout).
    fn set_training(&mut self, training: bool);

    /// Whether the model is in training mode.
    fn is_training(&self) -> bool;

    /// Logits, `batch × classes`, for `inputs` of `batch × C·H·W` values.
    fn logits(&mut self, inputs: &[f32]) -> Result<Vec<f32>, ModelError>;

    /// The mean cross-entropy over the batch, with its gradient written into `grad` (length
    /// [`Model::num_params`]). In training mode this updates BatchNorm running statistics.
    fn loss_and_gradient(
        &mut self,
        inputs: &[f32],
        labels: &[u32],
        grad: &mut [f32],
    ) -> Result<f32, ModelError>;

    /// The model's state — trainable parameters and buffers such as BatchNorm running
    /// statistics — as named tensors, in the order and with the names and shapes of PyTorch's
    /// `state_dict()` for the module of the same structure. The default refuses with
    /// [`ModelError::NoStateDict`]: only a model that names its tensors has one.
    fn state_dict(&self) -> Result<Vec<NamedTensor>, ModelError> {
        Err(ModelError::NoStateDict)
    }

    /// Replaces the model's state by `tensors` (as [`Model::state_dict`] returns them, in any
    /// order). Refuses, naming the tensor, a missing or unexpected tensor, a wrong shape or
    /// element type, and non-finite values; nothing is changed then. The default refuses with
    /// [`ModelError::NoStateDict`].
    fn load_state_dict(&mut self, tensors: &[NamedTensor]) -> Result<(), ModelError> {
        let _ = tensors;
        Err(ModelError::NoStateDict)
    }

    /// The parameters as a new vector.
    fn params(&self) -> Vec<f32> {
        let mut p = vec![0.0; self.num_params()];
        self.get_params(&mut p)
            .expect("a buffer of num_params values");
        p
    }

    /// Per-sample cross-entropy losses and predictions, from one forward pass.
    fn evaluate(&mut self, inputs: &[f32], labels: &[u32]) -> Result<Evaluation, ModelError> {
        let batch = check_batch(self.input_shape(), self.classes(), inputs, labels)?;
        let logits = self.logits(inputs)?;
        let k = self.classes();
        if logits.len() != batch * k {
            return Err(ModelError::BufferLength {
                what: "logits".into(),
                expected: batch * k,
                got: logits.len(),
            });
        }
        let mut out = Evaluation {
            losses: Vec::with_capacity(batch),
            predictions: Vec::with_capacity(batch),
        };
        let mut z = vec![0.0f64; k];
        for (row, &label) in logits.chunks(k).zip(labels) {
            z.iter_mut().zip(row).for_each(|(a, b)| *a = *b as f64);
            out.losses
                .push(Loss::CrossEntropyWithLogits.value(&z, label as f64) as f32);
            out.predictions.push(argmax(row) as u32);
        }
        Ok(out)
    }

    /// Per-sample cross-entropy losses.
    fn per_sample_losses(
        &mut self,
        inputs: &[f32],
        labels: &[u32],
    ) -> Result<Vec<f32>, ModelError> {
        Ok(self.evaluate(inputs, labels)?.losses)
    }

    /// Predicted classes (argmax of the logits).
    fn predict(&mut self, inputs: &[f32]) -> Result<Vec<u32>, ModelError> {
        let k = self.classes();
        Ok(self
            .logits(inputs)?
            .chunks(k)
            .map(|r| argmax(r) as u32)
            .collect())
    }
}

/// Checks a batch against a model's input shape and class count; returns the batch size.
pub fn check_batch(
    input: [usize; 3],
    classes: usize,
    inputs: &[f32],
    labels: &[u32],
) -> Result<usize, ModelError> {
    let per: usize = input.iter().product();
    if inputs.len() != labels.len() * per {
        return Err(ModelError::BufferLength {
            what: format!("inputs for {} labels of shape {:?}", labels.len(), input),
            expected: labels.len() * per,
            got: inputs.len(),
        });
    }
    if let Some((index, &label)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= classes)
    {
        return Err(ModelError::LabelOutOfRange {
            index,
            label,
            classes,
        });
    }
    Ok(labels.len())
}

/// Index of the largest value (the first on ties; NaN never wins).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] || row[best].is_nan() {
            best = i;
        }
    }
    best
}

/// A named recipe that builds a [`Model`].
pub trait Architecture: Send + Sync {
    /// The registry name (e.g. `resnet18`).
    fn name(&self) -> &str;

    /// One line on the structure.
    fn description(&self) -> &str;

    /// The size the poster quotes (e.g. `11M`), when it is one of the poster's networks.
    fn poster_size(&self) -> Option<&str> {
        None
    }

    /// The configuration `majmin models list` counts parameters with (10 classes, 3×32×32).
    fn default_config(&self) -> ArchConfig {
        ArchConfig::default()
    }

    /// Builds a freshly initialised model.
    fn build(&self, config: &ArchConfig) -> Result<Box<dyn Model>, ModelError>;

    /// The exact parameter count for `config` (the default builds the model).
    fn param_count(&self, config: &ArchConfig) -> Result<usize, ModelError> {
        Ok(self.build(config)?.num_params())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_string_round_trips() {
        let mut c = ArchConfig::new([1, 8, 8], 10)
            .with_width(0.25)
            .with_seed(99);
        c.options.insert("dropout".into(), "0.5".into());
        let back = ArchConfig::from_config_string(&c.to_config_string()).unwrap();
        assert_eq!(back, c);
        assert!(ArchConfig::from_config_string("depth = 3")
            .unwrap_err()
            .to_string()
            .contains("unknown key"));
    }

    #[test]
    fn options_with_quotes_newlines_and_equals_round_trip() {
        let mut c = ArchConfig::default();
        for (k, v) in [
            ("quote", "say \"hi\""),
            ("newline", "two\nlines\r\n"),
            ("equals", "a = b = c"),
            ("key = with \"odd\" text\n", "\\back\\slash\t"),
            ("empty", ""),
            ("unicode", "ζ = 0.1 — κ"),
        ] {
            c.options.insert(k.into(), v.into());
        }
        let text = c.to_config_string();
        assert_eq!(text.lines().count(), 4 + 6, "one line per entry:\n{text}");
        assert_eq!(ArchConfig::from_config_string(&text).unwrap(), c);
        for bad in [
            "option.\"a = \"b",
            "option.\"a\" = \"b",
            "option.\"a\" \"b\"",
            "option.\"a\" = \"b\\q\"",
            "option.a = \"b\"",
        ] {
            let e = ArchConfig::from_config_string(bad).unwrap_err().to_string();
            assert!(e.contains("line 1") && e.contains("option"), "{bad}: {e}");
        }
    }

    #[test]
    fn validate_names_the_field() {
        let e = ArchConfig::default()
            .with_width(-1.0)
            .validate("mlp")
            .unwrap_err();
        assert!(e.to_string().contains("width = -1"), "{e}");
        assert_eq!(ArchConfig::default().with_width(0.5).scaled(96), 48);
    }

    #[test]
    fn argmax_prefers_first_and_ignores_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 0.5]), 1);
    }
}
