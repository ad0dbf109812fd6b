//! `Tcp` over real loopback sockets: data arrives whole and in order through short
//! reads and writes (the readiness bookkeeping), end of stream reads as 0, and a
//! closed peer is an error rather than a signal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use gantry_tcp::Tcp;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn pair() -> (Tcp, Tcp) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (Tcp::from(client.unwrap()), Tcp::from(accepted.unwrap().0))
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test]
async fn large_transfer_arrives_whole_through_short_reads_and_writes() {
    let (mut a, mut b) = pair().await;
    // Far more than the socket buffers hold: writes block and go short, reads come
    // in pieces smaller than what is buffered.
    let data = pattern(16 * 1024 * 1024);
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        a.write_all(&sent).await.unwrap();
        a.shutdown().await.unwrap();
    });
    let mut got = Vec::with_capacity(data.len());
    let mut buf = vec![0u8; 3000];
    let reading = async {
        loop {
            let n = b.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("a lost readiness wake-up would hang here");
    writer.await.unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "bytes arrived out of order or changed");
}

#[tokio::test]
async fn vectored_write_sends_every_slice_in_order() {
    let (mut a, mut b) = pair().await;
    let head = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n";
    let slices = [std::io::IoSlice::new(head), std::io::IoSlice::new(b"hello")];
    assert!(a.is_write_vectored());
    let n = a.write_vectored(&slices).await.unwrap();
    assert_eq!(n, head.len() + 5);
    drop(a);
    let mut got = Vec::new();
    b.read_to_end(&mut got).await.unwrap();
    assert_eq!(&got[..head.len()], head);
    assert_eq!(&got[head.len()..], b"hello");
}

#[tokio::test]
async fn a_read_waits_for_data_then_sees_it() {
    let (mut a, mut b) = pair().await;
    let reader = tokio::spawn(async move {
        let mut buf = [0u8; 16];
        let n = b.read(&mut buf).await.unwrap();
        buf[..n].to_vec()
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !reader.is_finished(),
        "read returned before any data was sent"
    );
    a.write_all(b"ping").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"ping");
}

#[tokio::test]
async fn end_of_stream_reads_as_zero_every_time() {
    let (a, mut b) = pair().await;
    drop(a);
    let mut buf = [0u8; 8];
    assert_eq!(b.read(&mut buf).await.unwrap(), 0);
    assert_eq!(b.read(&mut buf).await.unwrap(), 0);
}

#[tokio::test]
async fn writing_to_a_closed_peer_fails_without_killing_the_process() {
    let (mut a, b) = pair().await;
    drop(b);
    // The peer's close, then its reset on our next write, then the error.
    let mut failed = false;
    for _ in 0..50 {
        if a.write_all(&[0u8; 65536]).await.is_err() {
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(failed, "writes to a closed peer kept succeeding");
}

#[tokio::test]
async fn a_write_refused_by_a_full_buffer_waits_then_writes_go_straight_again() {
    let (mut a, mut b) = pair().await;
    // The peer reads nothing: writes fill both socket buffers, then one is refused
    // and the writer must wait for readiness instead of spinning or failing.
    let chunk = pattern(64 * 1024);
    let mut written = 0usize;
    loop {
        match tokio::time::timeout(Duration::from_millis(200), a.write(&chunk)).await {
            Ok(n) => written += n.unwrap(),
            Err(_) => break, // pending: the buffer is full
        }
        assert!(written < 256 * 1024 * 1024, "writes never blocked");
    }
    // Drain everything; the pending writer's readiness must come back.
    let tail = b"after the stall";
    let writer = tokio::spawn(async move {
        a.write_all(&chunk).await.unwrap();
        // Whole writes again: these go straight to the socket.
        for _ in 0..3 {
            a.write_all(tail).await.unwrap();
        }
        a.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), b.read_to_end(&mut got))
        .await
        .expect("a write waiting on a full buffer was never woken")
        .unwrap();
    writer.await.unwrap();
    let expected = written + 64 * 1024 + 3 * tail.len();
    assert_eq!(got.len(), expected);
    assert!(got.ends_with(b"after the stallafter the stallafter the stall"));
}
