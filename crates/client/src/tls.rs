//! TLS settings for talking to a log whose ports use a private CA, and client certificates
//! for a write port that requires them (mTLS; `cairn serve --internal-client-ca`).
//!
//! Every file is read and checked when the HTTP client is built, so a wrong path, a file
//! that is not PEM, or a key that does not belong to its certificate is reported by name
//! before any connection is attempted.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rustls::crypto::aws_lc_rs;
use rustls::sign::CertifiedKey;
use rustls::{AlertDescription, CertificateError, InconsistentKeys, RootCertStore};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

/// How a client authenticates the server, and itself, over TLS. The default trusts the
/// system's roots and presents no client certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM files (one or more `CERTIFICATE` blocks each) of CAs trusted to issue the server's
    /// certificate, in addition to the system roots.
    pub ca_certs: Vec<PathBuf>,
    /// A certificate and private key to present when the server asks for one.
    pub client_identity: Option<ClientIdentity>,
}

/// A client certificate for mutual TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIdentity {
    /// PEM certificate chain, the client's own certificate first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8 `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`).
    pub key: PathBuf,
}

/// A TLS file that cannot be used; every variant names the file.
#[derive(Debug, Error)]
pub enum TlsError {
    /// Displayed without its source (the I/O error), which follows in the error chain.
    #[error("cannot read {what} {}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {}: {reason}", path.display())]
    Invalid {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "the client key {} does not belong to the client certificate {}",
        key.display(),
        cert.display()
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },
}

const CA_FILE: &str = "CA certificate file";
const CERT_FILE: &str = "client certificate file";
const KEY_FILE: &str = "client key file";

impl TlsOptions {
    /// True when nothing is configured (system roots, no client certificate).
    pub fn is_default(&self) -> bool {
        self.ca_certs.is_empty() && self.client_identity.is_none()
    }

    /// Reads and checks the files, and configures `builder` with them: the CA certificates
    /// are added to the system roots, the identity is presented when the server asks.
    pub fn apply(
        &self,
        mut builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, TlsError> {
        let mut roots = Vec::new();
        for path in &self.ca_certs {
            for (n, der) in read_certs(path, CA_FILE)?.into_iter().enumerate() {
                let invalid = |reason: String| TlsError::Invalid {
                    what: CA_FILE,
                    path: path.clone(),
                    reason: format!("certificate {}: {reason}", n + 1),
                };
                // The check rustls makes of a root, here so that the error names the file.
                RootCertStore::empty()
                    .add(der.clone())
                    .map_err(|e| invalid(e.to_string()))?;
                let cert =
                    reqwest::Certificate::from_der(&der).map_err(|e| invalid(e.to_string()))?;
                roots.push(cert);
            }
        }
        if !roots.is_empty() {
            builder = builder.tls_certs_merge(roots);
        }
        if let Some(identity) = &self.client_identity {
            builder = builder.identity(identity.load()?);
        }
        Ok(builder)
    }
}

impl ClientIdentity {
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        ClientIdentity {
            cert: cert.into(),
            key: key.into(),
        }
    }

    /// Reads the certificate chain and the key, checks that they belong together, and
    /// returns them as one reqwest identity.
    fn load(&self) -> Result<reqwest::Identity, TlsError> {
        let certs = read_certs(&self.cert, CERT_FILE)?;
        let key_invalid = |reason: String| TlsError::Invalid {
            what: KEY_FILE,
            path: self.key.clone(),
            reason,
        };
        let key = PrivateKeyDer::from_pem_slice(&read(&self.key, KEY_FILE)?).map_err(|e| {
            key_invalid(match e {
                pem::Error::NoItemsFound => {
                    "no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) in it"
                        .to_owned()
                }
                e => format!("not valid PEM: {e}"),
            })
        })?;
        let label = match &key {
            PrivateKeyDer::Pkcs8(_) => "PRIVATE KEY",
            PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
            PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
            _ => return Err(key_invalid("unsupported private key format".to_owned())),
        };
        // The provider reqwest's rustls uses: the same key parsing and the same match check
        // as the TLS handshake will make, but with the file names in the error.
        let signing_key = aws_lc_rs::default_provider()
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| key_invalid(format!("unusable private key: {e}")))?;
        match CertifiedKey::new(certs.clone(), signing_key).keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
                return Err(TlsError::KeyMismatch {
                    cert: self.cert.clone(),
                    key: self.key.clone(),
                })
            }
            Err(e) => {
                return Err(TlsError::Invalid {
                    what: CERT_FILE,
                    path: self.cert.clone(),
                    reason: format!("first certificate: {e}"),
                })
            }
        }
        // Re-encoded from what was parsed, so that anything else in the files (say, an
        // `EC PARAMETERS` block) cannot trip reqwest's stricter PEM reader.
        let mut text = String::new();
        for cert in &certs {
            text.push_str(&pem_block("CERTIFICATE", cert));
        }
        text.push_str(&pem_block(label, key.secret_der()));
        reqwest::Identity::from_pem(text.as_bytes()).map_err(|e| TlsError::Invalid {
            what: CERT_FILE,
            path: self.cert.clone(),
            reason: e.to_string(),
        })
    }
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Every `CERTIFICATE` block of a PEM file; at least one.
fn read_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let invalid = |reason: String| TlsError::Invalid {
        what,
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(&read(path, what)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid("no PEM CERTIFICATE block in it".to_owned()));
    }
    Ok(certs)
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// What a failed `https://` request most likely means, when it is about certificates: the
/// bare TLS errors ("connection closed", "received fatal alert") do not say what to change.
pub(crate) fn transport_hint(err: &reqwest::Error, client_identity: bool) -> Option<&'static str> {
    const REFUSED_CERT: [AlertDescription; 7] = [
        AlertDescription::BadCertificate,
        AlertDescription::UnsupportedCertificate,
        AlertDescription::CertificateRevoked,
        AlertDescription::CertificateExpired,
        AlertDescription::CertificateUnknown,
        AlertDescription::UnknownCA,
        AlertDescription::AccessDenied,
    ];
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) =
            rustls_error(e)
        {
            return Some(
                "the server's certificate is not issued by a trusted CA: neither the system \
                 roots nor the CA certificates given",
            );
        }
        match alert_received(e) {
            Some(AlertDescription::CertificateRequired) if !client_identity => {
                return Some("the server requires a client certificate and none was given")
            }
            Some(alert) if client_identity && REFUSED_CERT.contains(&alert) => {
                return Some("the server refused the client certificate")
            }
            _ => {}
        }
        // The server's alert can lose a race with the request: the client, done with its
        // side of the handshake, sends the request, and what it then sees is a closed
        // connection (a cancelled request, a broken pipe, a reset) and no alert.
        if !err.is_connect() && connection_dropped(e) {
            return Some(if client_identity {
                "the server closed the TLS connection; it may have refused the client \
                 certificate"
            } else {
                "the server closed the TLS connection; if it requires a client certificate, \
                 none was given"
            });
        }
        next = e.source();
    }
    None
}

/// Whether `e` says that the connection went away under a request.
fn connection_dropped(e: &(dyn StdError + 'static)) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    if let Some(h) = e.downcast_ref::<hyper::Error>() {
        return h.is_canceled() || h.is_incomplete_message();
    }
    e.downcast_ref::<std::io::Error>().is_some_and(|io| {
        matches!(
            io.kind(),
            BrokenPipe | ConnectionAborted | ConnectionReset | UnexpectedEof
        )
    })
}

/// The rustls error inside `e`, also when wrapped in (nested) `io::Error`s, whose `source`
/// skips the wrapped error itself.
fn rustls_error<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut e: &(dyn StdError + 'static) = e;
    loop {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        e = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

/// The fatal alert the server sent, if `e` is about one. HTTP/2 keeps I/O errors as text
/// (h2 clones them), so the rustls error may survive only as its message.
fn alert_received(e: &(dyn StdError + 'static)) -> Option<AlertDescription> {
    if let Some(rustls::Error::AlertReceived(alert)) = rustls_error(e) {
        return Some(*alert);
    }
    let io = e.downcast_ref::<std::io::Error>()?;
    let text = io.get_ref()?.to_string();
    let name = text.strip_prefix("received fatal alert: ")?;
    (0..=u8::MAX)
        .map(AlertDescription::from)
        .find(|alert| format!("{alert:?}") == name)
}
