package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

func TestMainUsage(t *testing.T) {
	t.Parallel()
	r := runCmd(t, nil, "")
	wantCode(t, r, exitUsage)
	if r.stdout != "" || !strings.Contains(r.stderr, "Commands:") {
		t.Errorf("no-argument usage: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	r = runCmd(t, nil, "", "help")
	wantCode(t, r, exitOK)
	golden(t, "help", r.stdout)
	r = runCmd(t, nil, "", "frobnicate")
	wantCode(t, r, exitUsage)
	if !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %q", r.stderr)
	}
}

func TestHelpCommands(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"demo", "fetch", "check", "emulator", "version"} {
		r := runCmd(t, nil, "", "help", cmd)
		wantCode(t, r, exitOK)
		h := runCmd(t, nil, "", cmd, "-h")
		wantCode(t, h, exitOK)
		if r.stdout != h.stderr || h.stdout != "" {
			t.Errorf("help %s differs from %s -h", cmd, cmd)
		}
		golden(t, cmd+"_help", h.stderr)
	}
	r := runCmd(t, nil, "", "help", "nope")
	wantCode(t, r, exitUsage)
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := runCmd(t, nil, "", "version")
	wantCode(t, r, exitOK)
	if !strings.HasPrefix(r.stdout, "akvcreds ") {
		t.Errorf("version: %q", r.stdout)
	}
}

func TestEnvName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"contoso-prod_db-password": "CONTOSO_PROD_DB_PASSWORD",
		"v1_Api-Key2":              "V1_API_KEY2",
	} {
		if got := envName(in); got != want {
			t.Errorf("envName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"plain":     "'plain'",
		"it's":      `'it'\''s'`,
		"$(rm -rf)": "'$(rm -rf)'",
		"":          "''",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	fe := func(kind error) error {
		return &akvcreds.FetchError{Vault: "v", Secret: "s", Kind: kind.(akvcreds.Kind), Err: kind}
	}
	tests := []struct {
		ok   int
		err  error
		want int
	}{
		{3, nil, exitOK},
		{1, errors.Join(fe(akvcreds.ErrNotFound)), exitPartial},
		{1, errors.Join(fe(akvcreds.ErrUnauthenticated)), exitPartial},
		{0, errors.Join(fe(akvcreds.ErrUnauthenticated), fe(akvcreds.ErrUnauthenticated)), exitAuth},
		{0, errors.Join(fe(akvcreds.ErrUnauthenticated), fe(akvcreds.ErrForbidden)), exitFailure},
		{0, errors.Join(fe(akvcreds.ErrDisabled)), exitFailure},
		{0, errors.Join(fe(akvcreds.ErrExpired), fe(akvcreds.ErrMalformed)), exitFailure},
		{0, fmt.Errorf("bad: %w", akvcreds.ErrInvalidArgument), exitUsage},
		{0, context.DeadlineExceeded, exitFailure},
	}
	for i, tt := range tests {
		if got := exitCode(tt.ok, tt.err); got != tt.want {
			t.Errorf("%d: exitCode(%d, %v) = %d, want %d", i, tt.ok, tt.err, got, tt.want)
		}
	}
}

// TestEmulatorClientRefuses checks that the emulator client dials nothing
// but the emulator.
func TestEmulatorClientRefuses(t *testing.T) {
	t.Parallel()
	e := newEmu(t)
	hc, err := emulatorClient(testutil.Getenv(e.env))
	if err != nil {
		t.Fatal(err)
	}
	defer hc.CloseIdleConnections()
	for _, u := range []string{"http://example.com/", "https://127.0.0.1:1/", "http://169.254.169.254:8080/"} {
		req, _ := http.NewRequest("GET", u, nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("%s: dialled", u)
		}
	}
	if len(e.srv.Requests()) != 0 {
		t.Error("requests reached the emulator")
	}
	bad := map[string]string{envEmulatorCA: e.env[envEmulatorCA]}
	if _, err := emulatorClient(testutil.Getenv(bad)); err == nil {
		t.Error("CA without address accepted")
	}
}

// TestBinaryLinksNoTesting checks that the command links neither the
// testing package nor test-only helpers (issue 13): akvcredstest's core
// does not import testing, and nothing but tests may import testutil.
func TestBinaryLinksNoTesting(t *testing.T) {
	t.Parallel()
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool:", err)
	}
	out, err := exec.Command(gotool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "testing" || strings.HasSuffix(p, "/internal/testutil") {
			t.Errorf("akvcreds links %s", p)
		}
	}
}
