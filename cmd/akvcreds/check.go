package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/internal/cloud"
	"github.com/akvcreds/akvcreds/internal/ident"
)

const checkUsage = `Usage: akvcreds check --vault NAME [--secret NAME]... [flags]

Diagnoses access to Key Vault without printing any secret value. For every
vault it checks whether the identity can authenticate, list the vault's
secrets and get each secret (the --secret names, or every listed secret),
and prints a table VAULT, SECRET, CHECK, RESULT, FIX on standard output,
followed by the Azure CLI commands that grant missing permissions. A secret
that is expired or not yet valid fails as "expired", and one whose content
type says JSON but whose value is not JSON fails as "malformed".
` + authHelp + `
Exit status: 0 every check passed, 1 some failed, 2 bad input, 3
authentication failed, 4 every check failed.
`

// checkRow is one line of check's table.
type checkRow struct {
	vault, secret, check, result, fix string
	failed, skipped                   bool
	err                               error // the failure
}

func runCheck(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	fs := newFlagSet("check", stderr, checkUsage)
	var cf commonFlags
	cf.register(fs)
	if code, done := parse(fs, args); done {
		return code
	}
	ck := &checker{timeout: cf.timeout}
	c, principal, cleanup, code := cf.newClient("check", stdin, stderr, env,
		akvcreds.WithMapper(checkMapper(time.Now)), akvcreds.WithFilters(ck.filter()))
	if c == nil {
		return code
	}
	defer cleanup()
	ck.c = c
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()

	var rows []checkRow
	cl := cf.cloudOf()
	for _, v := range cf.vaults {
		if isTerminal(stderr) {
			fmt.Fprintf(stderr, "checking vault %s...\n", clean(v))
		}
		rows = append(rows, ck.vault(ctx, vaultName(v, cl), cf.secrets)...)
	}
	passed, failed := writeCheck(stdout, rows, principal)
	var errs []error
	for _, r := range failed {
		if cf.verbose {
			fmt.Fprintf(stderr, "error: %s\n", clean(r.message()))
		}
		errs = append(errs, r.err)
	}
	if len(failed) > 0 {
		fmt.Fprintf(stderr, "akvcreds check: %d passed, %d failed\n", passed, len(failed))
	}
	return exitCode(passed, errors.Join(errs...))
}

// message is the full text of a failed row's error, for -v: the
// *FetchError's message, or, for a secret check's mapping function
// refused, what it found and check's fix (the FetchError's own Remedy
// speaks of the mapping function, which is check's business).
func (r checkRow) message() string {
	var ref *refusal
	if errors.As(r.err, &ref) {
		return fmt.Sprintf("akvcreds: vault %q secret %q: %s: %s. To fix: %s", r.vault, r.secret, label(r.err), ref.detail, ref.fix)
	}
	return r.err.Error()
}

// vaultName is the vault's name as akvcreds reports it (lower case, without
// URL); New has checked it.
func vaultName(v string, cl cloud.Cloud) string {
	if name, _, err := ident.Vault(v, cl); err == nil {
		return name
	}
	return v
}

// writeCheck writes the table, then the Azure CLI commands that grant what
// the failed checks lack. It returns the number of checks passed and the
// failed rows. Every cell is escaped for the terminal.
func writeCheck(w io.Writer, rows []checkRow, principal string) (passed int, failed []checkRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VAULT\tSECRET\tCHECK\tRESULT\tFIX")
	var cmds []string
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", clean(r.vault), clean(orDash(r.secret)), r.check, clean(r.result), clean(orDash(r.fix)))
		switch {
		case r.failed:
			failed = append(failed, r)
			if cmd := fixCommand(r, principal); cmd != "" && !slices.Contains(cmds, cmd) {
				cmds = append(cmds, cmd)
			}
		case !r.skipped && r.check != "authenticate":
			passed++
		}
	}
	tw.Flush()
	if len(cmds) > 0 {
		fmt.Fprintln(w, "\nTo grant the missing permissions (fill in the <placeholders>):")
		for _, c := range cmds {
			fmt.Fprintln(w, "  "+clean(c))
		}
	}
	return passed, failed
}

// checker runs check's fetches on one Client. While listOnly is set, its
// filter keeps no listed secret, so that a vault's listing is checked
// without reading every secret in it; named secrets are read with
// listOnly unset. The vaults are checked one after the other.
type checker struct {
	c        *akvcreds.Client
	listOnly atomic.Bool
	timeout  time.Duration
}

func (ck *checker) filter() akvcreds.Filter {
	return akvcreds.Filter{Keep: func(akvcreds.SecretInfo) bool { return !ck.listOnly.Load() }}
}

// vault checks one vault: authentication and listing (one listing fetch),
// then a get of each named secret, or of each listed secret.
func (ck *checker) vault(ctx context.Context, name string, secrets []string) []checkRow {
	var sum akvcreds.Batch
	ck.listOnly.Store(len(secrets) > 0)
	creds, err := ck.c.FetchCredentials(ctx, akvcreds.FetchNames(name), akvcreds.FetchSummary(&sum))
	ck.listOnly.Store(false)
	fes := akvcreds.FetchErrors(err)
	if err != nil && len(fes) == 0 {
		// Not a failure of the vault (a malformed call): report it as is.
		return []checkRow{ck.failRow(ctx, name, "", "list", err)}
	}
	var listErr *akvcreds.FetchError
	var getErrs []*akvcreds.FetchError
	for _, fe := range fes {
		if fe.Secret == "" {
			listErr = fe
		} else {
			getErrs = append(getErrs, fe)
		}
	}
	rows, reached := ck.accessRows(ctx, name, listErr, &sum)
	switch {
	case !reached:
		return rows
	case len(secrets) > 0:
		return append(rows, ck.named(ctx, name, secrets)...)
	case listErr != nil:
		return append(rows, checkRow{vault: name, check: "get", result: "skipped: no --secret given and listing failed", skipped: true})
	}
	return append(rows, ck.listed(ctx, name, creds, getErrs)...)
}

// accessRows are the authenticate and list rows of a vault. reached
// reports whether Key Vault answered with the identity's token, so that
// reading secrets can tell more.
func (ck *checker) accessRows(ctx context.Context, name string, listErr *akvcreds.FetchError, sum *akvcreds.Batch) (rows []checkRow, reached bool) {
	authOK := checkRow{vault: name, check: "authenticate", result: "ok"}
	switch {
	case listErr == nil:
		return []checkRow{authOK, {vault: name, check: "list", result: listResult(sum)}}, true
	case listErr.Kind == akvcreds.ErrUnauthenticated:
		return []checkRow{
			ck.failRow(ctx, name, "", "authenticate", listErr),
			{vault: name, check: "list", result: "skipped: not authenticated", skipped: true},
			{vault: name, check: "get", result: "skipped: not authenticated", skipped: true},
		}, false
	case listErr.Kind == akvcreds.ErrForbidden, listErr.Kind == akvcreds.ErrThrottled, listErr.Kind == akvcreds.ErrMalformed:
		// Key Vault (or what answers for it) took the token and answered.
		return []checkRow{authOK, ck.failRow(ctx, name, "", "list", listErr)}, true
	}
	// No such vault (DNS), network failure, timeout: nothing to learn from
	// getting secrets either.
	return []checkRow{
		{vault: name, check: "authenticate", result: "unknown: vault not reached", skipped: true},
		ck.failRow(ctx, name, "", "list", listErr),
		{vault: name, check: "get", result: "skipped: vault not reached", skipped: true},
	}, false
}

// listResult describes a listing: the secrets a fetch would read, and those
// it leaves out.
func listResult(sum *akvcreds.Batch) string {
	n := sum.Listed - sum.SkippedDisabled - sum.SkippedExpired - sum.SkippedNotYetValid
	res := fmt.Sprintf("ok: %d enabled secrets", n)
	var skipped []string
	for _, s := range []struct {
		n    int
		what string
	}{{sum.SkippedDisabled, "disabled"}, {sum.SkippedExpired, "expired"}, {sum.SkippedNotYetValid, "not yet valid"}} {
		if s.n > 0 {
			skipped = append(skipped, fmt.Sprintf("%d %s", s.n, s.what))
		}
	}
	if len(skipped) > 0 {
		res += "; skipped " + strings.Join(skipped, ", ")
	}
	return res
}

// listed reports the get of every listed secret, in name order.
func (ck *checker) listed(ctx context.Context, vault string, creds []akvcreds.Credential, getErrs []*akvcreds.FetchError) []checkRow {
	var rows []checkRow
	for _, cr := range creds {
		rows = append(rows, checkRow{vault: vault, secret: cr.Secret, check: "get", result: "ok"})
	}
	for _, fe := range getErrs {
		rows = append(rows, ck.failRow(ctx, vault, fe.Secret, "get", fe))
	}
	slices.SortStableFunc(rows, func(a, b checkRow) int { return strings.Compare(a.secret, b.secret) })
	return rows
}

// named gets the named secrets of a vault, one row each, in the order
// given (repeated names once).
func (ck *checker) named(ctx context.Context, vault string, secrets []string) []checkRow {
	names := make([]string, len(secrets))
	for i, s := range secrets {
		names[i] = vault + "/" + s
	}
	got, err := ck.c.FetchCredentials(ctx, akvcreds.FetchNames(names...))
	fes := akvcreds.FetchErrors(err)
	if err != nil && len(fes) == 0 {
		return []checkRow{ck.failRow(ctx, vault, "", "get", err)}
	}
	ok := map[string]bool{}
	for _, cr := range got {
		ok[strings.ToLower(cr.Secret)] = true
	}
	failed := map[string]*akvcreds.FetchError{}
	for _, fe := range fes {
		failed[strings.ToLower(fe.Secret)] = fe
	}
	var rows []checkRow
	seen := map[string]bool{}
	for _, s := range secrets {
		key, _, _ := strings.Cut(strings.ToLower(s), "/")
		if seen[key] {
			continue
		}
		seen[key] = true
		if fe := failed[key]; fe != nil {
			rows = append(rows, ck.failRow(ctx, vault, s, "get", fe))
		} else if ok[key] {
			rows = append(rows, checkRow{vault: vault, secret: s, check: "get", result: "ok"})
		}
	}
	return rows
}

// failRow is the row of a failed check: its kind's label and its fix.
func (ck *checker) failRow(ctx context.Context, vault, secret, check string, err error) checkRow {
	return checkRow{vault: vault, secret: secret, check: check, result: "FAIL: " + label(err), fix: ck.fix(ctx, err), failed: true, err: err}
}

// label is the label of a failure's kind ("forbidden", "expired", ...).
func label(err error) string {
	var fe *akvcreds.FetchError
	if errors.As(err, &fe) {
		return fe.Kind.Error()
	}
	var k akvcreds.Kind
	if errors.As(err, &k) {
		return k.Error()
	}
	return "error"
}

// fix is what to do about a failure: check's own advice for a secret its
// mapping function refused, else the failure's Remedy, else, when the
// check ran out of time, to give it more.
func (ck *checker) fix(ctx context.Context, err error) string {
	var r *refusal
	if errors.As(err, &r) {
		return r.fix
	}
	var fe *akvcreds.FetchError
	if errors.As(err, &fe) && fe.Remedy != "" {
		return fe.Remedy
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("the check did not finish within --timeout %v: raise it", ck.timeout)
	}
	return ""
}

// refusal is the error of check's mapping function for a secret it
// refuses: its kind (akvcreds.ErrExpired or ErrMalformed), what is wrong
// (never the value) and the fix to show, with the az command that applies
// it rather than the library's advice.
type refusal struct {
	kind        error
	detail, fix string
}

func (r *refusal) Error() string { return r.detail }
func (r *refusal) Unwrap() error { return r.kind }

// checkMapper is check's mapping function: a secret outside its validity
// period is refused as expired, and a value whose content type says JSON
// but that is not JSON as malformed, as a program using them would find.
// Otherwise the value is kept whole (check never prints it).
func checkMapper(now func() time.Time) func(akvcreds.SecretInfo, akvcreds.Password) (string, string, error) {
	return func(info akvcreds.SecretInfo, value akvcreds.Password) (string, string, error) {
		t := now()
		az := fmt.Sprintf("az keyvault secret set-attributes --vault-name %s --name %s", info.Vault, info.Secret)
		switch {
		case !info.NotBefore.IsZero() && t.Before(info.NotBefore):
			nb := info.NotBefore.UTC().Format(time.RFC3339)
			return "", "", &refusal{kind: akvcreds.ErrExpired, detail: "the secret is not valid before " + nb,
				fix: fmt.Sprintf("the secret becomes valid at %s: wait, or move its activation date: %s --not-before <date>", nb, az)}
		case !info.Expires.IsZero() && !t.Before(info.Expires):
			exp := info.Expires.UTC().Format(time.RFC3339)
			return "", "", &refusal{kind: akvcreds.ErrExpired, detail: "the secret expired at " + exp,
				fix: fmt.Sprintf("the secret expired at %s: set a new version with a later expiry, or extend it: %s --expires <date>", exp, az)}
		case isJSONType(info.ContentType) && !json.Valid([]byte(value.Reveal())):
			return "", "", &refusal{kind: akvcreds.ErrMalformed, detail: fmt.Sprintf("the value is not valid JSON though its content type is %q", info.ContentType),
				fix: fmt.Sprintf("store valid JSON in the secret, or change its content type: %s --content-type text/plain", az)}
		}
		return info.Secret, value.Reveal(), nil
	}
}

// isJSONType reports whether a content type says JSON: application/json,
// or a type ending in +json.
func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(ct))
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// fixCommand returns the Azure CLI command that grants what a failed check
// lacks, or "".
func fixCommand(r checkRow, principal string) string {
	var fe *akvcreds.FetchError
	if !errors.As(r.err, &fe) || fe.Kind != akvcreds.ErrForbidden {
		return ""
	}
	switch fe.InnerCode {
	case "ForbiddenByRbac":
		assignee := principal
		if assignee == "" {
			assignee = `"<principal-id>"`
		}
		return fmt.Sprintf(`az role assignment create --role "Key Vault Secrets User" --assignee %s --scope "/subscriptions/<subscription-id>/resourceGroups/<resource-group>/providers/Microsoft.KeyVault/vaults/%s"`, assignee, r.vault)
	case "AccessDenied":
		who := "--spn " + principal
		if principal == "" {
			who = `--object-id "<principal-id>"`
		}
		return fmt.Sprintf("az keyvault set-policy --name %s %s --secret-permissions get list", r.vault, who)
	}
	return ""
}
