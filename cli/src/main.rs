//! `metald-host`: the metald-cli compatible command line of the metald client component.

fn main() -> std::process::ExitCode {
    metald_host_cli::main()
}
