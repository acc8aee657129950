package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/akvcreds/akvcreds/akvcredstest"
)

// seedFetch seeds the vaults the fetch tests read and returns the secret
// values stored.
func seedFetch(e *emu) []string {
	s := e.srv
	s.SetSecret("app-vault", "db-password", "db-S3cr3t'quote", akvcredstest.ContentType("text/plain"),
		akvcredstest.Tags(map[string]string{"env": "test"}))
	s.SetSecret("app-vault", "api-key", "api-key-value-123")
	s.SetSecret("app-vault", "old-password", "old-value-456", akvcredstest.Disabled())
	return []string{"db-S3cr3t'quote", "api-key-value-123", "old-value-456", akvcredstest.DefaultClientSecret}
}

func TestFetchTable(t *testing.T) {
	t.Parallel()
	e := newEmu(t)
	values := seedFetch(e)
	r := runCmd(t, e.withSecret(), "", "fetch", "--vault", "app-vault", "--secret", "db-password,api-key")
	wantCode(t, r, exitOK)
	noSecrets(t, r, values...)
	goldenResult(t, "fetch_table", r)
}

func TestFetchJSON(t *testing.T) {
	t.Parallel()
	e := newEmu(t)
	values := seedFetch(e)
	r := runCmd(t, e.withSecret(), "", "fetch", "--vault", "app-vault", "--secret", "db-password", "--secret", "api-key", "--output", "json")
	wantCode(t, r, exitOK)
	noSecrets(t, r, values...)
	goldenResult(t, "fetch_json", r)
}

func TestFetchJSONReveal(t *testing.T) {
	t.Parallel()
	e := newEmu(t)
	seedFetch(e)
	r := runCmd(t, e.withSecret(), "", "fetch", "--vault", "app-vault", "--secret", "db-password", "--output", "json", "--reveal")
	wantCode(t, r, exitOK)
	goldenResult(t, "fetch_json_reveal", r)
}

func TestFetchTableReveal(t *testing.T) {
	t.Parallel()
	e := newEmu(t)
	seedFetch(e)
	r := runCmd(t, e.withSecret(), "", "fetch", "--vault", "app-vault", "--secret", "api-key", "--reveal")
	wantCode(t, r, exitOK)
	goldenResult(t, "fetch_table_reveal", r)
}

func TestFetchEnvReveal(t *testing.T) {
	t.Parallel()
	e := newEmu(t)
	seedFetch(e)
	// No --secret: the vault is listed, the disabled secret left out.
	r := runCmd(t, e.withSecret(), "", "fetch", "--vault", "app-vault", "--output", "env", "--reveal")
	wantCode(t, r, exitOK)
	goldenResult(t, "fetch_env_reveal", r)
}

func TestFetchEnvWithoutReveal(t *testing.T) {
	t.Parallel()
	e := newEmu(t)
	values := seedFetch(e)
	r := runCmd(t, e.withSecret(), "", "fetch", "--vault", "app-vault", "--output", "env")
	wantCode(t, r, exitUsage)
	noSecrets(t, r, values...)
	goldenResult(t, "fetch_env_no_reveal", r)
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

func TestFetchAuthModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   func(e *emu) map[string]string
		stdin string
		args  []string
	}{
		{"client-secret-env", (*emu).withSecret, "", nil},
		{"client-secret-explicit-auth", (*emu).withSecret, "", []string{"--auth", "client-secret"}},
		{"client-secret-flags", func(e *emu) map[string]string {
			return e.with(map[string]string{envClientSecret: akvcredstest.DefaultClientSecret})
		}, "", []string{"--tenant-id", akvcredstest.DefaultTenantID, "--client-id", akvcredstest.DefaultClientID}},
		{"client-secret-file", func(e *emu) map[string]string {
			return e.with(map[string]string{envTenantID: akvcredstest.DefaultTenantID, envClientID: akvcredstest.DefaultClientID})
		}, "", []string{"--client-secret-file", "SECRETFILE"}},
		{"client-secret-stdin", func(e *emu) map[string]string {
			return e.with(map[string]string{envTenantID: akvcredstest.DefaultTenantID, envClientID: akvcredstest.DefaultClientID})
		}, akvcredstest.DefaultClientSecret + "\n", []string{"--client-secret-stdin"}},
		{"system-identity", func(e *emu) map[string]string { return e.env }, "", []string{"--auth", "system-identity"}},
		{"system-identity-ignores-env-secret", (*emu).withSecret, "", []string{"--auth", "system-identity"}},
		{"user-identity", func(e *emu) map[string]string { return e.env }, "",
			[]string{"--auth", "user-identity", "--client-id", akvcredstest.DefaultUserAssignedClientID}},
		{"user-identity-env", func(e *emu) map[string]string {
			return e.with(map[string]string{envClientID: akvcredstest.DefaultUserAssignedClientID})
		}, "", []string{"--auth", "user-identity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEmu(t)
			values := seedFetch(e)
			args := []string{"fetch", "--vault", "app-vault", "--secret", "db-password"}
			for _, a := range tt.args {
				if a == "SECRETFILE" {
					a = writeTemp(t, akvcredstest.DefaultClientSecret+"\n")
				}
				args = append(args, a)
			}
			r := runCmd(t, tt.env(e), tt.stdin, args...)
			wantCode(t, r, exitOK)
			noSecrets(t, r, values...)
			golden(t, "fetch_auth_ok", r.stdout)
			if r.stderr != "" {
				t.Errorf("stderr: %s", r.stderr)
			}
		})
	}
}

func TestFetchPartialFailure(t *testing.T) {
	t.Parallel()
	e := newEmu(t)
	values := seedFetch(e)
	r := runCmd(t, e.withSecret(), "", "fetch", "--vault", "app-vault", "--secret", "db-password,old-password,no-such-secret,api-key")
	wantCode(t, r, exitPartial)
	noSecrets(t, r, values...)
	goldenResult(t, "fetch_partial", r)
}

func TestFetchWrongClientSecret(t *testing.T) {
	t.Parallel()
	e := newEmu(t)
	values := seedFetch(e)
	env := e.withSecret()
	env[envClientSecret] = "not-the-client-secret"
	r := runCmd(t, env, "", "fetch", "--vault", "app-vault", "--secret", "db-password,api-key")
	wantCode(t, r, exitAuth)
	noSecrets(t, r, append(values, "not-the-client-secret")...)
	goldenResult(t, "fetch_wrong_client_secret", r)
}

func TestFetchAllForbidden(t *testing.T) {
	t.Parallel()
	e := newEmu(t)
	values := seedFetch(e)
	e.srv.SetPermissions("app-vault", akvcredstest.DefaultClientID, akvcredstest.Permissions{})
	r := runCmd(t, e.withSecret(), "", "fetch", "--vault", "app-vault", "--secret", "db-password")
	wantCode(t, r, exitFailure)
	noSecrets(t, r, values...)
}

func TestFetchBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		stdin string
		args  []string
	}{
		{"bad-vault-name", "", []string{"--vault", "bad_vault!"}},
		{"bad-secret-name", "", []string{"--vault", "app-vault", "--secret", "no_underscores"}},
		{"no-vault", "", nil},
		{"two-auth-modes", "", []string{"--vault", "app-vault", "--auth", "system-identity", "--client-secret-stdin"}},
		{"two-secret-sources", "x", []string{"--vault", "app-vault", "--client-secret-stdin", "--client-secret-file", "f"}},
		{"system-identity-with-client-id", "", []string{"--vault", "app-vault", "--auth", "system-identity", "--client-id", akvcredstest.DefaultUserAssignedClientID}},
		{"unknown-auth", "", []string{"--vault", "app-vault", "--auth", "password"}},
		{"unknown-cloud", "", []string{"--vault", "app-vault", "--cloud", "mars"}},
		{"unknown-output", "", []string{"--vault", "app-vault", "--output", "yaml"}},
		{"bad-concurrency", "", []string{"--vault", "app-vault", "--concurrency", "0"}},
		{"unknown-flag", "", []string{"--vault", "app-vault", "--client-secret", "s3cret"}},
		{"stray-argument", "", []string{"--vault", "app-vault", "db-password"}},
		{"empty-stdin-secret", "\n", []string{"--vault", "app-vault", "--client-secret-stdin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEmu(t)
			r := runCmd(t, e.withSecret(), tt.stdin, append([]string{"fetch"}, tt.args...)...)
			wantCode(t, r, exitUsage)
			noSecrets(t, r, akvcredstest.DefaultClientSecret)
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
			if n := len(e.srv.Requests()); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
			golden(t, "fetch_bad_"+tt.name, r.stderr)
		})
	}
}

func TestFetchNoAuth(t *testing.T) {
	t.Parallel()
	e := newEmu(t)
	r := runCmd(t, e.env, "", "fetch", "--vault", "app-vault")
	wantCode(t, r, exitUsage)
}

func TestFetchHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"fetch", "-h"}, {"fetch", "--help"}} {
		r := runCmd(t, nil, "", args...)
		wantCode(t, r, exitOK)
		if r.stdout != "" {
			t.Errorf("%v: usage on stdout", args)
		}
		golden(t, "fetch_help", r.stderr)
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFetchVerboseLogsNoSecrets(t *testing.T) {
	t.Parallel()
	e := newEmu(t)
	values := seedFetch(e)
	r := runCmd(t, e.withSecret(), "", "fetch", "-v", "--vault", "app-vault", "--output", "json")
	wantCode(t, r, exitOK)
	noSecrets(t, r, values...)
	if !strings.Contains(r.stderr, "level=DEBUG") {
		t.Errorf("no debug logs on stderr:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout, "level=") {
		t.Errorf("logs on stdout:\n%s", r.stdout)
	}
}
