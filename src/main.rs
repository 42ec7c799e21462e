//! The `rill` binary: parses the command line and hands over to [`rill::cli`].

fn main() {
    let code = rill::cli::main(std::env::args_os().skip(1).collect());
    std::process::exit(code);
}
