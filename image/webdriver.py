"""A small WebDriver client for headless Chromium, from Python's standard library only.

image/boot-test uses it to open the phone page the guest serves (through QEMU's forwarded
port) the way a phone would. WebDriver is plain HTTP with JSON, so urllib is all it takes;
this mirrors tests/support/webdriver.rs (the Rust client of the end-to-end tests): the same
capabilities, device emulation for a viewport narrower than headless Chromium's 500-px
window, and taps as element clicks (the browser scrolls the element into view and refuses
when something covers it, as a finger would be refused).
"""
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

CHROMEDRIVER = "/usr/bin/chromedriver"
# The key WebDriver uses for an element reference in JSON.
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"


class WebDriverError(Exception):
    """A WebDriver command failed; the message keeps the driver's own words."""


def missing():
    """Why the browser cannot run here, or None when it can."""
    if not any(shutil.which(n) for n in ("chromium", "chromium-browser")):
        return "chromium is missing (apt-get install chromium)"
    if not os.access(CHROMEDRIVER, os.X_OK):
        return f"{CHROMEDRIVER} is missing (apt-get install chromium-driver)"
    return None


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on at the moment of asking."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, body=None, timeout_s=60.0):
    """One WebDriver command: the `value` of its answer, or WebDriverError."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            text = r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        raise WebDriverError(f"{method} {url}: {e.code}: {e.read().decode('utf-8', 'replace')[:400]}") from e
    except (urllib.error.URLError, OSError) as e:
        raise WebDriverError(f"{method} {url}: {e}") from e
    try:
        return json.loads(text).get("value")
    except ValueError as e:
        raise WebDriverError(f"{method} {url}: not JSON: {text[:200]!r}") from e


class Driver:
    """A chromedriver of our own on a free 127.0.0.1 port; stop() ends it and its browsers."""

    def __init__(self, log_path=None, ready_timeout_s=30.0):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        out = open(log_path, "w") if log_path else subprocess.DEVNULL
        # --allowed-ips: loopback only (chromedriver's default already; said here so that
        # nobody widens it by accident).
        self.proc = subprocess.Popen(
            [CHROMEDRIVER, f"--port={self.port}", "--allowed-ips=127.0.0.1"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        end = time.monotonic() + ready_timeout_s
        while True:
            try:
                if (call("GET", f"{self.base}/status", timeout_s=2.0) or {}).get("ready"):
                    return
            except WebDriverError:
                pass
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                raise WebDriverError(f"chromedriver did not get ready in {ready_timeout_s:.0f} s")
            time.sleep(0.05)

    def session(self, width, height, pixel_ratio=1.0):
        """A new headless browser with a width x height CSS-pixel viewport."""
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--hide-scrollbars",
                         f"--window-size={max(width, 500)},{height}"],
                "mobileEmulation": {"deviceMetrics": {
                    "width": width, "height": height, "pixelRatio": pixel_ratio, "touch": False}},
            }}}}
        v = call("POST", f"{self.base}/session", caps, timeout_s=90.0) or {}
        sid = v.get("sessionId")
        if not sid:
            raise WebDriverError(f"no session id in {v}")
        return Session(f"{self.base}/session/{sid}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Session:
    """One browser window."""

    def __init__(self, base):
        self.base = base

    def cmd(self, method, path, body=None):
        return call(method, f"{self.base}{path}", body)

    def goto(self, url):
        self.cmd("POST", "/url", {"url": url})

    def find(self, css):
        v = self.cmd("POST", "/element", {"using": "css selector", "value": css}) or {}
        if ELEMENT_KEY not in v:
            raise WebDriverError(f"no element for {css}: {v}")
        return v[ELEMENT_KEY]

    def click(self, css):
        self.cmd("POST", f"/element/{self.find(css)}/click", {})

    def execute(self, script, *args):
        """Runs `script` (a function body; `arguments` holds args) and returns its value."""
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait_for(self, script, timeout_s):
        """Runs `script` until it returns something truthy; WebDriverError after timeout_s."""
        end = time.monotonic() + timeout_s
        while True:
            v = self.execute(script)
            if v not in (None, False, 0, ""):
                return v
            if time.monotonic() > end:
                raise WebDriverError(f"timed out after {timeout_s:.0f} s waiting for: {script}")
            time.sleep(0.02)

    def screenshot(self, path):
        import base64
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        return len(png)

    def close(self):
        try:
            self.cmd("DELETE", "")
        except WebDriverError:
            pass
