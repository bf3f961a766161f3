//! Who may write, checked against the real `cairn serve`: every write on the public port is
//! 405; the internal port refuses a missing or wrong bearer token (401) and a peer outside the
//! allow-list (403, before the token is even looked at); with mTLS, a client without a
//! certificate, with one from a foreign CA, or speaking plain HTTP fails the TLS handshake, and
//! only the right certificate plus the token gets 200; every refusal is counted in
//! `cairn_auth_failures_total{reason=...}`; and no refused request stores anything.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use reqwest::blocking::Client;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

fn failures(server: &Server, reason: &str) -> u64 {
    metric(
        &server.metrics(),
        &format!("cairn_auth_failures_total{{reason=\"{reason}\"}}"),
    )
}

#[test]
fn public_port_is_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let token = server.token();
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        for path in [
            "/v1/entries",
            "/v1/entries/batch",
            "/checkpoint",
            "/tile/0/000",
            "/tile/entries/000",
            "/v1/proof/inclusion?index=0",
            "/v1/entries/0",
            "/vkey",
            "/metrics",
            "/no/such/route",
        ] {
            let resp = server
                .client()
                .request(method.clone(), format!("{}{path}", server.public))
                .header(AUTHORIZATION, format!("Bearer {token}"))
                .body("user=mallory action=rewrite-history")
                .send()
                .unwrap();
            assert_error(
                resp,
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                &format!("{method} {path} on the public port"),
            );
        }
    }
    assert_eq!(
        server.checkpoint().size,
        0,
        "a public write stored something"
    );
    // Reads still work, and the write port still takes entries.
    server.submit(b"after the attempts");
    assert_eq!(server.checkpoint().size, 1);
}

#[test]
fn internal_port_needs_the_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let url = format!("{}/v1/entries", server.internal);
    let token = server.token();
    let c = server.client();
    let attempts: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("a Basic credential", Some(format!("Basic {token}"))),
        ("lowercase scheme", Some(format!("bearer {token}"))),
        ("wrong token", Some("Bearer cairn_0000".to_string())),
        ("token with a suffix", Some(format!("Bearer {token}x"))),
        ("empty token", Some("Bearer ".to_string())),
        (
            "token prefix",
            Some(format!("Bearer {}", &token[..token.len() - 1])),
        ),
    ];
    for (what, auth) in &attempts {
        let mut req = c.post(&url).body("forged");
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a);
        }
        let resp = req.send().unwrap();
        assert_eq!(
            resp.headers().get(WWW_AUTHENTICATE).map(|v| v.as_bytes()),
            Some(&b"Bearer"[..]),
            "{what}"
        );
        assert_error(resp, StatusCode::UNAUTHORIZED, "unauthorized", what);
    }
    // The batch route and the metrics are guarded too.
    let resp = c
        .post(format!("{}/v1/entries/batch", server.internal))
        .body(r#"{"entries":["Zm9yZ2Vk"]}"#)
        .send()
        .unwrap();
    assert_error(resp, StatusCode::UNAUTHORIZED, "unauthorized", "batch");
    let resp = c
        .get(format!("{}/metrics", server.internal))
        .send()
        .unwrap();
    assert_error(resp, StatusCode::UNAUTHORIZED, "unauthorized", "metrics");
    // Health checks stay open for load balancers.
    let resp = c
        .get(format!("{}/healthz", server.internal))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    assert_eq!(
        server.checkpoint().size,
        0,
        "a refused write stored something"
    );
    let r = server.submit(b"with the token");
    assert_eq!(r.index, 0);

    // No header, Basic, lowercase scheme, the empty token (HTTP trims it to a bare "Bearer"),
    // batch and metrics had no bearer token; the other three presented a wrong one.
    assert_eq!(failures(&server, "missing_token"), 6);
    assert_eq!(failures(&server, "bad_token"), 3);
    assert_eq!(failures(&server, "network_not_allowed"), 0);
}

#[test]
fn peers_outside_the_allow_list_get_403() {
    let dir = tempfile::tempdir().unwrap();
    // 127.0.0.1 is outside; 127.0.0.2 (also loopback) is the one allowed host.
    let server = Server::start(dir.path(), &["--internal-allow", "10.0.0.0/8,127.0.0.2/32"]);
    let from = |ip: [u8; 4]| {
        client_builder()
            .local_address(IpAddr::V4(Ipv4Addr::from(ip)))
            .build()
            .unwrap()
    };
    let outside = from([127, 0, 0, 1]);
    let token = server.token();
    let url = format!("{}/v1/entries", server.internal);
    for (what, auth) in [
        ("right token", Some(token.clone())),
        ("wrong token", Some("nope".to_string())),
        ("no token", None),
    ] {
        let mut req = outside.post(&url).body("from outside");
        if let Some(t) = auth {
            req = req.bearer_auth(t);
        }
        // The network is checked first: 403 whatever the token.
        assert_error(
            req.send().unwrap(),
            StatusCode::FORBIDDEN,
            "forbidden",
            what,
        );
    }
    let resp = outside
        .get(format!("{}/metrics", server.internal))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_error(resp, StatusCode::FORBIDDEN, "forbidden", "metrics");
    // The public port is for everyone.
    let resp = outside
        .get(format!("{}/checkpoint", server.public))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        server.checkpoint().size,
        0,
        "a refused write stored something"
    );

    let server = server.with_client(from([127, 0, 0, 2]));
    let r = server.submit(b"from the allowed host");
    assert_eq!(r.index, 0);
    assert_eq!(failures(&server, "network_not_allowed"), 4);
    assert_eq!(failures(&server, "missing_token"), 0);
    assert_eq!(failures(&server, "bad_token"), 0);
}

/// A CA, and a certificate it issued for `names` (server) or for a client.
struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Pki {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Returns (certificate PEM, private key PEM).
    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "cairn e2e");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn tls_client(ca_pem: &str, identity: Option<&(String, String)>) -> Client {
    let mut b = client_builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()]);
    if let Some((cert, key)) = identity {
        b = b.identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
    }
    b.build().unwrap()
}

#[test]
fn mutual_tls_on_the_internal_port() {
    let pki_dir = tempfile::tempdir().unwrap();
    let ours = Pki::new("cairn e2e CA");
    let foreign = Pki::new("someone else's CA");
    let server_cert = ours.issue(
        &["127.0.0.1", "localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let client_cert = ours.issue(&["writer.internal"], ExtendedKeyUsagePurpose::ClientAuth);
    let foreign_cert = foreign.issue(&["writer.internal"], ExtendedKeyUsagePurpose::ClientAuth);
    let d = pki_dir.path();
    let (cert, key) = (
        write(d, "server.pem", &server_cert.0),
        write(d, "server.key", &server_cert.1),
    );
    let ca = write(d, "ca.pem", &ours.ca_pem);

    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            "--internal-tls-cert",
            &cert,
            "--internal-tls-key",
            &key,
            "--internal-client-ca",
            &ca,
            "--public-tls-cert",
            &cert,
            "--public-tls-key",
            &key,
        ],
    );
    assert!(
        server.public.starts_with("https://127.0.0.1:"),
        "{}",
        server.public
    );
    assert!(
        server.internal.starts_with("https://127.0.0.1:"),
        "{}",
        server.internal
    );
    let server = server.with_client(tls_client(&ours.ca_pem, Some(&client_cert)));
    let token = server.token();
    let url = format!("{}/v1/entries", server.internal);

    // Refused at the handshake, token or not; each counted.
    let refused: Vec<(&str, Client, String)> = vec![
        (
            "no client certificate",
            tls_client(&ours.ca_pem, None),
            url.clone(),
        ),
        (
            "a certificate from a foreign CA",
            tls_client(&ours.ca_pem, Some(&foreign_cert)),
            url.clone(),
        ),
        ("plain HTTP", http(), url.replacen("https://", "http://", 1)),
    ];
    for (n, (what, client, url)) in refused.into_iter().enumerate() {
        let result = client.post(&url).bearer_auth(&token).body(what).send();
        assert!(
            result.is_err(),
            "{what}: got {:?}",
            result.map(|r| r.status())
        );
        // The server counts the failed handshake (perhaps just after the client saw it fail).
        poll(
            &format!("the handshake failure ({what}) to be counted"),
            || (failures(&server, "tls_handshake_failed") > n as u64).then_some(()),
        );
    }
    assert_eq!(
        server.checkpoint().size,
        0,
        "a refused write stored something"
    );

    // The right certificate still needs the token.
    let resp = server
        .client()
        .post(&url)
        .body("certificate, no token")
        .send()
        .unwrap();
    assert_error(
        resp,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "cert without token",
    );
    // Certificate and token: accepted, and the receipt verifies.
    let r = server.submit(b"certificate and token");
    assert_eq!(r.index, 0);
    let cp = server.checkpoint();
    assert_eq!(cp.size, 1);
    check_inclusion(
        &b64_hashes(&r.inclusion_proof),
        &open_checkpoint(&r.checkpoint, &server.file_vkey()),
        0,
        tlog_tiles::record_hash(b"certificate and token"),
    );

    // The public port needs no client certificate, only TLS.
    let anyone = tls_client(&ours.ca_pem, None);
    let resp = anyone
        .get(format!("{}/checkpoint", server.public))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let seen = open_checkpoint(&resp.text().unwrap(), &server.file_vkey());
    assert_eq!((seen.size, seen.root), (cp.size, cp.root));

    assert_eq!(failures(&server, "tls_handshake_failed"), 3);
    assert_eq!(failures(&server, "missing_token"), 1);
}
