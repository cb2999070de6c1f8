package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	pb "github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane/goldmanepb"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane/goldmanesim"
)

// issue signs a certificate for cn with ca (self-signed when ca is nil)
// and writes it and its key as PEM files under dir.
func issue(t *testing.T, dir, cn string, ca *tls.Certificate, usage x509.ExtKeyUsage) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	parent, signer := tmpl, any(key)
	if ca == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		tmpl.DNSNames = []string{cn}
		parent, signer = ca.Leaf, ca.PrivateKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, cn+".crt"), filepath.Join(dir, cn+".key")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cert.Leaf, _ = x509.ParseCertificate(der)
	return cert, certFile, keyFile
}

type emptyCluster struct{}

func (emptyCluster) Bucket(int64) []*pb.Flow { return nil }
func (emptyCluster) BucketSeconds() int64    { return 300 }

// TestGoldmaneMutualTLS reaches a Goldmane that, as Calico configures it,
// serves TLS and requires a client certificate signed by Calico's CA: the
// exporter's credentials from --goldmane.ca-file, --goldmane.cert-file and
// --goldmane.key-file get through; without the client certificate, or
// trusting another CA, the call fails.
func TestGoldmaneMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caFile, _ := issue(t, dir, "tigera-operator-signer", nil, 0)
	server, _, _ := issue(t, dir, "goldmane.calico-system.svc", &ca, x509.ExtKeyUsageServerAuth)
	_, certFile, keyFile := issue(t, dir, "calico-anomaly-exporter", &ca, x509.ExtKeyUsageClientAuth)
	_, otherCAFile, _ := issue(t, dir, "another-ca", nil, 0)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Leaf)
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{server},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12})))
	goldmanesim.New(emptyCluster{}, time.Now, func(ctx context.Context, d time.Duration) error { return nil }, time.Hour).Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	defer g.Stop()

	tests := []struct {
		name  string
		flags goldmaneFlags
		ok    bool
	}{
		{"Calico's CA and a client certificate it signed", goldmaneFlags{caFile: caFile, certFile: certFile, keyFile: keyFile}, true},
		{"no client certificate", goldmaneFlags{caFile: caFile}, false},
		{"another CA trusted", goldmaneFlags{caFile: otherCAFile, certFile: certFile, keyFile: keyFile}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.flags.address = lis.Addr().String()
			tt.flags.serverName = "goldmane.calico-system.svc"
			creds, err := tt.flags.credentials()
			if err != nil {
				t.Fatal(err)
			}
			conn, err := dial(tt.flags.address, creds)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = pb.NewFlowsClient(conn).List(ctx, &pb.FlowListRequest{PageSize: 10})
			if (err == nil) != tt.ok {
				t.Errorf("Flows.List: %v, want success %v", err, tt.ok)
			}
		})
	}
	if _, err := (&goldmaneFlags{certFile: certFile}).credentials(); err == nil {
		t.Errorf("a certificate without its key was accepted")
	}
	if _, err := (&goldmaneFlags{caFile: keyFile}).credentials(); err == nil {
		t.Errorf("a CA file without a certificate was accepted")
	}
}
