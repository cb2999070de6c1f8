package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane"
	pb "github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane/goldmanepb"
)

// TestGoldmaneEmitterBehindWebConfig starts the exporter as Goldmane's
// emitter's endpoint with a web config (TLS and basic auth) and pushes
// NDJSON to it over HTTPS, as the emitter does: a push without the password
// is refused, one with it is taken in and counted, and the detectors that
// need logs Goldmane does not carry are disabled with a log line.
func TestGoldmaneEmitterBehindWebConfig(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("push-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webConfig, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  goldmane: %s\n", certFile, keyFile, hash)), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	logs := &syncBuffer{}
	cmd := exec.Command(exporterBinary(t), "--source=goldmane-emitter", "--web.listen-address="+addr, "--web.config.file="+webConfig)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("exporter log:\n%s", lastLines(logs.String(), 40))
		}
	})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	do := func(method, path, user string, body []byte) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "https://"+addr+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		if user != "" {
			req.SetBasicAuth(user, "push-secret")
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := do(http.MethodGet, "/metrics", "goldmane", nil); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the exporter did not serve https within 20s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	now := time.Now().Unix()
	var body bytes.Buffer
	for i, port := range []int64{5432, 443} {
		f := &pb.Flow{Key: &pb.FlowKey{SourceName: "api-6b7c-*", SourceNamespace: "shop", SourceType: pb.EndpointType_WorkloadEndpoint,
			DestName: "db-5f4d-*", DestNamespace: "shop", DestType: pb.EndpointType_WorkloadEndpoint, DestPort: port,
			Proto: "tcp", Reporter: pb.Reporter_Src, Action: pb.Action_Allow},
			StartTime: now, EndTime: now + 15, BytesOut: 100, PacketsOut: 2, NumConnectionsStarted: 1}
		line, _ := json.Marshal(f)
		if i > 0 {
			body.WriteByte('\n')
		}
		body.Write(line)
	}
	if code, _ := do(http.MethodPost, goldmane.EmitterPath, "", body.Bytes()); code != http.StatusUnauthorized {
		t.Errorf("push without the password: %d, want 401", code)
	}
	code, answer := do(http.MethodPost, goldmane.EmitterPath, "goldmane", body.Bytes())
	if code != http.StatusOK || !strings.Contains(answer, `"accepted":2`) {
		t.Errorf("push with the password: %d %s, want 200 and 2 accepted", code, answer)
	}
	_, metrics := do(http.MethodGet, "/metrics", "goldmane", nil)
	for _, want := range []string{`calico_anomaly_goldmane_flow_updates_total{result="accepted"} 2`, "calico_anomaly_goldmane_up 1",
		`calico_anomaly_goldmane_emitter_pushes_total{code="200"} 1`, `calico_anomaly_goldmane_emitter_pushes_total{code="401"}`} {
		if want == `calico_anomaly_goldmane_emitter_pushes_total{code="401"}` {
			if strings.Contains(metrics, want) {
				t.Errorf("a refused push reached the handler: %s", want)
			}
			continue
		}
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, want := range []string{`detector=ip_sweep source=goldmane missing="flows field dest_ip"`, `detector=dga source=goldmane missing="dns logs"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %s", want)
		}
	}
}
