//! Embeds the statically linked sensor when `SLIM_SENSOR_BIN` names it (the Makefile does).
fn main() {
    println!("cargo::rustc-check-cfg=cfg(embedded_sensor)");
    println!("cargo:rerun-if-env-changed=SLIM_SENSOR_BIN");
    if let Ok(path) = std::env::var("SLIM_SENSOR_BIN") {
        println!("cargo:rerun-if-changed={path}");
        println!("cargo:rustc-cfg=embedded_sensor");
        println!("cargo:rustc-env=SLIM_EMBEDDED_SENSOR={path}");
    }
}
