//! Generates the gRPC code of srv6d's API (`proto/srv6d/v1`) and of the
//! srv6pm STAMP services (`proto/srv6pm`). protoc comes from the
//! protoc-bin-vendored crate, so a fresh machine needs no system package.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    let protos = [
        "proto/srv6d/v1/srv6d.proto",
        "proto/srv6pm/common.proto",
        "proto/srv6pm/stamp_sender.proto",
        "proto/srv6pm/stamp_reflector.proto",
    ];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    tonic_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}
