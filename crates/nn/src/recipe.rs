//! Architectures as recipes over a [`NetBuilder`]: [`build_net`] runs a recipe for a
//! configuration and turns a too-small input into the smallest square side that works, and
//! [`NetArchitecture`] is a named recipe implementing [`Architecture`] — the zoo's and the
//! plugins' alike.

use majmin_core::{ArchConfig, Architecture, Model, ModelError};

use crate::builder::{BuildError, BuildResult, NetBuilder};
use crate::net::Net;

/// A recipe: adds an architecture's layers for a configuration.
pub type Recipe = fn(&mut NetBuilder, &ArchConfig) -> BuildResult;

/// The largest square side [`build_net`] tries when it looks for the smallest input that fits.
pub const MAX_SIDE: usize = 4096;

/// Checks `config` ([`ArchConfig::validate`]) and builds the network of `recipe` for it.
///
/// A [`BuildError::TooSmall`] becomes [`ModelError::InputTooSmall`] with the smallest square
/// side (up to [`MAX_SIDE`]) at which the recipe builds; every other build error becomes
/// [`ModelError::InvalidConfig`].
pub fn build_net(
    arch: &str,
    config: &ArchConfig,
    recipe: impl Fn(&mut NetBuilder, &ArchConfig) -> BuildResult,
) -> Result<Net, ModelError> {
    config.validate(arch)?;
    let attempt = |input: [usize; 3]| -> Result<Net, BuildError> {
        let mut b = NetBuilder::new(input);
        recipe(&mut b, config)?;
        Ok(b.finish())
    };
    attempt(config.input).map_err(|error| match error {
        BuildError::TooSmall { .. } => {
            let [c, h, w] = config.input;
            let min_side = (1..=MAX_SIDE)
                .find(|&s| attempt([c, s, s]).is_ok())
                .unwrap_or(MAX_SIDE);
            ModelError::InputTooSmall {
                arch: arch.into(),
                channels: c,
                height: h,
                width: w,
                reason: error.to_string(),
                min_side,
            }
        }
        other => ModelError::InvalidConfig {
            arch: arch.into(),
            message: other.to_string(),
        },
    })
}

/// A named recipe: an [`Architecture`] whose models are [`crate::NetModel`]s.
///
/// ```
/// use majmin_core::{ArchConfig, Architecture};
/// use majmin_nn::{BuildResult, Flatten, Linear, NetArchitecture, NetBuilder};
///
/// fn softmax(b: &mut NetBuilder, c: &ArchConfig) -> BuildResult {
///     b.add(Flatten)?.add(Linear::new(c.classes))?;
///     Ok(())
/// }
/// const SOFTMAX: NetArchitecture =
///     NetArchitecture::new("softmax", "softmax regression", softmax).default_input([1, 2, 2]);
///
/// let config = ArchConfig::new([1, 2, 2], 3);
/// assert_eq!(SOFTMAX.param_count(&config).unwrap(), 4 * 3 + 3);
/// let mut model = SOFTMAX.build(&config).unwrap();
/// let mut grad = vec![0.0; 15];
/// let loss = model.loss_and_gradient(&[0.5; 8], &[0, 2], &mut grad).unwrap();
/// assert!(loss > 0.0 && grad.iter().any(|g| *g != 0.0));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NetArchitecture {
    name: &'static str,
    description: &'static str,
    poster_size: Option<&'static str>,
    default_input: [usize; 3],
    default_classes: usize,
    recipe: Recipe,
}

impl NetArchitecture {
    /// An architecture called `name`, described in one line, built by `recipe`; its default
    /// configuration is 3×32×32 with 10 classes.
    pub const fn new(name: &'static str, description: &'static str, recipe: Recipe) -> Self {
        Self {
            name,
            description,
            poster_size: None,
            default_input: [3, 32, 32],
            default_classes: 10,
            recipe,
        }
    }

    /// Sets the size the poster quotes (e.g. `11M`).
    pub const fn poster_size(mut self, size: &'static str) -> Self {
        self.poster_size = Some(size);
        self
    }

    /// Sets the input shape of the default configuration.
    pub const fn default_input(mut self, input: [usize; 3]) -> Self {
        self.default_input = input;
        self
    }

    /// Sets the class count of the default configuration.
    pub const fn default_classes(mut self, classes: usize) -> Self {
        self.default_classes = classes;
        self
    }

    /// The network for `config` (layers and parameter layout, no values).
    pub fn net(&self, config: &ArchConfig) -> Result<Net, ModelError> {
        build_net(self.name, config, self.recipe)
    }
}

impl Architecture for NetArchitecture {
    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        self.description
    }

    fn poster_size(&self) -> Option<&str> {
        self.poster_size
    }

    fn default_config(&self) -> ArchConfig {
        ArchConfig::new(self.default_input, self.default_classes)
    }

    fn build(&self, config: &ArchConfig) -> Result<Box<dyn Model>, ModelError> {
        Ok(Box::new(
            self.net(config)?.into_model(self.name, config.clone()),
        ))
    }

    fn param_count(&self, config: &ArchConfig) -> Result<usize, ModelError> {
        Ok(self.net(config)?.num_params())
    }
}
