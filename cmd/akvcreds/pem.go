package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/internal/certs"
)

// pemResult is what writing certificate credentials as PEM did.
type pemResult struct {
	written, failed int
}

// certPEM encodes a certificate credential as one PEM file, as Key Vault
// writes a PEM certificate's secret: the private key (PKCS#8), then the
// chain, leaf first.
func certPEM(tc *tls.Certificate) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(tc.PrivateKey)
	if err != nil {
		return nil, errors.New("the private key cannot be encoded as PKCS#8")
	}
	var b bytes.Buffer
	_ = pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	for _, c := range tc.Certificate {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c})
	}
	return b.Bytes(), nil
}

// pemFileName is a credential's file name: VAULT_SECRET.pem, with any
// character other than a letter, digit or hyphen replaced (vault and
// secret names have none, and no underscore, so names cannot collide).
func pemFileName(c akvcreds.Credential) string {
	safe := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '-' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') {
				return r
			}
			return '-'
		}, s)
	}
	return safe(c.Vault) + "_" + safe(c.Secret) + ".pem"
}

// writePEM writes the certificate credentials of creds as PEM: one file
// each in dir (created with mode 0700 if missing; files mode 0600), with a
// line per file on stdout, or, with dir "", all of them to stdout (the
// caller asked for --reveal). Credentials that are not certificates are
// skipped with a note on stderr; files that cannot be written are errors
// there.
func writePEM(stdout, stderr io.Writer, creds []akvcreds.Credential, dir string) pemResult {
	var res pemResult
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			fmt.Fprintf(stderr, "error: creating the directory: %s\n", clean(err.Error()))
			return pemResult{failed: len(creds)}
		}
		if st, err := os.Stat(dir); err == nil && st.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(stderr, "note: %s is open to other users (mode %v): the files are not (mode 0600)\n", clean(dir), st.Mode().Perm())
		}
	}
	for _, c := range creds {
		tc, err := c.Certificate()
		if err != nil {
			fmt.Fprintf(stderr, "note: %s skipped: not a certificate (content type %q)\n", clean(c.Name), clean(c.ContentType))
			continue
		}
		if err := writeOnePEM(stdout, c, tc, dir); err != nil {
			res.failed++
			fmt.Fprintf(stderr, "error: %s: %s\n", clean(c.Name), clean(err.Error()))
			continue
		}
		res.written++
	}
	return res
}

// writeOnePEM writes one certificate credential: to its file in dir, with
// a line naming it on stdout, or, with dir "", to stdout.
func writeOnePEM(stdout io.Writer, c akvcreds.Credential, tc *tls.Certificate, dir string) error {
	data, err := certPEM(tc)
	if err != nil {
		return err
	}
	if dir == "" {
		_, err = stdout.Write(data)
		return err
	}
	path := filepath.Join(dir, pemFileName(c))
	if err := writePrivateFile(path, data); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\t%s\t%s\texpires %s\tthumbprint %s\n", clean(c.Name), clean(path),
		clean(tc.Leaf.Subject.String()), tc.Leaf.NotAfter.UTC().Format(time.RFC3339), certs.Thumbprint(tc.Leaf))
	return err
}

// writePrivateFile replaces the regular file at path (or creates it) with
// data, readable by its owner only: written to a new file of mode 0600 in
// the same directory, then renamed over path. Anything at path that is not
// a regular file (a symbolic link, a directory, a device, a FIFO) is
// refused, never followed.
func writePrivateFile(path string, data []byte) error {
	if st, err := os.Lstat(path); err == nil && !st.Mode().IsRegular() {
		return fmt.Errorf("%s exists and is not a regular file (%s): refusing to replace it", path, st.Mode().Type())
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".akvcreds-*.pem")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
