//! The WDK build's link configuration. Only with feature `wdk` (Windows, eWDK): wdk-build finds
//! the WDK and tells rustc how to link a WDM driver. Every other build needs nothing here.
//!
//! wdk-build emits its linker flags as `cargo::rustc-cdylib-link-arg`, which cargo passes only
//! when the unit is a cdylib, and fails unless `+crt-static` is on: the WDK build provides both
//! (`cargo rustc --crate-type cdylib` with `RUSTFLAGS=-C target-feature=+crt-static`, Makefile.toml
//! task wdk-cdylib), since the manifest declares an rlib for the host tests.

fn main() {
    #[cfg(feature = "wdk")]
    if let Err(error) = wdk_build::configure_wdk_binary_build() {
        // A build script reports failure by exiting non-zero; say why first.
        println!("cargo::error=the WDK build could not be configured: {error}");
    }
}
