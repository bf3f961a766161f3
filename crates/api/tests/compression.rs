//! Entry bundles go out gzip-compressed to clients that accept it (tlog-tiles: bundles SHOULD
//! be compressed over HTTP), byte-identical once decompressed; everyone else gets them as
//! they are, and hash tiles are never compressed.

use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;

mod common;

use common::{new_log, options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// GETs `path` with the given extra header lines; returns the lower-cased head and the body.
async fn get(addr: std::net::SocketAddr, path: &str, extra: &str) -> (String, Vec<u8>) {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{extra}\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut all = Vec::new();
    conn.read_to_end(&mut all).await.unwrap();
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&all[..end]).to_lowercase();
    (head, all[end + 4..].to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_are_gzipped_for_clients_that_accept_it() {
    let log = new_log();
    // Audit events compress well: JSON with repeated field names.
    let entries: Vec<Vec<u8>> = (0..256)
        .map(|i| format!(r#"{{"actor":"svc-{}","action":"login","seq":{i}}}"#, i % 7).into_bytes())
        .collect();
    log.submit_many(entries).await.unwrap();
    let public = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = public.local_addr().unwrap();
    let options = options(public, 64, Duration::from_secs(60));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(cairn_api::serve(log, options, None, |_| {}, async {
        let _ = stopped.await;
    }));

    let (head, plain) = get(addr, "/tile/entries/000", "").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("content-encoding"), "{head}");
    let (head, gzipped) = get(addr, "/tile/entries/000", "Accept-Encoding: gzip\r\n").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("vary: accept-encoding"), "{head}");
    assert!(head.contains("immutable"), "{head}");
    // Chunked when compressed on the fly: undo the chunking, then the gzip.
    let mut body = Vec::new();
    let mut rest = gzipped.as_slice();
    if head.contains("transfer-encoding: chunked") {
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let len =
                usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16)
                    .unwrap();
            rest = &rest[line_end + 2..];
            if len == 0 {
                break;
            }
            body.extend_from_slice(&rest[..len]);
            rest = &rest[len + 2..];
        }
    } else {
        body = gzipped.clone();
    }
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(body.as_slice())
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain);
    assert!(
        body.len() * 3 < plain.len(),
        "{} of {}",
        body.len(),
        plain.len()
    );
    // Hash tiles: random bytes, sent as they are.
    let (head, tile) = get(addr, "/tile/0/000", "Accept-Encoding: gzip\r\n").await;
    assert!(!head.contains("content-encoding"), "{head}");
    assert_eq!(tile.len(), 256 * 32);
    let _ = stop.send(());
}
