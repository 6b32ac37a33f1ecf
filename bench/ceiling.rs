//! The stock client's ceiling: a trivial HTTP/1.1 server with just enough of the MLflow API for
//! `log_artifact` and `download_artifacts` (server-info, runs/get, the artifact list, a PUT that
//! discards the body, a GET that serves bytes from memory). Whatever time the client takes
//! against it is the client's own cost, the floor no real server can go under.
//!
//! Standard library only, so `rustc -O bench/ceiling.rs` builds it in seconds outside the
//! workspace. Usage: `ceiling PORT` (binds 127.0.0.1:PORT, one thread per connection).

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// Sizes of the bodies PUT so far, so a GET of the same path answers as many bytes.
type Sizes = Arc<Mutex<HashMap<String, u64>>>;

const CHUNK: usize = 1 << 20;

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("usage: ceiling PORT");
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let sizes: Sizes = Arc::default();
    let zeros: Arc<Vec<u8>> = Arc::new(vec![b'x'; CHUNK]);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let sizes = sizes.clone();
        let zeros = zeros.clone();
        thread::spawn(move || {
            let _ = serve(stream, &sizes, &zeros);
        });
    }
}

struct Request {
    method: String,
    target: String,
    content_length: Option<u64>,
    chunked: bool,
}

fn read_head(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let mut content_length = None;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim();
            if name == "content-length" {
                content_length = value.parse().ok();
            } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    Ok(Some(Request {
        method,
        target,
        content_length,
        chunked,
    }))
}

/// Reads and drops the body, returning its length.
fn discard_body(reader: &mut BufReader<TcpStream>, req: &Request) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    if req.chunked {
        let mut total = 0u64;
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size = u64::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| io::Error::other("bad chunk size"))?;
            let mut left = size;
            while left > 0 {
                let n = reader.read(&mut buf[..left.min(CHUNK as u64) as usize])?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                left -= n as u64;
            }
            let mut crlf = String::new();
            reader.read_line(&mut crlf)?;
            total += size;
            if size == 0 {
                return Ok(total);
            }
        }
    }
    let len = req.content_length.unwrap_or(0);
    let mut left = len;
    while left > 0 {
        let n = reader.read(&mut buf[..left.min(CHUNK as u64) as usize])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        left -= n as u64;
    }
    Ok(len)
}

fn respond(out: &mut TcpStream, status: &str, ctype: &str, body: &[u8]) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    out.write_all(head.as_bytes())?;
    out.write_all(body)
}

fn query_param<'a>(target: &'a str, key: &str) -> Option<&'a str> {
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then_some(v)
    })
}

fn serve(stream: TcpStream, sizes: &Sizes, zeros: &[u8]) -> io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(CHUNK, stream);
    const ARTIFACTS: &str = "/api/2.0/mlflow-artifacts/artifacts";
    while let Some(req) = read_head(&mut reader)? {
        let path = req.target.split('?').next().unwrap_or("").to_owned();
        match (req.method.as_str(), path.as_str()) {
            ("PUT", p) if p.starts_with(ARTIFACTS) => {
                let n = discard_body(&mut reader, &req)?;
                sizes.lock().unwrap().insert(p.to_owned(), n);
                respond(&mut out, "200 OK", "application/json", b"{}")?;
            }
            (_, _) if req.content_length.unwrap_or(0) > 0 || req.chunked => {
                discard_body(&mut reader, &req)?;
                respond(&mut out, "404 Not Found", "application/json", b"{}")?;
            }
            ("GET", "/health") => respond(&mut out, "200 OK", "text/plain", b"OK")?,
            ("GET", "/api/3.0/mlflow/server-info") => respond(
                &mut out,
                "200 OK",
                "application/json",
                br#"{"store_type":"SqlStore","workspaces_enabled":false}"#,
            )?,
            ("GET", "/api/2.0/mlflow/runs/get") => {
                let id = query_param(&req.target, "run_id").unwrap_or("0");
                let body = format!(
                    concat!(
                        r#"{{"run":{{"info":{{"run_id":"{id}","run_uuid":"{id}","#,
                        r#""experiment_id":"0","run_name":"ceiling","user_id":"bench","#,
                        r#""status":"RUNNING","start_time":0,"#,
                        r#""artifact_uri":"mlflow-artifacts:/0/{id}/artifacts","#,
                        r#""lifecycle_stage":"active"}},"data":{{}},"inputs":{{}}}}}}"#
                    ),
                    id = id
                );
                respond(&mut out, "200 OK", "application/json", body.as_bytes())?;
            }
            // The listing: empty, so the client treats the requested path as a file.
            ("GET", ARTIFACTS) => respond(&mut out, "200 OK", "application/json", b"{}")?,
            ("GET", p) if p.starts_with(ARTIFACTS) => {
                let Some(size) = sizes.lock().unwrap().get(p).copied() else {
                    respond(&mut out, "404 Not Found", "application/json", b"{}")?;
                    continue;
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
                );
                out.write_all(head.as_bytes())?;
                let mut left = size;
                while left > 0 {
                    let n = left.min(zeros.len() as u64) as usize;
                    out.write_all(&zeros[..n])?;
                    left -= n as u64;
                }
            }
            _ => respond(&mut out, "404 Not Found", "application/json", b"{}")?,
        }
    }
    Ok(())
}
