package azure

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzSecretID parses arbitrary secret ids against the vault's host.
// Invariants: no panic; an accepted id has a valid name, a version that is
// empty or 32 hex digits, names the vault's host, and its canonical form
// parses to the same; the error is one short line.
func FuzzSecretID(f *testing.F) {
	for _, id := range []string{
		"https://myvault.vault.azure.net/secrets/db/" + testVersion,
		"https://myvault.vault.azure.net/secrets/db",
		"https://MYVAULT.vault.azure.net:443/secrets/DB",
		"https://myvault.vault.azure.net/",
		"%zz",
		"x",
		"",
		"https://other.vault.azure.net/secrets/db",
		"https://myvault.vault.azure.net/secrets//" + testVersion,
		"https://myvault.vault.azure.net/secrets/db/" + testVersion + "/extra",
		"https://myvault.vault.azure.net:/secrets/db",
		"https://u@myvault.vault.azure.net/secrets/db",
		"https://myvault.vault.azure.net/secrets/d%62",
	} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		got, err := parseSecretID(id, testVaultHost)
		if err != nil {
			if msg := err.Error(); msg == "" || strings.ContainsAny(msg, "\r\n") || len(msg) > 200 {
				t.Fatalf("error %q is not one short line", msg)
			}
			return
		}
		if !validSecretName(got.name) {
			t.Fatalf("%q: accepted the name %q", id, got.name)
		}
		if got.version != "" && !validVersion(got.version) {
			t.Fatalf("%q: accepted the version %q", id, got.version)
		}
		if !strings.Contains(strings.ToLower(id), testVaultHost) {
			t.Fatalf("%q: accepted without the vault's host", id)
		}
		canon := "https://" + testVaultHost + "/secrets/" + got.name
		if got.version != "" {
			canon += "/" + got.version
		}
		again, err := parseSecretID(canon, testVaultHost)
		if err != nil || again != got {
			t.Fatalf("%q gave %+v, its canonical form %q gives %+v, %v", id, got, canon, again, err)
		}
	})
}

// FuzzChallenge answers the first request of a real Vault with an arbitrary
// WWW-Authenticate challenge. Invariants: no panic (the SDK's challenge
// parser must never see what crashes it); a refused challenge is a
// KindUnauthenticated "MalformedChallenge" *Error with a one-line Detail;
// an accepted one gives the SDK an authorization URL it can split.
func FuzzChallenge(f *testing.F) {
	for _, c := range []string{
		goodChallenge,
		`Bearer authorization="https://x", resource="https://vault.azure.net"`,
		`Bearer authorization="https://login.microsoftonline.com/", resource="https://vault.azure.net"`,
		`Bearer resource="https://vault.azure.net"`,
		`Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="e30="`,
		`Bearer authorization="https://login.microsoftonline.com/t" scope="https://vault.azure.net/.default"`,
		`Bearer authorization="https://login.microsoftonline.com/a%2Fb", resource="https://vault.azure.net"`,
		`Bearer authorization="https://login.microsoftonline.com/t", resource="https://vault.azure.net" authorization="https://x"`,
		`Basic realm="x"`,
		`Bearer`,
		`Bearer authorization=https://a/b/c,d resource=https://vault.azure.net`,
	} {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, challenge string) {
		challenge = headerValue(challenge)
		if strings.TrimSpace(challenge) == "" {
			return // no challenge: the SDK does not parse it
		}
		problem := checkChallenge(challenge, testVaultHost)
		if problem == "" {
			if a := sdkChallengeParams(challenge)["authorization"]; a != "" && len(strings.Split(a, "/")) < 4 {
				t.Fatalf("accepted %q, whose authorization the SDK cannot split", challenge)
			}
		}
		fk := &fakeKV{challenge: challenge, serve: func(r *http.Request) *http.Response { return reply(r, http.StatusOK, bundle("db", "pw")) }}
		v := fk.vault(t)
		// The SDK directly, without Vault.Get's recover.
		_, err := v.client.GetSecret(context.Background(), "db", "", nil)
		if problem == "" {
			return // accepted: the SDK may still refuse it, but not crash
		}
		var ae *Error
		if !errors.As(err, &ae) || ae.Kind != KindUnauthenticated || ae.Code != "MalformedChallenge" {
			t.Fatalf("refused %q (%s), but the call gave %v", challenge, problem, err)
		}
		if strings.ContainsAny(ae.Detail, "\r\n") {
			t.Fatalf("Detail %q has a line break", ae.Detail)
		}
	})
}

// FuzzAnswers answers a real Vault's GET and list requests with arbitrary
// 200 bodies. Invariants: no panic; a secret is returned only for the name
// asked for, with a version; a listing returns only valid, distinct names;
// every failure is an *Error.
func FuzzAnswers(f *testing.F) {
	for _, b := range []string{
		bundle("db", "pw"),
		`{"value":"","id":"https://myvault.vault.azure.net/secrets/db/` + testVersion + `"}`,
		`{}`,
		``,
		`{"value":null}`,
		`{"value":[]}`,
		`{"value":[{"id":"https://myvault.vault.azure.net/secrets/db"},{"id":"https://myvault.vault.azure.net/secrets/DB"}]}`,
		`{"value":[{"id":"x"}]}`,
		`{"value":[null]}`,
		`{"value":[{"id":"https://myvault.vault.azure.net/secrets/a"}],"nextLink":"https://myvault.vault.azure.net/secrets?page=2"}`,
	} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fk := &fakeKV{serve: func(r *http.Request) *http.Response { return reply(r, http.StatusOK, string(body)) }}
		v := fk.vault(t)
		s, err := v.Get(context.Background(), "db", "")
		var ae *Error
		switch {
		case err != nil && !errors.As(err, &ae):
			t.Fatalf("GET failed with a %T: %v", err, err)
		case err == nil && (!strings.EqualFold(s.Name, "db") || !validVersion(s.Version)):
			t.Fatalf("GET gave %+v", s.SecretProps)
		}
		l := v.Lister()
		l.maxPages = 3
		seen := map[string]bool{}
		for l.More() {
			items, err := l.Next(context.Background())
			if err != nil {
				if !errors.As(err, &ae) {
					t.Fatalf("list failed with a %T: %v", err, err)
				}
				break
			}
			for _, it := range items {
				k := strings.ToLower(it.Name)
				if !validSecretName(it.Name) || seen[k] || it.Version != "" {
					t.Fatalf("listed %+v (seen before: %v)", it, seen[k])
				}
				seen[k] = true
			}
		}
	})
}
