//! Connection limits on a running server: past `max_connections` a new connection is closed
//! at once, an idle connection is closed after `idle_timeout`, and slots come back.

use std::net::TcpListener;
use std::time::{Duration, Instant};

mod common;

use common::{new_log, options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends one keep-alive request and reads its response head; `None` if the server closed
/// the connection instead.
async fn healthz(conn: &mut TcpStream) -> Option<String> {
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .ok()?;
    let mut buf = vec![0u8; 4096];
    let n = conn.read(&mut buf).await.ok()?;
    (n > 0).then(|| String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Whether the server closes `conn` within `limit` (EOF or reset on a read).
async fn closed_within(conn: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(limit, conn.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_closed_and_idle_ones_time_out() {
    let log = new_log();
    let public = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = public.local_addr().unwrap();
    let idle = Duration::from_millis(1500);
    let options = options(public, 2, idle);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(cairn_api::serve(log, options, None, |_| {}, async {
        let _ = stopped.await;
    }));

    // Two connections take the two slots and are served.
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    for conn in [&mut first, &mut second] {
        let head = healthz(conn).await.expect("served");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    // A third is closed without an answer.
    let mut third = TcpStream::connect(addr).await.unwrap();
    assert!(healthz(&mut third).await.is_none(), "past the limit");

    // Idle past the timeout, the first two are closed, and their slots are free again.
    let started = Instant::now();
    assert!(
        closed_within(&mut first, idle * 4).await,
        "idle connection kept"
    );
    assert!(started.elapsed() >= idle / 2, "closed before it was idle");
    assert!(
        closed_within(&mut second, idle * 4).await,
        "idle connection kept"
    );
    let mut fourth = TcpStream::connect(addr).await.unwrap();
    let head = healthz(&mut fourth).await.expect("a freed slot");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_download_that_keeps_moving_is_not_cut_off() {
    // A 15 MB entry bundle read in small sips for longer than the idle timeout: bytes keep
    // moving, so the connection stays (a read timeout alone would cut it: hyper keeps a read
    // pending while it writes).
    let log = new_log();
    let entries: Vec<Vec<u8>> = (0..256u32)
        .map(|i| {
            let mut e = vec![b'x'; 60_000];
            e[..4].copy_from_slice(&i.to_be_bytes());
            e
        })
        .collect();
    log.submit_many(entries).await.unwrap();
    let public = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = public.local_addr().unwrap();
    let idle = Duration::from_millis(700);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(cairn_api::serve(
        log,
        options(public, 8, idle),
        None,
        |_| {},
        async {
            let _ = stopped.await;
        },
    ));
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /tile/entries/000 HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = conn.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
        let head_end = received.windows(4).position(|w| w == b"\r\n\r\n");
        if let Some(end) = head_end {
            let head = String::from_utf8_lossy(&received[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            if received.len() >= end + 4 + len {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert!(started.elapsed() > idle * 2, "the download was not slow");
    let body_start = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(
        received.len() - body_start,
        256 * 60_002,
        "cut off mid-body"
    );
    let _ = stop.send(());
}
