package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds/akvcredstest"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEmulator runs "akvcreds emulator" on random ports, then fetches from
// it with "akvcreds fetch" through the AKVCREDS_EMULATOR_* variables it
// prints, and stops it by cancelling its context.
func TestEmulator(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	seed := filepath.Join(dir, "seed.json")
	const value = "seeded-value-from-json"
	if err := os.WriteFile(seed, []byte(`{"vaults":[{"name":"seeded-vault","secrets":[{"name":"token","value":"`+value+`"}]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"emulator", "--addr", "127.0.0.1:0", "--imds-addr", "127.0.0.1:0", "--seed", seed, "--ca-out", ca},
			strings.NewReader(""), &bytes.Buffer{}, &stderr, func(string) string { return "" })
	}()

	started := regexp.MustCompile(`on https://(127\.0\.0\.1:\d+), managed identity \(IMDS\) on http://(127\.0\.0\.1:\d+)`)
	deadline := time.After(10 * time.Second)
	for !strings.Contains(stderr.String(), "Serving until interrupted") {
		select {
		case code := <-done:
			t.Fatalf("emulator exited with %d:\n%s", code, stderr.String())
		case <-deadline:
			t.Fatalf("emulator did not start:\n%s", stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	m := started.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no addresses in:\n%s", stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{"AKVCREDS_EMULATOR_CA=" + ca, "127.0.0.1 contoso-prod.vault.azure.net login.microsoftonline.com",
		"--cacert " + ca, "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS"} {
		if !strings.Contains(out, want) {
			t.Errorf("instructions lack %q", want)
		}
	}
	golden(t, "emulator_start", strings.ReplaceAll(out, ca, "<ca>"))

	env := map[string]string{
		envEmulatorCA: ca, envEmulatorAddr: m[1], envEmulatorIMDS: m[2],
		envTenantID: akvcredstest.DefaultTenantID, envClientID: akvcredstest.DefaultClientID,
		envClientSecret: akvcredstest.DefaultClientSecret,
	}
	r := runCmd(t, env, "", "fetch", "--vault", "seeded-vault", "--output", "env", "--reveal")
	wantCode(t, r, exitOK)
	if want := "export SEEDED_VAULT_TOKEN='" + value + "'\n"; r.stdout != want {
		t.Errorf("fetch: got %q, want %q", r.stdout, want)
	}
	r = runCmd(t, env, "", "fetch", "--vault", "seeded-vault", "--auth", "user-identity", "--client-id", akvcredstest.DefaultUserAssignedClientID)
	wantCode(t, r, exitOK)
	noSecrets(t, r, value)

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("emulator exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("emulator did not stop")
	}
	if !strings.HasSuffix(stderr.String(), "akvcreds emulator: stopped\n") {
		t.Errorf("no stop message:\n%s", stderr.String())
	}
}

func TestEmulatorBadSeed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.json")
	if err := os.WriteFile(seed, []byte(`{"vaults":[{"nme":"typo"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, nil, "", "emulator", "--addr", "127.0.0.1:0", "--imds-addr", "127.0.0.1:0", "--seed", seed, "--ca-out", filepath.Join(dir, "ca.pem"))
	wantCode(t, r, exitUsage)
	r = runCmd(t, nil, "", "emulator", "--seed", filepath.Join(dir, "missing.json"))
	wantCode(t, r, exitUsage)
}
