//! The C ABI between the host and a plugin library, version [`ABI_VERSION`].
//!
//! # Layout
//!
//! ```text
//! majmin_plugin_declaration() -> *const PluginDeclaration
//!
//! PluginDeclaration            (repr C, static in the plugin)
//!   magic: u64                 = MAGIC          ┐ AbiPrefix: read and checked first,
//!   abi_version: u32           = ABI_VERSION    ┘ kept by every future version
//!   reserved: u32              = 0
//!   plugin_name: *const c_char                    NUL-terminated UTF-8, static
//!   plugin_version: *const c_char                 NUL-terminated UTF-8, static
//!   architectures: fn(*mut *const ArchitectureTable, *mut usize) -> Status
//!   last_error: fn(*mut u8, usize) -> usize
//!   set_threads: fn(usize) -> Status              the host's thread count, before any model
//!
//! ArchitectureTable            (repr C, one per architecture, static in the plugin)
//!   context: *const c_void     opaque, passed back to param_count and build
//!   name, description, poster_size (nullable), default_config: *const c_char
//!   param_count(context, config, config_len, *mut u64) -> Status
//!   build(context, config, config_len, *mut *mut c_void) -> Status   → a model handle
//!   model_info(model, *mut ModelInfo) -> Status
//!   get_params(model, *mut f32, len) / set_params(model, *const f32, len) -> Status
//!   set_training(model, u32) -> Status
//!   logits(model, inputs, inputs_len, batch, *mut f32 out, out_len) -> Status
//!   evaluate(model, inputs, inputs_len, labels, batch, *mut f32 losses, *mut u32 predictions) -> Status
//!   loss_and_gradient(model, inputs, inputs_len, labels, batch, *mut f32 grad, grad_len, *mut f32 loss) -> Status
//!   free_model(model)
//! ```
//!
//! Configurations cross as UTF-8 bytes with a length, in the format of
//! [`ArchConfig::to_config_string`](crate::ArchConfig::to_config_string). Buffers are
//! allocated by the host, which passes their lengths; the plugin writes into them. A failing
//! call returns [`STATUS_ERROR`] or [`STATUS_PANIC`]; the host then reads the message with
//! `last_error` on the same thread (the message is thread-local in the plugin). Strings in the
//! tables stay valid as long as the library is loaded, which is forever: the host never unloads
//! a plugin.

use std::ffi::{c_char, c_void};

/// The first eight bytes of every declaration: `"MAJMINPL"` read as a big-endian `u64`.
pub const MAGIC: u64 = u64::from_be_bytes(*b"MAJMINPL");

/// The version of this layout. Raised on every incompatible change; the host refuses others.
pub const ABI_VERSION: u32 = 2;

/// The name of the function every plugin exports.
pub const ENTRY_SYMBOL: &str = "majmin_plugin_declaration";

/// [`ENTRY_SYMBOL`] with its terminating NUL, as a dynamic loader wants it.
pub const ENTRY_SYMBOL_NUL: &[u8] = b"majmin_plugin_declaration\0";

/// The signature of the entry function.
pub type EntryFn = unsafe extern "C" fn() -> *const PluginDeclaration;

/// The result of a call: [`STATUS_OK`], [`STATUS_ERROR`] or [`STATUS_PANIC`].
pub type Status = i32;

/// The call succeeded; output buffers are filled.
pub const STATUS_OK: Status = 0;

/// The call failed with an error; `last_error` has the message.
pub const STATUS_ERROR: Status = 1;

/// The plugin panicked; the panic was caught, `last_error` has its message. The host tells a
/// panic from an error by this status alone, never by the message.
pub const STATUS_PANIC: Status = 2;

/// The part of a declaration that every ABI version keeps: read before anything else.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbiPrefix {
    /// Must be [`MAGIC`].
    pub magic: u64,
    /// Must be [`ABI_VERSION`].
    pub abi_version: u32,
}

/// Lists the plugin's architectures: writes a pointer to the first of `*out_count` tables.
pub type ArchitecturesFn = unsafe extern "C" fn(
    out_tables: *mut *const ArchitectureTable,
    out_count: *mut usize,
) -> Status;

/// Copies the calling thread's last error message (UTF-8, no NUL) into `buf` (at most
/// `capacity` bytes) and returns its full length; `buf` may be null when `capacity` is 0.
pub type LastErrorFn = unsafe extern "C" fn(buf: *mut u8, capacity: usize) -> usize;

/// Tells the plugin how many threads the host computes with (at least 1). A plugin carries its
/// own copy of rayon, whose global pool majmin-nn sizes from this before the first model.
pub type SetThreadsFn = unsafe extern "C" fn(threads: usize) -> Status;

/// What the entry function points to. See the [module docs](self) for the layout.
#[repr(C)]
#[derive(Debug)]
pub struct PluginDeclaration {
    /// Must be [`MAGIC`].
    pub magic: u64,
    /// Must be [`ABI_VERSION`].
    pub abi_version: u32,
    /// Zero; keeps the pointers 8-byte aligned on every platform.
    pub reserved: u32,
    /// The plugin's name, NUL-terminated UTF-8.
    pub plugin_name: *const c_char,
    /// The plugin's version, NUL-terminated UTF-8.
    pub plugin_version: *const c_char,
    /// Lists the architectures (constructing them on the first call).
    pub architectures: ArchitecturesFn,
    /// The calling thread's last error message.
    pub last_error: LastErrorFn,
    /// The host's thread count (called by the host right after the prefix checks).
    pub set_threads: SetThreadsFn,
}

/// Shape and state of a built model, filled by `model_info`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelInfo {
    /// Number of trainable parameters.
    pub num_params: u64,
    /// Input shape `[C, H, W]`.
    pub input: [u32; 3],
    /// Number of classes.
    pub classes: u32,
    /// 1 in training mode, 0 in evaluation mode.
    pub training: u32,
}

/// An opaque model handle made by `build` and released by `free_model`.
pub type ModelHandle = *mut c_void;

/// Parameter count for a configuration, without building the model.
pub type ParamCountFn = unsafe extern "C" fn(
    context: *const c_void,
    config: *const u8,
    config_len: usize,
    out: *mut u64,
) -> Status;

/// Builds a model from a configuration string; writes the handle into `out_model`.
pub type BuildFn = unsafe extern "C" fn(
    context: *const c_void,
    config: *const u8,
    config_len: usize,
    out_model: *mut ModelHandle,
) -> Status;

/// Fills a [`ModelInfo`].
pub type ModelInfoFn = unsafe extern "C" fn(model: ModelHandle, out: *mut ModelInfo) -> Status;

/// Copies the parameters into `out` (`len` values, must equal the parameter count).
pub type GetParamsFn =
    unsafe extern "C" fn(model: ModelHandle, out: *mut f32, len: usize) -> Status;

/// Replaces the parameters with `len` values from `params`.
pub type SetParamsFn =
    unsafe extern "C" fn(model: ModelHandle, params: *const f32, len: usize) -> Status;

/// Training mode (1) or evaluation mode (0).
pub type SetTrainingFn = unsafe extern "C" fn(model: ModelHandle, training: u32) -> Status;

/// Logits of `batch` samples (`inputs_len = batch · C·H·W` values) into `out`
/// (`out_len = batch · classes`).
pub type LogitsFn = unsafe extern "C" fn(
    model: ModelHandle,
    inputs: *const f32,
    inputs_len: usize,
    batch: usize,
    out: *mut f32,
    out_len: usize,
) -> Status;

/// Per-sample cross-entropy losses and predicted classes of `batch` samples, from one forward
/// pass, into `losses` and `predictions` (`batch` values each).
pub type EvaluateFn = unsafe extern "C" fn(
    model: ModelHandle,
    inputs: *const f32,
    inputs_len: usize,
    labels: *const u32,
    batch: usize,
    losses: *mut f32,
    predictions: *mut u32,
) -> Status;

/// Mean cross-entropy of `batch` samples into `loss`, its gradient into `grad` (`grad_len`
/// values, the parameter count).
pub type LossAndGradientFn = unsafe extern "C" fn(
    model: ModelHandle,
    inputs: *const f32,
    inputs_len: usize,
    labels: *const u32,
    batch: usize,
    grad: *mut f32,
    grad_len: usize,
    loss: *mut f32,
) -> Status;

/// Releases a model handle (never fails; a panic inside is caught and logged nowhere).
pub type FreeModelFn = unsafe extern "C" fn(model: ModelHandle);

/// One architecture: static strings and the functions on it and on its models.
#[repr(C)]
#[derive(Debug)]
pub struct ArchitectureTable {
    /// Opaque plugin data passed back to `param_count` and `build`.
    pub context: *const c_void,
    /// Registry name, NUL-terminated UTF-8.
    pub name: *const c_char,
    /// One line on the structure, NUL-terminated UTF-8.
    pub description: *const c_char,
    /// The poster's size (e.g. `11M`), or null.
    pub poster_size: *const c_char,
    /// The default configuration as a configuration string, NUL-terminated UTF-8.
    pub default_config: *const c_char,
    /// See [`ParamCountFn`].
    pub param_count: ParamCountFn,
    /// See [`BuildFn`].
    pub build: BuildFn,
    /// See [`ModelInfoFn`].
    pub model_info: ModelInfoFn,
    /// See [`GetParamsFn`].
    pub get_params: GetParamsFn,
    /// See [`SetParamsFn`].
    pub set_params: SetParamsFn,
    /// See [`SetTrainingFn`].
    pub set_training: SetTrainingFn,
    /// See [`LogitsFn`].
    pub logits: LogitsFn,
    /// See [`EvaluateFn`].
    pub evaluate: EvaluateFn,
    /// See [`LossAndGradientFn`].
    pub loss_and_gradient: LossAndGradientFn,
    /// See [`FreeModelFn`].
    pub free_model: FreeModelFn,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_the_start_of_the_declaration() {
        assert_eq!(
            std::mem::offset_of!(PluginDeclaration, magic),
            std::mem::offset_of!(AbiPrefix, magic)
        );
        assert_eq!(
            std::mem::offset_of!(PluginDeclaration, abi_version),
            std::mem::offset_of!(AbiPrefix, abi_version)
        );
        assert_eq!(&MAGIC.to_be_bytes(), b"MAJMINPL");
        assert_eq!(
            &ENTRY_SYMBOL_NUL[..ENTRY_SYMBOL.len()],
            ENTRY_SYMBOL.as_bytes()
        );
    }
}
