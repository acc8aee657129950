package ident

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/akvcreds/akvcreds/internal/cloud"
)

// vaultNameOracle is an independent statement of the vault name rules
// (letters, digits and single hyphens between them, starting with a letter);
// the 3 to 24 length is checked separately.
var vaultNameOracle = regexp.MustCompile(`^[A-Za-z](?:[A-Za-z0-9]|-[A-Za-z0-9])*$`)

// fuzzCloud picks a cloud from a fuzzed byte.
func fuzzCloud(i uint8) cloud.Cloud {
	all := cloud.All()
	return all[int(i)%len(all)]
}

// cloudIndex is the inverse of fuzzCloud for seeding (the zero Cloud maps to 0).
func cloudIndex(c cloud.Cloud) uint8 {
	for i, k := range cloud.All() {
		if k == c {
			return uint8(i)
		}
	}
	return 0
}

// checkMessage asserts the properties every error message has: it is not
// empty and quotes the offending value when that is short and not secret-like.
func checkMessage(t *testing.T, what, s string, err error) {
	t.Helper()
	msg := err.Error()
	if msg == "" {
		t.Fatalf("%s(%q): empty error message", what, s)
	}
	if s != "" && len(s) <= maxQuote && !strings.Contains(s, "://") && !strings.Contains(msg, strconv.Quote(s)) {
		t.Fatalf("%s(%q): error %q does not quote the value", what, s, msg)
	}
}

func FuzzVaultName(f *testing.F) {
	for _, tt := range vaultNameTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := VaultName(s)
		want := len(s) >= vaultNameMin && len(s) <= vaultNameMax && vaultNameOracle.MatchString(s)
		if (err == nil) != want {
			t.Fatalf("VaultName(%q) = %v; the rules say valid=%v", s, err, want)
		}
		if err != nil {
			checkMessage(t, "VaultName", s, err)
			return
		}
		name, url, err := Vault(s, cloud.Public())
		if err != nil || name != lower(s) || url != "https://"+lower(s)+".vault.azure.net/" {
			t.Fatalf("Vault(%q) = %q, %q, %v after VaultName accepted it", s, name, url, err)
		}
		if err := VaultName(name); err != nil {
			t.Fatalf("lower-cased name %q rejected: %v", name, err)
		}
	})
}

func FuzzVault(f *testing.F) {
	for _, tt := range vaultTests {
		f.Add(tt.in, cloudIndex(tt.cloud))
	}
	f.Fuzz(func(t *testing.T, s string, ci uint8) {
		c := fuzzCloud(ci)
		name, url, err := Vault(s, c)
		if err != nil {
			if name != "" || url != "" {
				t.Fatalf("Vault(%q) returned %q, %q with error %v", s, name, url, err)
			}
			if err.Error() == "" {
				t.Fatalf("Vault(%q): empty error message", s)
			}
			return
		}
		if err := VaultName(name); err != nil {
			t.Fatalf("Vault(%q) returned invalid name %q: %v", s, name, err)
		}
		if name != lower(name) {
			t.Fatalf("Vault(%q) returned name %q not in lower case", s, name)
		}
		if want := "https://" + name + c.VaultSuffix + "/"; url != want {
			t.Fatalf("Vault(%q) returned URL %q, want %q", s, url, want)
		}
		if !strings.Contains(lower(s), name) {
			t.Fatalf("Vault(%q) returned name %q, which the input does not contain", s, name)
		}
		for _, again := range []string{url, name, strings.TrimSuffix(url, "/")} {
			n2, u2, err := Vault(again, c)
			if err != nil || n2 != name || u2 != url {
				t.Fatalf("Vault(%q) = %q, %q, %v; want %q, %q (round trip of %q)", again, n2, u2, err, name, url, s)
			}
		}
		if got, ok := cloud.ForVaultHost(strings.TrimSuffix(strings.TrimPrefix(url, "https://"), "/")); !ok || got != c {
			t.Fatalf("ForVaultHost of %q = %+v, %v; want %s", url, got, ok, c.Name)
		}
		for _, other := range cloud.All() {
			if other == c {
				continue
			}
			if _, _, err := Vault(url, other); err == nil || !strings.Contains(err.Error(), "belongs to "+c.Name) {
				t.Fatalf("Vault(%q, %s) = %v; want an error naming %s", url, other.Name, err, c.Name)
			}
		}
		id, err := ParseIdentifier(url+"secrets/x", c)
		if err != nil || id.Vault != name {
			t.Fatalf("ParseIdentifier(%q) = %+v, %v; want vault %q", url+"secrets/x", id, err, name)
		}
	})
}

func FuzzParseIdentifier(f *testing.F) {
	for _, tt := range identifierTests {
		f.Add(tt.in, cloudIndex(tt.cloud))
	}
	f.Fuzz(func(t *testing.T, s string, ci uint8) {
		c := fuzzCloud(ci)
		id, err := ParseIdentifier(s, c)
		if err != nil {
			if id != (Identifier{}) {
				t.Fatalf("ParseIdentifier(%q) returned %+v with error %v", s, id, err)
			}
			if !strings.Contains(s, "://") {
				checkMessage(t, "ParseIdentifier", s, err)
			}
			return
		}
		if err := VaultName(id.Vault); err != nil || id.Vault != lower(id.Vault) {
			t.Fatalf("ParseIdentifier(%q) returned vault %q: %v", s, id.Vault, err)
		}
		if err := SecretName(id.Secret); err != nil {
			t.Fatalf("ParseIdentifier(%q) returned secret %q: %v", s, id.Secret, err)
		}
		if id.Version != "" {
			if err := Version(id.Version); err != nil {
				t.Fatalf("ParseIdentifier(%q) returned version %q: %v", s, id.Version, err)
			}
		}
		if !strings.Contains(s, "://") && lower(s) != lower(id.String()) {
			t.Fatalf("ParseIdentifier(%q).String() = %q", s, id.String())
		}
		secretURL := "https://" + id.Vault + c.VaultSuffix + "/secrets/" + id.Secret
		if id.Version != "" {
			secretURL += "/" + id.Version
		}
		for _, again := range []string{id.String(), secretURL} {
			id2, err := ParseIdentifier(again, c)
			if err != nil || id2 != id {
				t.Fatalf("ParseIdentifier(%q) = %+v, %v; want %+v (round trip of %q)", again, id2, err, id, s)
			}
		}
		if _, _, err := Vault(id.Vault, c); err != nil {
			t.Fatalf("Vault(%q) rejected the vault of %q: %v", id.Vault, s, err)
		}
	})
}
