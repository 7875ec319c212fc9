//! `metald-host`: the metald-cli compatible command line of the metald client component.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
