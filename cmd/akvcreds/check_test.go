package main

import (
	"testing"

	"github.com/akvcreds/akvcreds/akvcredstest"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(s *akvcredstest.Server)
		args  []string
		env   func(e *emu) map[string]string
		code  int
	}{
		{name: "ok", code: exitOK},
		{name: "ok-listed", args: []string{}, code: exitOK},
		{name: "rbac-forbidden", code: exitFailure, setup: func(s *akvcredstest.Server) {
			s.SetPermissions("app-vault", akvcredstest.DefaultClientID, akvcredstest.Permissions{})
		}},
		{name: "rbac-forbidden-get", code: exitPartial, setup: func(s *akvcredstest.Server) {
			s.SetPermissions("app-vault", akvcredstest.DefaultClientID, akvcredstest.Permissions{List: true})
		}},
		{name: "rbac-forbidden-system-identity", code: exitFailure, env: func(e *emu) map[string]string { return e.env },
			args: []string{"--auth", "system-identity", "--secret", "db-password"},
			setup: func(s *akvcredstest.Server) {
				s.SetPermissions("app-vault", akvcredstest.SystemAssigned, akvcredstest.Permissions{})
			}},
		{name: "access-policy-list-denied", code: exitPartial, setup: func(s *akvcredstest.Server) {
			s.AddVault("app-vault", akvcredstest.VaultAccessPolicy())
			s.SetPermissions("app-vault", akvcredstest.DefaultClientID, akvcredstest.Permissions{Get: true})
		}},
		{name: "firewall", code: exitFailure, setup: func(s *akvcredstest.Server) {
			s.SetFirewall("app-vault", true)
		}},
		{name: "disabled", code: exitPartial, args: []string{"--secret", "db-password,old-password"}},
		{name: "missing", code: exitPartial, args: []string{"--secret", "db-password,no-such-secret"}},
		{name: "wrong-client-secret", code: exitAuth, env: func(e *emu) map[string]string {
			env := e.withSecret()
			env[envClientSecret] = "not-the-client-secret"
			return env
		}},
		{name: "no-such-vault", code: exitFailure, args: []string{"--vault", "other-vault", "--secret", "db-password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEmu(t)
			values := seedFetch(e)
			if tt.setup != nil {
				tt.setup(e.srv)
			}
			env := e.withSecret()
			if tt.env != nil {
				env = tt.env(e)
			}
			args := []string{"check", "--vault", "app-vault"}
			if tt.args == nil {
				args = append(args, "--secret", "db-password,api-key")
			} else if len(tt.args) > 0 && tt.args[0] == "--vault" {
				args = append([]string{"check"}, tt.args...)
			} else {
				args = append(args, tt.args...)
			}
			r := runCmd(t, env, "", args...)
			wantCode(t, r, tt.code)
			noSecrets(t, r, append(values, "not-the-client-secret")...)
			goldenResult(t, "check_"+tt.name, r)
		})
	}
}
