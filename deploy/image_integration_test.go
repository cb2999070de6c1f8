//go:build integration

package deploy

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/internal/testkit"
)

// TestImageBuildsFromScratchAndRunsVersion builds the image as a user does
// (make image), with Debian's buildah and the base scratch, so nothing is
// pulled: the image holds the binary alone. Containers cannot be started on
// the test machines (cgroup limits), so the binary is taken out of the
// image's layer and run here with --version, which must print the revision
// and branch the Makefile stamped in.
func TestImageBuildsFromScratchAndRunsVersion(t *testing.T) {
	buildah, err := exec.LookPath("buildah")
	if err != nil {
		t.Fatalf("buildah is not installed (scripts/testbed.sh installs it from Debian): %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	tool := strings.Join([]string{buildah, "--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"), "--storage-driver", "vfs"}, " ")
	const image = "calico-anomaly-exporter:image-test"
	make := exec.Command("make", "--no-print-directory", "-C", root, "image",
		"CONTAINER_TOOL="+tool, "BASE=scratch", "IMAGE=calico-anomaly-exporter", "IMAGE_TAG=image-test")
	if out, err := make.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	dir := filepath.Join(store, "pushed")
	push := exec.Command(buildah, "--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"), "--storage-driver", "vfs",
		"push", image, "dir:"+dir)
	if out, err := push.CombinedOutput(); err != nil {
		t.Fatalf("buildah push to a folder: %v\n%s", err, out)
	}

	var manifest struct {
		Config struct{ Digest string } `json:"config"`
		Layers []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
		} `json:"layers"`
	}
	readJSON(t, filepath.Join(dir, "manifest.json"), &manifest)
	var cfg struct {
		Config struct {
			User         string              `json:"User"`
			Entrypoint   []string            `json:"Entrypoint"`
			ExposedPorts map[string]struct{} `json:"ExposedPorts"`
		} `json:"config"`
	}
	readJSON(t, blob(dir, manifest.Config.Digest), &cfg)
	if cfg.Config.User != "65534:65534" {
		t.Errorf("the image runs as %q, want nobody (65534:65534)", cfg.Config.User)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/bin/calico-anomaly-exporter"}) {
		t.Errorf("entrypoint %q", cfg.Config.Entrypoint)
	}
	if _, ok := cfg.Config.ExposedPorts["9925/tcp"]; !ok {
		t.Errorf("port 9925 not exposed: %v", cfg.Config.ExposedPorts)
	}
	if len(manifest.Layers) != 1 {
		t.Fatalf("%d layers on scratch, want the binary's one", len(manifest.Layers))
	}
	files, bin := extractLayer(t, blob(dir, manifest.Layers[0].Digest), manifest.Layers[0].MediaType, "bin/calico-anomaly-exporter")
	if !slices.Equal(files, []string{"bin/", "bin/calico-anomaly-exporter"}) && !slices.Equal(files, []string{"bin/calico-anomaly-exporter"}) {
		t.Errorf("the layer holds %q, want the binary alone", files)
	}

	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("the image's binary --version: %v\n%s", err, out)
	}
	revision := git(t, root, "rev-parse", "HEAD")
	branch := git(t, root, "rev-parse", "--abbrev-ref", "HEAD")
	for _, want := range []string{"calico-anomaly-exporter, version ", "revision: " + revision, "branch: " + branch} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--version of the image's binary lacks %q:\n%s", want, out)
		}
	}
	t.Logf("--version of the image's binary:\n%s", out)

	// The same binary serving: its build_info metric and its status page
	// carry the revision too.
	addr := testkit.FreeAddr(t)
	cmd := exec.Command(bin, "--source=simulated", "--web.listen-address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	metrics := waitGet(t, "http://"+addr+"/metrics")
	if !regexp.MustCompile(`calico_anomaly_exporter_build_info\{[^}]*revision="` + revision + `"[^}]*\} 1`).MatchString(metrics) {
		t.Errorf("calico_anomaly_exporter_build_info lacks revision %s:\n%s", revision, grepLines(metrics, "build_info"))
	}
	if page := waitGet(t, "http://"+addr+"/"); !strings.Contains(page, "revision="+revision) {
		t.Errorf("the status page header lacks revision=%s", revision)
	}
}

// waitGet fetches url once the server answers 200, for up to 30 s.
func waitGet(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(body)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 30s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func blob(dir, digest string) string {
	return filepath.Join(dir, strings.TrimPrefix(digest, "sha256:"))
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// extractLayer lists a layer's entries and writes the named file to a
// temporary executable, returning its path.
func extractLayer(t *testing.T, path, mediaType, name string) ([]string, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(mediaType, "gzip") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = gz
	}
	tr := tar.NewReader(r)
	var names []string
	out := filepath.Join(t.TempDir(), "calico-anomaly-exporter")
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("layer %s: %v", path, err)
		}
		n := strings.TrimPrefix(h.Name, "./")
		names = append(names, n)
		if n != name {
			continue
		}
		if h.Mode&0o111 == 0 {
			t.Errorf("%s is not executable in the image (mode %o)", name, h.Mode)
		}
		w, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, tr); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		found = true
	}
	if !found {
		t.Fatalf("no %s in the image's layer (it holds %q)", name, names)
	}
	return names, out
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}
