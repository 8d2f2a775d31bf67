//! The WDK build's link configuration. Only with feature `wdk` (Windows, eWDK): wdk-build finds
//! the WDK and tells rustc how to link a WDM driver. Every other build needs nothing here.

fn main() {
    #[cfg(feature = "wdk")]
    if let Err(error) = wdk_build::configure_wdk_binary_build() {
        // A build script reports failure by exiting non-zero; say why first.
        println!("cargo::error=the WDK build could not be configured: {error}");
    }
}
