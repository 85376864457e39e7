//! `srv6ctl`: configure and watch a running srv6d over its gRPC API.
//! Everything lives in [`control::ctl`]; `srv6ctl --help` teaches it.

fn main() -> std::process::ExitCode {
    control::ctl::main()
}
