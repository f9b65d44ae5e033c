//! `vendor-mock serve` as a test harness starts it: on port 0, reading the bound address
//! from stdout.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use bytes::Bytes;

use crate::support::send;

/// A server process, killed when dropped (also when an assertion fails first).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the binary with `args` and read its stdout until `n` "listening on" lines.
async fn serve(args: &[&str], n: usize) -> (Running, Vec<String>) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut child = Running(
            Command::new(env!("CARGO_BIN_EXE_vendor-mock"))
                .arg("serve")
                .args(&args)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("vendor-mock starts"),
        );
        let mut out = BufReader::new(child.0.stdout.take().unwrap());
        let mut lines = Vec::new();
        while lines.len() < n {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap() == 0 {
                break;
            }
            lines.push(line.trim_end().to_string());
        }
        (child, lines)
    })
    .await
    .unwrap()
}

/// The address in a `listening on http://ADDR…` line.
fn address(line: &str) -> String {
    let rest = line
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("not a listening line: {line:?}"));
    rest.split(' ').next().unwrap().to_string()
}

#[tokio::test]
async fn serve_on_port_0_prints_the_bound_address_and_answers_there() {
    let (_server, lines) = serve(&["--listen", "127.0.0.1:0"], 1).await;
    let addr = address(&lines[0]);
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );
    let r = send(
        &format!("http://{addr}"),
        "GET",
        "/__admin/health",
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn localhost_and_bare_port_listen_addresses_are_accepted_and_each_listener_is_printed() {
    let (_server, lines) = serve(
        &["--listen", "localhost:0", "--vendor-listen", "credeau=:0"],
        2,
    )
    .await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    let main = address(&lines[0]);
    assert!(main.starts_with("127.0.0.1:"), "{main}");
    // Bound to every interface: the URL printed is the loopback one, a harness can
    // connect to it as it is.
    let own = address(&lines[1]);
    assert!(own.starts_with("127.0.0.1:"), "{own}");
    let port = own.rsplit_once(':').unwrap().1;
    assert!(
        lines[1].ends_with(&format!(
            " (credeau at the root; every interface: 0.0.0.0:{port})"
        )),
        "{lines:?}"
    );
    let r = send(
        &format!("http://{own}"),
        "GET",
        "/health",
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(
        &format!("http://{main}"),
        "GET",
        "/credeau/health",
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn a_listen_address_of_another_form_is_refused_before_starting() {
    let out = tokio::task::spawn_blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_vendor-mock"))
            .args(["serve", "--listen", "example.com:80"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("localhost:PORT or :PORT"), "{stderr}");
}
