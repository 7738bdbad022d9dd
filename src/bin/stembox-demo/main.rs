//! `stembox-demo DIR [--force]`: writes the generated demo library (three songs of drums,
//! bass, keys and click stems, made by [`synth`]; nothing is downloaded).
//!
//! A second binary rather than a mode of `stembox`: the appliance never needs the
//! synthesiser at run time (the image build and `scripts/demo` run this on the build host),
//! so the firmware does not carry it.

mod synth;

use std::path::{Path, PathBuf};
use std::time::Instant;

const HELP: &str = "\
stembox-demo: writes a generated demo library for stembox

USAGE:
    stembox-demo DIR [--force]
        Writes three songs (drums/bass/keys/click stems, song.json) and a setlist.json
        into DIR. Refuses a DIR that is not empty (it would overwrite songs and
        setlist.json there) unless --force is given.

EXIT CODES:
    0 ok, 1 write failure, 2 usage or a folder that is not empty
";

fn parse(args: &[String]) -> Result<Option<(PathBuf, bool)>, String> {
    let (mut dir, mut force) = (None, false);
    for a in args {
        match a.as_str() {
            "--help" | "-h" => return Ok(None),
            "--force" => force = true,
            s if s.starts_with('-') => return Err(format!("unknown option {s} (see --help)")),
            s if dir.is_none() => dir = Some(PathBuf::from(s)),
            s => return Err(format!("unexpected argument {s} (see --help)")),
        }
    }
    let dir = dir.ok_or("needs a DIR to write into (see --help)")?;
    Ok(Some((dir, force)))
}

/// The demo overwrites song folders and setlist.json: never over someone's own songs
/// without being asked.
fn refuse_non_empty(dir: &Path) -> Result<(), String> {
    if let Ok(mut entries) = std::fs::read_dir(dir) {
        if entries.next().is_some() {
            return Err(format!(
                "demo library {}: the folder is not empty (its songs and setlist.json would \
                 be overwritten); choose an empty or new folder, or add --force",
                dir.display()
            ));
        }
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, force) = match parse(&args) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{HELP}");
            return;
        }
        Err(e) => {
            eprintln!("stembox-demo: {e}");
            std::process::exit(2);
        }
    };
    if !force {
        if let Err(e) = refuse_non_empty(&dir) {
            eprintln!("stembox-demo: {e}");
            std::process::exit(2);
        }
    }
    let t0 = Instant::now();
    match synth::write_demo_library(&dir) {
        Ok(files) => println!(
            "demo library: wrote {} files to {} in {:.2} s",
            files.len(),
            dir.display(),
            t0.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("stembox-demo: demo library {}: {e}", dir.display());
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Option<(PathBuf, bool)>, String> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn arguments() {
        assert_eq!(p("/tmp/lib"), Ok(Some(("/tmp/lib".into(), false))));
        assert_eq!(p("--force /tmp/lib"), Ok(Some(("/tmp/lib".into(), true))));
        assert_eq!(p("--help"), Ok(None));
        assert!(p("").unwrap_err().contains("DIR"));
        assert!(p("a b").unwrap_err().contains("unexpected argument b"));
        assert!(p("--frce a").unwrap_err().contains("unknown option --frce"));
    }
}
