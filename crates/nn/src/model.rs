//! [`NetModel`]: any [`Net`] behind majmin-core's [`Model`] trait — the one implementation
//! shared by the zoo and by plugins.

use std::sync::Arc;

use dfdx::prelude::{Backward, Cpu, NoneTape, OwnedTape};
use majmin_core::model::check_batch;
use majmin_core::{ArchConfig, Model, ModelError, NamedTensor, Rng, StateDictError, TensorData};

use crate::net::{forward, visit, Ctx, Net, Node};
use crate::tape::{Act, ParamStore};
use crate::{kernels, ops};

/// A network on flat `f32` parameters, trained through dfdx's tape.
///
/// Parameters are one flat vector in construction order (per layer: weight, then bias; BatchNorm
/// scale, then shift). BatchNorm running statistics are state, not parameters (as in PyTorch);
/// [`Model::state_dict`] carries both. Dropout masks come from a generator seeded by
/// [`ArchConfig::seed`] and advanced by every training-mode forward pass, so the same seed and
/// call sequence give the same results.
pub struct NetModel {
    name: String,
    config: ArchConfig,
    net: Net,
    params: Arc<Vec<f32>>,
    training: bool,
    device: Cpu,
    rng: Rng,
}

impl std::fmt::Debug for NetModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetModel")
            .field("arch", &self.name)
            .field("params", &self.params.len())
            .finish()
    }
}

impl NetModel {
    /// A model of `net` called `arch`, its parameters drawn from `config.seed`, in training mode.
    pub fn new(arch: &str, config: ArchConfig, net: Net) -> Self {
        let params = net.init_params(config.seed);
        let rng = Rng::for_stream(config.seed, 0x64726f70);
        crate::threads::use_host_pool();
        Self {
            name: arch.into(),
            net,
            params: Arc::new(params),
            training: true,
            device: Cpu::default(),
            rng,
            config,
        }
    }

    /// The architecture name.
    pub fn arch(&self) -> &str {
        &self.name
    }

    /// The configuration the model was built with.
    pub fn config(&self) -> &ArchConfig {
        &self.config
    }

    fn batch_shape(&self, inputs: &[f32]) -> Result<[usize; 4], ModelError> {
        let per = self.config.feature_len();
        if !inputs.len().is_multiple_of(per) || inputs.is_empty() {
            return Err(ModelError::BufferLength {
                what: format!(
                    "inputs of `{}` (a whole number of samples of shape {:?})",
                    self.name, self.config.input
                ),
                expected: per * (inputs.len() / per).max(1),
                got: inputs.len(),
            });
        }
        let [c, h, w] = self.config.input;
        Ok([inputs.len() / per, c, h, w])
    }

    fn check_len(&self, what: &str, got: usize) -> Result<(), ModelError> {
        if got != self.params.len() {
            return Err(ModelError::BufferLength {
                what: format!("{what} of `{}`", self.name),
                expected: self.params.len(),
                got,
            });
        }
        Ok(())
    }

    fn state_error(&self, error: StateDictError) -> ModelError {
        ModelError::StateDict {
            arch: self.name.clone(),
            error,
        }
    }
}

/// One entry of a network's state: where its values live.
enum Slot {
    /// A range of the flat parameters.
    Param(std::ops::Range<usize>),
    /// BatchNorm buffers of the `index`-th BatchNorm layer (depth-first order).
    RunningMean(usize),
    RunningVar(usize),
    BatchesTracked(usize),
}

/// Names, shapes and places of every tensor of `nodes`, in PyTorch's `state_dict()` order (per
/// module: parameters, then buffers; modules in registration order, which is construction
/// order).
fn layout(nodes: &[Node]) -> Vec<(String, Vec<usize>, Slot)> {
    let mut out = Vec::new();
    let mut bn = 0;
    visit(nodes, &mut |node| match node {
        Node::Conv {
            name,
            spec,
            weight,
            bias,
            ..
        } => {
            let shape = vec![
                spec.out_channels,
                spec.in_channels / spec.groups,
                spec.kernel,
                spec.kernel,
            ];
            out.push((format!("{name}.weight"), shape, Slot::Param(weight.clone())));
            if let Some(b) = bias {
                out.push((
                    format!("{name}.bias"),
                    vec![spec.out_channels],
                    Slot::Param(b.clone()),
                ));
            }
        }
        Node::Linear {
            name,
            in_features,
            out_features,
            weight,
            bias,
        } => {
            out.push((
                format!("{name}.weight"),
                vec![*out_features, *in_features],
                Slot::Param(weight.clone()),
            ));
            out.push((
                format!("{name}.bias"),
                vec![*out_features],
                Slot::Param(bias.clone()),
            ));
        }
        Node::BatchNorm {
            name, gamma, beta, ..
        } => {
            let c = vec![gamma.len()];
            out.push((
                format!("{name}.weight"),
                c.clone(),
                Slot::Param(gamma.clone()),
            ));
            out.push((format!("{name}.bias"), c.clone(), Slot::Param(beta.clone())));
            out.push((
                format!("{name}.running_mean"),
                c.clone(),
                Slot::RunningMean(bn),
            ));
            out.push((format!("{name}.running_var"), c, Slot::RunningVar(bn)));
            out.push((
                format!("{name}.num_batches_tracked"),
                Vec::new(),
                Slot::BatchesTracked(bn),
            ));
            bn += 1;
        }
        _ => {}
    });
    out
}

fn batch_norm_states(nodes: &[Node]) -> Vec<&ops::BatchNormState> {
    let mut states = Vec::new();
    visit(nodes, &mut |node| {
        if let Node::BatchNorm { state, .. } = node {
            states.push(state);
        }
    });
    states
}

/// [`batch_norm_states`], writable.
fn batch_norm_states_mut(nodes: &mut [Node]) -> Vec<&mut ops::BatchNormState> {
    let mut states = Vec::new();
    for node in nodes {
        match node {
            Node::BatchNorm { state, .. } => states.push(state),
            Node::Residual { body, shortcut, .. } => {
                states.extend(batch_norm_states_mut(body));
                states.extend(batch_norm_states_mut(shortcut));
            }
            Node::Concat { branches } => {
                for branch in branches {
                    states.extend(batch_norm_states_mut(branch));
                }
            }
            _ => {}
        }
    }
    states
}

/// The first value of `values` that breaks `ok`, as `(index, text)`.
fn first_bad<T: Copy + ToString>(values: &[T], ok: impl Fn(T) -> bool) -> Option<(usize, String)> {
    values
        .iter()
        .position(|&v| !ok(v))
        .map(|i| (i, values[i].to_string()))
}

impl Model for NetModel {
    fn num_params(&self) -> usize {
        self.params.len()
    }

    fn direct_flops_per_sample(&self) -> Option<f64> {
        Some(self.net.direct_flops_per_sample())
    }

    fn input_shape(&self) -> [usize; 3] {
        self.config.input
    }

    fn classes(&self) -> usize {
        self.config.classes
    }

    fn get_params(&self, out: &mut [f32]) -> Result<(), ModelError> {
        self.check_len("parameter buffer", out.len())?;
        kernels::copy_from(out, &self.params);
        Ok(())
    }

    fn set_params(&mut self, params: &[f32]) -> Result<(), ModelError> {
        self.check_len("parameters", params.len())?;
        kernels::copy_from(Arc::make_mut(&mut self.params).as_mut_slice(), params);
        Ok(())
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    fn is_training(&self) -> bool {
        self.training
    }

    /// # Shapes
    /// `inputs`: `N × C·H·W` → `N × classes`.
    fn logits(&mut self, inputs: &[f32]) -> Result<Vec<f32>, ModelError> {
        let shape = self.batch_shape(inputs)?;
        let _awake = crate::threads::KeepAwake::new();
        let store = ParamStore::new(self.params.clone());
        let x = Act::<NoneTape>::input(&self.device, inputs.to_vec(), shape);
        let mut ctx = Ctx {
            store: &store,
            training: self.training,
            rng: &mut self.rng,
        };
        Ok(forward(&mut self.net.nodes, x, &mut ctx).into_values())
    }

    /// # Shapes
    /// `inputs`: `N × C·H·W`, `labels`: `N`, `grad`: `num_params`.
    fn loss_and_gradient(
        &mut self,
        inputs: &[f32],
        labels: &[u32],
        grad: &mut [f32],
    ) -> Result<f32, ModelError> {
        check_batch(self.config.input, self.config.classes, inputs, labels)?;
        self.check_len("gradient buffer", grad.len())?;
        let shape = self.batch_shape(inputs)?;
        let _awake = crate::threads::KeepAwake::new();
        let store = ParamStore::with_grad(self.params.clone());
        let x = Act::<OwnedTape<f32, Cpu>>::input(&self.device, inputs.to_vec(), shape);
        let mut ctx = Ctx {
            store: &store,
            training: self.training,
            rng: &mut self.rng,
        };
        let logits = forward(&mut self.net.nodes, x, &mut ctx);
        let (loss, _) = ops::cross_entropy(logits, labels);
        let value = loss.as_vec()[0];
        drop(loss.backward());
        let sink = store
            .grad
            .as_ref()
            .expect("a store made with a gradient sink");
        kernels::copy_from(grad, &sink.borrow());
        Ok(value)
    }

    fn state_dict(&self) -> Result<Vec<NamedTensor>, ModelError> {
        let states = batch_norm_states(&self.net.nodes);
        Ok(layout(&self.net.nodes)
            .into_iter()
            .map(|(name, shape, slot)| {
                let data = match slot {
                    Slot::Param(r) => TensorData::F32(self.params[r].to_vec()),
                    Slot::RunningMean(i) => TensorData::F32(states[i].running_mean.clone()),
                    Slot::RunningVar(i) => TensorData::F32(states[i].running_var.clone()),
                    Slot::BatchesTracked(i) => {
                        TensorData::I64(vec![states[i].batches_tracked as i64])
                    }
                };
                NamedTensor { name, shape, data }
            })
            .collect())
    }

    fn load_state_dict(&mut self, tensors: &[NamedTensor]) -> Result<(), ModelError> {
        let layout = layout(&self.net.nodes);
        if let Some(t) = tensors
            .iter()
            .find(|t| !layout.iter().any(|(name, _, _)| *name == t.name))
        {
            return Err(self.state_error(StateDictError::Unexpected {
                name: t.name.clone(),
            }));
        }
        // Check everything first, so that a refused state dict changes nothing.
        let mut found = Vec::with_capacity(layout.len());
        for (name, shape, slot) in &layout {
            let t = tensors
                .iter()
                .find(|t| t.name == *name)
                .ok_or_else(|| self.state_error(StateDictError::Missing { name: name.clone() }))?;
            if t.shape != *shape {
                return Err(self.state_error(StateDictError::Shape {
                    name: name.clone(),
                    expected: shape.clone(),
                    got: t.shape.clone(),
                }));
            }
            let expected_len: usize = shape.iter().product();
            if t.data.len() != expected_len {
                return Err(self.state_error(StateDictError::Length {
                    name: name.clone(),
                    shape: shape.clone(),
                    expected: expected_len,
                    got: t.data.len(),
                }));
            }
            let expected_dtype = match slot {
                Slot::BatchesTracked(_) => "i64",
                _ => "f32",
            };
            if t.data.dtype() != expected_dtype {
                return Err(self.state_error(StateDictError::Dtype {
                    name: name.clone(),
                    expected: expected_dtype,
                    got: t.data.dtype(),
                }));
            }
            let bad = match (&t.data, slot) {
                (TensorData::F32(v), Slot::RunningVar(_)) => {
                    first_bad(v, |x: f32| x.is_finite() && x >= 0.0)
                        .map(|b| (b, "finite and non-negative"))
                }
                (TensorData::F32(v), _) => {
                    first_bad(v, |x: f32| x.is_finite()).map(|b| (b, "finite"))
                }
                (TensorData::I64(v), _) => {
                    first_bad(v, |x: i64| x >= 0).map(|b| (b, "a count, at least 0"))
                }
            };
            if let Some(((index, value), rule)) = bad {
                return Err(self.state_error(StateDictError::InvalidValue {
                    name: name.clone(),
                    index,
                    value,
                    rule,
                }));
            }
            found.push(t);
        }
        let params = Arc::make_mut(&mut self.params);
        let mut states = batch_norm_states_mut(&mut self.net.nodes);
        for ((_, _, slot), t) in layout.iter().zip(&found) {
            match (slot, &t.data) {
                (Slot::Param(r), TensorData::F32(v)) => params[r.clone()].copy_from_slice(v),
                (Slot::RunningMean(i), TensorData::F32(v)) => {
                    states[*i].running_mean.copy_from_slice(v)
                }
                (Slot::RunningVar(i), TensorData::F32(v)) => {
                    states[*i].running_var.copy_from_slice(v)
                }
                (Slot::BatchesTracked(i), TensorData::I64(v)) => {
                    states[*i].batches_tracked = v[0] as u64
                }
                _ => unreachable!("element types checked above"),
            }
        }
        Ok(())
    }
}
