//! Misuse that must not compile: a registration outliving what it registers.

#[cfg(not(miri))]
#[test]
fn registrations_cannot_outlive_their_resource_or_manager() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
