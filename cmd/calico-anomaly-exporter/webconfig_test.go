package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
)

// selfSigned writes a certificate for 127.0.0.1 and its key under dir and
// returns a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "calico-anomaly-exporter"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// startSecureExporter starts the exporter behind exporter-toolkit's
// --web.config.file: TLS with a self-signed certificate and one basic-auth
// user. It returns the address, a client trusting the certificate and the
// exporter's log (shown when the test fails).
func startSecureExporter(t *testing.T, user, password string, args ...string) (addr string, client *http.Client, logs *testkit.SyncBuffer) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webConfig, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %s\n", certFile, keyFile, user, hash)), 0o600); err != nil {
		t.Fatal(err)
	}
	addr = testkit.FreeAddr(t)
	logs = &testkit.SyncBuffer{}
	cmd := exec.Command(exporterBinary(t), append(args, "--web.listen-address="+addr, "--web.config.file="+webConfig)...)
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
	client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	return addr, client, logs
}

// TestWebConfigProtectsEveryPage starts the exporter with exporter-toolkit's
// --web.config.file (TLS and basic auth) and checks, with a real TLS
// client, that /metrics, /, /anomaly, /config and /-/reload need the password and that plain
// HTTP is not served.
func TestWebConfigProtectsEveryPage(t *testing.T) {
	addr, client, logs := startSecureExporter(t, "admin", "s3cret", "--source=simulated")
	get := func(path, user, pass string) (int, string, error) {
		method := http.MethodGet
		if path == "/-/reload" || path == "/incident/feedback" {
			method = http.MethodPost
		}
		req, _ := http.NewRequest(method, "https://"+addr+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), nil
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _, err := get("/metrics", "admin", "s3cret"); err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the exporter did not serve https with the password within 20s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, path := range []string{"/metrics", "/", "/anomaly?detector=port_scan", "/incident?id=x", "/incident/feedback", "/config", "/-/reload"} {
		for _, tc := range []struct {
			user, pass string
			want       int
		}{{"", "", http.StatusUnauthorized}, {"admin", "wrong", http.StatusUnauthorized}, {"nobody", "s3cret", http.StatusUnauthorized}} {
			code, _, err := get(path, tc.user, tc.pass)
			if err != nil || code != tc.want {
				t.Errorf("GET %s as %q/%q: %d %v, want %d", path, tc.user, tc.pass, code, err, tc.want)
			}
		}
	}
	if code, body, err := get("/metrics", "admin", "s3cret"); err != nil || code != http.StatusOK || !strings.Contains(body, "calico_anomaly_score_threshold") {
		t.Errorf("GET /metrics with the password: %d %v", code, err)
	}
	if code, body, err := get("/", "admin", "s3cret"); err != nil || code != http.StatusOK || !strings.Contains(body, `id="detectors"`) {
		t.Errorf("GET / with the password: %d %v", code, err)
	}
	if code, body, err := get("/-/reload", "admin", "s3cret"); err != nil || code != http.StatusOK || !strings.Contains(body, "reloaded") {
		t.Errorf("POST /-/reload with the password: %d %q %v", code, body, err)
	}
	// Plain HTTP on the TLS port gets no page.
	if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "calico_anomaly") {
			t.Error("metrics served over plain HTTP")
		}
	}
	// A client that does not trust the certificate is refused.
	untrusting := &http.Client{Timeout: 5 * time.Second}
	if _, err := untrusting.Get("https://" + addr + "/metrics"); err == nil {
		t.Error("a client without the CA connected")
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Error("the password reached the log")
	}
}
