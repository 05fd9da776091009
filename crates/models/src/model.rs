//! [`DfdxModel`]: a network of [`crate::ops`] layers behind majmin-core's [`Model`] trait.

use std::sync::Arc;

use dfdx::prelude::{Backward, Cpu, NoneTape, OwnedTape};
use majmin_core::model::check_batch;
use majmin_core::{ArchConfig, Model, ModelError, Rng};

use crate::net::{forward, Ctx, Layer, Net};
use crate::ops::{self, Act, ParamStore};

/// A built-in network on flat `f32` parameters, trained through dfdx's tape.
///
/// Parameters are one flat vector in construction order (per layer: weight, then bias; BatchNorm
/// scale, then shift). BatchNorm running statistics are state, not parameters (as in PyTorch).
/// Dropout masks come from a generator seeded by [`ArchConfig::seed`] and advanced by every
/// training-mode forward pass, so the same seed and call sequence give the same results.
pub struct DfdxModel {
    name: String,
    config: ArchConfig,
    layers: Vec<Layer>,
    params: Arc<Vec<f32>>,
    training: bool,
    device: Cpu,
    rng: Rng,
}

impl std::fmt::Debug for DfdxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DfdxModel")
            .field("arch", &self.name)
            .field("params", &self.params.len())
            .finish()
    }
}

impl DfdxModel {
    pub(crate) fn new(name: &str, config: ArchConfig, net: Net) -> Self {
        let params = net.init_params(config.seed);
        let rng = Rng::for_stream(config.seed, 0x64726f70);
        Self {
            name: name.into(),
            layers: net.layers,
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
        if inputs.len() % per != 0 || inputs.is_empty() {
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
}

impl Model for DfdxModel {
    fn num_params(&self) -> usize {
        self.params.len()
    }

    fn input_shape(&self) -> [usize; 3] {
        self.config.input
    }

    fn classes(&self) -> usize {
        self.config.classes
    }

    fn get_params(&self, out: &mut [f32]) -> Result<(), ModelError> {
        if out.len() != self.params.len() {
            return Err(ModelError::BufferLength {
                what: format!("parameter buffer of `{}`", self.name),
                expected: self.params.len(),
                got: out.len(),
            });
        }
        out.copy_from_slice(&self.params);
        Ok(())
    }

    fn set_params(&mut self, params: &[f32]) -> Result<(), ModelError> {
        if params.len() != self.params.len() {
            return Err(ModelError::BufferLength {
                what: format!("parameters for `{}`", self.name),
                expected: self.params.len(),
                got: params.len(),
            });
        }
        Arc::make_mut(&mut self.params).copy_from_slice(params);
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
        let store = ParamStore::new(self.params.clone());
        let x = Act::<NoneTape>::input(&self.device, inputs.to_vec(), shape);
        let mut ctx = Ctx {
            store: &store,
            training: self.training,
            rng: &mut self.rng,
        };
        Ok(forward(&mut self.layers, x, &mut ctx).into_values())
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
        if grad.len() != self.params.len() {
            return Err(ModelError::BufferLength {
                what: format!("gradient buffer of `{}`", self.name),
                expected: self.params.len(),
                got: grad.len(),
            });
        }
        let shape = self.batch_shape(inputs)?;
        let store = ParamStore::with_grad(self.params.clone());
        let x = Act::<OwnedTape<f32, Cpu>>::input(&self.device, inputs.to_vec(), shape);
        let mut ctx = Ctx {
            store: &store,
            training: self.training,
            rng: &mut self.rng,
        };
        let logits = forward(&mut self.layers, x, &mut ctx);
        let (loss, _) = ops::cross_entropy(logits, labels);
        let value = loss.as_vec()[0];
        drop(loss.backward());
        let sink = store.grad.as_ref().expect("store with gradient");
        grad.copy_from_slice(&sink.borrow());
        if !value.is_finite() {
            tracing::warn!(arch = %self.name, loss = value, "non-finite loss");
        }
        Ok(value)
    }
}
