//! Test fixture: a valid dynamic library that does not export `majmin_plugin_declaration`,
//! so that majmin's loader reports a missing symbol.
#![deny(missing_docs)]

/// An exported function with another name.
#[no_mangle]
pub extern "C" fn not_a_majmin_plugin() -> u32 {
    42
}
