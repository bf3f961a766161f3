//! `TlsOptions`: the files are checked when the client is built, and every problem names its
//! file. (The handshakes themselves are tested against a real `cairn serve` in the CLI tests.)

use std::fs;
use std::path::{Path, PathBuf};

use cairn_client::{ClientIdentity, TlsError, TlsOptions};
use rcgen::{CertificateParams, KeyPair};

/// A self-signed certificate and its key, as PEM.
fn cert_and_key(name: &str) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

fn apply(options: &TlsOptions) -> Result<reqwest::Client, TlsError> {
    Ok(options.apply(reqwest::Client::builder())?.build().unwrap())
}

#[test]
fn good_files_build_a_client() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ca1, _) = cert_and_key("ca1.example");
    let (ca2, _) = cert_and_key("ca2.example");
    let (cert, key) = cert_and_key("writer.example");
    assert!(TlsOptions::default().is_default());
    let options = TlsOptions {
        // A bundle of two, and a single one.
        ca_certs: vec![
            write(d, "bundle.pem", &format!("{ca1}{ca2}")),
            write(d, "ca1.pem", &ca1),
        ],
        // Other PEM blocks beside the key (as `openssl ecparam -genkey` writes) are ignored.
        client_identity: Some(ClientIdentity::new(
            write(d, "client.pem", &cert),
            write(
                d,
                "client.key",
                &format!(
                    "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{key}"
                ),
            ),
        )),
    };
    assert!(!options.is_default());
    apply(&options).unwrap();
}

#[test]
fn bad_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (cert, key) = cert_and_key("writer.example");
    let (_, other_key) = cert_and_key("other.example");
    let cert_file = write(d, "client.pem", &cert);
    let key_file = write(d, "client.key", &key);
    let other_key_file = write(d, "other.key", &other_key);
    let junk = write(d, "junk.pem", "not PEM at all\n");
    let broken = write(
        d,
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    );
    let not_a_cert = write(
        d,
        "garbage-der.pem",
        "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n",
    );
    let missing = d.join("missing.pem");
    let ca = |path: &Path| TlsOptions {
        ca_certs: vec![path.to_owned()],
        client_identity: None,
    };
    let identity = |cert: &Path, key: &Path| TlsOptions {
        ca_certs: Vec::new(),
        client_identity: Some(ClientIdentity::new(cert, key)),
    };
    let message = |options: TlsOptions| apply(&options).unwrap_err().to_string();

    let err = apply(&ca(&missing)).unwrap_err();
    assert!(matches!(err, TlsError::Read { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("cannot read CA certificate file {}", missing.display())
    );
    assert_eq!(
        message(ca(&junk)),
        format!(
            "CA certificate file {}: no PEM CERTIFICATE block in it",
            junk.display()
        )
    );
    // A key file is not a CA file either.
    assert!(message(ca(&key_file)).contains("no PEM CERTIFICATE block"));
    let err = message(ca(&broken));
    assert!(
        err.starts_with(&format!(
            "CA certificate file {}: not valid PEM",
            broken.display()
        )),
        "{err}"
    );
    let err = message(ca(&not_a_cert));
    assert!(
        err.starts_with(&format!(
            "CA certificate file {}: certificate 1: ",
            not_a_cert.display()
        )),
        "{err}"
    );

    assert!(message(identity(&missing, &key_file)).starts_with(&format!(
        "cannot read client certificate file {}",
        missing.display()
    )));
    assert!(
        message(identity(&cert_file, &missing)).starts_with(&format!(
            "cannot read client key file {}",
            missing.display()
        ))
    );
    assert_eq!(
        message(identity(&cert_file, &cert_file)),
        format!(
            "client key file {}: no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) in it",
            cert_file.display()
        )
    );
    assert!(message(identity(&key_file, &key_file)).contains("no PEM CERTIFICATE block"));
    assert_eq!(
        message(identity(&cert_file, &other_key_file)),
        format!(
            "the client key {} does not belong to the client certificate {}",
            other_key_file.display(),
            cert_file.display()
        )
    );
}
