package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/template"

	"github.com/akvcreds/akvcreds/akvcredstest"
)

const emulatorUsage = `Usage: akvcreds emulator [--addr HOST:PORT] [--imds-addr HOST:PORT] [--seed FILE] [--ca-out FILE]

Runs the akvcredstest emulator standalone until interrupted (Ctrl-C or
SIGTERM): one TLS listener plays Key Vault (https://NAME.vault.azure.net and
the other clouds' vault hosts) and Entra ID (login.microsoftonline.com, ...),
and a plain-HTTP listener plays the managed-identity endpoint (IMDS).

It knows the tenant ` + akvcredstest.DefaultTenantID + `, the app
` + akvcredstest.DefaultClientID + ` with client secret
"` + akvcredstest.DefaultClientSecret + `", the user-assigned identity
` + akvcredstest.DefaultUserAssignedClientID + ` and a system-assigned identity.
Without --seed it holds the demo's vaults (see "akvcreds demo"); --seed reads
a JSON seed in akvcredstest's format (tenants, apps, managedIdentities,
vaults with secrets and permissions, rateLimits) instead.

The TLS certificate is signed by a CA created at start, written to --ca-out
(default: akvcreds-emulator-ca.pem in the temporary directory). Usage
instructions are printed to standard error on start.

Azure SDKs connect to port 443 and 169.254.169.254:80. To use the emulator
from akvcreds fetch/check, set AKVCREDS_EMULATOR_CA, AKVCREDS_EMULATOR_ADDR and
AKVCREDS_EMULATOR_IMDS_ADDR; from other programs, map the host names to
127.0.0.1 in /etc/hosts, forward port 443 to --addr (or listen on :443), and
trust the CA (SSL_CERT_FILE for Go and OpenSSL, NODE_EXTRA_CA_CERTS for Node.js,
REQUESTS_CA_BUNDLE for Python requests).
`

func runEmulator(ctx context.Context, args []string, stderr io.Writer) int {
	fs := newFlagSet("emulator", stderr, emulatorUsage)
	addr := fs.String("addr", "127.0.0.1:8443", "`host:port` of the TLS listener (Key Vault and Entra ID)")
	imdsAddr := fs.String("imds-addr", "127.0.0.1:8080", "`host:port` of the plain-HTTP managed-identity (IMDS) listener")
	seed := fs.String("seed", "", "JSON seed `file` (akvcredstest.LoadSeed) instead of the demo's vaults")
	caOut := fs.String("ca-out", "", "write the emulator's CA certificate (PEM) to `file`")
	if code, done := parse(fs, args); done {
		return code
	}
	var seedData []byte
	if *seed != "" {
		b, err := os.ReadFile(*seed)
		if err != nil {
			return reportSetup(stderr, "emulator", usagef("reading --seed: %v", err))
		}
		seedData = b
	}
	srv, err := akvcredstest.NewServer(akvcredstest.WithAddr(*addr, *imdsAddr))
	if err != nil {
		fmt.Fprintf(stderr, "akvcreds emulator: %v\n", err)
		return exitFailure
	}
	defer srv.Close()
	if seedData != nil {
		if err := srv.LoadSeed(bytesReader(seedData)); err != nil {
			return reportSetup(stderr, "emulator", usagef("--seed %s: %v", *seed, err))
		}
	} else {
		seedDemo(srv)
	}
	ca := *caOut
	if ca == "" {
		ca = filepath.Join(os.TempDir(), "akvcreds-emulator-ca.pem")
	}
	if abs, err := filepath.Abs(ca); err == nil {
		ca = abs
	}
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o644); err != nil {
		fmt.Fprintf(stderr, "akvcreds emulator: writing the CA certificate: %v\n", err)
		return exitFailure
	}

	_, port, _ := net.SplitHostPort(srv.Addr())
	err = emulatorHelp.Execute(stderr, map[string]any{
		"Addr": srv.Addr(), "IMDSAddr": srv.IMDSAddr(), "Port": port, "CA": ca,
		"Tenant": akvcredstest.DefaultTenantID, "Client": akvcredstest.DefaultClientID,
		"Secret": akvcredstest.DefaultClientSecret, "Vault": demoProd, "Seeded": seedData == nil,
	})
	if err != nil {
		return exitFailure
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	srv.Close()
	fmt.Fprintln(stderr, "akvcreds emulator: stopped")
	return exitOK
}

var emulatorHelp = template.Must(template.New("").Parse(`akvcreds emulator: Key Vault + Entra ID on https://{{.Addr}}, managed identity (IMDS) on http://{{.IMDSAddr}}
CA certificate: {{.CA}}
{{if .Seeded}}Vaults: contoso-prod, contoso-dev, contoso-hr (the demo's; see "akvcreds demo")
{{end}}
Use it from akvcreds (testing aid; every Azure host is routed to the emulator):
  export AKVCREDS_EMULATOR_CA={{.CA}}
  export AKVCREDS_EMULATOR_ADDR={{.Addr}}
  export AKVCREDS_EMULATOR_IMDS_ADDR={{.IMDSAddr}}
  export AZURE_TENANT_ID={{.Tenant}}
  export AZURE_CLIENT_ID={{.Client}}
  export AZURE_CLIENT_SECRET={{.Secret}}
  akvcreds fetch --vault {{.Vault}}
  akvcreds check --vault {{.Vault}}

Use it from other programs and languages: Azure SDKs connect to port 443, so
  1. map the host names to this machine in /etc/hosts, e.g.
       127.0.0.1 {{.Vault}}.vault.azure.net login.microsoftonline.com
  2. forward port 443 to {{.Addr}} (or start the emulator with --addr 127.0.0.1:443),
     e.g. sudo socat TCP-LISTEN:443,fork,reuseaddr TCP:{{.Addr}}
  3. trust the CA: SSL_CERT_FILE={{.CA}} (Go, OpenSSL, curl),
     NODE_EXTRA_CA_CERTS={{.CA}} (Node.js), REQUESTS_CA_BUNDLE={{.CA}} (Python)
  For managed identity, send 169.254.169.254:80 to {{.IMDSAddr}} the same way.

Try it with curl (--connect-to sends the real host name to the emulator;
with the emulator on port 443, --resolve HOST:443:127.0.0.1 does the same):
  TOKEN=$(curl -s --cacert {{.CA}} --connect-to login.microsoftonline.com:443:{{.Addr}} \
    -d grant_type=client_credentials -d client_id={{.Client}} \
    -d client_secret={{.Secret}} -d scope=https://vault.azure.net/.default \
    https://login.microsoftonline.com/{{.Tenant}}/oauth2/v2.0/token | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  curl --cacert {{.CA}} --connect-to {{.Vault}}.vault.azure.net:443:{{.Addr}} \
    -H "Authorization: Bearer $TOKEN" "https://{{.Vault}}.vault.azure.net/secrets?api-version=7.5"

Serving until interrupted (Ctrl-C).
`))

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
