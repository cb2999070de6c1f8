//go:build integration

package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/scoreboard"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/web"
)

// chromium starts Debian's Chromium headless, with the flags this closed
// network needs, and returns a browser context ended with the test.
func chromium(t *testing.T) context.Context {
	t.Helper()
	const bin = "/usr/bin/chromium"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("Chromium is not installed (scripts/testbed.sh installs Debian's chromium): %v", err)
	}
	// Chromium may still be writing its profile as it exits: removed
	// best-effort, not with t.TempDir's strict cleanup.
	profile, err := os.MkdirTemp("", "chromium-profile-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.UserDataDir(profile), chromedp.WindowSize(1400, 1000),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc(); _ = os.RemoveAll(profile) })
	return ctx
}

// screenshotDir is where browser tests leave their screenshots: .artifacts
// at the repository root (git-ignored), or $TEST_ARTIFACTS_DIR.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("TEST_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", ".artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestStatusPageInChromium loads the status page of the exporter running
// on the simulated cluster (as `make run` does) in a real headless
// Chromium, checks the anomaly rows and their charts, follows a link to
// one anomaly and saves screenshots of both pages.
func TestStatusPageInChromium(t *testing.T) {
	e := startExporter(t, "--source=simulated", "--alert.dry-run")
	// make run's first attack round: a port scan, then an IP sweep 20
	// simulated minutes later; both stay on the page for an hour.
	e.waitForLog(t, 2*time.Minute, "msg=anomaly detector=ip_sweep")
	ctx := chromium(t)
	var rows, charts int
	var firstLink, title, evidence, alert, quarantine string
	var statusShot, anomalyShot []byte
	err := chromedp.Run(ctx,
		chromedp.Navigate(e.URL+"/"),
		chromedp.WaitVisible(`#anomalies`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("#anomalies tr.anomaly").length`, &rows),
		chromedp.Evaluate(`document.querySelectorAll("#anomalies tr.anomaly svg.spark polyline.score").length`, &charts),
		chromedp.Evaluate(`document.querySelector("#anomalies tr.anomaly a").getAttribute("href")`, &firstLink),
		chromedp.FullScreenshot(&statusShot, 100),
		chromedp.Click(`#anomalies tr.anomaly a`, chromedp.ByQuery),
		chromedp.WaitVisible(`#title`, chromedp.ByQuery),
		chromedp.Text(`#title`, &title, chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("pre.evidence")).map(e => e.textContent).join("\n")`, &evidence),
		chromedp.Text(`#alert`, &alert, chromedp.ByQuery),
		chromedp.Text(`#quarantine`, &quarantine, chromedp.ByQuery),
		chromedp.FullScreenshot(&anomalyShot, 100),
	)
	if err != nil {
		t.Fatalf("browsing the status page: %v\nexporter log:\n%s", err, lastLines(e.log.String(), 20))
	}
	if rows < 2 || charts != rows {
		t.Errorf("%d anomaly rows with %d charts, want the scan and the sweep, each with its chart", rows, charts)
	}
	if !strings.HasPrefix(firstLink, "/anomaly?") {
		t.Errorf("first anomaly links to %q", firstLink)
	}
	if !strings.Contains(title, "port_scan") && !strings.Contains(title, "ip_sweep") {
		t.Errorf("anomaly page title %q names no detector", title)
	}
	if !strings.Contains(evidence, "dest_") {
		t.Errorf("anomaly page shows no flow evidence: %q", evidence)
	}
	if !strings.Contains(alert, `"alertname": "CalicoAnomaly"`) || !strings.Contains(quarantine, "kind: NetworkPolicy") {
		t.Errorf("anomaly page lacks the alert as sent or the quarantine policy:\n%s\n%s", alert, quarantine)
	}
	dir := screenshotDir(t)
	for name, shot := range map[string][]byte{"status-page.png": statusShot, "anomaly-page.png": anomalyShot} {
		if len(shot) < 1000 {
			t.Errorf("%s: empty screenshot", name)
			continue
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
}

// TestHostileNamesAreTextInChromium puts a pod name and a DNS query name
// carrying scripts on the pages and checks, in a real browser, that they
// are shown as text and that no script ran.
func TestHostileNamesAreTextInChromium(t *testing.T) {
	const pod = `evil-<script>window.__pwned=1</script>-*`
	w := source.Window{Start: time.Now().Add(-10 * time.Minute).Truncate(5 * time.Minute)}
	w.End = w.Start.Add(5 * time.Minute)
	v := detect.Verdict{Detector: "port_scan", Entity: detect.Entity{Cluster: "c1", Namespace: `ns<img src=x onerror="window.__pwned=2">`, Workload: pod, Type: "wep"},
		Window: w, Score: 0.9, Threshold: 0.5, Observed: 900, Expected: 500, Summary: `<b onmouseover="window.__pwned=3">scan</b>`,
		Evidence: map[string][]json.RawMessage{"dns": {json.RawMessage(`{"qname":"</pre><script>window.__pwned=4</script>"}`)}}}
	board := scoreboard.New(0)
	board.Publish("port_scan", w, []detect.Verdict{v}, true, time.Millisecond, time.Now())
	history := web.NewHistory(48, 0)
	history.Deliver(context.Background(), w, []detect.Verdict{v})
	srv := httptest.NewServer(web.New(web.Config{Name: exporterName}, board, history))
	defer srv.Close()

	ctx := chromium(t)
	var cell, evidence string
	var pwned1, pwned2 bool
	err := chromedp.Run(ctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(`#anomalies`, chromedp.ByQuery),
		chromedp.Text(`#anomalies tr.anomaly a`, &cell, chromedp.ByQuery),
		chromedp.Evaluate(`window.__pwned !== undefined`, &pwned1),
		chromedp.Click(`#anomalies tr.anomaly a`, chromedp.ByQuery),
		chromedp.WaitVisible(`#title`, chromedp.ByQuery),
		// The raw records sit in a closed <details> below the evidence table.
		chromedp.Evaluate(`document.querySelector("pre.evidence").textContent`, &evidence),
		chromedp.Evaluate(`window.__pwned !== undefined`, &pwned2),
	)
	if err != nil {
		t.Fatal(err)
	}
	if cell != pod {
		t.Errorf("the workload cell reads %q, want the pod name as text %q", cell, pod)
	}
	if !strings.Contains(evidence, "</pre><script>window.__pwned=4</script>") {
		t.Errorf("the evidence reads %q, want the query name as text", evidence)
	}
	if pwned1 || pwned2 {
		t.Error("a script from a log record ran in the page")
	}
}
