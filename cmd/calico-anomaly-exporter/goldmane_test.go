package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane"
	pb "github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane/goldmanepb"
)

// TestGoldmaneEmitterBehindWebConfig starts the exporter as Goldmane's
// emitter's endpoint with a web config (TLS and basic auth) and pushes
// NDJSON to it over HTTPS, as the emitter does: a push without the password
// is refused, one with it is taken in and counted, and the detectors that
// need logs Goldmane does not carry are disabled with a log line.
func TestGoldmaneEmitterBehindWebConfig(t *testing.T) {
	addr, client, logs := startSecureExporter(t, "goldmane", "push-secret", "--source=goldmane-emitter")
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
