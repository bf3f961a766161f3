//! Configuration of the real `cairn` binary: invalid settings (flags, `CAIRN_*` variables, TOML
//! files with bad values or unknown keys, unreadable files, a port already taken) fail at start
//! with a non-zero exit and a message naming the field, before anything is served; a valid TOML
//! file is applied and flags override it; `cairn serve` with no data-dir flag creates
//! `./cairn-data` with private key files; `cairn init` then `cairn serve` reuse the same key and
//! token; and an `--origin` that differs from an existing data directory's is refused.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

struct Case {
    what: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    toml: Option<&'static str>,
    /// The error must contain this (the field, or the file).
    names: &'static str,
    /// Refused while validating, before the data directory is touched.
    before_setup: bool,
}

fn case(what: &'static str, args: &[&str], names: &'static str) -> Case {
    Case {
        what,
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        toml: None,
        names,
        before_setup: true,
    }
}

fn toml(what: &'static str, text: &'static str, names: &'static str) -> Case {
    Case {
        toml: Some(text),
        ..case(what, &[], names)
    }
}

#[test]
fn invalid_configuration_fails_at_start_naming_the_field() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let cases = vec![
        case(
            "entry limit above the bundle format",
            &["--max-entry-bytes", "70000"],
            "max_entry_bytes",
        ),
        case(
            "zero entry limit",
            &["--max-entry-bytes", "0"],
            "max_entry_bytes",
        ),
        case(
            "body limit below the entry limit",
            &["--max-body-bytes", "100", "--max-entry-bytes", "1000"],
            "max_body_bytes",
        ),
        case(
            "zero request timeout",
            &["--request-timeout-ms", "0"],
            "request_timeout_ms",
        ),
        case("zero batch", &["--max-batch", "0"], "max_batch"),
        case("zero queue", &["--queue-capacity", "0"], "queue_capacity"),
        case(
            "zero concurrency",
            &["--max-concurrent-requests", "0"],
            "max_concurrent_requests",
        ),
        case(
            "client CA without TLS",
            &["--internal-client-ca", "/nonexistent/ca.pem"],
            "client_ca",
        ),
        case(
            "TLS cert without key",
            &["--public-tls-cert", "/nonexistent/c.pem"],
            "public-tls-key",
        ),
        case(
            "bad network",
            &["--internal-allow", "10.0.0.300/8"],
            "internal-allow",
        ),
        case(
            "not a number",
            &["--max-entry-bytes", "lots"],
            "max-entry-bytes",
        ),
        case(
            "not an address",
            &["--public-listen", "nowhere"],
            "public-listen",
        ),
        case(
            "unknown flag",
            &["--max-entry-byte", "10"],
            "max-entry-byte",
        ),
        case(
            "missing config file",
            &["--config", "/nonexistent/cairn.toml"],
            "/nonexistent/cairn.toml",
        ),
        Case {
            env: vec![("CAIRN_MAX_ENTRY_BYTES", "70000".into())],
            ..case("entry limit from the environment", &[], "max_entry_bytes")
        },
        Case {
            env: vec![("CAIRN_REQUEST_TIMEOUT_MS", "0".into())],
            ..case("timeout from the environment", &[], "request_timeout_ms")
        },
        toml("unknown key", "[log]\nmax_bach = 3\n", "max_bach"),
        toml("unknown top-level key", "colour = \"blue\"\n", "colour"),
        toml(
            "unknown section",
            "[logging]\nlevel = \"debug\"\n",
            "logging",
        ),
        toml(
            "entry limit in the file",
            "[log]\nmax_entry_bytes = 70000\n",
            "log.max_entry_bytes",
        ),
        toml("wrong type", "[log]\nmax_batch = \"many\"\n", "max_batch"),
        toml("negative number", "[log]\nmax_batch = -1\n", "max_batch"),
        toml(
            "bad network in the file",
            "[internal]\nallow = [\"10.0.0.300/8\"]\n",
            "allow",
        ),
        toml(
            "empty allow-list",
            "[internal]\nallow = []\n",
            "internal.allow",
        ),
        toml(
            "bad token digest",
            "[internal]\ntoken_sha256 = [\"zz\"]\n",
            "internal.token_sha256[0]",
        ),
        toml(
            "half a TLS pair",
            "[public]\ntls_cert = \"c.pem\"\n",
            "public.tls_cert",
        ),
        toml(
            "bad listen address",
            "[public]\nlisten = \"nowhere\"\n",
            "listen",
        ),
        toml("not TOML", "[log\nmax_batch = 3\n", "cairn.toml"),
        Case {
            before_setup: false,
            ..case(
                "unreadable TLS files",
                &[
                    "--public-tls-cert",
                    "/nonexistent/cert.pem",
                    "--public-tls-key",
                    "/nonexistent/key.pem",
                ],
                "/nonexistent/cert.pem",
            )
        },
    ];
    let mut wrong = Vec::new();
    for c in &cases {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut cmd = cairn();
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&data)
            .args(["--internal-listen", "127.0.0.1:0"]);
        if !c.args.iter().any(|a| a == "--public-listen") {
            cmd.args(["--public-listen", "127.0.0.1:0"]);
        }
        cmd.args(&c.args);
        for (k, v) in &c.env {
            cmd.env(k, v);
        }
        if let Some(text) = c.toml {
            let path = dir.path().join("cairn.toml");
            std::fs::write(&path, text).unwrap();
            cmd.arg("--config").arg(&path);
        }
        let (status, stdout, stderr) = run_to_exit(cmd);
        let problem = if status.success() {
            Some("exited 0".to_string())
        } else if stdout.contains("public port:") {
            Some("served before failing".to_string())
        } else if !stderr.contains(c.names) {
            Some(format!("the message does not name {:?}", c.names))
        } else if c.before_setup && data.exists() {
            Some("created the data directory before refusing".to_string())
        } else {
            None
        };
        if let Some(p) = problem {
            wrong.push(format!("{}: {p}; stderr:\n{stderr}", c.what));
        }
    }

    // A port that is already taken.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = cairn();
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--public-listen", &taken_addr])
        .args(["--internal-listen", "127.0.0.1:0"]);
    let (status, stdout, stderr) = run_to_exit(cmd);
    if status.success() || stdout.contains("public port:") || !stderr.contains("listen") {
        wrong.push(format!("port in use: {status:?}; stderr:\n{stderr}"));
    }
    drop(taken);

    assert!(
        wrong.is_empty(),
        "{} of {} bad configurations were not refused properly:\n{}",
        wrong.len(),
        cases.len() + 1,
        wrong.join("\n")
    );
}

#[test]
fn a_config_file_is_applied_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("from-the-file");
    let config = dir.path().join("cairn.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\norigin = \"example.com/configured\"\n\
             [public]\nlisten = \"127.0.0.1:0\"\n\
             [internal]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = 4096\n\
             [log]\nmax_entry_bytes = 100\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();

    let mut cmd = cairn();
    cmd.arg("serve").arg("--config").arg(&config);
    let mut server = Server::spawn(cmd, &data).expect("start from the file alone");
    assert!(
        data.join("log.key").is_file(),
        "data_dir from the file was not used"
    );
    assert_eq!(server.checkpoint().origin, "example.com/configured");
    server.submit(&[b'a'; 100]);
    assert_error(
        server.post_internal("/v1/entries", vec![b'a'; 101]),
        StatusCode::PAYLOAD_TOO_LARGE,
        "entry_too_large",
        "101 bytes with max_entry_bytes = 100",
    );
    assert_error(
        server.post_internal("/v1/entries", vec![b'a'; 5000]),
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "5000 bytes with max_body_bytes = 4096",
    );
    assert_eq!(server.stop().code(), Some(0));

    // A flag and a variable beat the file.
    let mut cmd = cairn();
    cmd.arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--max-entry-bytes", "200"])
        .env("CAIRN_MAX_BODY_BYTES", "300");
    let server = Server::spawn(cmd, &data).expect("start with overrides");
    server.submit(&[b'b'; 200]);
    assert_error(
        server.post_internal("/v1/entries", vec![b'b'; 201]),
        StatusCode::PAYLOAD_TOO_LARGE,
        "entry_too_large",
        "201 bytes with --max-entry-bytes 200",
    );
    assert_error(
        server.post_internal("/v1/entries/batch", vec![b' '; 301]),
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "301 bytes with CAIRN_MAX_BODY_BYTES=300",
    );
    assert_eq!(server.checkpoint().size, 2);
}

#[test]
fn serve_with_no_data_dir_creates_cairn_data_with_private_keys() {
    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = cairn();
    cmd.current_dir(cwd.path()).args([
        "serve",
        "--public-listen",
        "127.0.0.1:0",
        "--internal-listen",
        "127.0.0.1:0",
    ]);
    let data = cwd.path().join("cairn-data");
    let server = Server::spawn(cmd, &data).expect("start with the default data dir");
    assert!(server.public.starts_with("http://127.0.0.1:"));
    assert!(server.internal.starts_with("http://127.0.0.1:"));
    for secret in ["log.key", "submit.token"] {
        assert_eq!(mode(&data.join(secret)), 0o600, "{secret}");
    }
    assert!(data.join("db").is_dir());
    let token = server.token();
    assert_eq!(
        std::fs::read_to_string(data.join("submit.token.sha256"))
            .unwrap()
            .trim(),
        hex::encode(Sha256::digest(token.as_bytes()))
    );
    assert!(std::fs::read_to_string(data.join("log.key"))
        .unwrap()
        .starts_with("PRIVATE+KEY+"));
    let r = server.submit(b"default setup");
    open_checkpoint(&r.checkpoint, &server.file_vkey());
}

#[test]
fn init_then_serve_reuse_the_key_and_the_origin_never_changes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let mut init = cairn();
    init.arg("init")
        .arg("--data-dir")
        .arg(&data)
        .args(["--origin", "example.com/e2e-log"]);
    let (status, stdout, stderr) = run_to_exit(init);
    assert!(status.success(), "cairn init failed: {stderr}");
    let vkey = std::fs::read_to_string(data.join("log.vkey"))
        .unwrap()
        .trim()
        .to_string();
    assert!(vkey.starts_with("example.com/e2e-log+"), "{vkey}");
    assert!(
        stdout.contains(&vkey),
        "init did not print the verifier key: {stdout}"
    );
    let key = std::fs::read(data.join("log.key")).unwrap();
    let token = std::fs::read(data.join("submit.token")).unwrap();
    for secret in ["log.key", "submit.token"] {
        assert_eq!(mode(&data.join(secret)), 0o600, "{secret}");
    }

    // A second init changes nothing.
    let mut again = cairn();
    again.arg("init").arg("--data-dir").arg(&data);
    let (status, stdout, stderr) = run_to_exit(again);
    assert!(status.success(), "second init failed: {stderr}");
    assert!(stdout.contains("nothing changed"), "{stdout}");
    assert_eq!(std::fs::read(data.join("log.key")).unwrap(), key);
    assert_eq!(std::fs::read(data.join("submit.token")).unwrap(), token);

    // serve uses init's key and token.
    let server = Server::start(&data, &[]);
    assert!(
        !server.banner.iter().any(|l| l.contains("created")),
        "serve created new secrets: {:?}",
        server.banner
    );
    assert_eq!(
        String::from_utf8(server.get_ok("/vkey")).unwrap().trim(),
        vkey
    );
    let r = server.submit(b"signed with init's key");
    let cp = open_checkpoint(&r.checkpoint, &vkey);
    assert_eq!(cp.origin, "example.com/e2e-log");
    assert_eq!(std::fs::read(data.join("log.key")).unwrap(), key);
    drop(server);

    // Another log's key does not verify this log's checkpoints.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Server::start(other_dir.path(), &["--origin", "example.com/e2e-log"]);
    assert!(try_open_checkpoint(&other.checkpoint_text(), &vkey).is_err());
    assert!(try_open_checkpoint(&r.checkpoint, &other.file_vkey()).is_err());
    drop(other);

    // A different origin for an existing data directory is refused; the same one is fine.
    for (cmd_name, extra) in [("serve", true), ("init", false)] {
        let mut cmd = cairn();
        cmd.arg(cmd_name)
            .arg("--data-dir")
            .arg(&data)
            .args(["--origin", "example.org/another-log"]);
        if extra {
            cmd.args([
                "--public-listen",
                "127.0.0.1:0",
                "--internal-listen",
                "127.0.0.1:0",
            ]);
        }
        let (status, stdout, stderr) = run_to_exit(cmd);
        assert!(!status.success(), "{cmd_name}: another origin was accepted");
        assert!(!stdout.contains("public port:"), "{cmd_name} served anyway");
        assert!(
            stderr.contains("origin") && stderr.contains("example.com/e2e-log"),
            "{cmd_name}: unclear refusal: {stderr}"
        );
    }
    assert_eq!(std::fs::read(data.join("log.key")).unwrap(), key);
    let server = Server::start(&data, &["--origin", "example.com/e2e-log"]);
    let cp = server.checkpoint();
    assert_eq!((cp.size, cp.origin.as_str()), (1, "example.com/e2e-log"));
}
