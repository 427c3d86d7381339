//! Process helpers for the binary's tests (`tests/cli.rs`): a temporary directory, the binary
//! with a clean environment, and a real server on a free port.

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

pub const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

pub fn temp_dir() -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("gatehouse-cli-{}", gatehouse::security::tokens::random_hex(6)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the binary in `dir` with a clean environment plus `env` (an empty value removes the
/// variable).
pub fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.env("NO_COLOR", "1").env("RUST_LOG", "info");
    for (k, v) in env {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    cmd
}

pub fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(dir, args, env).output().expect("binary runs")
}

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn http(port: u16, request: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

pub const HEALTH: &str = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// The binary serving from `dir` on a free port (its log to `stdout`), once it answers.
pub fn serve(dir: &Path, stdout: Stdio) -> (Server, u16) {
    serve_with(dir, stdout, &[])
}

/// As [`serve`], with `env` added to its environment.
pub fn serve_with(dir: &Path, stdout: Stdio, env: &[(&str, &str)]) -> (Server, u16) {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let env: Vec<(&str, &str)> = [("BIND", bind.as_str())].into_iter().chain(env.iter().copied()).collect();
    let child = command(dir, &[], &env).stdout(stdout).stderr(Stdio::null()).spawn().unwrap();
    let server = Server(child);
    let start = Instant::now();
    while http(port, HEALTH).is_none() {
        assert!(start.elapsed() < Duration::from_secs(20), "server did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, port)
}
