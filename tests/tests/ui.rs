//! trybuild UI tests for the typed DSL and the `model!` macro: programs that must compile
//! (`ui/pass`) and programs that must not, with the exact error text (`ui/fail/*.stderr`,
//! for the toolchain in use). Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p fhe-tests --test ui` and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
