package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/akvcreds/akvcreds"
)

const checkUsage = `Usage: akvcreds check --vault NAME [--secret NAME]... [flags]

Diagnoses access to Key Vault without printing any secret value. For every
vault it checks whether the identity can authenticate, list the vault's
secrets and get each secret (the --secret names, or every listed secret),
and prints a table VAULT, SECRET, CHECK, RESULT, FIX on standard output,
followed by the Azure CLI commands that grant missing permissions.
` + authHelp + `
Exit status: 0 every check passed, 1 some failed, 2 bad input, 3
authentication failed, 4 every check failed.
`

// checkRow is one line of check's table.
type checkRow struct {
	vault, secret, check, result, fix string
	failed, skipped                   bool
	err                               error
}

func runCheck(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	fs := newFlagSet("check", stderr, checkUsage)
	var cf commonFlags
	cf.register(fs)
	if code, done := parse(fs, args); done {
		return code
	}
	opts, principal, cleanup, err := cf.setup(stdin, stderr, env)
	defer cleanup()
	if err != nil {
		return reportSetup(stderr, "check", err)
	}
	c, err := akvcreds.New(opts...)
	if err != nil {
		return reportSetup(stderr, "check", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()

	var rows []checkRow
	for _, v := range cf.vaults {
		if isTerminal(stderr) {
			fmt.Fprintf(stderr, "checking vault %s...\n", v)
		}
		rows = append(rows, checkVault(ctx, c, v, cf.secrets)...)
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VAULT\tSECRET\tCHECK\tRESULT\tFIX")
	var cmds []string
	seen := map[string]bool{}
	var passed, failed int
	var failures []error
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.vault, orDash(r.secret), r.check, r.result, orDash(r.fix))
		if r.skipped || (r.check == "authenticate" && !r.failed) {
			continue
		}
		if !r.failed {
			passed++
			continue
		}
		failed++
		failures = append(failures, r.err)
		if cmd := fixCommand(r, principal); cmd != "" && !seen[cmd] {
			seen[cmd] = true
			cmds = append(cmds, cmd)
		}
	}
	tw.Flush()
	if len(cmds) > 0 {
		fmt.Fprintln(stdout, "\nTo grant the missing permissions (fill in the <placeholders>):")
		for _, c := range cmds {
			fmt.Fprintln(stdout, "  "+c)
		}
	}
	if cf.verbose {
		for _, err := range failures {
			fmt.Fprintf(stderr, "error: %v\n", err)
		}
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "akvcreds check: %d passed, %d failed\n", passed, failed)
	}
	return exitCode(passed, errors.Join(failures...))
}

// checkVault checks one vault: authentication and listing (one listing
// fetch), then a get of each named secret, or of each listed secret.
func checkVault(ctx context.Context, c *akvcreds.Client, vault string, secrets []string) []checkRow {
	creds, err := c.FetchCredentials(ctx, akvcreds.FetchVaults(vault), akvcreds.FetchSecrets())
	if err != nil && len(akvcreds.FetchErrors(err)) == 0 {
		// Not a per-vault failure (a bad FetchOption): report it as is.
		return []checkRow{failRow(vault, "", "list", err)}
	}
	var listErr error
	var getErrs []*akvcreds.FetchError
	for _, fe := range akvcreds.FetchErrors(err) {
		if fe.Secret == "" {
			listErr = fe
		} else {
			getErrs = append(getErrs, fe)
		}
	}
	// The vault's name as akvcreds reports it (lower case, without URL).
	name := vault
	if len(creds) > 0 {
		name = creds[0].Vault
	} else if fes := akvcreds.FetchErrors(err); len(fes) > 0 {
		name = fes[0].Vault
	}

	var rows []checkRow
	switch {
	case listErr == nil:
		rows = append(rows, checkRow{vault: name, check: "authenticate", result: "ok"})
	case errors.Is(listErr, akvcreds.ErrUnauthenticated):
		rows = append(rows, failRow(name, "", "authenticate", listErr))
		skip := checkRow{vault: name, result: "skipped: not authenticated", skipped: true}
		skip.check = "list"
		rows = append(rows, skip)
		skip.check = "get"
		return append(rows, skip)
	case isAzureAnswer(listErr):
		rows = append(rows, checkRow{vault: name, check: "authenticate", result: "ok"})
	default:
		// No such vault (DNS), network failure, timeout: nothing to learn
		// from getting secrets either.
		rows = append(rows, checkRow{vault: name, check: "authenticate", result: "unknown: vault not reached", skipped: true})
		rows = append(rows, failRow(name, "", "list", listErr))
		return append(rows, checkRow{vault: name, check: "get", result: "skipped: vault not reached", skipped: true})
	}
	if listErr != nil {
		rows = append(rows, failRow(name, "", "list", listErr))
	} else {
		rows = append(rows, checkRow{vault: name, check: "list", result: fmt.Sprintf("ok: %d enabled secrets", len(creds)+len(getErrs))})
	}

	if len(secrets) == 0 {
		if listErr != nil {
			return append(rows, checkRow{vault: name, check: "get", result: "skipped: no --secret given and listing failed", skipped: true})
		}
		// Every listed secret was fetched: report each, in name order.
		type outcome struct {
			secret string
			err    error
		}
		var outs []outcome
		for _, cr := range creds {
			outs = append(outs, outcome{secret: cr.Secret})
		}
		for _, fe := range getErrs {
			outs = append(outs, outcome{secret: fe.Secret, err: fe})
		}
		slices.SortFunc(outs, func(a, b outcome) int { return strings.Compare(a.secret, b.secret) })
		for _, o := range outs {
			rows = append(rows, getRow(name, o.secret, o.err))
		}
		return rows
	}

	got, err := c.FetchCredentials(ctx, akvcreds.FetchVaults(vault), akvcreds.FetchSecrets(secrets...))
	if err != nil && len(akvcreds.FetchErrors(err)) == 0 {
		return append(rows, failRow(name, "", "get", err))
	}
	ok := map[string]bool{}
	for _, cr := range got {
		ok[strings.ToLower(cr.Secret)] = true
	}
	failedBy := map[string]*akvcreds.FetchError{}
	for _, fe := range akvcreds.FetchErrors(err) {
		failedBy[strings.ToLower(fe.Secret)] = fe
	}
	seen := map[string]bool{}
	for _, s := range secrets {
		key := strings.ToLower(s)
		if i := strings.IndexByte(key, '/'); i >= 0 {
			key = key[:i]
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		if fe, bad := failedBy[key]; bad {
			rows = append(rows, getRow(name, s, fe))
		} else if ok[key] {
			rows = append(rows, getRow(name, s, nil))
		}
	}
	return rows
}

func getRow(vault, secret string, err error) checkRow {
	if err != nil {
		return failRow(vault, secret, "get", err)
	}
	return checkRow{vault: vault, secret: secret, check: "get", result: "ok"}
}

func failRow(vault, secret, check string, err error) checkRow {
	_, fix := splitFix(err)
	return checkRow{vault: vault, secret: secret, check: check, result: "FAIL: " + kindOf(err), fix: fix, failed: true, err: err}
}

// isAzureAnswer reports whether a listing failure is Key Vault's answer to
// an authenticated request (so a token was had and accepted). A listing that
// is "not found" means the vault does not exist.
func isAzureAnswer(err error) bool {
	for _, k := range []error{akvcreds.ErrForbidden, akvcreds.ErrThrottled} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// fixCommand returns the Azure CLI command that grants what a failed check
// lacks, or "".
func fixCommand(r checkRow, principal string) string {
	if !errors.Is(r.err, akvcreds.ErrForbidden) {
		return ""
	}
	var inner string
	var fe *akvcreds.FetchError
	if errors.As(r.err, &fe) {
		inner = fe.InnerCode
	}
	switch inner {
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
