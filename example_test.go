package akvcreds_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// startEmulator starts an in-process Key Vault with two vaults. Real code
// leaves out WithHTTPClient(srv.Client()) and talks to Azure.
func startEmulator() *akvcredstest.Server {
	srv, err := akvcredstest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	srv.SetSecret("contoso-prod", "db-password", "s3cr3t-prod")
	srv.SetSecret("contoso-prod", "api-key", "k3y-prod")
	srv.SetSecret("contoso-dev", "db-password", "s3cr3t-dev")
	srv.SetSecret("contoso-dev", "api-key", "k3y-dev")
	return srv
}

// emulatorApp authenticates as the emulator's app registration, with the
// emulator as the network.
func emulatorApp(srv *akvcredstest.Server) []akvcreds.Option {
	return []akvcreds.Option{
		akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret),
		akvcreds.WithHTTPClient(srv.Client()), // the emulator; omit for Azure
	}
}

// Fetch credentials as an app registration with a client secret.
func Example() {
	srv := startEmulator()
	defer srv.Close()

	c, err := akvcreds.New(
		akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret),
		akvcreds.WithVaults("contoso-prod", "contoso-dev"),
		akvcreds.WithSecrets("db-password", "api-key"),
		akvcreds.WithHTTPClient(srv.Client()), // the emulator; omit for Azure
	)
	if err != nil {
		log.Fatal(err)
	}
	creds, err := c.FetchCredentials(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, cred := range creds {
		fmt.Printf("%s user=%s password=%v\n", cred.Name, cred.Username, cred.Password)
	}
	fmt.Println("revealed:", creds[0].Password.Reveal())
	// Output:
	// contoso-prod/db-password user=db-password password=[REDACTED]
	// contoso-prod/api-key user=api-key password=[REDACTED]
	// contoso-dev/db-password user=db-password password=[REDACTED]
	// contoso-dev/api-key user=api-key password=[REDACTED]
	// revealed: s3cr3t-prod
}

// Authenticate as the system-assigned managed identity of the Azure
// resource (VM, container, App Service) the program runs on.
func ExampleWithSystemAssignedIdentity() {
	srv := startEmulator()
	defer srv.Close()

	c, err := akvcreds.New(
		akvcreds.WithSystemAssignedIdentity(),
		akvcreds.WithVaults("contoso-prod"),
		akvcreds.WithSecrets("db-password"),
		akvcreds.WithHTTPClient(srv.Client()),
	)
	if err != nil {
		log.Fatal(err)
	}
	creds, err := c.FetchCredentials(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(creds[0].Name, creds[0].Password.Reveal())
	// Output:
	// contoso-prod/db-password s3cr3t-prod
}

// Authenticate as a user-assigned managed identity, by its client ID.
func ExampleWithUserAssignedIdentity() {
	srv := startEmulator()
	defer srv.Close()

	c, err := akvcreds.New(
		akvcreds.WithUserAssignedIdentity(akvcredstest.DefaultUserAssignedClientID),
		akvcreds.WithHTTPClient(srv.Client()),
	)
	if err != nil {
		log.Fatal(err)
	}
	cred, err := c.FetchCredential(context.Background(), "contoso-dev/api-key")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cred.Name, cred.Username, cred.Password.Reveal())
	// Output:
	// contoso-dev/api-key api-key k3y-dev
}

// One bad secret never hides the good ones: FetchCredentials returns what it
// got and one *FetchError per failure, with its Kind and what to fix.
func ExampleClient_FetchCredentials_partialFailure() {
	srv := startEmulator()
	defer srv.Close()
	srv.SetSecret("contoso-prod", "old-password", "x", akvcredstest.Disabled())

	c, err := akvcreds.New(append(emulatorApp(srv),
		akvcreds.WithVaults("contoso-prod"),
		akvcreds.WithSecrets("db-password", "old-password", "no-such-secret"),
	)...)
	if err != nil {
		log.Fatal(err)
	}
	creds, err := c.FetchCredentials(context.Background())
	for _, cred := range creds {
		fmt.Println("got", cred.Name)
	}
	for _, fe := range akvcreds.FetchErrors(err) {
		switch {
		case errors.Is(fe, akvcreds.ErrDisabled):
			fmt.Println("disabled:", fe.Secret)
		case fe.Kind == akvcreds.ErrNotFound:
			fmt.Printf("%s: %s (HTTP %d %s)\n", fe.Kind, fe.Secret, fe.Status, fe.Code)
		default:
			fmt.Println("failed:", fe)
		}
	}
	// Output:
	// got contoso-prod/db-password
	// disabled: old-password
	// not found: no-such-secret (HTTP 404 SecretNotFound)
}

// A Password never prints: fmt's %v, %s and %q and JSON show [REDACTED].
func ExamplePassword() {
	srv := startEmulator()
	defer srv.Close()
	c, err := akvcreds.New(
		akvcreds.WithSystemAssignedIdentity(),
		akvcreds.WithHTTPClient(srv.Client()),
	)
	if err != nil {
		log.Fatal(err)
	}
	cred, err := c.FetchCredential(context.Background(), "contoso-prod/api-key")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%v %s %q\n", cred.Password, cred.Password, cred.Password)
	fmt.Println(len(cred.Password.Reveal()))
	// Output:
	// [REDACTED] [REDACTED] "[REDACTED]"
	// 8
}

// Bad input is reported by New, naming the option and the problem.
func ExampleNew_invalidArgument() {
	_, err := akvcreds.New(
		akvcreds.WithSystemAssignedIdentity(),
		akvcreds.WithVaults("my_vault"),
	)
	fmt.Println(errors.Is(err, akvcreds.ErrInvalidArgument))
	fmt.Println(err)
	// Output:
	// true
	// akvcreds: WithVaults: vault name "my_vault" contains "_" at position 3: only ASCII letters, digits and hyphens are allowed
}

// Without WithSecrets every enabled, valid secret of the vault is listed;
// filters run on the listing's metadata, so the others are never read.
func ExampleWithFilters() {
	srv := startEmulator()
	defer srv.Close()
	srv.SetSecret("contoso-prod", "db-replica-password", "r3plica", akvcredstest.Tags(map[string]string{"team": "data"}))
	srv.SetSecret("contoso-prod", "db-old-password", "x", akvcredstest.Disabled())

	c, err := akvcreds.New(append(emulatorApp(srv),
		akvcreds.WithVaults("contoso-prod"),
		akvcreds.WithFilters(akvcreds.NameGlob("db-*")),
	)...)
	if err != nil {
		log.Fatal(err)
	}
	var sum akvcreds.Batch
	creds, err := c.FetchCredentials(context.Background(), akvcreds.FetchSummary(&sum))
	if err != nil {
		log.Fatal(err)
	}
	for _, cred := range creds {
		fmt.Println(cred.Name)
	}
	fmt.Printf("listed %d, fetched %d, filtered out %d, disabled %d\n", sum.Listed, sum.Fetched, sum.FilteredOut, sum.SkippedDisabled)
	// Output:
	// contoso-prod/db-password
	// contoso-prod/db-replica-password
	// listed 4, fetched 2, filtered out 1, disabled 1
}

// A filter of one's own, combined with the built-in ones: every secret
// except those tagged connector=ignore, and only text.
func ExampleFilter() {
	srv := startEmulator()
	defer srv.Close()
	srv.SetSecret("contoso-dev", "scratch", "x", akvcredstest.Tags(map[string]string{"connector": "ignore"}))
	srv.SetSecret("contoso-dev", "tls-cert", "x", akvcredstest.ContentType("application/x-pkcs12"))

	ignored := akvcreds.Filter{Keep: func(s akvcreds.SecretInfo) bool { return s.Tags["connector"] == "ignore" }}
	c, err := akvcreds.New(append(emulatorApp(srv),
		akvcreds.WithVaults("contoso-dev"),
		akvcreds.WithFilters(akvcreds.Not(ignored), akvcreds.Not(akvcreds.ContentTypeIs("application/x-pkcs12"))),
	)...)
	if err != nil {
		log.Fatal(err)
	}
	creds, err := c.FetchCredentials(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, cred := range creds {
		fmt.Println(cred.Name)
	}
	// Output:
	// contoso-dev/api-key
	// contoso-dev/db-password
}

// The mapping hook turns each secret into a username and password: here
// the username comes from the secret's "username" tag (else its name), and
// a value "user:password" is split.
func ExampleWithMapper() {
	srv := startEmulator()
	defer srv.Close()
	srv.SetSecret("contoso-prod", "smtp", "m4il", akvcredstest.Tags(map[string]string{"username": "mailer@contoso.com"}))
	srv.SetSecret("contoso-prod", "ldap", "cn=svc,dc=contoso:ld4p", akvcredstest.ContentType("text/x-user-password"))

	c, err := akvcreds.New(append(emulatorApp(srv),
		akvcreds.WithVaults("contoso-prod"),
		akvcreds.WithSecrets("smtp", "ldap", "api-key"),
		akvcreds.WithMapper(func(info akvcreds.SecretInfo, value akvcreds.Password) (string, string, error) {
			if info.ContentType == "text/x-user-password" {
				user, password, ok := strings.Cut(value.Reveal(), ":")
				if !ok {
					return "", "", errors.New(`no ":" in the value`) // never put the value in the error
				}
				return user, password, nil
			}
			if user := info.Tags["username"]; user != "" {
				return user, value.Reveal(), nil
			}
			return info.Secret, value.Reveal(), nil
		}),
	)...)
	if err != nil {
		log.Fatal(err)
	}
	creds, err := c.FetchCredentials(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, cred := range creds {
		fmt.Printf("%s: %s / %s\n", cred.Name, cred.Username, cred.Password.Reveal())
	}
	// Output:
	// contoso-prod/smtp: mailer@contoso.com / m4il
	// contoso-prod/ldap: cn=svc,dc=contoso / ld4p
	// contoso-prod/api-key: api-key / k3y-prod
}

// Without a mapping function, a secret whose content type is
// application/json and whose value is {"username": ..., "password": ...}
// gives both.
func ExampleCredential_jsonValue() {
	srv := startEmulator()
	defer srv.Close()
	srv.SetSecret("contoso-prod", "ldap", `{"username":"cn=svc,dc=contoso","password":"ld4p"}`, akvcredstest.ContentType("application/json"))

	c, err := akvcreds.New(emulatorApp(srv)...)
	if err != nil {
		log.Fatal(err)
	}
	cred, err := c.FetchCredential(context.Background(), "contoso-prod/ldap")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %s / %s\n", cred.Name, cred.Username, cred.Password.Reveal())
	// Output:
	// contoso-prod/ldap: cn=svc,dc=contoso / ld4p
}

// FetchNames chooses what one call reads, and FetchSummary reports what it
// did, as the Batch a Watch's first cycle would deliver (the credentials
// are Added and Current) with its counts: a vault listed whole and one
// secret of another.
func ExampleFetchSummary() {
	srv := startEmulator()
	defer srv.Close()
	srv.SetSecret("contoso-dev", "retired", "x", akvcredstest.Disabled())

	c, err := akvcreds.New(emulatorApp(srv)...)
	if err != nil {
		log.Fatal(err)
	}
	var sum akvcreds.Batch
	creds, err := c.FetchCredentials(context.Background(),
		akvcreds.FetchNames("contoso-dev", "contoso-prod/api-key"),
		akvcreds.FetchSummary(&sum))
	if err != nil {
		log.Fatal(err)
	}
	for _, cred := range creds {
		fmt.Println(cred.Name)
	}
	fmt.Printf("cycle %d, added %d, errors %d\n", sum.Cycle, len(sum.Added), len(sum.Errors))
	fmt.Printf("vaults %d, list pages %d, listed %d, disabled %d, reads %d, fetched %d, failed %d\n",
		sum.Vaults, sum.ListPages, sum.Listed, sum.SkippedDisabled, sum.Reads, sum.Fetched, sum.Failed)
	// Output:
	// contoso-dev/api-key
	// contoso-dev/db-password
	// contoso-prod/api-key
	// cycle 0, added 3, errors 0
	// vaults 2, list pages 1, listed 3, disabled 1, reads 3, fetched 3, failed 0
}

// WithCache serves repeat fetches from memory, and when the time to live
// has passed but Key Vault cannot give a fresh value (here it throttles,
// asking to wait an hour), keeps serving the cached one, marked Stale, for
// up to another time to live — never when Key Vault answers that the secret
// is gone, disabled or forbidden. (The example moves the Client's clock,
// a hook of this package's tests, instead of waiting an hour.)
func ExampleWithCache_stale() {
	srv := startEmulator()
	defer srv.Close()
	clock := testutil.NewClock(time.Now())

	c, err := akvcreds.New(append(emulatorApp(srv),
		akvcreds.WithVaults("contoso-prod"),
		akvcreds.WithSecrets("db-password"),
		akvcreds.WithCache(time.Hour),
		akvcreds.WithClock(clock.Now), // test hook: not in the package's API
	)...)
	if err != nil {
		log.Fatal(err)
	}
	fetch := func() {
		var sum akvcreds.Batch
		creds, err := c.FetchCredentials(context.Background(), akvcreds.FetchSummary(&sum))
		if err != nil {
			log.Fatal(err)
		}
		for _, cred := range creds {
			fmt.Printf("%s %s stale=%v\n", cred.Name, cred.Password.Reveal(), cred.Stale)
		}
		fmt.Printf("summary: fetched %d, from cache %d, stale %d, failed %d\n", sum.Fetched, sum.FromCache, sum.Stale, sum.Failed)
	}
	fetch()
	fetch() // within the hour: from the cache, no request
	clock.Advance(90 * time.Minute)
	srv.Inject(akvcredstest.Fault{Host: "contoso-prod.vault.azure.net", Path: "/secrets/db-password", Status: 429, RetryAfter: "3600"})
	fetch()
	// Output:
	// contoso-prod/db-password s3cr3t-prod stale=false
	// summary: fetched 1, from cache 0, stale 0, failed 0
	// contoso-prod/db-password s3cr3t-prod stale=false
	// summary: fetched 1, from cache 1, stale 0, failed 0
	// contoso-prod/db-password s3cr3t-prod stale=true
	// summary: fetched 1, from cache 0, stale 1, failed 0
}

// akvcredstest injects faults as Azure would answer them: here Key Vault
// refuses one secret (403), and the failure says what to fix in Azure.
func Example_faultInjection() {
	srv := startEmulator()
	defer srv.Close()
	srv.Inject(akvcredstest.Fault{Host: "contoso-prod.vault.azure.net", Path: "/secrets/api-key", Status: 403, Count: 1})

	c, err := akvcreds.New(append(emulatorApp(srv),
		akvcreds.WithVaults("contoso-prod"),
		akvcreds.WithSecrets("db-password", "api-key"),
	)...)
	if err != nil {
		log.Fatal(err)
	}
	creds, err := c.FetchCredentials(context.Background())
	for _, cred := range creds {
		fmt.Println("got", cred.Name)
	}
	for _, fe := range akvcreds.FetchErrors(err) {
		fmt.Printf("%s: %s (HTTP %d)\nTo fix: %s\n", fe.Secret, fe.Kind, fe.Status, fe.Remedy)
	}
	// Output:
	// got contoso-prod/db-password
	// api-key: forbidden (HTTP 403)
	// To fix: grant the identity the "Key Vault Secrets User" role on vault "contoso-prod" (Azure RBAC), or the secret "Get" permission in its access policy
}
