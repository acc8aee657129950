package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds/akvcredstest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// result is the outcome of one run.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs the command with env as its whole environment and stdin as
// its standard input.
func runCmd(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr, getenv)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// testEpoch is the emulator's fixed clock, so times in JSON are stable.
var testEpoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// emu is an akvcredstest server and the environment that points the
// command at it.
type emu struct {
	srv *akvcredstest.Server
	env map[string]string
}

func newEmu(t *testing.T) *emu {
	t.Helper()
	srv := akvcredstest.NewTestServer(t, akvcredstest.WithClock(func() time.Time { return testEpoch }))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return &emu{srv: srv, env: map[string]string{
		envEmulatorCA:   ca,
		envEmulatorAddr: srv.Addr(),
		envEmulatorIMDS: srv.IMDSAddr(),
	}}
}

// withSecret returns e's environment plus the default app's client secret
// credentials.
func (e *emu) withSecret() map[string]string {
	return e.with(map[string]string{
		envTenantID:     akvcredstest.DefaultTenantID,
		envClientID:     akvcredstest.DefaultClientID,
		envClientSecret: akvcredstest.DefaultClientSecret,
	})
}

// with returns e's environment plus extra.
func (e *emu) with(extra map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range e.env {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

var (
	fullVersionRE  = regexp.MustCompile(`[0-9a-f]{32}`)
	shortVersionRE = regexp.MustCompile(`(?m)(^|\s)[0-9a-f]{8}(\s|$)`)
	requestIDRE    = regexp.MustCompile(`request ID [0-9A-Za-z-]+`)
	traceRE        = regexp.MustCompile(`(Trace|Correlation) ID: [0-9a-f-]+`)
	timestampRE    = regexp.MustCompile(`Timestamp: [0-9: -]+`)
	emuAddrRE      = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)
)

// mask replaces what changes from run to run: secret versions (full, and
// the 8-character prefix in tables), request IDs and loopback ports.
func mask(s string) string {
	s = fullVersionRE.ReplaceAllString(s, "<version>")
	s = shortVersionRE.ReplaceAllString(s, "${1}xxxxxxxx${2}")
	s = requestIDRE.ReplaceAllString(s, "request ID <id>")
	s = traceRE.ReplaceAllString(s, "$1 ID: <id>")
	s = timestampRE.ReplaceAllString(s, "Timestamp: <time>")
	s = emuAddrRE.ReplaceAllString(s, "127.0.0.1:<port>")
	return s
}

// golden compares got (masked) with testdata/name.golden, or rewrites the
// file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	got = mask(got)
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/akvcreds -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// goldenResult records the exit code, stdout and stderr of r in one file.
func goldenResult(t *testing.T, name string, r result) {
	t.Helper()
	var b strings.Builder
	b.WriteString("exit: ")
	b.WriteString(string(rune('0' + r.code)))
	b.WriteString("\n-- stdout --\n")
	b.WriteString(r.stdout)
	b.WriteString("-- stderr --\n")
	b.WriteString(r.stderr)
	golden(t, name, b.String())
}

// noSecrets fails if any of the values appears in r's output.
func noSecrets(t *testing.T, r result, values ...string) {
	t.Helper()
	for _, v := range values {
		if strings.Contains(r.stdout, v) || strings.Contains(r.stderr, v) {
			t.Errorf("output contains the secret value %q", v)
		}
	}
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}
