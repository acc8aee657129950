package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// seedCerts adds two Key Vault certificates to the fetch tests' vault, one
// of each content type, and returns them by name.
func seedCerts(t *testing.T, e *emu) map[string]*akvcredstest.Certificate {
	t.Helper()
	out := map[string]*akvcredstest.Certificate{}
	for name, spec := range map[string]akvcredstest.CertificateSpec{
		"tls-pfx": {Key: "ec-p256"},
		"tls-pem": {Key: "ec-p256", ContentType: "application/x-pem-file", SignedByCA: true},
	} {
		c, err := e.srv.SetCertificate("app-vault", name, spec)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = c
	}
	return out
}

// readPEMFile checks a written certificate file: mode 0600, a key and the
// chain the emulator made, leaf first.
func readPEMFile(t *testing.T, path string, want *akvcredstest.Certificate) []byte {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode() != 0o600 {
		t.Errorf("%s: mode %v, want -rw-------", path, st.Mode())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := tls.X509KeyPair(data, data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(tc.Certificate) != len(want.Chain) || !tc.Leaf.Equal(want.Leaf) {
		t.Errorf("%s: %d certificates, leaf %v: want the emulator's chain of %d", path, len(tc.Certificate), tc.Leaf.Subject, len(want.Chain))
	}
	return data
}

// --output pem --dir writes one file per certificate (mode 0600, in a
// directory created 0700), names them on stdout without any key, skips
// the other secrets with a note, and replaces its own files on a second
// run.
func TestFetchPEM(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "certs")
	var certs map[string]*akvcredstest.Certificate
	c := cmdCase{setup: func(t *testing.T, e *emu) { certs = seedCerts(t, e) }, args: fetchArgs("--output", "pem", "--dir", dir)}
	e, r := c.run(t)
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("directory: %v, %v: want mode 0700", st, err)
	}
	var written [][]byte
	for name, kc := range certs {
		path := filepath.Join(dir, "app-vault_"+name+".pem")
		written = append(written, readPEMFile(t, path, kc))
		if !strings.Contains(r.stdout, path) {
			t.Errorf("stdout does not name %s:\n%s", path, r.stdout)
		}
	}
	for _, data := range written {
		testutil.NoKeyMaterial(t, r.stdout+r.stderr, data)
	}
	for _, skipped := range []string{"app-vault/db-password", "app-vault/api-key"} {
		if !strings.Contains(r.stderr, "note: "+skipped+" skipped: not a certificate") {
			t.Errorf("stderr has no note for %s:\n%s", skipped, r.stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("%d entries in the directory, want the 2 files", len(entries))
	}

	// Again, after a renewal: the files are replaced.
	kc, err := e.srv.SetCertificate("app-vault", "tls-pfx", akvcredstest.CertificateSpec{Key: "ec-p256"})
	if err != nil {
		t.Fatal(err)
	}
	r = runCmd(t, e.withSecret(), "", c.args...)
	wantCode(t, r, exitOK)
	readPEMFile(t, filepath.Join(dir, "app-vault_tls-pfx.pem"), kc)
}

// Whatever is at a file's path and is not a regular file is refused and
// left as it is; the other certificates are still written (exit 1).
func TestFetchPEMRefusesNonRegularFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		place func(t *testing.T, path string)
	}{
		{"symlink", func(t *testing.T, path string) {
			if err := os.Symlink(filepath.Join(filepath.Dir(path), "elsewhere"), path); err != nil {
				t.Fatal(err)
			}
		}},
		{"directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			blocked := filepath.Join(dir, "app-vault_tls-pem.pem")
			tt.place(t, blocked)
			var certs map[string]*akvcredstest.Certificate
			_, r := cmdCase{setup: func(t *testing.T, e *emu) { certs = seedCerts(t, e) },
				args: fetchArgs("--output", "pem", "--dir", dir), code: exitPartial}.run(t)
			if !strings.Contains(r.stderr, "error: app-vault/tls-pem: ") || !strings.Contains(r.stderr, "not a regular file") {
				t.Errorf("stderr:\n%s", r.stderr)
			}
			if st, err := os.Lstat(blocked); err != nil || st.Mode().IsRegular() {
				t.Errorf("%s was replaced: %v %v", blocked, st, err)
			}
			if _, err := os.Lstat(filepath.Join(dir, "elsewhere")); err == nil {
				t.Error("the symbolic link was followed")
			}
			readPEMFile(t, filepath.Join(dir, "app-vault_tls-pfx.pem"), certs["tls-pfx"])
		})
	}
}

// Without --dir, PEM goes to standard output only with --reveal; --dir is
// for --output pem only. Refusals send no request.
func TestFetchPEMFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"pem-without-dir-or-reveal", fetchArgs("--output", "pem")},
		{"dir-without-pem", fetchArgs("--dir", "somewhere")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, r := cmdCase{args: tt.args, code: exitUsage}.run(t)
			if n := len(e.srv.Requests()); n != 0 || r.stdout != "" {
				t.Errorf("%d requests, stdout %q: want none", n, r.stdout)
			}
			golden(t, "fetch_bad_"+tt.name, r.stderr)
		})
	}
	t.Run("reveal", func(t *testing.T) {
		t.Parallel()
		var certs map[string]*akvcredstest.Certificate
		_, r := cmdCase{setup: func(t *testing.T, e *emu) { certs = seedCerts(t, e) },
			args: fetchArgs("--secret", "tls-pem", "--output", "pem", "--reveal")}.run(t)
		tc, err := tls.X509KeyPair([]byte(r.stdout), []byte(r.stdout))
		if err != nil || !tc.Leaf.Equal(certs["tls-pem"].Leaf) {
			t.Errorf("stdout is not the certificate's PEM: %v", err)
		}
	})
}

// A certificate credential that cannot be used (here: its key is not in
// the value, as for a non-exportable key) is listed with its remedy, as
// every failure is, and never written; the others are (exit 1).
func TestFetchPEMFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	leaf := testutil.NewCert(testutil.CertSpec{CommonName: "no-key", Key: testutil.ECDSAKey(0)})
	var certs map[string]*akvcredstest.Certificate
	_, r := cmdCase{setup: func(t *testing.T, e *emu) {
		certs = seedCerts(t, e)
		e.srv.SetSecret("app-vault", "no-key", string(leaf.CertPEM()), akvcredstest.ContentType("application/x-pem-file"), akvcredstest.Managed())
	}, args: fetchArgs("--output", "pem", "--dir", dir), code: exitPartial}.run(t)
	if !strings.Contains(r.stderr, `error: akvcreds: vault "app-vault" secret "no-key": malformed: `) || !strings.Contains(r.stderr, "To fix: ") ||
		!strings.Contains(r.stderr, "not exportable") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if _, err := os.Lstat(filepath.Join(dir, "app-vault_no-key.pem")); err == nil {
		t.Error("the unusable certificate was written")
	}
	for name, kc := range certs {
		readPEMFile(t, filepath.Join(dir, "app-vault_"+name+".pem"), kc)
	}
}
