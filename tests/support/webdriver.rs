//! A small synchronous WebDriver client for headless Chromium (Debian's `chromium` and
//! `chromium-driver`): WebDriver is plain HTTP with JSON, so `ureq` and `serde_json` are all
//! it takes. It starts its own `chromedriver` on a free 127.0.0.1 port and stops it (and
//! the browser) on drop.

#![allow(dead_code)]

use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The key WebDriver uses for an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver.
pub struct Driver {
    child: Child,
    base: String,
}

impl Driver {
    pub fn start() -> Result<Driver, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {CHROMEDRIVER}: {e}"))?;
        let mut d = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let t0 = Instant::now();
        loop {
            if let Ok(v) = call(&agent(), "GET", &format!("{}/status", d.base), None) {
                if v["ready"] == true {
                    return Ok(d);
                }
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let _ = d.child.kill();
                return Err("chromedriver did not get ready in 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A new headless browser with a viewport of `width` x `height` CSS pixels at
    /// `pixel_ratio`. Headless Chromium will not make a window narrower than 500 px, so the
    /// viewport is set by device emulation (as DevTools' device toolbar does).
    pub fn session(&self, width: u32, height: u32, pixel_ratio: f64) -> Result<Session, String> {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--hide-scrollbars",
                         format!("--window-size={},{}", width.max(500), height)],
                "mobileEmulation": {"deviceMetrics": {
                    "width": width, "height": height, "pixelRatio": pixel_ratio, "touch": false
                }},
            }
        }}});
        let v = call(
            &agent(),
            "POST",
            &format!("{}/session", self.base),
            Some(caps),
        )?;
        let id = v["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session id in {v}"))?
            .to_string();
        Ok(Session {
            base: format!("{}/session/{id}", self.base),
            agent: agent(),
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build()
}

/// One WebDriver command; the `value` of its answer, or the driver's error message.
fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let req = agent.request(method, url);
    let res = match body {
        Some(b) => req
            .set("Content-Type", "application/json")
            .send_string(&b.to_string()),
        None => req.call(),
    };
    let text = match res {
        Ok(r) => r.into_string().map_err(|e| e.to_string())?,
        Err(ureq::Error::Status(code, r)) => {
            let t = r.into_string().unwrap_or_default();
            return Err(format!("{method} {url}: {code}: {t}"));
        }
        Err(e) => return Err(format!("{method} {url}: {e}")),
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    Ok(v["value"].clone())
}

/// One browser window.
pub struct Session {
    base: String,
    agent: ureq::Agent,
}

impl Session {
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        call(&self.agent, method, &format!("{}{path}", self.base), body)
    }

    pub fn goto(&self, url: &str) -> Result<(), String> {
        self.cmd("POST", "/url", Some(json!({ "url": url })))
            .map(|_| ())
    }

    /// The element reference of the first match of `css`.
    pub fn find(&self, css: &str) -> Result<String, String> {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        )?;
        v[ELEMENT_KEY]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no element for {css}: {v}"))
    }

    /// Clicks (taps) the first match of `css`, as a user would: the browser scrolls it into
    /// view and refuses when something covers it.
    pub fn click(&self, css: &str) -> Result<(), String> {
        let id = self.find(css)?;
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})))
            .map(|_| ())
    }

    /// Types `text` into the first match of `css`.
    pub fn type_text(&self, css: &str, text: &str) -> Result<(), String> {
        let id = self.find(css)?;
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .map(|_| ())
    }

    /// Presses the mouse at `from` and releases it at `to`, moving in `steps` steps; each
    /// point is (css, dx, dy): an offset in CSS pixels from the element's centre.
    pub fn drag(
        &self,
        from: (&str, i64, i64),
        to: (&str, i64, i64),
        steps: u32,
    ) -> Result<(), String> {
        let (a, b) = (self.find(from.0)?, self.find(to.0)?);
        let at = |id: &str, x: i64, y: i64| json!({"type": "pointerMove", "duration": 30, "origin": {ELEMENT_KEY: id}, "x": x, "y": y});
        let mut acts = vec![
            at(&a, from.1, from.2),
            json!({"type": "pointerDown", "button": 0}),
        ];
        for k in 1..=steps.max(1) {
            let f = f64::from(k) / f64::from(steps.max(1));
            if a == b {
                let x = from.1 + ((to.1 - from.1) as f64 * f) as i64;
                let y = from.2 + ((to.2 - from.2) as f64 * f) as i64;
                acts.push(at(&a, x, y));
            } else if k == steps.max(1) {
                acts.push(at(&b, to.1, to.2));
            }
        }
        acts.push(json!({"type": "pointerUp", "button": 0}));
        let body = json!({"actions": [{
            "type": "pointer", "id": "finger", "parameters": {"pointerType": "mouse"},
            "actions": acts,
        }]});
        self.cmd("POST", "/actions", Some(body))?;
        self.cmd("DELETE", "/actions", None).map(|_| ())
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, String> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Runs `script` until it returns something truthy, or fails after `timeout`.
    pub fn wait_for(&self, script: &str, timeout: Duration) -> Result<Value, String> {
        let t0 = Instant::now();
        loop {
            let v = self.execute(script, vec![])?;
            let truthy = !(v.is_null() || v == false || v == 0 || v.as_str() == Some(""));
            if truthy {
                return Ok(v);
            }
            if t0.elapsed() > timeout {
                return Err(format!("timed out after {timeout:?} waiting for: {script}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Saves a PNG of the window to `path`.
    pub fn screenshot(&self, path: &Path) -> Result<(), String> {
        let v = self.cmd("GET", "/screenshot", None)?;
        let b64 = v.as_str().ok_or("screenshot is not a string")?;
        let png = decode_base64(b64)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.cmd("DELETE", "", None);
    }
}

/// Where screenshots are kept for people to look at.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("screenshots")
}

fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => return Err(format!("bad base64 byte {c}")),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}
