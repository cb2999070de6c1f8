package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/detect"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/engine"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/simulate"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane"
	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/source/goldmane/goldmanesim"
)

// goldmaneFlags reach Goldmane's gRPC Flows API as Calico configures it
// in calico-system.
type goldmaneFlags struct {
	address    string
	caFile     string
	certFile   string
	keyFile    string
	serverName string
	plaintext  bool
	maxKeys    int
}

func addGoldmaneFlags(app *kingpin.Application) *goldmaneFlags {
	f := &goldmaneFlags{}
	app.Flag("goldmane.address", "With --source=goldmane: host:port of Goldmane's gRPC Flows API.").Default("goldmane.calico-system.svc:7443").StringVar(&f.address)
	app.Flag("goldmane.ca-file", "PEM file of the CA that signed Goldmane's certificate (Calico's tigera-ca-bundle); empty: the system's roots.").StringVar(&f.caFile)
	app.Flag("goldmane.cert-file", "PEM client certificate presented to Goldmane, which requires one signed by Calico's CA.").StringVar(&f.certFile)
	app.Flag("goldmane.key-file", "PEM key of --goldmane.cert-file.").StringVar(&f.keyFile)
	app.Flag("goldmane.server-name", "Name expected in Goldmane's certificate; empty: the host of --goldmane.address.").StringVar(&f.serverName)
	app.Flag("goldmane.plaintext", "Talk to Goldmane without TLS (a port-forward for a test; Calico's Goldmane always serves TLS).").BoolVar(&f.plaintext)
	app.Flag("goldmane.max-flow-keys", "Most flow keys one window holds from Goldmane; updates bringing more are dropped and counted in calico_anomaly_goldmane_flow_updates_total{result=\"dropped\"}. 0 means no bound.").Default(fmt.Sprint(goldmane.DefaultMaxKeys)).IntVar(&f.maxKeys)
	return f
}

// credentials returns the transport credentials of the flags.
func (f *goldmaneFlags) credentials() (credentials.TransportCredentials, error) {
	if f.plaintext {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.serverName}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("read --goldmane.ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--goldmane.ca-file %s: no PEM certificate in it", f.caFile)
		}
		cfg.RootCAs = pool
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return nil, errors.New("--goldmane.cert-file and --goldmane.key-file go together")
	}
	if f.certFile != "" {
		// Read at every handshake, so a certificate Calico renews is used
		// without a restart.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
			if err != nil {
				return nil, fmt.Errorf("goldmane client certificate: %w", err)
			}
			return &c, nil
		}
		if _, err := tls.LoadX509KeyPair(f.certFile, f.keyFile); err != nil {
			return nil, fmt.Errorf("--goldmane.cert-file/--goldmane.key-file: %w", err)
		}
	}
	return credentials.NewTLS(cfg), nil
}

// dial opens a gRPC client of address (connecting lazily: a Goldmane that
// is not up yet is retried by the stream).
func dial(address string, creds credentials.TransportCredentials) (*grpc.ClientConn, error) {
	return grpc.NewClient(address,
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)),
	)
}

// buildGoldmane follows Goldmane's Flows.Stream at --goldmane.address.
func (f *sourceFlags) buildGoldmane(logger log.Logger) (builtSource, error) {
	creds, err := f.goldmane.credentials()
	if err != nil {
		return builtSource{}, err
	}
	conn, err := dial(f.goldmane.address, creds)
	if err != nil {
		return builtSource{}, fmt.Errorf("--goldmane.address %s: %w", f.goldmane.address, err)
	}
	return f.goldmaneSource(conn, engine.RealClock{}, logger, nil)
}

// buildGoldmaneEmitter accepts the pushes of Goldmane's emitter.
func (f *sourceFlags) buildGoldmaneEmitter(logger log.Logger) (builtSource, error) {
	built, err := f.goldmaneSource(nil, engine.RealClock{}, logger, nil)
	if err != nil {
		return built, err
	}
	built.routes = map[string]http.Handler{goldmane.EmitterPath: built.source.(*goldmane.Source).Handler()}
	level.Info(logger).Log("msg", "accepting the pushes of Goldmane's emitter", "path", goldmane.EmitterPath)
	return built, nil
}

// buildGoldmaneSimulated runs an in-process Goldmane over the built-in
// simulated cluster (its demo attacks included) on a loopback port and
// follows it through the same gRPC client as a real one.
func (f *sourceFlags) buildGoldmaneSimulated(ctx context.Context, logger log.Logger) (builtSource, error) {
	sim, err := f.buildSimulated()
	if err != nil {
		return builtSource{}, err
	}
	cluster := sim.source.(*simulate.Source).Cluster()
	clock := sim.clock
	server := goldmanesim.New(goldmanesim.NewCluster(cluster), clock.Now, clock.Sleep, f.lookback+2*time.Hour)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return builtSource{}, err
	}
	g := grpc.NewServer()
	server.Register(g)
	go func() { _ = g.Serve(lis) }()
	go func() { <-ctx.Done(); g.Stop() }()
	conn, err := dial(lis.Addr().String(), insecure.NewCredentials())
	if err != nil {
		return builtSource{}, err
	}
	level.Info(logger).Log("msg", "simulated Goldmane serving the simulated cluster's flows", "address", lis.Addr().String())
	return f.goldmaneSource(conn, clock, logger, &sim.start)
}

func (f *sourceFlags) goldmaneSource(conn *grpc.ClientConn, clock engine.Clock, logger log.Logger, start *time.Time) (builtSource, error) {
	cfg := goldmane.Config{Bucket: f.bucket, Lag: f.lag, MaxKeys: f.goldmane.maxKeys, Now: clock.Now}
	if conn != nil {
		cfg.Conn = conn
	} else {
		// Pushes cannot be asked again: keep an hour of windows for an
		// engine that falls behind.
		cfg.Retention = max(time.Hour, 4*f.bucket)
	}
	src, err := goldmane.New(cfg, log.With(logger, "component", "goldmane"))
	if err != nil {
		return builtSource{}, err
	}
	built := builtSource{source: src, clock: clock, run: src.Run, collectors: nil}
	built.collectors = append(built.collectors, src)
	if start != nil {
		built.start = *start
	}
	return built, nil
}

// availableFrom keeps the detectors whose logs and fields src carries and
// logs why each other one is disabled: a detector whose data the source
// does not carry would judge nothing, silently. A detector needs every
// log type it is registered for, and the fields its first query (the one
// that defines what it judges) groups by, filters on or counts distinct.
func availableFrom(src source.Source, ds []detect.Detector, logger log.Logger) []detect.Detector {
	cov, ok := src.(source.Coverage)
	if !ok {
		return ds
	}
	var kept []detect.Detector
	for _, d := range ds {
		if why := unavailable(d, cov); why != "" {
			level.Warn(logger).Log("msg", "detector disabled: the source does not carry what it reads", "detector", d.Name(), "source", src.Kind(), "missing", why)
			continue
		}
		kept = append(kept, d)
	}
	return kept
}

// unavailable says what d needs that cov lacks, or "".
func unavailable(d detect.Detector, cov source.Coverage) string {
	if info, ok := detect.Lookup(d.Name()); ok {
		for _, l := range info.Logs {
			if !cov.Carries(calicolog.LogType(l), "") {
				return l + " logs"
			}
		}
	}
	if qs := d.Queries(); len(qs) > 0 {
		return source.Missing(qs[0], cov)
	}
	return ""
}
