package akvcreds_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
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
// got and one *FetchError per failure, each wrapping a sentinel and saying
// what to do.
func ExampleClient_FetchCredentials_partialFailure() {
	srv := startEmulator()
	defer srv.Close()
	srv.SetSecret("contoso-prod", "old-password", "x", akvcredstest.Disabled())

	c, err := akvcreds.New(
		akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret),
		akvcreds.WithVaults("contoso-prod"),
		akvcreds.WithSecrets("db-password", "old-password", "no-such-secret"),
		akvcreds.WithHTTPClient(srv.Client()),
	)
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
		case errors.Is(fe, akvcreds.ErrNotFound):
			fmt.Println("not found:", fe.Secret)
		default:
			fmt.Println("failed:", fe)
		}
	}
	// Output:
	// got contoso-prod/db-password
	// disabled: old-password
	// not found: no-such-secret
}

// A Password never prints: every fmt verb, JSON and slog show [REDACTED].
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
// filters run on the list's metadata, so the others are never read.
func ExampleWithFilters() {
	srv := startEmulator()
	defer srv.Close()
	srv.SetSecret("contoso-prod", "db-replica-password", "r3plica", akvcredstest.Tags(map[string]string{"team": "data"}))
	srv.SetSecret("contoso-prod", "db-old-password", "x", akvcredstest.Disabled())

	c, err := akvcreds.New(
		akvcreds.WithSystemAssignedIdentity(),
		akvcreds.WithVaults("contoso-prod"),
		akvcreds.WithFilters(akvcreds.NamePrefix("db-")),
		akvcreds.WithHTTPClient(srv.Client()),
	)
	if err != nil {
		log.Fatal(err)
	}
	var sum akvcreds.Summary
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

// The username can come from a tag, or from a JSON value
// {"username": ..., "password": ...} (read when the content type says JSON).
func ExampleWithUsernameTag() {
	srv := startEmulator()
	defer srv.Close()
	srv.SetSecret("contoso-prod", "smtp", "m4il", akvcredstest.Tags(map[string]string{"username": "mailer@contoso.com"}))
	srv.SetSecret("contoso-prod", "ldap", `{"username":"cn=svc,dc=contoso","password":"ld4p"}`, akvcredstest.ContentType("application/json"))

	c, err := akvcreds.New(
		akvcreds.WithSystemAssignedIdentity(),
		akvcreds.WithVaults("contoso-prod"),
		akvcreds.WithSecrets("smtp", "ldap", "api-key"),
		akvcreds.WithUsernameTag("username"),
		akvcreds.WithHTTPClient(srv.Client()),
	)
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
