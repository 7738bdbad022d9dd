//! `stembox`: parse arguments, hand over to the app, exit with its code.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match stembox::cli::parse(&args) {
        Ok(args) => stembox::control::main_with(args),
        Err(e) => {
            eprintln!("stembox: {e}");
            2
        }
    };
    std::process::exit(code);
}
