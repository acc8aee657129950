package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// checkArgs is "check --vault app-vault" and more.
func checkArgs(more ...string) []string {
	return append([]string{"check", "--vault", "app-vault"}, more...)
}

// permit sets the default app's permissions on app-vault.
func permit(p akvcredstest.Permissions, opts ...akvcredstest.VaultOption) func(t *testing.T, e *emu) {
	return func(t *testing.T, e *emu) {
		if len(opts) > 0 {
			e.srv.AddVault("app-vault", opts...)
		}
		e.srv.SetPermissions("app-vault", akvcredstest.DefaultClientID, p)
	}
}

// seedBad adds secrets that a program could not use: expired, not yet
// valid, and JSON by content type but not JSON.
func seedBad(t *testing.T, e *emu) {
	now := time.Now()
	e.srv.SetSecret("app-vault", "expired", "expired-value-789", akvcredstest.Expires(now.Add(-time.Hour)))
	e.srv.SetSecret("app-vault", "future", "future-value-012", akvcredstest.NotBefore(now.Add(24*time.Hour)))
	e.srv.SetSecret("app-vault", "bad-json", `{"password": "bad-json-value-345"`, akvcredstest.ContentType("application/json"))
	e.srv.SetSecret("app-vault", "good-json", `{"password": "good-json-value-678"}`, akvcredstest.ContentType("application/vnd.app+json"))
}

// badValues are the values seedBad stores.
var badValues = []string{"expired-value-789", "future-value-012", "bad-json-value-345", "good-json-value-678"}

func TestCheck(t *testing.T) {
	t.Parallel()
	twoSecrets := checkArgs("--secret", "db-password,api-key")
	runCases(t, []cmdCase{
		{name: "ok", args: twoSecrets, golden: "check_ok"},
		{name: "ok-listed", args: checkArgs(), golden: "check_ok-listed"},
		{name: "rbac-forbidden", setup: permit(akvcredstest.Permissions{}), args: twoSecrets, code: exitFailure, golden: "check_rbac-forbidden"},
		{name: "rbac-forbidden-get", setup: permit(akvcredstest.Permissions{List: true}), args: twoSecrets, code: exitPartial, golden: "check_rbac-forbidden-get"},
		{name: "rbac-forbidden-system-identity", code: exitFailure, golden: "check_rbac-forbidden-system-identity",
			env:  func(e *emu) map[string]string { return e.env },
			args: checkArgs("--auth", "system-identity", "--secret", "db-password"),
			setup: func(t *testing.T, e *emu) {
				e.srv.SetPermissions("app-vault", akvcredstest.SystemAssigned, akvcredstest.Permissions{})
			}},
		{name: "access-policy-list-denied", setup: permit(akvcredstest.Permissions{Get: true}, akvcredstest.VaultAccessPolicy()),
			args: twoSecrets, code: exitPartial, golden: "check_access-policy-list-denied"},
		{name: "firewall", setup: func(t *testing.T, e *emu) { e.srv.SetFirewall("app-vault", true) },
			args: twoSecrets, code: exitFailure, golden: "check_firewall"},
		{name: "disabled", args: checkArgs("--secret", "db-password,old-password"), code: exitPartial, golden: "check_disabled"},
		{name: "missing", args: checkArgs("--secret", "db-password,no-such-secret"), code: exitPartial, golden: "check_missing"},
		{name: "wrong-client-secret", args: twoSecrets, code: exitAuth, golden: "check_wrong-client-secret",
			env:    func(e *emu) map[string]string { return e.withSecret(envClientSecret, "not-the-client-secret") },
			hidden: []string{"not-the-client-secret"}},
		{name: "no-such-vault", args: []string{"check", "--vault", "other-vault", "--secret", "db-password"}, code: exitFailure, golden: "check_no-such-vault"},
		// Issue 13: expired and malformed secrets are labelled by their
		// kind, with command-line advice.
		{name: "expired-malformed", setup: seedBad, hidden: badValues, code: exitPartial, golden: "check_expired-malformed",
			args: checkArgs("--secret", "db-password,expired,future,bad-json,good-json")},
		{name: "expired-malformed-listed", setup: seedBad, hidden: badValues, code: exitPartial, golden: "check_expired-malformed-listed",
			args: checkArgs()},
		// 501 is not retried (503 would be, taking seconds).
		{name: "unavailable", setup: inject(akvcredstest.Fault{Host: "app-vault.vault.azure.net", Path: "/secrets/api-key", Status: 501, Count: 100}),
			args: checkArgs("--secret", "api-key"), code: exitPartial, golden: "check_unavailable"},
		{name: "timeout", setup: inject(akvcredstest.Fault{Host: "app-vault.vault.azure.net", Delay: time.Minute, Count: 100}),
			args: checkArgs("--secret", "api-key", "--timeout", "1s"), code: exitFailure, golden: "check_timeout"},
	})
}

// inject adds a fault to the emulator.
func inject(f akvcredstest.Fault) func(t *testing.T, e *emu) {
	return func(t *testing.T, e *emu) { e.srv.Inject(f) }
}

// TestCheckLabels checks that every failure is labelled with its kind and
// shows a fix that names no library option.
func TestCheckLabels(t *testing.T) {
	t.Parallel()
	_, r := cmdCase{setup: seedBad, hidden: badValues, code: exitPartial,
		args: checkArgs("-v", "--secret", "db-password,old-password,no-such-secret,expired,future,bad-json")}.run(t)
	for secret, label := range map[string]string{
		"db-password": "ok", "old-password": "FAIL: disabled", "no-such-secret": "FAIL: not found",
		"expired": "FAIL: expired", "future": "FAIL: expired", "bad-json": "FAIL: malformed",
	} {
		if !rowHas(r.stdout, secret, label) {
			t.Errorf("the row of %s does not say %q:\n%s", secret, label, r.stdout)
		}
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.Contains(line, "FAIL") && strings.HasSuffix(strings.TrimSpace(line), " -") {
			t.Errorf("a failure without a fix: %s", line)
		}
		if strings.Contains(line, "With") {
			t.Errorf("a fix names a library option: %s", line)
		}
	}
	// -v: one error line per failure.
	n := 0
	for _, line := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(line, "error: ") {
			n++
			if strings.Contains(line, "With") || strings.Contains(line, "mapping function") {
				t.Errorf("an error line gives library advice: %s", line)
			}
		}
	}
	if n != 5 {
		t.Errorf("%d error lines with -v, want 5:\n%s", n, r.stderr)
	}
}

// rowHas reports whether the table line of secret contains want.
func rowHas(table, secret, want string) bool {
	for _, line := range strings.Split(table, "\n") {
		if strings.Contains(line, " "+secret+" ") && strings.Contains(line, want) {
			return true
		}
	}
	return false
}

// TestCheckListOnlyReadsNamed checks that with --secret the listing is
// checked without reading the other secrets.
func TestCheckListOnlyReadsNamed(t *testing.T) {
	t.Parallel()
	e, _ := cmdCase{setup: seedBad, hidden: badValues, args: checkArgs("--secret", "db-password")}.run(t)
	if n := e.srv.Count(akvcredstest.KindGetSecret); n != 1 {
		t.Errorf("%d secret reads, want 1", n)
	}
}

// TestFailRowEveryKind checks that a failure of every kind is labelled with
// the kind's own label and shows its Remedy.
func TestFailRowEveryKind(t *testing.T) {
	t.Parallel()
	ck := &checker{timeout: time.Minute}
	for _, k := range []error{
		akvcreds.ErrInvalidArgument, akvcreds.ErrUnauthenticated, akvcreds.ErrForbidden, akvcreds.ErrNotFound,
		akvcreds.ErrDisabled, akvcreds.ErrThrottled, akvcreds.ErrUnavailable, akvcreds.ErrMalformed, akvcreds.ErrExpired,
	} {
		fe := &akvcreds.FetchError{Vault: "v", Secret: "s", Kind: k.(akvcreds.Kind), Remedy: "fix " + k.Error(), Err: fmt.Errorf("%w: detail", k)}
		for _, err := range []error{fe, fmt.Errorf("wrapped: %w", fe)} {
			r := ck.failRow(context.Background(), "v", "s", "get", err)
			if r.result != "FAIL: "+k.Error() || r.fix != "fix "+k.Error() || !r.failed {
				t.Errorf("%v: row %+v", k, r)
			}
		}
	}
	// A failure before any request (a malformed call) has a kind too.
	if r := ck.failRow(context.Background(), "v", "", "list", fmt.Errorf("bad: %w", akvcreds.ErrInvalidArgument)); r.result != "FAIL: invalid argument" {
		t.Errorf("row %+v", r)
	}
}
