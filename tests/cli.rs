//! (Over 400 lines: each test drives the real binary, most against a running server; their
//! process helpers are in `cli_support`.)
//!
//! The `gatehouse` binary as an operator meets it: `--help`, start-up refusals, `migrate`, and a
//! real server on a TCP port that stops cleanly on SIGTERM.

// Tests of the binary wait in real time for a real process (clippy.toml forbids that in the server).
#![allow(clippy::disallowed_methods)]

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::Stdio,
    time::{Duration, Instant},
};

mod cli_support;
use cli_support::*;

#[test]
fn help_explains_both_commands() {
    let out = run(&temp_dir(), &["--help"], &[]);
    assert!(out.status.success());
    let help = text(&out);
    assert!(help.contains("serve") && help.contains("migrate"), "{help}");
}

#[test]
fn bad_setting_stops_start_up_naming_it() {
    let dir = temp_dir();
    for (key, value) in
        [("SESSION_EXPIRES_IN", "soon"), ("BIND", "not-an-address"), ("DATABASE_URL", "mysql://x")]
    {
        let out = run(&dir, &["serve"], &[(key, value)]);
        assert!(!out.status.success(), "{key} accepted");
        assert!(text(&out).contains(key), "{key}: {}", text(&out));
    }
}

#[test]
fn public_base_url_without_secret_refuses_to_start() {
    let dir = temp_dir();
    let out =
        run(&dir, &["serve"], &[("BASE_URL", "https://auth.example.com"), ("MAIL_TRANSPORT", "outbox")]);
    assert!(!out.status.success());
    assert!(text(&out).contains("BETTER_AUTH_SECRET"), "{}", text(&out));
    assert!(!dir.join("gatehouse.db").exists(), "nothing created before refusing");
}

#[test]
fn public_base_url_without_smtp_refuses_to_start() {
    let dir = temp_dir();
    let secret = ("BETTER_AUTH_SECRET", "0123456789abcdef0123456789abcdef");
    let out = run(&dir, &["serve"], &[("BASE_URL", "https://auth.example.com"), secret]);
    assert!(!out.status.success());
    assert!(text(&out).contains("SMTP_URL"), "{}", text(&out));
    assert!(!dir.join("gatehouse.db").exists(), "nothing created before refusing");
}

#[test]
fn migrate_creates_the_sqlite_database() {
    let dir = temp_dir();
    let out = run(&dir, &["migrate"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(dir.join("gatehouse.db").exists());
    // Idempotent.
    assert!(run(&dir, &["migrate"], &[]).status.success());
}

#[test]
fn serves_over_tcp_with_a_generated_dev_secret_and_stops_on_sigterm() {
    let dir = temp_dir();
    let (mut server, port) = serve(&dir, Stdio::piped());
    let health = http(port, HEALTH).unwrap();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("\"database\":\"connected\""), "{health}");
    assert!(dir.join("gatehouse.db").exists(), "SQLite created on first start");
    let secret = std::fs::read_to_string(dir.join(".gatehouse-secret")).expect("dev secret kept");
    assert!(secret.trim().len() >= 32);

    let body = r#"{"name":"Cli","email":"cli@example.com","password":"correct-horse-battery"}"#;
    let signup = http(
        port,
        &format!(
            "POST /api/auth/sign-up/email HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .unwrap();
    assert!(signup.starts_with("HTTP/1.1 200"), "{signup}");
    assert!(signup.contains("\"ipAddress\":\"127.0.0.1\""), "peer address recorded: {signup}");

    // SIGTERM: graceful shutdown, exit code 0.
    let pid = i32::try_from(server.0.id()).unwrap();
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut log = String::new();
    server.0.stdout.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(status.success(), "exit {status:?}: {log}");
    assert!(log.contains("BETTER_AUTH_SECRET is not set"), "dev secret warning: {log}");
    assert!(log.contains("gatehouse stopped"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn subscription_set_and_show() {
    let dir = temp_dir();
    let out = run(
        &dir,
        &["subscription", "set", "--reference", "user-1", "--plan", "pro", "--until", "2999-01-31"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["isSubscribed"], true);
    assert_eq!(shown["productId"], "pro");
    assert_eq!(shown["periodEnd"], "2999-01-31T00:00:00.000Z");
    let out = run(
        &dir,
        &["subscription", "set", "--reference", "user-1", "--plan", "pro", "--status", "canceled"],
        &[],
    );
    assert!(out.status.success());
    let out = run(&dir, &["subscription", "show", "--reference", "user-1"], &[]);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["subscription"]["isSubscribed"], false);
    assert_eq!(shown["subscription"]["status"], "canceled");
    let out =
        run(&dir, &["subscription", "set", "--reference", "u", "--plan", "p", "--until", "someday"], &[]);
    assert!(!out.status.success() && text(&out).contains("--until"), "{}", text(&out));
}

/// Writes `head` and then `parts` to a new connection, all of it (a failed write fails the test),
/// and reads the answer until the server closes the connection. The parts go out 10 ms apart, as
/// from a client on a real network: a server that answers early and closes is seen doing so.
fn send_all(port: u16, head: &str, parts: &[Vec<u8>]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    for (i, part) in parts.iter().enumerate() {
        std::thread::sleep(Duration::from_millis(10));
        stream.write_all(part).unwrap_or_else(|e| panic!("write {i} of {} failed: {e}", parts.len()));
    }
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap_or_else(|e| panic!("reading the answer failed: {e}"));
    response
}

fn assert_readable_413(response: &str) {
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.to_ascii_lowercase().contains("\r\nconnection: close"), "{head}");
    let body: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(body["code"], "PAYLOAD_TOO_LARGE", "{body}");
}

#[test]
fn oversized_body_gets_a_413_the_client_can_read() {
    let dir = temp_dir();
    let (_server, port) = serve(&dir, Stdio::null());
    let name = "x".repeat(200 * 1024);
    let body = format!(r#"{{"name":"{name}","email":"big@example.com","password":"correct-horse-battery"}}"#);
    let post = "POST /api/auth/sign-up/email HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";

    // Declared too large: the server reads the body before answering.
    let head = format!("{post}Content-Length: {}\r\n\r\n", body.len());
    let parts: Vec<Vec<u8>> = body.as_bytes().chunks(16 * 1024).map(<[u8]>::to_vec).collect();
    assert_readable_413(&send_all(port, &head, &parts));

    // Chunked: found too large while reading; the rest is read too.
    let head = format!("{post}Transfer-Encoding: chunked\r\n\r\n");
    let mut parts: Vec<Vec<u8>> = body
        .as_bytes()
        .chunks(16 * 1024)
        .map(|c| [format!("{:x}\r\n", c.len()).as_bytes(), c, b"\r\n"].concat())
        .collect();
    parts.push(b"0\r\n\r\n".to_vec());
    assert_readable_413(&send_all(port, &head, &parts));

    // A client waiting on `Expect: 100-continue` is answered at once, without sending the body.
    let head = format!("{post}Content-Length: {}\r\nExpect: 100-continue\r\n\r\n", body.len());
    assert_readable_413(&send_all(port, &head, &[]));

    // Nothing was stored, and the server still answers.
    let signup = r#"{"name":"Cli","email":"big@example.com","password":"correct-horse-battery"}"#;
    let res =
        http(port, &format!("{post}Content-Length: {}\r\nConnection: close\r\n\r\n{signup}", signup.len()))
            .unwrap();
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reads one HTTP/1.1 response (headers and a `Content-Length` body) from a kept-alive stream;
/// its status code.
fn read_response(reader: &mut std::io::BufReader<TcpStream>) -> u16 {
    use std::io::BufRead;
    let (mut status, mut length) = (0, 0);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "connection closed mid-response");
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some(rest) = l.strip_prefix("HTTP/1.1 ") {
            status = rest[..3].parse().unwrap();
        } else if let Some((name, value)) = l.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    status
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn sign_in(port: u16, email: &str, password: &str) -> String {
    let body = format!(r#"{{"email":"{email}","password":"{password}"}}"#);
    let request = format!(
        "POST /api/auth/sign-in/email HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    http(port, &request).unwrap()
}

/// A flood of requests to paths that match no route (each one new) neither grows the server's
/// memory without bound nor evicts a lockout: they all count in one bucket per client, and
/// lockouts are not kept in the rate-limit counters at all.
#[test]
fn a_flood_of_unknown_paths_keeps_memory_and_lockouts() {
    let dir = temp_dir();
    let (server, port) = serve(&dir, Stdio::null());
    let email = "flooded@example.com";
    let body = format!(r#"{{"name":"F","email":"{email}","password":"correct-horse-battery"}}"#);
    let sign_up = format!(
        "POST /api/auth/sign-up/email HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert!(http(port, &sign_up).unwrap().starts_with("HTTP/1.1 200"));
    for _ in 0..10 {
        assert!(sign_in(port, email, "wrong-password").starts_with("HTTP/1.1 401"));
    }
    assert!(sign_in(port, email, "correct-horse-battery").contains("ACCOUNT_LOCKED"));

    let pid = server.0.id();
    let before = rss_kib(pid);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut writer = stream.try_clone().unwrap();
                let mut reader = std::io::BufReader::new(stream);
                let mut statuses = std::collections::HashMap::<u16, u32>::new();
                for i in 0..25_000 {
                    let request = format!("GET /api/auth/flood-{t}-{i}/x{i} HTTP/1.1\r\nHost: x\r\n\r\n");
                    writer.write_all(request.as_bytes()).unwrap();
                    *statuses.entry(read_response(&mut reader)).or_default() += 1;
                }
                statuses
            })
        })
        .collect();
    let mut statuses = std::collections::HashMap::<u16, u32>::new();
    for t in threads {
        for (status, n) in t.join().unwrap() {
            *statuses.entry(status).or_default() += n;
        }
    }
    let after = rss_kib(pid);
    eprintln!("flood of 100,000 unknown paths: {statuses:?}; RSS {before} KiB before, {after} KiB after");
    assert_eq!(statuses.values().sum::<u32>(), 100_000);
    assert!(statuses.keys().all(|s| *s == 404 || *s == 429), "{statuses:?}");
    assert!(statuses.get(&429).copied().unwrap_or(0) > 90_000, "one bucket for all of them: {statuses:?}");
    assert!(after < before + 20 * 1024, "RSS grew from {before} KiB to {after} KiB");
    // The lockout is still in force.
    assert!(sign_in(port, email, "correct-horse-battery").contains("ACCOUNT_LOCKED"));
}

fn sign_up_with_key(port: u16, key: &str, email: &str) -> String {
    let body = format!(r#"{{"name":"App","email":"{email}","password":"correct-horse-battery"}}"#);
    let request = format!(
        "POST /api/auth/sign-up/email HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nx-api-key: {key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    http(port, &request).unwrap_or_default()
}

fn session_with_key(port: u16, key: &str) -> String {
    let request = format!(
        "GET /api/auth/get-session HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\nConnection: close\r\n\r\n"
    );
    http(port, &request).unwrap_or_default()
}

/// Polls `check` (every 100 ms, 10 s at most): a running server sees the CLI's changes within
/// seconds.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}: not within 10 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn apps_from_the_command_line_reach_a_running_server() {
    let dir = temp_dir();
    let (_server, port) = serve(&dir, Stdio::null());
    let out =
        run(&dir, &["apps", "create", "Alpha App", "--origin", "https://alpha.example/", "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let (id, key) = (created["id"].as_str().unwrap(), created["key"].as_str().unwrap().to_string());
    eventually("a new key", || session_with_key(port, &key).starts_with("HTTP/1.1 200"));
    assert!(sign_up_with_key(port, &key, "ann@example.com").starts_with("HTTP/1.1 200"));
    assert!(sign_up_with_key(port, &key, "ann@example.com").starts_with("HTTP/1.1 409"), "unique in the app");

    let list = text(&run(&dir, &["apps", "list"], &[]));
    assert!(list.contains(id) && list.contains("alpha-app") && list.contains("users 1"), "{list}");
    assert!(list.contains("https://alpha.example") && !list.contains(&key), "{list}");
    let out = run(&dir, &["apps", "set", "alpha-app", "PASSWORD_MIN_LENGTH=12", "JWT_AUDIENCE=api"], &[]);
    assert!(out.status.success() && text(&out).contains("\"jwtAudience\":\"api\""), "{}", text(&out));
    let out = run(&dir, &["apps", "set", "alpha-app", "COLOUR=blue"], &[]);
    assert!(!out.status.success() && text(&out).contains("not an app setting"), "{}", text(&out));

    let out = run(&dir, &["apps", "key", "rotate", id], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let new_key = String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().to_string();
    eventually("the rotated key", || session_with_key(port, &new_key).starts_with("HTTP/1.1 200"));
    assert!(sign_up_with_key(port, &new_key, "bob@example.com").starts_with("HTTP/1.1 200"));
    let listed: serde_json::Value =
        serde_json::from_slice(&run(&dir, &["apps", "list", "--json"], &[]).stdout).unwrap();
    let old_id = listed[0]["keys"][0]["id"].as_str().unwrap().to_string();
    let out = run(&dir, &["apps", "key", "revoke", &old_id], &[]);
    assert!(out.status.success(), "{}", text(&out));
    eventually("the revocation", || session_with_key(port, &key).starts_with("HTTP/1.1 401"));
    assert!(sign_up_with_key(port, &new_key, "cy@example.com").starts_with("HTTP/1.1 200"));

    let out = run(&dir, &["apps", "delete", "alpha-app"], &[]);
    assert!(!out.status.success() && text(&out).contains("--with-users"), "{}", text(&out));
    let out = run(&dir, &["apps", "delete", "alpha-app", "--with-users"], &[]);
    assert!(out.status.success() && text(&out).contains("with 3 users"), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn users_and_audit_from_the_command_line() {
    let dir = temp_dir();
    // Nothing listens there: the changes' webhook deliveries wait in the outbox.
    let hooks =
        [("WEBHOOK_URLS", "http://127.0.0.1:9/hook"), ("WEBHOOK_SECRET", "cli-webhook-secret-0123456789")];
    let users = |args: &[&str]| {
        let mut all = vec!["users"];
        all.extend_from_slice(args);
        run(&dir, &all, &hooks)
    };
    let out = users(&[
        "create",
        "--email",
        "Ops@Example.com",
        "--name",
        "Ops",
        "--password",
        "ops-password-123",
        "--role",
        "admin",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (created["email"].as_str(), created["role"].as_str()),
        (Some("ops@example.com"), Some("admin"))
    );
    let id = created["id"].as_str().unwrap().to_string();
    assert!(!users(&["create", "--email", "ops@example.com", "--name", "Again"]).status.success());
    assert!(
        !users(&["create", "--email", "x@example.com", "--name", "X", "--role", "root"]).status.success()
    );
    let list = text(&users(&["list", "--search", "ops"]));
    assert!(list.starts_with("1 users") && list.contains(&id), "{list}");
    assert!(text(&users(&["show", "ops@example.com"])).contains("0 live sessions"));
    assert!(users(&["set-role", &id, "user"]).status.success());
    let banned = users(&["ban", "ops@example.com", "--reason", "testing", "--for", "3600"]);
    assert!(banned.status.success() && text(&banned).contains("\"banned\": true"), "{}", text(&banned));
    assert!(text(&users(&["list"])).contains("BANNED"));
    assert!(users(&["unban", &id]).status.success());
    let short = users(&["set-password", &id, "short"]);
    assert!(!short.status.success() && text(&short).contains("too short"), "{}", text(&short));
    assert!(users(&["set-password", &id, "another-password-1"]).status.success());
    // From standard input, out of the process list.
    let mut child =
        command(&dir, &["users", "set-password", &id, "-"], &[]).stdin(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"typed-password-42\n").unwrap();
    assert!(child.wait().unwrap().success());
    assert!(text(&users(&["revoke-sessions", &id])).contains("0 sessions"));
    assert!(!users(&["show", "nobody@example.com"]).status.success());
    let tail = text(&run(&dir, &["audit", "tail", "--user", &id], &[]));
    for action in
        ["user-created", "role-changed", "user-banned", "user-unbanned", "password-set", "sessions-revoked"]
    {
        assert!(tail.contains(action), "{action} in {tail}");
    }
    assert!(tail.contains("\"via\":\"cli\""), "{tail}");
    assert!(users(&["delete", &id]).status.success());
    assert!(run(&dir, &["keys", "rotate"], &[]).status.success());
    let tail = text(&run(&dir, &["audit", "tail"], &[]));
    assert!(tail.contains("user-removed") && tail.contains("signing-key-rotated"), "{tail}");
    let listed = run(&dir, &["webhooks", "list", "--json"], &[]);
    let deliveries: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    let types: Vec<_> = deliveries.iter().rev().map(|d| d["type"].as_str().unwrap()).collect();
    assert_eq!(types[..3], ["user.created", "user.updated", "user.banned"], "{types:?}");
    assert_eq!(types.last(), Some(&"user.deleted"));
    assert!(deliveries.iter().all(|d| d["state"] == "pending" && d["url"] == "http://127.0.0.1:9/hook"));
    let replayed = run(&dir, &["webhooks", "replay", deliveries[0]["eventId"].as_str().unwrap()], &[]);
    assert!(replayed.status.success() && text(&replayed).contains("1 delivery"), "{}", text(&replayed));
    assert!(!run(&dir, &["webhooks", "replay", "nothing-of-that-id"], &[]).status.success());
    assert!(!run(&dir, &["webhooks", "list", "--state", "lost"], &[]).status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Stops `server` (SIGTERM) and returns what it wrote to its standard output.
fn stop(mut server: Server) -> String {
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(i32::try_from(server.0.id()).unwrap(), libc::SIGTERM) }, 0);
    let _ = server.0.wait();
    let mut log = String::new();
    server.0.stdout.take().unwrap().read_to_string(&mut log).unwrap();
    log
}

#[test]
fn json_logs_parse_and_carry_the_request_id() {
    let dir = temp_dir();
    let env = [("LOG_FORMAT", "json"), ("RUST_LOG", "info,tower_http=debug")];
    let (server, port) = serve_with(&dir, Stdio::piped(), &env);
    let asked = "GET /api/auth/ok HTTP/1.1\r\nHost: x\r\nX-Request-Id: probe-42\r\nConnection: close\r\n\r\n";
    let answer = http(port, asked).unwrap();
    assert!(answer.to_ascii_lowercase().contains("x-request-id: probe-42"), "{answer}");
    // A token in the path is not logged: the route's pattern is.
    http(
        port,
        "GET /api/auth/reset-password/path-token-1234?callbackURL=/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    // Without one (or with one that is not a plain token), the server makes one up.
    let answer =
        http(port, "GET /api/auth/ok HTTP/1.1\r\nHost: x\r\nX-Request-Id: a b\r\nConnection: close\r\n\r\n")
            .unwrap();
    let made = answer
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("x-request-id: ").map(str::to_string));
    assert!(made.is_some_and(|id| id != "a b" && !id.is_empty()), "{answer}");
    let log = stop(server);
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.iter().any(|l| l["span"]["request_id"] == "probe-42"), "{log}");
    assert!(!log.contains("path-token-1234"), "{log}");
    assert!(lines.iter().any(|l| l["span"]["route"] == "/api/auth/reset-password/{token}"), "{log}");
    assert!(lines.iter().any(|l| l["fields"]["message"] == "gatehouse stopped"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plain_logs_to_a_pipe_have_no_colour_codes() {
    let dir = temp_dir();
    let (server, port) = serve_with(&dir, Stdio::piped(), &[("NO_COLOR", "")]);
    http(port, HEALTH).unwrap();
    let log = stop(server);
    assert!(log.contains("gatehouse stopped") && !log.contains('\u{1b}'), "{log:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
