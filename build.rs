//! Compiles `proto/` (quotaplane's subset of ZITADEL's system API) into Rust with a pure-Rust
//! protobuf compiler, so the build needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    // `sqlx::migrate!` embeds these: a new migration must rebuild the crate.
    println!("cargo:rerun-if-changed=migrations");
    let files = protox::compile(
        [
            "proto/zitadel/system.proto",
            "proto/zitadel/message.proto",
            "proto/google/rpc/status.proto",
        ],
        ["proto"],
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(files)?;
    Ok(())
}
