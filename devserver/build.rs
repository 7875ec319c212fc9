//! Generates the `VmService` server types (buffa messages) with connectrpc-build, from a
//! descriptor set compiled by protox (no protoc binary).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const PROTO: &str = "metal/vmprovisioner/v1/vmprovisioner.proto";
    // Read when the script runs, not when it is compiled: Cargo reuses a compiled build script
    // for a workspace at another path (its hashes are workspace-relative).
    let manifest_dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir.join("../proto");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptors = protox::Compiler::new([&root])?
        .include_imports(true)
        .include_source_info(true)
        .open_files([root.join(PROTO)])?
        .encode_file_descriptor_set();
    let descriptor_path = out.join("vmprovisioner.fds.bin");
    std::fs::write(&descriptor_path, descriptors)?;
    connectrpc_build::Config::new()
        .descriptor_set(&descriptor_path)
        .files(&[PROTO])
        .include_file("_connectrpc.rs")
        // The descriptor file is rewritten on every run; watch the proto instead.
        .emit_rerun_directives(false)
        .compile()?;
    println!("cargo:rerun-if-changed={}", root.join(PROTO).display());
    #[cfg(feature = "fake-workload-api")]
    {
        let here = manifest_dir.join("proto");
        println!("cargo:rerun-if-changed={}", here.join("workload.proto").display());
        let workload = protox::compile(["workload.proto"], [here])?;
        tonic_prost_build::configure()
            .build_server(true)
            .build_client(false)
            .build_transport(false)
            .compile_fds(workload)?;
    }
    Ok(())
}
