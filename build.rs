// Migrations and templates are compiled into the binary (include_dir!/include_str!),
// so edits to them must trigger a rebuild.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=templates");
}
