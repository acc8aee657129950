package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/template"
	"time"

	"github.com/akvcreds/akvcreds/akvcredstest"
)

const emulatorUsage = `Usage: akvcreds emulator [--addr HOST:PORT] [--imds-addr HOST:PORT] [--seed FILE] [--ca-out FILE]
                         [--log FILE] [--admin-addr HOST:PORT]

Runs the akvcredstest emulator standalone until interrupted (Ctrl-C or
SIGTERM): one TLS listener plays Key Vault (https://NAME.vault.azure.net and
the other clouds' vault hosts) and Entra ID (login.microsoftonline.com, ...),
and a plain-HTTP listener plays the managed-identity endpoint (IMDS).

It knows the tenant ` + akvcredstest.DefaultTenantID + `, the app
` + akvcredstest.DefaultClientID + ` with client secret
"` + akvcredstest.DefaultClientSecret + `", the user-assigned identity
` + akvcredstest.DefaultUserAssignedClientID + ` and a system-assigned identity.
Without --seed it holds the demo's vaults (see "akvcreds demo"); --seed reads
a JSON seed in akvcredstest's format (Server.LoadSeed: tenants, apps,
managedIdentities, vaults with secrets, certificates (generated at start),
permissions, softDeleteRetentionInDays and enablePurgeProtection, rateLimits,
eventSubscriptions) instead.

Each vault is an Event Grid system topic: a seed's eventSubscriptions (vault,
name, endpointUrl, eventDeliverySchema EventGridSchema or
CloudEventSchemaV1_0, includedEventTypes, maxEventsPerBatch,
maxDeliveryAttempts, eventTimeToLiveInMinutes, deliveryHeaders,
azureActiveDirectoryTenantId, azureActiveDirectoryApplicationIdOrUri)
deliver Microsoft.KeyVault.SecretNewVersionCreated, SecretNearExpiry and
SecretExpired to loopback webhooks after Event Grid's validation handshake,
with Event Grid's retries. With --admin-addr, POST /eventSubscriptions (the
same JSON) adds one at runtime, DELETE /eventSubscriptions/ID removes it,
GET /eventDeliveries lists the delivery attempts and POST /flushEvents
waits for the deliveries due.

It keeps a log of the requests it answers, so that tests in any language can
check what a client sent (say, exactly one token request): --log writes one
JSON line per request to FILE, and --admin-addr serves the log on a
separate plain-HTTP listener, GET http://HOST:PORT/requests (a JSON array;
?kind=token keeps one kind). Each entry has time, method, host, path, kind
(challenge, get-secret, list-secrets, token, imds, ...), status, whether an
Authorization header was sent, and the vault and secret names; never a
query, header, body, token or secret value.

The TLS certificate is signed by a CA created at start, written to --ca-out
(default: akvcreds-emulator-ca.pem in the temporary directory); the same CA
issues the seed's certificates with "issuer": "ca", so a test's TLS server
can verify them against that file. Usage instructions are printed to
standard error on start.

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
	seed := fs.String("seed", "", "JSON seed `file` (Server.LoadSeed in akvcredstest) instead of the demo's vaults")
	caOut := fs.String("ca-out", "", "write the emulator's CA certificate (PEM) to `file`")
	logFile := fs.String("log", "", "write the request log to `file`, one JSON line per request")
	adminAddr := fs.String("admin-addr", "", "serve the request log at http://`host:port`/requests and manage event subscriptions")
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
	opts := []akvcredstest.Option{akvcredstest.WithAddr(*addr, *imdsAddr)}
	lf, err := openLog(*logFile)
	if err != nil {
		return reportSetup(stderr, "emulator", usagef("opening --log: %v", err))
	}
	if lf != nil {
		defer lf.Close()
		opts = append(opts, akvcredstest.WithRequestLog(lf))
	}
	srv, err := akvcredstest.NewServer(opts...)
	if err != nil {
		fmt.Fprintf(stderr, "akvcreds emulator: %v\n", err)
		return exitFailure
	}
	defer srv.Close()
	admin, err := serveAdmin(srv, *adminAddr)
	if err != nil {
		fmt.Fprintf(stderr, "akvcreds emulator: %v\n", err)
		return exitFailure
	}
	defer admin.close()
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
		"Log": *logFile, "Admin": admin.addr(),
	})
	if err != nil {
		return exitFailure
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	admin.close()
	srv.Close()
	fmt.Fprintln(stderr, "akvcreds emulator: stopped")
	return exitOK
}

// openLog creates (or truncates) the --log file; without one it returns nil.
func openLog(name string) (*os.File, error) {
	if name == "" {
		return nil, nil
	}
	return os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
}

// adminServer is the optional read-only listener of --admin-addr.
type adminServer struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// serveAdmin serves srv's request log on addr; with an empty addr it
// serves nothing and returns a nil *adminServer, whose methods do nothing.
func serveAdmin(srv *akvcredstest.Server, addr string) (*adminServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--admin-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/requests", srv.RequestLogHandler())
	events := srv.EventsHandler()
	for _, p := range []string{"/eventSubscriptions", "/eventSubscriptions/", "/eventDeliveries", "/flushEvents"} {
		mux.Handle(p, events)
	}
	a := &adminServer{ln: ln, done: make(chan struct{}), srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
	}}
	go func() {
		defer close(a.done)
		_ = a.srv.Serve(ln) // ends with http.ErrServerClosed on close
	}()
	return a, nil
}

func (a *adminServer) addr() string {
	if a == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// close stops the listener and waits for it; it is safe to call twice.
func (a *adminServer) close() {
	if a == nil {
		return
	}
	_ = a.srv.Close()
	<-a.done
}

var emulatorHelp = template.Must(template.New("").Parse(`akvcreds emulator: Key Vault + Entra ID on https://{{.Addr}}, managed identity (IMDS) on http://{{.IMDSAddr}}
CA certificate: {{.CA}}
{{if .Log}}Request log: {{.Log}} (one JSON line per request)
{{end}}{{if .Admin}}Request log, read-only: http://{{.Admin}}/requests (?kind=token for one kind)
Event Grid subscriptions: POST http://{{.Admin}}/eventSubscriptions, DELETE .../eventSubscriptions/ID,
  GET http://{{.Admin}}/eventDeliveries, POST http://{{.Admin}}/flushEvents
{{end}}{{if .Seeded}}Vaults: contoso-prod, contoso-dev, contoso-hr (the demo's; see "akvcreds demo")
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
