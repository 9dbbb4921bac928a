//! `sqlx::migrate!` embeds the migration folders at compile time; rebuild this crate
//! whenever a migration is added or changed.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
