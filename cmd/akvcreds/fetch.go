package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/akvcreds/akvcreds"
)

const fetchUsage = `Usage: akvcreds fetch --vault NAME [--secret NAME]... [flags]

Fetches credentials from Azure Key Vault: for every vault and secret, a
credential named VAULT/SECRET whose username is the secret name and whose
password is the secret's value. Without --secret, every enabled secret of
each vault is listed and fetched.

Credentials go to standard output; failures, progress and logs to standard
error. Passwords are masked unless --reveal is given.

Output formats (--output):
  table  NAME, USERNAME, PASSWORD, VERSION, CONTENT TYPE (default)
  json   an array of credential objects; password is "[REDACTED]" unless --reveal
  env    "export VAULT_SECRET='value'" lines for a POSIX shell (needs --reveal):
         eval "$(akvcreds fetch --vault myvault --output env --reveal)"
  pem    certificates (secrets of content type application/x-pkcs12 or
         application/x-pem-file, as Key Vault stores a certificate): with
         --dir DIR, one file DIR/VAULT_SECRET.pem each (private key, then
         the chain, leaf first; mode 0600; DIR created with mode 0700), and
         a line per file on standard output; without --dir, the PEM to
         standard output (needs --reveal). Other secrets are skipped with a
         note.
` + authHelp + `
Exit status: 0 all fetched, 1 some failed, 2 bad input, 3 authentication
failed, 4 other failure.
`

func runFetch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	fs := newFlagSet("fetch", stderr, fetchUsage)
	var cf commonFlags
	cf.register(fs)
	output := fs.String("output", "table", "output `format`: table, json, env or pem")
	reveal := fs.Bool("reveal", false, "print secret values (table, json; required by env, and by pem without --dir)")
	dir := fs.String("dir", "", "with --output pem: write one PEM file per certificate into `DIR`")
	if code, done := parse(fs, args); done {
		return code
	}
	if err := checkOutput(*output, *reveal, *dir); err != nil {
		return reportSetup(stderr, "fetch", err)
	}

	c, _, cleanup, code := cf.newClient("fetch", stdin, stderr, env)
	if c == nil {
		return code
	}
	defer cleanup()

	if isTerminal(stderr) {
		if len(cf.secrets) > 0 {
			fmt.Fprintf(stderr, "fetching %d credentials...\n", len(cf.vaults)*len(cf.secrets))
		} else {
			fmt.Fprintf(stderr, "listing and fetching the secrets of %d vaults...\n", len(cf.vaults))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	creds, ferr := c.FetchCredentials(ctx)

	if *output == "pem" {
		res := writePEM(stdout, stderr, creds, *dir)
		reportFailures(ctx, stderr, cf.timeout, len(creds), ferr)
		return pemExitCode(res, len(creds), ferr)
	}
	var out bytes.Buffer
	var err error
	switch *output {
	case "table":
		if len(creds) > 0 {
			writeCredTable(&out, creds, *reveal, "")
		}
	case "json":
		err = writeJSON(&out, creds, *reveal)
	case "env":
		writeEnv(&out, creds)
	}
	if err != nil {
		fmt.Fprintf(stderr, "akvcreds fetch: %v\n", err)
		return exitFailure
	}
	if _, err := stdout.Write(out.Bytes()); err != nil {
		fmt.Fprintf(stderr, "akvcreds fetch: writing output: %v\n", err)
		return exitFailure
	}
	reportFailures(ctx, stderr, cf.timeout, len(creds), ferr)
	return exitCode(len(creds), ferr)
}

// checkOutput checks the output flags.
func checkOutput(output string, reveal bool, dir string) error {
	switch {
	case output != "table" && output != "json" && output != "env" && output != "pem":
		return usagef("unknown --output %q: use table, json, env or pem", output)
	case dir != "" && output != "pem":
		return usagef("--dir is for --output pem")
	case output == "env" && !reveal:
		return usagef("--output env prints secret values: add --reveal to confirm")
	case output == "pem" && dir == "" && !reveal:
		return usagef("--output pem without --dir prints private keys: give --dir DIR to write files, or add --reveal to confirm")
	}
	return nil
}

// pemExitCode is the exit status of --output pem: a file not written is a
// failure too.
func pemExitCode(res pemResult, fetched int, ferr error) int {
	code := exitCode(fetched, ferr)
	switch {
	case res.failed == 0:
		return code
	case res.written > 0 || code == exitPartial:
		return exitPartial
	}
	return exitFailure
}

// reportFailures writes one line per failure and a summary to stderr. Each
// line is the *FetchError's message — its kind's label, what Azure said,
// and its Remedy after "To fix:" — escaped for the terminal.
func reportFailures(ctx context.Context, stderr io.Writer, timeout time.Duration, ok int, err error) {
	if err == nil {
		return
	}
	fes := akvcreds.FetchErrors(err)
	if len(fes) == 0 {
		fmt.Fprintf(stderr, "akvcreds fetch: %s\n", cleanLines(err.Error()))
		return
	}
	for _, fe := range fes {
		fmt.Fprintf(stderr, "error: %s\n", clean(fe.Error()))
	}
	fmt.Fprintf(stderr, "akvcreds fetch: %d fetched, %d failed\n", ok, len(fes))
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		fmt.Fprintf(stderr, "akvcreds fetch: gave up after --timeout %v: raise it to wait longer\n", timeout)
	}
}

// writeJSON writes creds as a JSON array of akvcreds.Credential objects,
// with the password's value instead of "[REDACTED]" when reveal is set.
func writeJSON(w io.Writer, creds []akvcreds.Credential, reveal bool) error {
	items := make([]json.RawMessage, 0, len(creds))
	for _, c := range creds {
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if reveal {
			// Credential marshals its fields in declaration order and the
			// password before the tags, so the first "password" member is the
			// password itself.
			const redacted = `"password":"[REDACTED]"`
			if !bytes.Contains(b, []byte(redacted)) {
				return fmt.Errorf("cannot reveal the password of %s in JSON", c.Name)
			}
			v, err := json.Marshal(c.Password.Reveal())
			if err != nil {
				return err
			}
			b = bytes.Replace(b, []byte(redacted), append([]byte(`"password":`), v...), 1)
		}
		items = append(items, b)
	}
	b, err := json.MarshalIndent(items, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(cleanJSON(b), '\n'))
	return err
}

// writeEnv writes one "export NAME='value'" line per credential. NAME has
// only letters, digits and '_' (envName); the value is single-quoted as it
// is, for eval: the output is for a shell, not a terminal.
func writeEnv(w io.Writer, creds []akvcreds.Credential) {
	for _, c := range creds {
		fmt.Fprintf(w, "export %s=%s\n", envName(c.Vault+"_"+c.Secret), shellQuote(c.Password.Reveal()))
	}
}

// envName upper-cases s and turns every character but ASCII letters and
// digits into '_': "contoso-prod_db-password" -> "CONTOSO_PROD_DB_PASSWORD".
func envName(s string) string {
	b := []byte(strings.ToUpper(s))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		return "_" + string(b)
	}
	return string(b)
}

// shellQuote single-quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
