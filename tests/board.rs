//! The board files (board/) checked on the build machine: the gpio-keys overlay compiles
//! with `dtc`, the systemd unit passes `systemd-analyze verify`, both shipped configs pass
//! `stembox check` against a generated demo library, and the numbers that must agree across
//! files do (the audio core in the config, the unit and the kernel command line; the
//! library and state paths in the config and the fstab).
//!
//! `dtc`, `systemd-analyze` and `aplay` are host tools: without them a check says so and
//! passes, except in CI (`CI` set), where a missing tool fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn board(rel: &str) -> PathBuf {
    repo().join("board").join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(board(rel)).unwrap_or_else(|e| panic!("board/{rel}: {e}"))
}

fn tmpdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stembox-board-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether `tool` runs; outside CI a missing tool skips the check.
fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is not installed (CI must install it: see .ci/run)"
        );
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A JSON number after `"key":` (the configs are small and flat enough for this).
fn json_number(text: &str, key: &str) -> i64 {
    let pat = format!("\"{key}\"");
    let at = text.find(&pat).unwrap_or_else(|| panic!("no {pat}"));
    let rest = text[at + pat.len()..]
        .trim_start()
        .trim_start_matches(':')
        .trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(rest.len());
    rest[..end]
        .parse()
        .unwrap_or_else(|_| panic!("{pat} is not a number"))
}

fn json_string<'a>(text: &'a str, key: &str) -> &'a str {
    let pat = format!("\"{key}\"");
    let at = text.find(&pat).unwrap_or_else(|| panic!("no {pat}"));
    let rest = text[at + pat.len()..]
        .trim_start()
        .trim_start_matches(':')
        .trim_start();
    let rest = rest.strip_prefix('"').expect("a string");
    &rest[..rest.find('"').unwrap()]
}

fn cmdline_value<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

#[test]
fn buttons_overlay_compiles_to_four_active_low_gpio_keys() {
    if !have("dtc") {
        return;
    }
    let dir = tmpdir("dtc");
    let dtbo = dir.join("stembox-buttons.dtbo");
    let (ok, text) = run(Command::new("dtc")
        .args(["-@", "-I", "dts", "-O", "dtb", "-o"])
        .arg(&dtbo)
        .arg(board("rpi/stembox-buttons.dts")));
    assert!(ok, "dtc failed:\n{text}");
    assert!(!text.contains("Warning"), "dtc warnings:\n{text}");
    // Back to source to look at what the firmware will merge.
    let (ok, dts) = run(Command::new("dtc")
        .args(["-I", "dtb", "-O", "dts"])
        .arg(&dtbo));
    assert!(ok, "{dts}");
    assert!(dts.contains("compatible = \"gpio-keys\""));
    assert!(
        dts.contains("label = \"stembox-buttons\""),
        "udev matches on this name"
    );
    assert!(!dts.contains("autorepeat"), "a held button must not repeat");
    for (gpio, code) in [(5, 2), (6, 3), (13, 4), (19, 5)] {
        // gpios = <&gpio N 1>: 1 = GPIO_ACTIVE_LOW (switch to ground, pull-up).
        assert!(
            dts.contains(&format!("gpios = <0xffffffff 0x{gpio:02x} 0x01>")),
            "GPIO {gpio} active-low:\n{dts}"
        );
        assert!(
            dts.contains(&format!("linux,code = <0x{code:02x}>")),
            "key code {code}"
        );
    }
    assert_eq!(
        dts.matches("debounce-interval = <0x14>").count(),
        4,
        "20 ms on each key"
    );
    assert!(
        dts.contains("__overrides__"),
        "dtoverlay=stembox-buttons,debounce=N"
    );
    assert!(
        dts.contains("brcm,pull = <0x02 0x02 0x02 0x02>"),
        "pull-ups on all four"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    if !have("systemd-analyze") {
        return;
    }
    let dir = tmpdir("unit");
    // The unit as installed, with ExecStart pointing at this build's binary, beside the two
    // mount units systemd-fstab-generator makes from board/common/fstab on the board.
    let unit =
        read("common/stembox.service").replace("/usr/bin/stembox", env!("CARGO_BIN_EXE_stembox"));
    std::fs::write(dir.join("stembox.service"), unit).unwrap();
    for (name, what, at) in [
        (
            "srv-stembox-library.mount",
            "stembox-lib",
            "/srv/stembox/library",
        ),
        ("var-lib-stembox.mount", "stembox-state", "/var/lib/stembox"),
    ] {
        std::fs::write(
            dir.join(name),
            format!("[Mount]\nWhat=/dev/disk/by-label/{what}\nWhere={at}\nType=ext4\n"),
        )
        .unwrap();
    }
    let (ok, text) = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.join("stembox.service"))
        .env("SYSTEMD_LOG_LEVEL", "warning"));
    // Hosts without systemd as PID 1 (containers) can still verify unit files.
    assert!(
        ok && !text.contains("stembox.service:"),
        "systemd-analyze verify:\n{text}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn shipped_configs_pass_stembox_check() {
    let dir = tmpdir("check");
    let library = dir.join("library");
    let (ok, text) = run(Command::new(env!("CARGO_BIN_EXE_stembox-demo")).arg(&library));
    assert!(ok, "stembox-demo:\n{text}");
    for rel in ["common/config.json", "qemu-x86_64/config.json"] {
        let text = read(rel);
        let cfg = dir.join(rel.replace('/', "-"));
        std::fs::write(
            &cfg,
            text.replace(json_string(&text, "library"), library.to_str().unwrap()),
        )
        .unwrap();
        let (ok, out) = run(Command::new(env!("CARGO_BIN_EXE_stembox"))
            .arg("check")
            .arg("--config")
            .arg(&cfg));
        assert!(ok, "stembox check board/{rel}:\n{out}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn audio_core_agrees_across_config_unit_and_cmdline() {
    let config = read("common/config.json");
    let cpu = json_number(&config, "cpu");
    let unit = read("common/stembox.service");
    let affinity = unit
        .lines()
        .find_map(|l| l.strip_prefix("CPUAffinity="))
        .expect("CPUAffinity= in the unit");
    assert_eq!(affinity.trim(), cpu.to_string(), "CPUAffinity= and rt.cpu");
    assert!(unit.contains("Restart=always"));
    assert!(unit.contains("LimitRTPRIO=99"));
    assert!(unit.contains("LimitMEMLOCK=infinity"));
    assert!(
        !unit.contains("network-online") && !unit.contains("network.target"),
        "the player must not wait for a network"
    );

    for (cmdline, config) in [
        (read("rpi/cmdline.txt"), config.clone()),
        (
            read("qemu-x86_64/cmdline.txt"),
            read("qemu-x86_64/config.json"),
        ),
    ] {
        assert_eq!(
            cmdline.trim_end().lines().count(),
            1,
            "cmdline.txt is one line"
        );
        let words: Vec<&str> = cmdline.split_whitespace().collect();
        for w in ["ro", "quiet", "threadirqs"] {
            assert!(words.contains(&w), "{w} missing from {cmdline}");
        }
        let cpu = json_number(&config, "cpu").to_string();
        for key in ["isolcpus", "nohz_full", "rcu_nocbs"] {
            assert_eq!(
                cmdline_value(&cmdline, key),
                Some(cpu.as_str()),
                "{key}= and rt.cpu"
            );
        }
        assert_eq!(cmdline_value(&cmdline, "root"), Some("LABEL=stembox-root"));
    }
}

#[test]
fn fstab_mounts_what_the_config_names() {
    let fstab = read("common/fstab");
    let config = read("common/config.json");
    let entries: Vec<Vec<&str>> = fstab
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    for e in &entries {
        assert_eq!(e.len(), 6, "six fields: {e:?}");
    }
    let at = |dir: &str| {
        entries
            .iter()
            .find(|e| e[1] == dir)
            .unwrap_or_else(|| panic!("nothing mounted at {dir}"))
    };
    assert!(at("/")[3].split(',').any(|o| o == "ro"), "root read-only");
    let lib = at(json_string(&config, "library"));
    assert!(lib[3].split(',').any(|o| o == "ro"), "library read-only");
    let state = at(json_string(&config, "state_dir"));
    assert!(state[3].split(',').any(|o| o == "rw"), "state writable");
    for dir in ["/tmp", "/var/log"] {
        assert_eq!(at(dir)[2], "tmpfs", "{dir} on tmpfs");
    }
    // The labels image/build gives the partitions.
    for label in ["stembox-root", "stembox-lib", "stembox-state"] {
        assert!(fstab.contains(&format!("LABEL={label}")), "{label}");
    }
}

#[test]
fn asound_conf_parses_and_names_the_output_pcm() {
    let conf = read("common/asound.conf");
    assert!(conf.contains("pcm.stembox"));
    assert_eq!(
        json_string(&read("common/config.json"), "device"),
        "stembox"
    );
    if !have("aplay") {
        return;
    }
    // alsa-lib reads ~/.asoundrc after /etc/asound.conf: parse errors show on stderr.
    let home = tmpdir("alsa");
    std::fs::write(home.join(".asoundrc"), &conf).unwrap();
    let (_, text) = run(Command::new("aplay").arg("-L").env("HOME", &home));
    assert!(!text.contains("ALSA lib"), "asound.conf:\n{text}");
    let _ = std::fs::remove_dir_all(home);
}

#[test]
fn init_scripts_are_valid_sh() {
    for path in [
        board("common/stembox-init"),
        repo().join("image/initramfs-init"),
    ] {
        let (ok, text) = run(Command::new("sh").arg("-n").arg(&path));
        assert!(ok, "{}: {text}", path.display());
        assert!(
            is_executable(&path),
            "{} must be executable",
            path.display()
        );
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
