//! A real SMTP server on 127.0.0.1 for tests and benchmarks: plain TCP (no TLS), AUTH
//! PLAIN/LOGIN, one thread per connection, every accepted message recorded raw.
//!
//! Behaviour is scripted with rules ("answer 451 at DATA, once"), and the server can be
//! stopped (listener closed, every connection cut) and started again on the same port.
//! Written here rather than embedding a crate so that every reply and the down/up cycle
//! are under the test's control.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The greeting: a rule here answers it with an error and closes.
    Connect,
    Auth,
    MailFrom,
    RcptTo,
    /// After the message body (the final answer to DATA).
    Data,
}

#[derive(Debug, Clone)]
struct Rule {
    stage: Stage,
    code: u16,
    text: String,
    times: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
    pub auth_user: Option<String>,
}

impl Received {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    /// Recipients refused at RCPT TO: (lower-cased address, reply, times left or None).
    refused_recipients: Vec<(String, String, Option<u32>)>,
    /// Whether EHLO offers SMTPUTF8 (off by default, like many small servers).
    smtputf8: bool,
    /// Time taken before answering the end of DATA (a slow server).
    data_delay: Duration,
    received: Vec<Received>,
    /// (user, password) of every AUTH seen.
    logins: Vec<(String, String)>,
    rejected: usize,
    connections: usize,
}

struct Inner {
    state: Mutex<State>,
    changed: Condvar,
    streams: Mutex<Vec<TcpStream>>,
    running: AtomicBool,
}

pub struct SmtpServer {
    inner: Arc<Inner>,
    addr: SocketAddr,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

impl SmtpServer {
    /// Listens on a free port of 127.0.0.1 and accepts everything.
    pub fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = SmtpServer {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
                streams: Mutex::new(Vec::new()),
                running: AtomicBool::new(false),
            }),
            addr,
            acceptor: Mutex::new(None),
        };
        server.listen(listener);
        server
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Answers `code text` at `stage`, `times` times (None: until cleared).
    pub fn on(&self, stage: Stage, code: u16, text: &str, times: Option<u32>) {
        self.inner.state.lock().unwrap().rules.push(Rule {
            stage,
            code,
            text: text.to_owned(),
            times,
        });
    }

    /// Refuses `address` at RCPT TO with `550 text`, every time (other recipients pass).
    pub fn refuse_recipient(&self, address: &str, text: &str) {
        self.answer_recipient(address, &format!("550 {text}"), None);
    }

    /// Answers RCPT TO `address` with `reply` (e.g. "451 4.7.1 Greylisted"), `times`
    /// times (None: always); other recipients pass.
    pub fn answer_recipient(&self, address: &str, reply: &str, times: Option<u32>) {
        self.inner.state.lock().unwrap().refused_recipients.push((
            address.to_ascii_lowercase(),
            reply.to_owned(),
            times,
        ));
    }

    /// Waits `delay` before answering each message's DATA (a slow server).
    pub fn set_data_delay(&self, delay: Duration) {
        self.inner.state.lock().unwrap().data_delay = delay;
    }

    /// Offers SMTPUTF8 in the EHLO answer (not offered unless asked).
    pub fn advertise_smtputf8(&self, on: bool) {
        self.inner.state.lock().unwrap().smtputf8 = on;
    }

    pub fn clear_rules(&self) {
        self.inner.state.lock().unwrap().rules.clear();
    }

    /// Closes the listener and cuts every open connection: the server is down.
    pub fn stop(&self) {
        self.inner.running.store(false, Ordering::SeqCst);
        // Wakes the blocking accept so it sees the flag and drops the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(handle) = self.acceptor.lock().unwrap().take() {
            let _ = handle.join();
        }
        for stream in self.inner.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Listens again on the same port after `stop`.
    pub fn restart(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("cannot listen again on {}: {e}", self.addr),
            }
        };
        self.listen(listener);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.state.lock().unwrap().received.clone()
    }

    pub fn count(&self) -> usize {
        self.inner.state.lock().unwrap().received.len()
    }

    pub fn rejected(&self) -> usize {
        self.inner.state.lock().unwrap().rejected
    }

    pub fn connections(&self) -> usize {
        self.inner.state.lock().unwrap().connections
    }

    pub fn logins(&self) -> Vec<(String, String)> {
        self.inner.state.lock().unwrap().logins.clone()
    }

    /// Waits until at least `n` messages were accepted; false on timeout.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let state = self.inner.state.lock().unwrap();
        let (state, _) = self
            .inner
            .changed
            .wait_timeout_while(state, timeout, |s| s.received.len() < n)
            .unwrap();
        state.received.len() >= n
    }

    fn listen(&self, listener: TcpListener) {
        self.inner.running.store(true, Ordering::SeqCst);
        let inner = Arc::clone(&self.inner);
        let handle = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if !inner.running.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                if let Ok(clone) = stream.try_clone() {
                    inner.streams.lock().unwrap().push(clone);
                }
                inner.state.lock().unwrap().connections += 1;
                let inner = Arc::clone(&inner);
                std::thread::spawn(move || {
                    let _ = Session::new(&inner).serve(stream);
                });
            }
        });
        *self.acceptor.lock().unwrap() = Some(handle);
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Session<'a> {
    inner: &'a Inner,
    user: Option<String>,
    from: Option<String>,
    to: Vec<String>,
}

impl<'a> Session<'a> {
    fn new(inner: &'a Inner) -> Self {
        Session {
            inner,
            user: None,
            from: None,
            to: Vec::new(),
        }
    }

    /// The rule answering `stage` now, if any (consumes one of its `times`).
    fn rule(&self, stage: Stage) -> Option<String> {
        let mut state = self.inner.state.lock().unwrap();
        let i = state.rules.iter().position(|r| r.stage == stage)?;
        let rule = &mut state.rules[i];
        let reply = format!("{} {}", rule.code, rule.text);
        if let Some(times) = &mut rule.times {
            *times -= 1;
            if *times == 0 {
                state.rules.remove(i);
            }
        }
        Some(reply)
    }

    fn serve(mut self, stream: TcpStream) -> std::io::Result<()> {
        let mut out = stream.try_clone()?;
        let mut input = BufReader::new(stream);
        if let Some(reply) = self.rule(Stage::Connect) {
            return write!(out, "{reply}\r\n");
        }
        write!(out, "220 carette-test ESMTP\r\n")?;
        let mut line = String::new();
        loop {
            line.clear();
            if input.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let cmd = line.trim_end_matches(['\r', '\n']).to_owned();
            let upper = cmd.to_ascii_uppercase();
            let reply = if upper.starts_with("EHLO") {
                let utf8 = if self.inner.state.lock().unwrap().smtputf8 {
                    "250-SMTPUTF8\r\n"
                } else {
                    ""
                };
                format!(
                    "250-carette-test\r\n250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n{utf8}250 SIZE 10000000"
                )
            } else if upper.starts_with("HELO") {
                "250 carette-test".to_owned()
            } else if upper.starts_with("AUTH") {
                self.auth(&cmd, &mut input, &mut out)?
            } else if upper.starts_with("MAIL FROM:") {
                self.from = Some(address(&cmd[10..]));
                self.to.clear();
                self.rule(Stage::MailFrom)
                    .unwrap_or_else(|| "250 2.1.0 OK".to_owned())
            } else if upper.starts_with("RCPT TO:") {
                let to = address(&cmd[8..]);
                let refused = {
                    let mut state = self.inner.state.lock().unwrap();
                    let rules = &mut state.refused_recipients;
                    let i = rules.iter().position(|(a, _, _)| *a == to.to_lowercase());
                    i.map(|i| {
                        let reply = rules[i].1.clone();
                        if let Some(times) = &mut rules[i].2 {
                            *times -= 1;
                            if *times == 0 {
                                rules.remove(i);
                            }
                        }
                        reply
                    })
                };
                match refused.or_else(|| self.rule(Stage::RcptTo)) {
                    Some(reply) => {
                        self.inner.state.lock().unwrap().rejected += 1;
                        reply
                    }
                    None => {
                        self.to.push(to);
                        "250 2.1.5 OK".to_owned()
                    }
                }
            } else if upper == "DATA" {
                write!(out, "354 go ahead\r\n")?;
                let data = read_data(&mut input)?;
                self.finish_message(data)
            } else if upper == "RSET" {
                self.from = None;
                self.to.clear();
                "250 2.0.0 OK".to_owned()
            } else if upper == "NOOP" {
                "250 2.0.0 OK".to_owned()
            } else if upper == "QUIT" {
                write!(out, "221 2.0.0 bye\r\n")?;
                return Ok(());
            } else {
                "502 5.5.2 command not recognized".to_owned()
            };
            write!(out, "{reply}\r\n")?;
        }
    }

    fn finish_message(&mut self, data: Vec<u8>) -> String {
        let delay = self.inner.state.lock().unwrap().data_delay;
        std::thread::sleep(delay);
        let mut state_reply = self.rule(Stage::Data);
        let mut state = self.inner.state.lock().unwrap();
        if let Some(reply) = state_reply.take() {
            state.rejected += 1;
            return reply;
        }
        let n = state.received.len() + 1;
        state.received.push(Received {
            from: self.from.take().unwrap_or_default(),
            to: std::mem::take(&mut self.to),
            data,
            auth_user: self.user.clone(),
        });
        self.inner.changed.notify_all();
        format!("250 2.0.0 OK queued as m{n}")
    }

    fn auth(
        &mut self,
        cmd: &str,
        input: &mut BufReader<TcpStream>,
        out: &mut TcpStream,
    ) -> std::io::Result<String> {
        let mut parts = cmd.split_whitespace().skip(1);
        let mechanism = parts.next().unwrap_or_default().to_ascii_uppercase();
        let initial = parts.next().map(str::to_owned);
        let mut ask = |prompt: &str| -> std::io::Result<String> {
            write!(out, "334 {prompt}\r\n")?;
            let mut l = String::new();
            input.read_line(&mut l)?;
            Ok(l.trim_end().to_owned())
        };
        let decode =
            |s: &str| String::from_utf8_lossy(&STANDARD.decode(s).unwrap_or_default()).into_owned();
        let (user, password) = match mechanism.as_str() {
            "PLAIN" => {
                let blob = match initial {
                    Some(b) => b,
                    None => ask("")?,
                };
                let plain = decode(&blob);
                let mut fields = plain.split('\0').skip(1);
                (
                    fields.next().unwrap_or_default().to_owned(),
                    fields.next().unwrap_or_default().to_owned(),
                )
            }
            "LOGIN" => {
                let user = match initial {
                    Some(u) => decode(&u),
                    None => decode(&ask("VXNlcm5hbWU6")?),
                };
                (user, decode(&ask("UGFzc3dvcmQ6")?))
            }
            _ => return Ok("504 5.5.4 mechanism not supported".to_owned()),
        };
        self.inner
            .state
            .lock()
            .unwrap()
            .logins
            .push((user.clone(), password));
        if let Some(reply) = self.rule(Stage::Auth) {
            return Ok(reply);
        }
        self.user = Some(user);
        Ok("235 2.7.0 Authentication successful".to_owned())
    }
}

fn address(arg: &str) -> String {
    let arg = arg.trim();
    let end = arg.find('>').map_or(arg.len(), |i| i + 1);
    arg[..end].trim_matches(['<', '>']).to_owned()
}

/// Reads the message up to the lone ".", undoing dot-stuffing; CRLF line ends kept.
fn read_data(input: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(data);
        }
        let body = if line.starts_with(b"..") {
            &line[1..]
        } else {
            &line[..]
        };
        data.extend_from_slice(body);
    }
}
