//go:build integration

package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestIncidentRoundTripInChromium follows an on-call engineer in a real
// headless Chromium on the exporter of `make run`: the status page leads
// with the port scan's incident; its page has a chart with a wall-clock
// axis and a labelled threshold, observed and expected in ports, and the
// probed ports as evidence; marking it expected records who and when,
// counts calico_anomaly_feedback_total, and can be undone. Screenshots of
// each step are saved (see screenshotDir).
func TestIncidentRoundTripInChromium(t *testing.T) {
	// As make run: models learn three days of history first.
	e := startExporter(t, "--source=simulated", "--train.lookback=72h", "--alert.dry-run", "--model.dir="+t.TempDir())
	// make run's first attack round: a port scan, then an IP sweep 20
	// simulated minutes later, when the scan's incident has resolved.
	e.waitForLog(t, 2*time.Minute, "msg=anomaly detector=ip_sweep")
	ctx := chromium(t)
	var incidents int
	var firstRow, title, facts, unitsText, axis, threshold, evidenceFacts, message, decisions, undone string
	var statusShot, incidentShot, markedShot, undoneShot, configShot []byte
	var scanLink string
	err := chromedp.Run(ctx,
		chromedp.Navigate(e.URL+"/"),
		chromedp.WaitVisible(`#resolved-incidents`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("tr.incident").length`, &incidents),
		chromedp.Evaluate(`(Array.from(document.querySelectorAll("tr.incident")).find(r => r.innerText.includes("port_scan")) || {innerText: ""}).innerText`, &firstRow),
		chromedp.Evaluate(`(Array.from(document.querySelectorAll("tr.incident")).find(r => r.innerText.includes("port_scan")).querySelector("a") || {}).getAttribute("href")`, &scanLink),
		chromedp.FullScreenshot(&statusShot, 100),
	)
	if err != nil {
		t.Fatalf("browsing the status page: %v", err)
	}
	if incidents < 1 || !strings.Contains(firstRow, "port_scan") || !strings.HasPrefix(scanLink, "/incident?id=") {
		t.Fatalf("%d incidents listed; the scan's row %q links to %q", incidents, firstRow, scanLink)
	}
	err = chromedp.Run(ctx,
		chromedp.Navigate(e.URL+scanLink),
		chromedp.WaitVisible(`#title`, chromedp.ByQuery),
		chromedp.Text(`#title`, &title, chromedp.ByQuery),
		chromedp.Text(`#facts`, &facts, chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll(".detector p")).map(p => p.innerText).join("\n")`, &unitsText),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("svg.timechart text.xlabel")).map(t => t.textContent).join(" ")`, &axis),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("svg.timechart text.threshold-label")).map(t => t.textContent).join(" ")`, &threshold),
		// The first evidence section: the port scan's.
		chromedp.Evaluate(`Array.from(document.querySelector("p.facts").querySelectorAll(".fact")).map(t => t.innerText).join("\n")`, &evidenceFacts),
		chromedp.FullScreenshot(&incidentShot, 100),
		chromedp.SendKeys(`#mark-expected input[name=comment]`, "weekly inventory scan by the security team", chromedp.ByQuery),
		chromedp.Submit(`#mark-expected`, chromedp.ByQuery),
		chromedp.WaitVisible(`#message`, chromedp.ByQuery),
		chromedp.Text(`#message`, &message, chromedp.ByQuery),
		chromedp.Text(`#decisions`, &decisions, chromedp.ByQuery),
		chromedp.FullScreenshot(&markedShot, 100),
		chromedp.Submit(`#decisions form`, chromedp.ByQuery),
		chromedp.WaitVisible(`#message`, chromedp.ByQuery),
		chromedp.Text(`#decisions`, &undone, chromedp.ByQuery),
		chromedp.FullScreenshot(&undoneShot, 100),
		chromedp.Navigate(e.URL+"/config"),
		chromedp.WaitReady(`body`, chromedp.ByQuery),
		chromedp.FullScreenshot(&configShot, 100),
	)
	if err != nil {
		t.Fatalf("browsing the incident: %v", err)
	}
	checks := []struct {
		what, text, want string
	}{
		{"title", title, "frontend"},
		{"facts", facts, "Started"},
		{"facts", facts, "Severity"},
		{"observed and expected", unitsText, " ports"},
		{"time axis", axis, ":"},
		{"threshold label", threshold, "threshold 0."},
		{"evidence", evidenceFacts, "destination ports: "},
		{"message", message, "Marked expected by anonymous"},
		{"decisions", decisions, "weekly inventory scan by the security team"},
		{"decisions after the undo", undone, "undone by anonymous"},
	}
	for _, c := range checks {
		if !strings.Contains(c.text, c.want) {
			t.Errorf("%s: %q lacks %q", c.what, c.text, c.want)
		}
	}
	// The evidence is the scan's probes, not the workload's ordinary
	// calls: records on ports across the scanned range.
	if m := regexp.MustCompile(`(\d+) destination ports: ([0-9, ]+)`).FindStringSubmatch(evidenceFacts); m == nil || m[1] < "3" || strings.Contains(m[2], "8080") {
		t.Errorf("evidence %q: want the probed ports", evidenceFacts)
	}
	if n := strings.Count(axis, ":"); n < 5 {
		t.Errorf("time axis %q: want wall-clock labels on each chart", axis)
	}
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`calico_anomaly_feedback_total{action="expected",origin="web"} 1`, `calico_anomaly_feedback_total{action="undo",origin="web"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	dir := screenshotDir(t)
	for name, shot := range map[string][]byte{"incidents-status.png": statusShot, "incident-detail.png": incidentShot,
		"incident-marked-expected.png": markedShot, "incident-undone.png": undoneShot, "config.png": configShot} {
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
