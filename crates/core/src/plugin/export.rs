//! The plugin side: the functions behind [`export_plugin!`](crate::export_plugin).
//!
//! Every `extern "C"` function here catches panics (a panic becomes [`STATUS_PANIC`] and a
//! message), turns errors into [`STATUS_ERROR`] and a thread-local message, and never lets an
//! unwind cross the boundary. A panic hook installed by the entry function keeps panics inside
//! these functions quiet (the message goes to `last_error`, not to stderr) and hands every other
//! panic to the previous hook.
//!
//! A plugin must be built with unwinding panics (the default): with `panic = "abort"` a panic
//! ends the host process before anything can catch it.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};

use super::abi::{
    ArchitectureTable, ModelHandle, ModelInfo, PluginDeclaration, Status, ABI_VERSION, MAGIC,
    STATUS_ERROR, STATUS_OK, STATUS_PANIC,
};
use crate::model::{check_batch, Architecture, Model};
use crate::ArchConfig;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
    static IN_BOUNDARY: Cell<bool> = const { Cell::new(false) };
}

/// The host's thread count, 0 until the host sets it.
static HOST_THREADS: AtomicUsize = AtomicUsize::new(0);

/// The thread count the host passed across the ABI ([`super::abi::SetThreadsFn`]), or `None`
/// outside a plugin (or before the host said). majmin-nn sizes the plugin's rayon pool from it.
pub fn host_threads() -> Option<usize> {
    match HOST_THREADS.load(Ordering::Relaxed) {
        0 => None,
        n => Some(n),
    }
}

/// The `set_threads` function of every plugin (see [`super::abi::SetThreadsFn`]).
///
/// # Safety
/// Always safe to call; `unsafe` only for the ABI's function-pointer type.
pub unsafe extern "C" fn set_threads(threads: usize) -> Status {
    HOST_THREADS.store(threads.max(1), Ordering::Relaxed);
    STATUS_OK
}

fn set_last_error(message: String) {
    LAST_ERROR.with(|e| *e.borrow_mut() = message);
}

fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// Installs (once) a panic hook that records panics raised inside an entry point instead of
/// printing them, and passes every other panic to the hook that was installed before.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_BOUNDARY.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let message = format!("{}{location}", payload_message(info.payload()));
                PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(message));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f` with panics caught: `Ok` → [`STATUS_OK`], `Err(message)` → [`STATUS_ERROR`], a
/// panic → [`STATUS_PANIC`]; the message of a failure goes to the thread's last error.
fn guard(what: &str, f: impl FnOnce() -> Result<(), String>) -> Status {
    let was_inside = IN_BOUNDARY.with(|b| b.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_BOUNDARY.with(|b| b.set(was_inside));
    match result {
        Ok(Ok(())) => STATUS_OK,
        Ok(Err(message)) => {
            set_last_error(message);
            STATUS_ERROR
        }
        Err(payload) => {
            let recorded = PANIC_MESSAGE.with(|m| m.borrow_mut().take());
            let message = recorded.unwrap_or_else(|| payload_message(payload.as_ref()));
            set_last_error(format!("{what} panicked: {message}"));
            // Dropping a payload can itself panic; keep that inside the plugin too.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            STATUS_PANIC
        }
    }
}

/// The architectures of a plugin and the tables the host reads, built on the first call of the
/// `architectures` function and kept for the life of the process.
pub struct Exported {
    // Owns the strings and architectures the tables point into.
    _slots: Vec<ArchSlot>,
    tables: Vec<ArchitectureTable>,
}

// SAFETY: the tables' pointers point into `_slots`, which is never mutated after construction
// (heap data of `CString`s and boxed architectures does not move), and every architecture is
// `Send + Sync` by the `Architecture` trait's bounds.
unsafe impl Send for Exported {}
// SAFETY: as above; nothing in `Exported` is mutated after construction.
unsafe impl Sync for Exported {}

struct ArchSlot {
    architecture: Box<Box<dyn Architecture>>,
    name: CString,
    description: CString,
    poster_size: Option<CString>,
    default_config: CString,
}

fn c_string(field: &str, arch: &str, text: &str) -> Result<CString, String> {
    CString::new(text)
        .map_err(|_| format!("architecture `{arch}`: its {field} contains a NUL byte"))
}

impl Exported {
    fn new(architectures: Vec<Box<dyn Architecture>>) -> Result<Self, String> {
        let mut slots = Vec::with_capacity(architectures.len());
        for architecture in architectures {
            let name = architecture.name().to_string();
            slots.push(ArchSlot {
                name: c_string("name", &name, &name)?,
                description: c_string("description", &name, architecture.description())?,
                poster_size: architecture
                    .poster_size()
                    .map(|p| c_string("poster size", &name, p))
                    .transpose()?,
                default_config: c_string(
                    "default configuration",
                    &name,
                    &architecture.default_config().to_config_string(),
                )?,
                architecture: Box::new(architecture),
            });
        }
        let tables = slots
            .iter()
            .map(|slot| ArchitectureTable {
                context: &*slot.architecture as *const Box<dyn Architecture> as *const c_void,
                name: slot.name.as_ptr(),
                description: slot.description.as_ptr(),
                poster_size: slot
                    .poster_size
                    .as_ref()
                    .map_or(std::ptr::null(), |p| p.as_ptr()),
                default_config: slot.default_config.as_ptr(),
                param_count,
                build,
                model_info,
                get_params,
                set_params,
                set_training,
                logits,
                evaluate,
                loss_and_gradient,
                free_model,
            })
            .collect();
        Ok(Self {
            _slots: slots,
            tables,
        })
    }
}

/// Why constructing a plugin's architecture list failed, kept for every later request.
#[derive(Debug, Clone)]
pub struct ListFailure {
    message: String,
    panicked: bool,
}

/// Where a plugin keeps its architectures once constructed (a `static` of [`export_plugin!`](crate::export_plugin)).
pub type ExportCell = OnceLock<Result<Exported, ListFailure>>;

/// The body of a plugin's `architectures` function: constructs the architectures once (panics
/// caught), then writes the table pointer and count. A constructor that panicked gives
/// [`STATUS_PANIC`] (on this call and every later one), any other failure [`STATUS_ERROR`].
///
/// # Safety
/// `out_tables` and `out_count` must be valid for writes (the host passes pointers to locals).
pub unsafe fn list_architectures(
    cell: &'static ExportCell,
    make: fn() -> Vec<Box<dyn Architecture>>,
    out_tables: *mut *const ArchitectureTable,
    out_count: *mut usize,
) -> Status {
    let mut panicked_before = false;
    let status = guard("constructing the architecture list", || {
        let exported = match cell.get() {
            Some(e) => e,
            None => {
                let was_inside = IN_BOUNDARY.with(|b| b.replace(true));
                let made = catch_unwind(make);
                IN_BOUNDARY.with(|b| b.set(was_inside));
                let built = made
                    .map_err(|p| {
                        let recorded = PANIC_MESSAGE.with(|m| m.borrow_mut().take());
                        ListFailure {
                            message: format!(
                                "constructing the architecture list panicked: {}",
                                recorded.unwrap_or_else(|| payload_message(p.as_ref()))
                            ),
                            panicked: true,
                        }
                    })
                    .and_then(|list| {
                        Exported::new(list).map_err(|message| ListFailure {
                            message,
                            panicked: false,
                        })
                    });
                cell.get_or_init(|| built)
            }
        };
        let exported = exported.as_ref().map_err(|failure| {
            panicked_before = failure.panicked;
            failure.message.clone()
        })?;
        // SAFETY: the caller guarantees both pointers are valid for writes.
        unsafe {
            *out_tables = exported.tables.as_ptr();
            *out_count = exported.tables.len();
        }
        Ok(())
    });
    if status == STATUS_ERROR && panicked_before {
        STATUS_PANIC
    } else {
        status
    }
}

/// The `last_error` function of every plugin (see [`super::abi::LastErrorFn`]).
///
/// # Safety
/// `buf` must be valid for `capacity` bytes of writes (or `capacity` must be 0).
pub unsafe extern "C" fn last_error(buf: *mut u8, capacity: usize) -> usize {
    catch_unwind(|| {
        LAST_ERROR.with(|e| {
            let e = e.borrow();
            let n = e.len().min(capacity);
            if n > 0 {
                // SAFETY: the caller guarantees `buf` holds `capacity ≥ n` writable bytes, and a
                // thread-local string cannot overlap a host buffer.
                unsafe { std::ptr::copy_nonoverlapping(e.as_ptr(), buf, n) };
            }
            e.len()
        })
    })
    .unwrap_or(0)
}

/// A declaration in a `static`: the pointers in it are to `'static` data.
#[repr(transparent)]
pub struct StaticDeclaration(PluginDeclaration);

// SAFETY: the declaration is immutable and its pointers point to leaked (never freed, never
// mutated) C strings; its functions are thread-safe.
unsafe impl Sync for StaticDeclaration {}
// SAFETY: as above.
unsafe impl Send for StaticDeclaration {}

impl StaticDeclaration {
    /// A declaration with [`MAGIC`] and [`ABI_VERSION`] for a plugin called `name`.
    pub fn new(name: &str, version: &str, architectures: super::abi::ArchitecturesFn) -> Self {
        Self::with_prefix(MAGIC, ABI_VERSION, name, version, architectures)
    }

    /// A declaration with any magic and version (only for testing the host's checks).
    #[doc(hidden)]
    pub fn with_prefix(
        magic: u64,
        abi_version: u32,
        name: &str,
        version: &str,
        architectures: super::abi::ArchitecturesFn,
    ) -> Self {
        let leak = |s: &str| {
            CString::new(s.replace('\0', " "))
                .expect("NUL bytes replaced")
                .into_raw() as *const c_char
        };
        Self(PluginDeclaration {
            magic,
            abi_version,
            reserved: 0,
            plugin_name: leak(name),
            plugin_version: leak(version),
            architectures,
            last_error,
            set_threads,
        })
    }

    /// The pointer the entry function returns.
    pub fn as_ptr(&self) -> *const PluginDeclaration {
        &self.0
    }
}

/// The plugin-side model behind a handle.
struct ModelSlot {
    model: Box<dyn Model>,
}

/// # Safety
/// `ptr` must be null with `len` 0, or valid for reads of `len` values.
unsafe fn slice<'a, T>(ptr: *const T, len: usize, what: &str) -> Result<&'a [T], String> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(format!("{what}: null pointer with length {len}"));
    }
    // SAFETY: non-null and, by the caller's contract, valid for `len` reads.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// # Safety
/// `ptr` must be null with `len` 0, or valid for writes of `len` values.
unsafe fn slice_mut<'a, T>(ptr: *mut T, len: usize, what: &str) -> Result<&'a mut [T], String> {
    if len == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(format!("{what}: null pointer with length {len}"));
    }
    // SAFETY: non-null and, by the caller's contract, valid for `len` writes and not aliased.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// # Safety
/// `context` must be a table's context (a `*const Box<dyn Architecture>` made by [`Exported`]).
unsafe fn architecture<'a>(context: *const c_void) -> Result<&'a dyn Architecture, String> {
    if context.is_null() {
        return Err("null architecture context".into());
    }
    // SAFETY: contexts are made by `Exported::new` from boxed architectures that live forever.
    Ok(unsafe { &**(context as *const Box<dyn Architecture>) })
}

/// # Safety
/// `handle` must be a live handle made by [`build`].
unsafe fn model<'a>(handle: ModelHandle) -> Result<&'a mut dyn Model, String> {
    if handle.is_null() {
        return Err("null model handle".into());
    }
    // SAFETY: handles are `Box<ModelSlot>` pointers made by `build` and not yet freed; the host
    // uses each from one thread at a time (`&mut self` on its side).
    Ok(unsafe { &mut *(*(handle as *mut ModelSlot)).model })
}

/// # Safety
/// `config` must be valid for `len` bytes.
unsafe fn config(config: *const u8, len: usize) -> Result<ArchConfig, String> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { slice(config, len, "configuration")? };
    let text =
        std::str::from_utf8(bytes).map_err(|e| format!("the configuration is not UTF-8: {e}"))?;
    ArchConfig::from_config_string(text).map_err(|e| e.to_string())
}

unsafe extern "C" fn param_count(
    context: *const c_void,
    config_ptr: *const u8,
    config_len: usize,
    out: *mut u64,
) -> Status {
    guard("param_count", || {
        // SAFETY: the host passes a table's context and a configuration buffer with its length.
        let (arch, config) = unsafe { (architecture(context)?, config(config_ptr, config_len)?) };
        let n = arch.param_count(&config).map_err(|e| e.to_string())?;
        // SAFETY: the host passes a pointer to a local `u64`.
        unsafe { *out = n as u64 };
        Ok(())
    })
}

unsafe extern "C" fn build(
    context: *const c_void,
    config_ptr: *const u8,
    config_len: usize,
    out_model: *mut ModelHandle,
) -> Status {
    guard("build", || {
        // SAFETY: the host passes a table's context and a configuration buffer with its length.
        let (arch, config) = unsafe { (architecture(context)?, config(config_ptr, config_len)?) };
        let model = arch.build(&config).map_err(|e| e.to_string())?;
        let handle = Box::into_raw(Box::new(ModelSlot { model })) as ModelHandle;
        // SAFETY: the host passes a pointer to a local handle.
        unsafe { *out_model = handle };
        Ok(())
    })
}

unsafe extern "C" fn model_info(handle: ModelHandle, out: *mut ModelInfo) -> Status {
    guard("model_info", || {
        // SAFETY: the host passes a live handle.
        let m = unsafe { model(handle)? };
        let [c, h, w] = m.input_shape();
        let info = ModelInfo {
            num_params: m.num_params() as u64,
            input: [c as u32, h as u32, w as u32],
            classes: m.classes() as u32,
            training: m.is_training() as u32,
        };
        // SAFETY: the host passes a pointer to a local `ModelInfo`.
        unsafe { *out = info };
        Ok(())
    })
}

unsafe extern "C" fn get_params(handle: ModelHandle, out: *mut f32, len: usize) -> Status {
    guard("get_params", || {
        // SAFETY: a live handle and a host buffer of `len` values.
        let (m, out) = unsafe { (model(handle)?, slice_mut(out, len, "parameter buffer")?) };
        m.get_params(out).map_err(|e| e.to_string())
    })
}

unsafe extern "C" fn set_params(handle: ModelHandle, params: *const f32, len: usize) -> Status {
    guard("set_params", || {
        // SAFETY: a live handle and a host buffer of `len` values.
        let (m, params) = unsafe { (model(handle)?, slice(params, len, "parameters")?) };
        m.set_params(params).map_err(|e| e.to_string())
    })
}

unsafe extern "C" fn set_training(handle: ModelHandle, training: u32) -> Status {
    guard("set_training", || {
        // SAFETY: a live handle.
        unsafe { model(handle)? }.set_training(training != 0);
        Ok(())
    })
}

fn batch_inputs(m: &dyn Model, inputs_len: usize, batch: usize) -> Result<(), String> {
    let per: usize = m.input_shape().iter().product();
    if inputs_len != batch * per {
        return Err(format!(
            "inputs: got {inputs_len} values for a batch of {batch} samples of {per}"
        ));
    }
    Ok(())
}

unsafe extern "C" fn logits(
    handle: ModelHandle,
    inputs: *const f32,
    inputs_len: usize,
    batch: usize,
    out: *mut f32,
    out_len: usize,
) -> Status {
    guard("logits", || {
        // SAFETY: a live handle and host buffers with their lengths.
        let (m, x, out) = unsafe {
            (
                model(handle)?,
                slice(inputs, inputs_len, "inputs")?,
                slice_mut(out, out_len, "logits buffer")?,
            )
        };
        batch_inputs(m, inputs_len, batch)?;
        let z = m.logits(x).map_err(|e| e.to_string())?;
        if z.len() != out.len() {
            return Err(format!(
                "logits: the model produced {} values, the host expects {}",
                z.len(),
                out.len()
            ));
        }
        out.copy_from_slice(&z);
        Ok(())
    })
}

unsafe extern "C" fn evaluate(
    handle: ModelHandle,
    inputs: *const f32,
    inputs_len: usize,
    labels: *const u32,
    batch: usize,
    losses: *mut f32,
    predictions: *mut u32,
) -> Status {
    guard("evaluate", || {
        // SAFETY: a live handle and host buffers: inputs of `inputs_len`, the others of `batch`.
        let (m, x, y, losses, predictions) = unsafe {
            (
                model(handle)?,
                slice(inputs, inputs_len, "inputs")?,
                slice(labels, batch, "labels")?,
                slice_mut(losses, batch, "losses buffer")?,
                slice_mut(predictions, batch, "predictions buffer")?,
            )
        };
        check_batch(m.input_shape(), m.classes(), x, y).map_err(|e| e.to_string())?;
        let eval = m.evaluate(x, y).map_err(|e| e.to_string())?;
        if eval.losses.len() != batch || eval.predictions.len() != batch {
            return Err(format!(
                "evaluate: the model returned {} losses for {batch} samples",
                eval.losses.len()
            ));
        }
        losses.copy_from_slice(&eval.losses);
        predictions.copy_from_slice(&eval.predictions);
        Ok(())
    })
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn loss_and_gradient(
    handle: ModelHandle,
    inputs: *const f32,
    inputs_len: usize,
    labels: *const u32,
    batch: usize,
    grad: *mut f32,
    grad_len: usize,
    loss: *mut f32,
) -> Status {
    guard("loss_and_gradient", || {
        // SAFETY: a live handle and host buffers with their lengths; `loss` points to a local.
        let (m, x, y, g) = unsafe {
            (
                model(handle)?,
                slice(inputs, inputs_len, "inputs")?,
                slice(labels, batch, "labels")?,
                slice_mut(grad, grad_len, "gradient buffer")?,
            )
        };
        let value = m.loss_and_gradient(x, y, g).map_err(|e| e.to_string())?;
        // SAFETY: the host passes a pointer to a local `f32`.
        unsafe { *loss = value };
        Ok(())
    })
}

unsafe extern "C" fn free_model(handle: ModelHandle) {
    if handle.is_null() {
        return;
    }
    let _ = guard("free_model", || {
        // SAFETY: `handle` was made by `build` with `Box::into_raw` and the host frees it once.
        drop(unsafe { Box::from_raw(handle as *mut ModelSlot) });
        Ok(())
    });
}

/// Exports architectures from a plugin library: defines the `#[no_mangle]` entry function
/// `majmin_plugin_declaration` that the host's loader looks up.
///
/// ```text
/// majmin_core::export_plugin!(
///     name: "lenet",
///     version: env!("CARGO_PKG_VERSION"),
///     architectures: [LeNet],
/// );
/// ```
///
/// The architecture expressions (any values implementing
/// [`Architecture`](crate::Architecture)) are evaluated once, on the host's first request;
/// a panic there is reported as an error. Every function the table points to catches panics.
/// Use it once per library.
#[macro_export]
macro_rules! export_plugin {
    (name: $name:expr, version: $version:expr, architectures: [$($arch:expr),* $(,)?] $(,)?) => {
        /// The majmin plugin entry point: a pointer to this library's declaration.
        #[no_mangle]
        pub extern "C" fn majmin_plugin_declaration() -> *const $crate::plugin::abi::PluginDeclaration {
            fn make() -> ::std::vec::Vec<::std::boxed::Box<dyn $crate::Architecture>> {
                ::std::vec![$(::std::boxed::Box::new($arch) as ::std::boxed::Box<dyn $crate::Architecture>),*]
            }
            unsafe extern "C" fn architectures(
                out_tables: *mut *const $crate::plugin::abi::ArchitectureTable,
                out_count: *mut usize,
            ) -> $crate::plugin::abi::Status {
                static EXPORTED: $crate::plugin::export::ExportCell = ::std::sync::OnceLock::new();
                // SAFETY: the host passes pointers to locals, as `list_architectures` requires.
                unsafe { $crate::plugin::export::list_architectures(&EXPORTED, make, out_tables, out_count) }
            }
            static DECLARATION: ::std::sync::OnceLock<$crate::plugin::export::StaticDeclaration> = ::std::sync::OnceLock::new();
            $crate::plugin::export::install_panic_hook();
            DECLARATION.get_or_init(|| $crate::plugin::export::StaticDeclaration::new($name, $version, architectures)).as_ptr()
        }
    };
}
