package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

const demoUsage = `Usage: akvcreds demo

Runs an offline tour of akvcreds: starts the built-in Key Vault + Entra ID +
managed-identity emulator (package akvcredstest) in this process, seeds three
vaults, fetches credentials from them as an app registration (client secret)
and as a user-assigned managed identity, and prints the credentials (passwords
masked) and a diagnosis of the failures the demo plants on purpose: a disabled
secret, a missing secret and a vault the app may not read. No network access
and no Azure account are needed. Exit status 0: the failures are expected.
`

// Demo data, also served by "akvcreds emulator" without --seed.
const (
	demoProd       = "contoso-prod"
	demoDev        = "contoso-dev"
	demoRestricted = "contoso-hr"
)

// demoSecrets are the names the demo fetches from every vault.
var demoSecrets = []string{"db-password", "api-key", "smtp-password"}

// seedDemo fills s with the demo's vaults:
//
//   - contoso-prod holds db-password, api-key and smtp-password;
//   - contoso-dev holds db-password and a disabled smtp-password (no api-key);
//   - contoso-hr holds the three names, but the default app may only list
//     them, not read them (Azure RBAC).
func seedDemo(s *akvcredstest.Server) {
	s.SetSecret(demoProd, "db-password", "Pr0d-db-S3cret!", akvcredstest.ContentType("text/plain"),
		akvcredstest.Tags(map[string]string{"owner": "dba"}))
	s.SetSecret(demoProd, "api-key", "prod-api-4f9c2e71b8", akvcredstest.ContentType("application/x-api-key"))
	s.SetSecret(demoProd, "smtp-password", "prod-smtp-Xq7#wL2z", akvcredstest.ContentType("text/plain"))

	s.SetSecret(demoDev, "db-password", "dev-db-hunter2", akvcredstest.ContentType("text/plain"))
	s.SetSecret(demoDev, "smtp-password", "dev-smtp-retired", akvcredstest.ContentType("text/plain"),
		akvcredstest.Disabled())

	for _, n := range demoSecrets {
		s.SetSecret(demoRestricted, n, "hr-"+n+"-value-7d1e")
	}
	s.SetPermissions(demoRestricted, akvcredstest.DefaultClientID, akvcredstest.Permissions{Get: false, List: true})
}

// demoValues are the values seedDemo stores, so tests can check that none is
// ever printed.
var demoValues = []string{
	"Pr0d-db-S3cret!", "prod-api-4f9c2e71b8", "prod-smtp-Xq7#wL2z", "dev-db-hunter2", "dev-smtp-retired",
	"hr-db-password-value-7d1e", "hr-api-key-value-7d1e", "hr-smtp-password-value-7d1e",
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", stderr, demoUsage)
	if code, done := parse(fs, args); done {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := demo(ctx, stdout); err != nil {
		fmt.Fprintf(stderr, "akvcreds demo: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func demo(ctx context.Context, w io.Writer) error {
	srv, err := akvcredstest.NewServer()
	if err != nil {
		return fmt.Errorf("starting the emulator: %w", err)
	}
	defer srv.Close()
	seedDemo(srv)

	vaults := []string{demoProd, demoDev, demoRestricted}
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }

	p("akvcreds demo: an offline tour against the built-in Key Vault emulator (akvcredstest).\n")
	p("No Azure account and no network are used; the emulator runs in this process.\n\n")

	p("Part 1: an app registration (service principal) with a client secret\n\n")
	p("  c, err := akvcreds.New(\n")
	p("      akvcreds.WithClientSecret(tenantID, clientID, clientSecret),\n")
	p("      akvcreds.WithVaults(%s),\n", quoteList(vaults))
	p("      akvcreds.WithSecrets(%s),\n", quoteList(demoSecrets))
	p("  )\n")
	p("  creds, err := c.FetchCredentials(ctx)  // every credential it got + one *FetchError per failure\n\n")

	c, err := akvcreds.New(
		akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret),
		akvcreds.WithHTTPClient(srv.Client()),
		akvcreds.WithVaults(vaults...),
		akvcreds.WithSecrets(demoSecrets...),
	)
	if err != nil {
		return err
	}
	creds, ferr := c.FetchCredentials(ctx)
	fes := akvcreds.FetchErrors(ferr)
	if ferr != nil && len(fes) == 0 {
		return ferr
	}
	p("Fetched %d of %d credentials (%d vaults x %d secrets):\n\n", len(creds), len(vaults)*len(demoSecrets), len(vaults), len(demoSecrets))
	writeCredTable(w, creds, false, "  ")

	p("\nDiagnosis: %d failures, all planted on purpose by the demo. Each is an *akvcreds.FetchError\n", len(fes))
	p("with a Kind (fe.Kind == akvcreds.ErrForbidden, errors.Is works too) and a Remedy:\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  CREDENTIAL\tKIND\tFIX")
	for _, fe := range fes {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", clean(fe.Vault+"/"+fe.Secret), fe.Kind, clean(fe.Remedy))
	}
	tw.Flush()

	p("\nPart 2: a user-assigned managed identity (on an Azure VM, App Service, AKS, ...)\n\n")
	p("  c, err := akvcreds.New(akvcreds.WithUserAssignedIdentity(%q))\n", akvcredstest.DefaultUserAssignedClientID)
	p("  cred, err := c.FetchCredential(ctx, %q)\n\n", demoProd+"/db-password")
	mi, err := akvcreds.New(
		akvcreds.WithUserAssignedIdentity(akvcredstest.DefaultUserAssignedClientID),
		akvcreds.WithHTTPClient(srv.Client()),
	)
	if err != nil {
		return err
	}
	cred, err := mi.FetchCredential(ctx, demoProd+"/db-password")
	if err != nil {
		var fe *akvcreds.FetchError
		if !errors.As(err, &fe) {
			return err
		}
		p("  unexpected failure: %s\n", clean(err.Error()))
	} else {
		writeCredTable(w, []akvcreds.Credential{cred}, false, "  ")
	}

	p("\nThe password is never printed: it formats, logs and encodes as [REDACTED];\n")
	p("cred.Password.Reveal() is the one way to read it.\n\n")
	p("Next: \"akvcreds fetch -h\" and \"akvcreds check -h\" for real vaults, \"akvcreds emulator -h\"\n")
	p("to run this emulator standalone, and package akvcredstest to test your own code offline.\n")
	return nil
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// masked is what a password prints as in tables.
const masked = "********"

// writeCredTable writes credentials as a table: NAME, USERNAME, PASSWORD
// (masked unless reveal), VERSION (first 8 characters) and CONTENT TYPE.
// Every cell is escaped for the terminal (clean), the revealed password
// too: a value with control characters shows escaped here; --output json
// or env give it exactly.
func writeCredTable(w io.Writer, creds []akvcreds.Credential, reveal bool, indent string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%sNAME\tUSERNAME\tPASSWORD\tVERSION\tCONTENT TYPE\n", indent)
	for _, c := range creds {
		pw := masked
		if reveal {
			pw = c.Password.Reveal()
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\n", indent, clean(c.Name), clean(c.Username), clean(pw),
			clean(shortVersion(c.Version)), clean(orDash(c.ContentType)))
	}
	tw.Flush()
}

func shortVersion(v string) string {
	if len(v) > 8 {
		return v[:8]
	}
	return orDash(v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
