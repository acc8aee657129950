package main

import (
	"strings"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// fetchArgs is "fetch --vault app-vault" and more.
func fetchArgs(more ...string) []string {
	return append([]string{"fetch", "--vault", "app-vault"}, more...)
}

func TestFetch(t *testing.T) {
	t.Parallel()
	noPermissions := func(t *testing.T, e *emu) {
		e.srv.SetPermissions("app-vault", akvcredstest.DefaultClientID, akvcredstest.Permissions{})
	}
	runCases(t, []cmdCase{
		{name: "table", args: fetchArgs("--secret", "db-password,api-key"), golden: "fetch_table"},
		{name: "json", args: fetchArgs("--secret", "db-password", "--secret", "api-key", "--output", "json"), golden: "fetch_json"},
		{name: "json-reveal", args: fetchArgs("--secret", "db-password", "--output", "json", "--reveal"), golden: "fetch_json_reveal"},
		{name: "table-reveal", args: fetchArgs("--secret", "api-key", "--reveal"), golden: "fetch_table_reveal"},
		// No --secret: the vault is listed, the disabled secret left out.
		{name: "env-reveal", args: fetchArgs("--output", "env", "--reveal"), golden: "fetch_env_reveal"},
		{name: "partial", args: fetchArgs("--secret", "db-password,old-password,no-such-secret,api-key"), code: exitPartial, golden: "fetch_partial"},
		{name: "wrong-client-secret", args: fetchArgs("--secret", "db-password,api-key"), code: exitAuth, golden: "fetch_wrong_client_secret",
			env:    func(e *emu) map[string]string { return e.withSecret(envClientSecret, "not-the-client-secret") },
			hidden: []string{"not-the-client-secret"}},
		{name: "all-forbidden", setup: noPermissions, args: fetchArgs("--secret", "db-password"), code: exitFailure},
		{name: "no-auth", env: func(e *emu) map[string]string { return e.env }, args: fetchArgs(), code: exitUsage},
		{name: "timeout", setup: inject(akvcredstest.Fault{Host: "app-vault.vault.azure.net", Delay: time.Minute, Count: 100}),
			args: fetchArgs("--secret", "db-password", "--timeout", "1s"), code: exitFailure, golden: "fetch_timeout"},
	})
}

// TestFetchEnvWithoutReveal checks that env output is refused before any
// request without --reveal.
func TestFetchEnvWithoutReveal(t *testing.T) {
	t.Parallel()
	e, _ := cmdCase{args: fetchArgs("--output", "env"), code: exitUsage, golden: "fetch_env_no_reveal"}.run(t)
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

// TestFetchAuthModes fetches with each client-secret and managed identity
// mode (the others are in auth_test.go).
func TestFetchAuthModes(t *testing.T) {
	t.Parallel()
	ids := func(e *emu) map[string]string {
		return e.with(envTenantID, akvcredstest.DefaultTenantID, envClientID, akvcredstest.DefaultClientID)
	}
	bare := func(e *emu) map[string]string { return e.env }
	tests := []struct {
		name  string
		env   func(e *emu) map[string]string
		stdin string
		args  []string
	}{
		{"client-secret-env", nil, "", nil},
		{"client-secret-explicit-auth", nil, "", []string{"--auth", "client-secret"}},
		{"client-secret-flags", func(e *emu) map[string]string { return e.with(envClientSecret, akvcredstest.DefaultClientSecret) },
			"", []string{"--tenant-id", akvcredstest.DefaultTenantID, "--client-id", akvcredstest.DefaultClientID}},
		{"client-secret-file", ids, "", []string{"--client-secret-file", "SECRETFILE"}},
		{"client-secret-stdin", ids, akvcredstest.DefaultClientSecret + "\n", []string{"--client-secret-stdin"}},
		{"system-identity", bare, "", []string{"--auth", "system-identity"}},
		{"system-identity-ignores-env-secret", nil, "", []string{"--auth", "system-identity"}},
		{"user-identity", bare, "", []string{"--auth", "user-identity", "--client-id", akvcredstest.DefaultUserAssignedClientID}},
		{"user-identity-env", func(e *emu) map[string]string { return e.with(envClientID, akvcredstest.DefaultUserAssignedClientID) },
			"", []string{"--auth", "user-identity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := fetchArgs("--secret", "db-password")
			for _, a := range tt.args {
				if a == "SECRETFILE" {
					a = testutil.WriteFile(t, "secret", []byte(akvcredstest.DefaultClientSecret+"\n"))
				}
				args = append(args, a)
			}
			_, r := cmdCase{env: tt.env, stdin: tt.stdin, args: args}.run(t)
			golden(t, "fetch_auth_ok", r.stdout)
			if r.stderr != "" {
				t.Errorf("stderr: %s", r.stderr)
			}
		})
	}
}

// TestFetchBadInput checks that bad input is a usage error (exit 2) on
// stderr, before any request.
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
		{"removed-send-certificate-chain", "", []string{"--vault", "app-vault", "--send-certificate-chain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, r := cmdCase{stdin: tt.stdin, args: append([]string{"fetch"}, tt.args...), code: exitUsage}.run(t)
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

func TestFetchVerboseLogsNoSecrets(t *testing.T) {
	t.Parallel()
	_, r := cmdCase{args: fetchArgs("-v", "--output", "json")}.run(t)
	if !strings.Contains(r.stderr, "level=DEBUG") {
		t.Errorf("no debug logs on stderr:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout, "level=") {
		t.Errorf("logs on stdout:\n%s", r.stdout)
	}
}
