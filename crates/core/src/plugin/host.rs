//! The host side: reads a plugin declaration and adapts its tables to
//! [`Architecture`] and [`Model`].
//!
//! Every call checks buffer lengths on the host side first, passes host-allocated buffers, and
//! turns a failing status into [`ModelError::Plugin`] naming the plugin, the architecture, the
//! operation and the plugin's message (a caught panic says "panicked").

use std::ffi::{c_char, CStr};
use std::fmt;

use thiserror::Error;

use super::abi::{
    AbiPrefix, ArchitectureTable, LastErrorFn, ModelHandle, ModelInfo, PluginDeclaration, Status,
    ABI_VERSION, MAGIC, STATUS_OK, STATUS_PANIC,
};
use crate::error::ModelError;
use crate::model::{check_batch, ArchConfig, Architecture, Evaluation, Model};

/// Why a declaration was refused.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum DeclarationError {
    /// The entry function returned a null pointer.
    #[error("the entry function returned a null declaration")]
    Null,
    /// The first eight bytes are not [`MAGIC`].
    #[error("wrong magic number {found:#018x} (expected {expected:#018x}, \"MAJMINPL\"): this is not a majmin plugin or it is corrupt")]
    WrongMagic {
        /// What the declaration holds.
        found: u64,
        /// [`MAGIC`].
        expected: u64,
    },
    /// The ABI version differs from the host's.
    #[error("plugin ABI version {found}, but this majmin speaks ABI version {expected}: rebuild the plugin against this majmin-core")]
    WrongAbiVersion {
        /// What the declaration holds.
        found: u32,
        /// [`ABI_VERSION`].
        expected: u32,
    },
    /// A string field is null or not UTF-8.
    #[error("the declaration's {field} is {problem}")]
    BadString {
        /// Which field.
        field: String,
        /// "null" or "not UTF-8".
        problem: &'static str,
    },
    /// The plugin failed while listing its architectures.
    #[error("listing the architectures failed: {0}")]
    Architectures(String),
    /// The plugin panicked while listing its architectures (the panic was caught).
    #[error("listing the architectures panicked (the panic was caught): {0}")]
    ArchitecturesPanicked(String),
    /// The plugin refused the host's thread count.
    #[error("setting the thread count to {threads} failed: {message}")]
    Threads {
        /// The host's thread count.
        threads: usize,
        /// The plugin's message.
        message: String,
    },
}

/// A plugin's declaration, read and checked: its name, version and architectures.
#[derive(Debug)]
pub struct PluginDescriptor {
    /// The name the plugin gives itself.
    pub name: String,
    /// The plugin's version string.
    pub version: String,
    /// Its architectures, in the plugin's order.
    pub architectures: Vec<PluginArchitecture>,
}

/// # Safety
/// `ptr` must be null or a NUL-terminated string that lives forever.
unsafe fn read_str(ptr: *const c_char, field: &str) -> Result<String, DeclarationError> {
    if ptr.is_null() {
        return Err(DeclarationError::BadString {
            field: field.into(),
            problem: "null",
        });
    }
    // SAFETY: non-null and NUL-terminated by the caller's contract.
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str()
        .map(str::to_string)
        .map_err(|_| DeclarationError::BadString {
            field: field.into(),
            problem: "not UTF-8",
        })
}

/// The calling thread's last error message in the plugin.
fn last_error_message(last_error: LastErrorFn) -> String {
    let mut buf = vec![0u8; 1024];
    // SAFETY: `buf` holds `buf.len()` writable bytes.
    let len = unsafe { last_error(buf.as_mut_ptr(), buf.len()) };
    if len > buf.len() {
        buf.resize(len, 0);
        // SAFETY: as above, with the larger buffer.
        let again = unsafe { last_error(buf.as_mut_ptr(), buf.len()) };
        buf.truncate(again.min(len));
    } else {
        buf.truncate(len);
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    if text.is_empty() {
        "no message".into()
    } else {
        text
    }
}

/// Reads and checks a declaration: magic and ABI version first, then passes the host's thread
/// count (`threads`, at least 1: the size of the pool the host computes in), then reads the
/// strings and the architecture tables (the plugin constructs its architectures here; a panic
/// is an error).
///
/// # Safety
/// `declaration` must be null or point to at least an [`AbiPrefix`] (e.g. what a plugin's entry
/// function returned), and the library it comes from must stay loaded for the rest of the
/// process: the returned architectures keep `'static` references into it.
pub unsafe fn read_declaration(
    declaration: *const PluginDeclaration,
    threads: usize,
) -> Result<PluginDescriptor, DeclarationError> {
    if declaration.is_null() {
        return Err(DeclarationError::Null);
    }
    // SAFETY: every declaration, of any ABI version, starts with an `AbiPrefix`.
    let prefix = unsafe { std::ptr::read(declaration as *const AbiPrefix) };
    if prefix.magic != MAGIC {
        return Err(DeclarationError::WrongMagic {
            found: prefix.magic,
            expected: MAGIC,
        });
    }
    if prefix.abi_version != ABI_VERSION {
        return Err(DeclarationError::WrongAbiVersion {
            found: prefix.abi_version,
            expected: ABI_VERSION,
        });
    }
    // SAFETY: magic and version match, so the pointer is a version-1 declaration in static memory.
    let decl: &'static PluginDeclaration = unsafe { &*declaration };
    let threads = threads.max(1);
    // SAFETY: a version-2 declaration's `set_threads` takes a plain integer.
    if unsafe { (decl.set_threads)(threads) } != STATUS_OK {
        return Err(DeclarationError::Threads {
            threads,
            message: last_error_message(decl.last_error),
        });
    }
    // SAFETY: the declaration's strings are static NUL-terminated strings (ABI contract).
    let (name, version) = unsafe {
        (
            read_str(decl.plugin_name, "plugin name")?,
            read_str(decl.plugin_version, "plugin version")?,
        )
    };
    let mut tables: *const ArchitectureTable = std::ptr::null();
    let mut count = 0usize;
    // SAFETY: both out-pointers point to locals.
    let status = unsafe { (decl.architectures)(&mut tables, &mut count) };
    if status == STATUS_PANIC {
        return Err(DeclarationError::ArchitecturesPanicked(last_error_message(
            decl.last_error,
        )));
    }
    if status != STATUS_OK {
        return Err(DeclarationError::Architectures(last_error_message(
            decl.last_error,
        )));
    }
    let tables: &'static [ArchitectureTable] = if count == 0 {
        &[]
    } else if tables.is_null() {
        return Err(DeclarationError::Architectures(format!(
            "{count} architectures announced behind a null pointer"
        )));
    } else {
        // SAFETY: the plugin wrote a pointer to `count` tables that live as long as the library.
        unsafe { std::slice::from_raw_parts(tables, count) }
    };
    let mut architectures = Vec::with_capacity(count);
    for (i, table) in tables.iter().enumerate() {
        // SAFETY: table strings are static NUL-terminated strings (ABI contract); the poster
        // size may be null.
        let (arch_name, description, poster_size, default_config) = unsafe {
            (
                read_str(table.name, &format!("architecture {i} name"))?,
                read_str(table.description, &format!("architecture {i} description"))?,
                if table.poster_size.is_null() {
                    None
                } else {
                    Some(read_str(
                        table.poster_size,
                        &format!("architecture {i} poster size"),
                    )?)
                },
                read_str(
                    table.default_config,
                    &format!("architecture {i} default configuration"),
                )?,
            )
        };
        let default_config = ArchConfig::from_config_string(&default_config).map_err(|e| {
            DeclarationError::Architectures(format!(
                "architecture `{arch_name}`: default configuration: {e}"
            ))
        })?;
        architectures.push(PluginArchitecture {
            plugin: name.clone(),
            name: arch_name,
            description,
            poster_size,
            default_config,
            table,
            last_error: decl.last_error,
        });
    }
    Ok(PluginDescriptor {
        name,
        version,
        architectures,
    })
}

/// An architecture behind a plugin's table; implements [`Architecture`].
pub struct PluginArchitecture {
    plugin: String,
    name: String,
    description: String,
    poster_size: Option<String>,
    default_config: ArchConfig,
    table: &'static ArchitectureTable,
    last_error: LastErrorFn,
}

impl fmt::Debug for PluginArchitecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginArchitecture")
            .field("plugin", &self.plugin)
            .field("name", &self.name)
            .finish()
    }
}

// SAFETY: the table and its strings are immutable static data of a library that is never
// unloaded, and the plugin's architecture behind `context` is `Send + Sync` (the export macro
// only accepts `Architecture` values, which are).
unsafe impl Send for PluginArchitecture {}
// SAFETY: as above.
unsafe impl Sync for PluginArchitecture {}

/// Turns a status into a result, reading the plugin's message on failure.
fn check(
    status: Status,
    plugin: &str,
    arch: &str,
    op: &str,
    last_error: LastErrorFn,
) -> Result<(), ModelError> {
    if status == STATUS_OK {
        return Ok(());
    }
    let message = last_error_message(last_error);
    let message = if status == STATUS_PANIC {
        format!("architecture `{arch}`: {message} (the panic was caught; nothing else is affected)")
    } else {
        format!("architecture `{arch}`: {op} failed: {message}")
    };
    Err(ModelError::Plugin {
        plugin: plugin.to_string(),
        message,
    })
}

impl PluginArchitecture {
    /// The plugin this architecture comes from.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    fn check(&self, status: Status, op: &str) -> Result<(), ModelError> {
        check(status, &self.plugin, &self.name, op, self.last_error)
    }
}

impl Architecture for PluginArchitecture {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn poster_size(&self) -> Option<&str> {
        self.poster_size.as_deref()
    }

    fn default_config(&self) -> ArchConfig {
        self.default_config.clone()
    }

    fn build(&self, config: &ArchConfig) -> Result<Box<dyn Model>, ModelError> {
        let text = config.to_config_string();
        let mut handle: ModelHandle = std::ptr::null_mut();
        // SAFETY: the context comes from the table; the configuration buffer and its length
        // describe `text`; `handle` is a local.
        let status = unsafe {
            (self.table.build)(self.table.context, text.as_ptr(), text.len(), &mut handle)
        };
        self.check(status, "build")?;
        if handle.is_null() {
            return Err(ModelError::Plugin {
                plugin: self.plugin.clone(),
                message: format!("architecture `{}`: build returned a null model", self.name),
            });
        }
        let mut model = PluginModel {
            plugin: self.plugin.clone(),
            arch: self.name.clone(),
            table: self.table,
            last_error: self.last_error,
            handle,
            num_params: 0,
            input: [0; 3],
            classes: 0,
            training: false,
            pending_error: None,
        };
        let mut info = ModelInfo::default();
        // SAFETY: `handle` was just made by this table's `build`; `info` is a local.
        let status = unsafe { (self.table.model_info)(handle, &mut info) };
        model.check(status, "model_info")?;
        model.num_params = info.num_params as usize;
        model.input = info.input.map(|v| v as usize);
        model.classes = info.classes as usize;
        model.training = info.training != 0;
        Ok(Box::new(model))
    }

    fn param_count(&self, config: &ArchConfig) -> Result<usize, ModelError> {
        let text = config.to_config_string();
        let mut n = 0u64;
        // SAFETY: as in `build`; `n` is a local.
        let status = unsafe {
            (self.table.param_count)(self.table.context, text.as_ptr(), text.len(), &mut n)
        };
        self.check(status, "param_count")?;
        Ok(n as usize)
    }
}

/// A model living in a plugin, behind an opaque handle; implements [`Model`].
///
/// Parameters, inputs and gradients are copied across the boundary into host-owned buffers.
/// Dropping it gives the handle back to the plugin's `free_model`.
pub struct PluginModel {
    plugin: String,
    arch: String,
    table: &'static ArchitectureTable,
    last_error: LastErrorFn,
    handle: ModelHandle,
    num_params: usize,
    input: [usize; 3],
    classes: usize,
    training: bool,
    pending_error: Option<ModelError>,
}

impl fmt::Debug for PluginModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginModel")
            .field("plugin", &self.plugin)
            .field("arch", &self.arch)
            .field("params", &self.num_params)
            .finish()
    }
}

// SAFETY: the plugin's model is a `Model`, hence `Send`; the handle is used by one thread at a
// time because every call takes `&mut self` (or `&self` for the read-only `get_params`, which
// `Model` also allows from any one thread holding the model).
unsafe impl Send for PluginModel {}

impl PluginModel {
    fn check(&self, status: Status, op: &str) -> Result<(), ModelError> {
        check(status, &self.plugin, &self.arch, op, self.last_error)
    }

    /// A failure of `set_training` not yet reported.
    fn take_pending(&mut self) -> Result<(), ModelError> {
        self.pending_error.take().map_or(Ok(()), Err)
    }

    fn batch(&self, inputs: &[f32]) -> Result<usize, ModelError> {
        let per: usize = self.input.iter().product();
        if per == 0 || !inputs.len().is_multiple_of(per) {
            return Err(ModelError::BufferLength {
                what: format!(
                    "inputs of `{}` (a whole number of samples of shape {:?})",
                    self.arch, self.input
                ),
                expected: per * (inputs.len() / per.max(1)).max(1),
                got: inputs.len(),
            });
        }
        Ok(inputs.len() / per)
    }

    fn check_len(&self, what: &str, expected: usize, got: usize) -> Result<(), ModelError> {
        if expected != got {
            return Err(ModelError::BufferLength {
                what: format!("{what} of `{}`", self.arch),
                expected,
                got,
            });
        }
        Ok(())
    }
}

impl Drop for PluginModel {
    fn drop(&mut self) {
        // SAFETY: the handle was made by this table's `build` and is freed exactly once, here.
        unsafe { (self.table.free_model)(self.handle) };
    }
}

impl Model for PluginModel {
    fn num_params(&self) -> usize {
        self.num_params
    }

    fn input_shape(&self) -> [usize; 3] {
        self.input
    }

    fn classes(&self) -> usize {
        self.classes
    }

    fn get_params(&self, out: &mut [f32]) -> Result<(), ModelError> {
        self.check_len("parameter buffer", self.num_params, out.len())?;
        // SAFETY: a live handle and a host buffer of `out.len()` values.
        let status = unsafe { (self.table.get_params)(self.handle, out.as_mut_ptr(), out.len()) };
        self.check(status, "get_params")
    }

    fn set_params(&mut self, params: &[f32]) -> Result<(), ModelError> {
        self.check_len("parameters", self.num_params, params.len())?;
        // SAFETY: a live handle and a host buffer of `params.len()` values.
        let status = unsafe { (self.table.set_params)(self.handle, params.as_ptr(), params.len()) };
        self.check(status, "set_params")
    }

    fn set_training(&mut self, training: bool) {
        // SAFETY: a live handle.
        let status = unsafe { (self.table.set_training)(self.handle, training as u32) };
        // `Model::set_training` cannot fail: a failure is kept and returned by the next call.
        match self.check(status, "set_training") {
            Ok(()) => self.training = training,
            Err(e) => self.pending_error = Some(e),
        }
    }

    fn is_training(&self) -> bool {
        self.training
    }

    /// # Shapes
    /// `inputs`: `N × C·H·W` → `N × classes`.
    fn logits(&mut self, inputs: &[f32]) -> Result<Vec<f32>, ModelError> {
        self.take_pending()?;
        let batch = self.batch(inputs)?;
        let mut out = vec![0.0f32; batch * self.classes];
        // SAFETY: a live handle and host buffers with their lengths.
        let status = unsafe {
            (self.table.logits)(
                self.handle,
                inputs.as_ptr(),
                inputs.len(),
                batch,
                out.as_mut_ptr(),
                out.len(),
            )
        };
        self.check(status, "logits")?;
        Ok(out)
    }

    /// # Shapes
    /// `inputs`: `N × C·H·W`, `labels`: `N`, `grad`: `num_params`.
    fn loss_and_gradient(
        &mut self,
        inputs: &[f32],
        labels: &[u32],
        grad: &mut [f32],
    ) -> Result<f32, ModelError> {
        self.take_pending()?;
        let batch = check_batch(self.input, self.classes, inputs, labels)?;
        self.check_len("gradient buffer", self.num_params, grad.len())?;
        let mut loss = f32::NAN;
        // SAFETY: a live handle; inputs, labels and gradient are host buffers with their lengths;
        // `loss` is a local.
        let status = unsafe {
            (self.table.loss_and_gradient)(
                self.handle,
                inputs.as_ptr(),
                inputs.len(),
                labels.as_ptr(),
                batch,
                grad.as_mut_ptr(),
                grad.len(),
                &mut loss,
            )
        };
        self.check(status, "loss_and_gradient")?;
        Ok(loss)
    }

    fn evaluate(&mut self, inputs: &[f32], labels: &[u32]) -> Result<Evaluation, ModelError> {
        self.take_pending()?;
        let batch = check_batch(self.input, self.classes, inputs, labels)?;
        let mut out = Evaluation {
            losses: vec![0.0; batch],
            predictions: vec![0; batch],
        };
        // SAFETY: a live handle; inputs and labels are host buffers with their lengths; the
        // output buffers hold `batch` values each.
        let status = unsafe {
            (self.table.evaluate)(
                self.handle,
                inputs.as_ptr(),
                inputs.len(),
                labels.as_ptr(),
                batch,
                out.losses.as_mut_ptr(),
                out.predictions.as_mut_ptr(),
            )
        };
        self.check(status, "evaluate")?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::export::StaticDeclaration;

    /// A linear softmax classifier, enough to cross the boundary in-process.
    struct Linear;
    struct LinearModel {
        input: [usize; 3],
        classes: usize,
        w: Vec<f32>,
        training: bool,
    }
    impl Architecture for Linear {
        fn name(&self) -> &str {
            "linear"
        }
        fn description(&self) -> &str {
            "a linear classifier"
        }
        fn build(&self, c: &ArchConfig) -> Result<Box<dyn Model>, ModelError> {
            c.validate("linear")?;
            if c.options.get("fail").map(String::as_str) == Some("build-panic") {
                panic!("constructor exploded");
            }
            if c.options.get("fail").map(String::as_str) == Some("build-error") {
                return Err(ModelError::InvalidConfig {
                    arch: "linear".into(),
                    message: "refused on purpose".into(),
                });
            }
            let w = (0..c.feature_len() * c.classes)
                .map(|i| (i as f32 * 0.37).sin() * 0.1)
                .collect();
            Ok(Box::new(LinearModel {
                input: c.input,
                classes: c.classes,
                w,
                training: true,
            }))
        }
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
            out.copy_from_slice(&self.w);
            Ok(())
        }
        fn set_params(&mut self, p: &[f32]) -> Result<(), ModelError> {
            self.w.copy_from_slice(p);
            Ok(())
        }
        fn set_training(&mut self, t: bool) {
            self.training = t;
        }
        fn is_training(&self) -> bool {
            self.training
        }
        fn logits(&mut self, x: &[f32]) -> Result<Vec<f32>, ModelError> {
            let (d, w) = (self.input.iter().product::<usize>(), &self.w);
            Ok(x.chunks(d)
                .flat_map(|row| {
                    (0..self.classes)
                        .map(move |k| (0..d).map(|j| row[j] * w[k * d + j]).sum::<f32>())
                })
                .collect())
        }
        fn loss_and_gradient(
            &mut self,
            x: &[f32],
            y: &[u32],
            g: &mut [f32],
        ) -> Result<f32, ModelError> {
            if x.first() == Some(&-999.0) {
                panic!("loss exploded");
            }
            let d = self.input.iter().product::<usize>();
            let z = self.logits(x)?;
            g.fill(0.0);
            let mut total = 0.0;
            for ((row, zr), &label) in x.chunks(d).zip(z.chunks(self.classes)).zip(y) {
                let m = zr.iter().cloned().fold(f32::MIN, f32::max);
                let s: f32 = zr.iter().map(|v| (v - m).exp()).sum();
                total += s.ln() + m - zr[label as usize];
                for k in 0..self.classes {
                    let p = (zr[k] - m).exp() / s - (k == label as usize) as u32 as f32;
                    for j in 0..d {
                        g[k * d + j] += p * row[j] / y.len() as f32;
                    }
                }
            }
            Ok(total / y.len() as f32)
        }
    }

    crate::export_plugin!(name: "linear-plugin", version: "0.1.0", architectures: [Linear]);

    fn arch() -> PluginArchitecture {
        // SAFETY: the declaration comes from `export_plugin!` in this test binary.
        let mut d = unsafe { read_declaration(majmin_plugin_declaration(), 1) }.unwrap();
        assert_eq!(
            (d.name.as_str(), d.version.as_str()),
            ("linear-plugin", "0.1.0")
        );
        d.architectures.remove(0)
    }

    #[test]
    fn the_host_thread_count_crosses_the_boundary() {
        // SAFETY: the declaration comes from `export_plugin!` in this test binary.
        unsafe { read_declaration(majmin_plugin_declaration(), 3) }.unwrap();
        assert_eq!(crate::plugin::export::host_threads(), Some(3));
        // SAFETY: as above; 0 is raised to 1.
        unsafe { read_declaration(majmin_plugin_declaration(), 0) }.unwrap();
        assert_eq!(crate::plugin::export::host_threads(), Some(1));
    }

    #[test]
    fn round_trip_through_the_table_matches_the_direct_model() {
        let a = arch();
        let config = ArchConfig::new([1, 2, 3], 4).with_seed(3);
        assert_eq!(a.default_config(), ArchConfig::default());
        assert_eq!(a.param_count(&config).unwrap(), 24);
        let mut m = a.build(&config).unwrap();
        let mut direct = Linear.build(&config).unwrap();
        assert_eq!(m.num_params(), 24);
        assert_eq!(m.input_shape(), [1, 2, 3]);
        assert!(m.is_training());
        let x: Vec<f32> = (0..12).map(|i| i as f32 * 0.1 - 0.5).collect();
        let y = [1, 3];
        let (mut g1, mut g2) = (vec![0.0; 24], vec![0.0; 24]);
        let l1 = m.loss_and_gradient(&x, &y, &mut g1).unwrap();
        let l2 = direct.loss_and_gradient(&x, &y, &mut g2).unwrap();
        assert_eq!(l1, l2);
        assert_eq!(g1, g2);
        assert_eq!(
            m.evaluate(&x, &y).unwrap(),
            direct.evaluate(&x, &y).unwrap()
        );
        let p: Vec<f32> = (0..24).map(|i| i as f32).collect();
        m.set_params(&p).unwrap();
        assert_eq!(m.params(), p);
        m.set_training(false);
        assert!(!m.is_training());
    }

    fn build_error(a: &PluginArchitecture, c: &ArchConfig) -> String {
        match a.build(c) {
            Ok(_) => panic!("build succeeded"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn errors_and_panics_become_plugin_errors() {
        let a = arch();
        let mut c = ArchConfig::new([1, 2, 2], 2);
        c.options.insert("fail".into(), "build-panic".into());
        let e = build_error(&a, &c);
        assert!(
            e.contains("plugin `linear-plugin`")
                && e.contains("build panicked: constructor exploded"),
            "{e}"
        );
        c.options.insert("fail".into(), "build-error".into());
        let e = build_error(&a, &c);
        assert!(
            e.contains("build failed") && e.contains("refused on purpose"),
            "{e}"
        );
        let mut m = a.build(&ArchConfig::new([1, 2, 2], 2)).unwrap();
        let mut g = vec![0.0; 8];
        let e = m
            .loss_and_gradient(&[-999.0, 0.0, 0.0, 0.0], &[0], &mut g)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("loss_and_gradient panicked: loss exploded"),
            "{e}"
        );
        // The model still works after the caught panic.
        assert!(m
            .loss_and_gradient(&[1.0, 0.0, 0.0, 0.0], &[0], &mut g)
            .unwrap()
            .is_finite());
        let e = m.set_params(&[0.0; 3]).unwrap_err().to_string();
        assert!(e.contains("got 3 values, expected 8"), "{e}");
        let e = m.logits(&[0.0; 3]).unwrap_err().to_string();
        assert!(e.contains("got 3"), "{e}");
    }

    unsafe extern "C" fn no_architectures(
        _: *mut *const ArchitectureTable,
        count: *mut usize,
    ) -> Status {
        // SAFETY: `read_declaration` passes a pointer to a local.
        unsafe { *count = 0 };
        STATUS_OK
    }

    #[test]
    fn magic_and_version_are_checked_first() {
        let bad_magic =
            StaticDeclaration::with_prefix(0xDEAD_BEEF, ABI_VERSION, "x", "1", no_architectures);
        // SAFETY: a declaration that lives for the whole test.
        let e = unsafe { read_declaration(bad_magic.as_ptr(), 1) }.unwrap_err();
        assert!(
            matches!(
                e,
                DeclarationError::WrongMagic {
                    found: 0xDEAD_BEEF,
                    ..
                }
            ),
            "{e}"
        );
        let bad_abi =
            StaticDeclaration::with_prefix(MAGIC, ABI_VERSION + 1, "x", "1", no_architectures);
        // SAFETY: as above.
        let e = unsafe { read_declaration(bad_abi.as_ptr(), 1) }.unwrap_err();
        assert_eq!(
            e,
            DeclarationError::WrongAbiVersion {
                found: ABI_VERSION + 1,
                expected: ABI_VERSION
            }
        );
        assert!(e
            .to_string()
            .contains(&format!("ABI version {}", ABI_VERSION + 1)));
        // SAFETY: null is allowed.
        assert_eq!(
            unsafe { read_declaration(std::ptr::null(), 1) }.unwrap_err(),
            DeclarationError::Null
        );
        let good = StaticDeclaration::new("x", "1", no_architectures);
        // SAFETY: as above.
        assert!(unsafe { read_declaration(good.as_ptr(), 1) }
            .unwrap()
            .architectures
            .is_empty());
    }
}
