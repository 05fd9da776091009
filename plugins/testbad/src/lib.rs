//! Test fixture: a majmin plugin that misbehaves on request, to test every failure the host
//! must survive. Not an example to follow.
//!
//! The environment variable `MAJMIN_TESTBAD` (read when the host loads the plugin) selects a
//! declaration-level fault:
//!
//! | value | effect |
//! | --- | --- |
//! | `wrong-magic` | the declaration's magic number is wrong |
//! | `wrong-abi` | the declaration's ABI version is 42 |
//! | `list-panic` | constructing the architecture list panics |
//! | `duplicate` | the plugin also declares an architecture called `mlp` (a built-in name) |
//!
//! The architecture `testbad` (a linear softmax classifier) misbehaves according to its
//! configuration option `fail` or, when absent, `MAJMIN_TESTBAD`: `build-panic` (the
//! constructor panics), `build-error` (it returns an error), `loss-panic`
//! (`loss_and_gradient` panics), `eval-panic` (`logits`/`evaluate` panic).
#![deny(missing_docs)]

use std::sync::OnceLock;

use majmin_core::plugin::abi::{ArchitectureTable, PluginDeclaration, Status, ABI_VERSION, MAGIC};
use majmin_core::plugin::export::{
    install_panic_hook, list_architectures, ExportCell, StaticDeclaration,
};
use majmin_core::{ArchConfig, Architecture, Model, ModelError};

const MODE_VARIABLE: &str = "MAJMIN_TESTBAD";

fn env_mode() -> String {
    std::env::var(MODE_VARIABLE).unwrap_or_default()
}

/// The entry function, written by hand (rather than with `export_plugin!`) so that the
/// declaration itself can be broken.
#[no_mangle]
pub extern "C" fn majmin_plugin_declaration() -> *const PluginDeclaration {
    install_panic_hook();
    static DECLARATION: OnceLock<StaticDeclaration> = OnceLock::new();
    DECLARATION
        .get_or_init(|| {
            let (magic, version) = match env_mode().as_str() {
                "wrong-magic" => (0x0BAD_0BAD_0BAD_0BAD, ABI_VERSION),
                "wrong-abi" => (MAGIC, 42),
                _ => (MAGIC, ABI_VERSION),
            };
            StaticDeclaration::with_prefix(
                magic,
                version,
                "testbad",
                env!("CARGO_PKG_VERSION"),
                architectures,
            )
        })
        .as_ptr()
}

unsafe extern "C" fn architectures(
    out_tables: *mut *const ArchitectureTable,
    out_count: *mut usize,
) -> Status {
    static EXPORTED: ExportCell = OnceLock::new();
    // SAFETY: the host passes pointers to locals, as `list_architectures` requires.
    unsafe { list_architectures(&EXPORTED, make, out_tables, out_count) }
}

fn make() -> Vec<Box<dyn Architecture>> {
    match env_mode().as_str() {
        "list-panic" => panic!("the architecture list exploded"),
        "duplicate" => vec![
            Box::new(TestBad { name: "testbad" }),
            Box::new(TestBad { name: "mlp" }),
        ],
        _ => vec![Box::new(TestBad { name: "testbad" })],
    }
}

/// A linear softmax classifier that fails on request.
#[derive(Debug)]
struct TestBad {
    name: &'static str,
}

fn fail_mode(config: &ArchConfig) -> String {
    config.options.get("fail").cloned().unwrap_or_else(env_mode)
}

impl Architecture for TestBad {
    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        "test fixture: a linear classifier that fails on request"
    }

    fn build(&self, config: &ArchConfig) -> Result<Box<dyn Model>, ModelError> {
        config.validate(self.name)?;
        let fail = fail_mode(config);
        match fail.as_str() {
            "build-panic" => panic!("the testbad constructor exploded"),
            "build-error" => {
                return Err(ModelError::InvalidConfig {
                    arch: self.name.into(),
                    message: "refused on purpose".into(),
                })
            }
            _ => {}
        }
        let n = config.feature_len() * config.classes;
        Ok(Box::new(LinearModel {
            d: config.feature_len(),
            input: config.input,
            classes: config.classes,
            w: vec![0.0; n],
            training: true,
            fail,
        }))
    }
}

struct LinearModel {
    d: usize,
    input: [usize; 3],
    classes: usize,
    w: Vec<f32>,
    training: bool,
    fail: String,
}

impl Model for LinearModel {
    fn num_params(&self) -> usize {
        self.w.len()
    }

    fn input_shape(&self) -> [usize; 3] {
        self.input
    }

    fn classes(&self) -> usize {
        self.classes
    }

    fn get_params(&self, out: &mut [f32]) -> Result<(), ModelError> {
        if out.len() != self.w.len() {
            return Err(ModelError::BufferLength {
                what: "parameters".into(),
                expected: self.w.len(),
                got: out.len(),
            });
        }
        out.copy_from_slice(&self.w);
        Ok(())
    }

    fn set_params(&mut self, params: &[f32]) -> Result<(), ModelError> {
        if params.len() != self.w.len() {
            return Err(ModelError::BufferLength {
                what: "parameters".into(),
                expected: self.w.len(),
                got: params.len(),
            });
        }
        self.w.copy_from_slice(params);
        Ok(())
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    fn is_training(&self) -> bool {
        self.training
    }

    fn logits(&mut self, inputs: &[f32]) -> Result<Vec<f32>, ModelError> {
        if self.fail == "eval-panic" {
            panic!("testbad logits exploded");
        }
        let (d, k, w) = (self.d, self.classes, &self.w);
        Ok(inputs
            .chunks(d)
            .flat_map(|x| {
                (0..k).map(move |c| {
                    x.iter()
                        .zip(&w[c * d..(c + 1) * d])
                        .map(|(a, b)| a * b)
                        .sum::<f32>()
                })
            })
            .collect())
    }

    fn loss_and_gradient(
        &mut self,
        inputs: &[f32],
        labels: &[u32],
        grad: &mut [f32],
    ) -> Result<f32, ModelError> {
        if self.fail == "loss-panic" {
            panic!("testbad loss exploded");
        }
        let (d, k, n) = (self.d, self.classes, labels.len() as f32);
        let z = self.logits(inputs)?;
        grad.fill(0.0);
        let mut total = 0.0f32;
        for ((x, zr), &y) in inputs.chunks(d).zip(z.chunks(k)).zip(labels) {
            let m = zr.iter().fold(f32::MIN, |a, &b| a.max(b));
            let s: f32 = zr.iter().map(|v| (v - m).exp()).sum();
            total += s.ln() + m - zr[y as usize];
            for c in 0..k {
                let p = (zr[c] - m).exp() / s - if c == y as usize { 1.0 } else { 0.0 };
                grad[c * d..(c + 1) * d]
                    .iter_mut()
                    .zip(x)
                    .for_each(|(g, xi)| *g += p * xi / n);
            }
        }
        Ok(total / n)
    }
}
