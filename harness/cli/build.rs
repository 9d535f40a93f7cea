// The catalog test expands `scenarios/*.toml` at compile time: a new scenario file is a new test.
fn main() {
    println!("cargo:rerun-if-changed=../../scenarios");
}
