#!/usr/bin/env python3
"""Loads an rz-report page in headless Chromium over the DevTools protocol (--remote-debugging-pipe,
no extra packages) and prints one JSON object: the page's own #selftest result, the console
errors, exceptions and failed loads the browser saw, and whether the screenshot was written.

Usage: report_browser.py CHROMIUM PAGE_HTML SCREENSHOT_PNG [SMALL_PNG]
SMALL_PNG: the same view at half scale (the README's picture).
Exit: 0 with the JSON on stdout; 77 when Chromium cannot start (the caller skips visibly);
1 on a protocol failure or timeout.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import time

TIMEOUT_S = 60
VIEWPORT = {"width": 1100, "height": 800, "deviceScaleFactor": 1, "mobile": False}


class Browser:
    def __init__(self, exe, profile):
        # fd 3: we write commands; fd 4: Chromium writes replies and events ('\0'-terminated JSON).
        r_cmd, self.w_cmd = os.pipe()
        self.r_evt, w_evt = os.pipe()
        os.set_inheritable(r_cmd, True)
        os.set_inheritable(w_evt, True)

        def fds():  # in the child: move both ends out of the way, then onto 3 and 4
            a, b = os.dup(r_cmd), os.dup(w_evt)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--mute-audio", "--user-data-dir=" + profile,
             "--autoplay-policy=no-user-gesture-required", "--remote-debugging-pipe",
             "about:blank"],
            preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL,
            stderr=None if os.environ.get("RZ_BROWSER_DEBUG") else subprocess.DEVNULL)
        os.close(r_cmd)
        os.close(w_evt)
        self.buf = b""
        self.next_id = 0
        self.events = []

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            if time.time() > deadline:
                raise TimeoutError("no reply from Chromium")
            chunk = os.read(self.r_evt, 65536)
            if not chunk:
                raise EOFError("Chromium closed the pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None, timeout=TIMEOUT_S):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w_cmd, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(method + ": " + json.dumps(m["error"]))
                return m.get("result", {})
            self.events.append(m)

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main():
    exe, page, shot = sys.argv[1:4]
    small = sys.argv[4] if len(sys.argv) > 4 else None
    with tempfile.TemporaryDirectory() as profile:
        try:
            b = Browser(exe, profile)
            target = b.call("Target.createTarget", {"url": "about:blank"}, timeout=30)["targetId"]
        except Exception as e:  # cannot start: the caller skips
            print("report_browser.py: Chromium cannot start: %s" % e, file=sys.stderr)
            return 77
        try:
            s = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Runtime", "Log", "Page"):
                b.call(domain + ".enable", session=s)
            b.call("Emulation.setDeviceMetricsOverride", VIEWPORT, session=s)
            b.call("Page.navigate", {"url": "file://" + os.path.abspath(page) + "#selftest"}, session=s)
            deadline = time.time() + TIMEOUT_S
            while True:
                title = b.call("Runtime.evaluate", {"expression": "document.title", "returnByValue": True},
                               session=s)["result"].get("value")
                if title == "rz-selftest-done":
                    break
                if time.time() > deadline:
                    raise TimeoutError("the page's self-test did not finish")
                time.sleep(0.2)
            selftest = json.loads(b.call("Runtime.evaluate", {
                "expression": "document.getElementById('rz-selftest').textContent",
                "returnByValue": True}, session=s)["result"]["value"])
            b.call("Runtime.evaluate", {"expression": "window.scrollTo(0, 0)"}, session=s)
            png = b.call("Page.captureScreenshot", {"format": "png"}, session=s)["data"]
            with open(shot, "wb") as f:
                f.write(base64.b64decode(png))
            if small:
                clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": VIEWPORT["height"],
                        "scale": 0.5}
                png = b.call("Page.captureScreenshot", {"format": "png", "clip": clip}, session=s)["data"]
                with open(small, "wb") as f:
                    f.write(base64.b64decode(png))
            errors = []
            for e in b.events:
                m, p = e.get("method"), e.get("params", {})
                if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                    errors.append("console: " + " ".join(str(a.get("value", a.get("description", "")))
                                                         for a in p.get("args", [])))
                elif m == "Runtime.exceptionThrown":
                    d = p.get("exceptionDetails", {})
                    errors.append("exception: " + d.get("text", "") + " " +
                                  d.get("exception", {}).get("description", ""))
                elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                    errors.append("log: " + p["entry"].get("text", "") + " " + p["entry"].get("url", ""))
            print(json.dumps({"selftest": selftest, "browser_errors": errors,
                              "version": b.call("Browser.getVersion").get("product")}))
            return 0
        except Exception as e:
            print("report_browser.py: %s" % e, file=sys.stderr)
            return 1
        finally:
            b.close()


if __name__ == "__main__":
    sys.exit(main())
