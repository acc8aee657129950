package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/internal/cloud"
)

// Environment variables read by fetch and check.
const (
	envTenantID     = "AZURE_TENANT_ID"
	envClientID     = "AZURE_CLIENT_ID"
	envClientSecret = "AZURE_CLIENT_SECRET"
	envCertPath     = "AZURE_CLIENT_CERTIFICATE_PATH"
	envCertPassword = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
	envTokenFile    = "AZURE_FEDERATED_TOKEN_FILE"

	// Testing aid: route every Azure request to an emulator (akvcredstest or
	// "akvcreds emulator") instead of Azure.
	envEmulatorCA   = "AKVCREDS_EMULATOR_CA"        // PEM file of the emulator's CA
	envEmulatorAddr = "AKVCREDS_EMULATOR_ADDR"      // host:port of its TLS listener
	envEmulatorIMDS = "AKVCREDS_EMULATOR_IMDS_ADDR" // host:port of its IMDS listener
)

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// commonFlags are the flags fetch and check share: what to read and how to
// authenticate.
type commonFlags struct {
	vaults, secrets listFlag
	auth            string
	tenantID        string
	clientID        string
	secretFile      string
	secretStdin     bool
	certFile        string
	certPassFile    string
	tokenFile       string
	cloud           string
	concurrency     int
	timeout         time.Duration
	verbose         bool
}

func (f *commonFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.vaults, "vault", "vault `name` or URL (repeatable or comma-separated; required)")
	fs.Var(&f.secrets, "secret", "secret `name`, or name/version (repeatable or comma-separated; none: every enabled secret, listed)")
	fs.StringVar(&f.auth, "auth", "", "authentication `mode`: "+authModes+" (default: client-secret when a client secret is given)")
	fs.StringVar(&f.tenantID, "tenant-id", "", "Entra tenant (directory) `ID` for client-secret, certificate and workload-identity (default $AZURE_TENANT_ID)")
	fs.StringVar(&f.clientID, "client-id", "", "application (client) `ID` for client-secret, certificate and workload-identity, or the user-assigned identity's client ID (default $AZURE_CLIENT_ID)")
	fs.StringVar(&f.secretFile, "client-secret-file", "", "read the client secret from `file` (default: $AZURE_CLIENT_SECRET)")
	fs.BoolVar(&f.secretStdin, "client-secret-stdin", false, "read the client secret from standard input")
	fs.StringVar(&f.certFile, "certificate", "", "certificate and private key `file`, PEM or PKCS#12, for --auth certificate (default $AZURE_CLIENT_CERTIFICATE_PATH)")
	fs.StringVar(&f.certPassFile, "certificate-password-file", "", "read the PKCS#12 certificate's password from `file` (default: $AZURE_CLIENT_CERTIFICATE_PASSWORD)")
	fs.StringVar(&f.tokenFile, "federated-token-file", "", "service account token `file` for --auth workload-identity (default $AZURE_FEDERATED_TOKEN_FILE)")
	fs.StringVar(&f.cloud, "cloud", "", "Azure `cloud`: public, china or usgovernment (default: the cloud of the --vault URLs, else public)")
	fs.IntVar(&f.concurrency, "concurrency", 32, "maximum `number` of Key Vault requests in flight")
	fs.DurationVar(&f.timeout, "timeout", 2*time.Minute, "give up after this `duration`")
	fs.BoolVar(&f.verbose, "v", false, "write debug logs to standard error (never secret values)")
}

// authHelp documents authentication and the emulator variables in usage.
const authHelp = `
Authentication (exactly one mode, chosen with --auth; without it,
client-secret when a client secret is given):
  client-secret      an app registration: --tenant-id, --client-id and a
                     client secret from $AZURE_CLIENT_SECRET,
                     --client-secret-file or --client-secret-stdin (never a
                     flag value, which would show in the process list and
                     shell history)
  certificate        an app registration with a certificate: --tenant-id,
                     --client-id and --certificate FILE (PEM, or PKCS#12 with
                     its password from $AZURE_CLIENT_CERTIFICATE_PASSWORD or
                     --certificate-password-file, never a flag value)
  workload-identity  Kubernetes workload identity: --tenant-id, --client-id
                     and --federated-token-file, by default from
                     $AZURE_TENANT_ID, $AZURE_CLIENT_ID and
                     $AZURE_FEDERATED_TOKEN_FILE as the workload identity
                     webhook sets them
  environment        the standard variables, as the Azure SDKs read them:
                     AZURE_TENANT_ID and AZURE_CLIENT_ID with
                     AZURE_CLIENT_SECRET, else AZURE_CLIENT_CERTIFICATE_PATH
                     (AZURE_CLIENT_CERTIFICATE_PASSWORD,
                     AZURE_CLIENT_SEND_CERTIFICATE_CHAIN), else
                     AZURE_FEDERATED_TOKEN_FILE; never a managed identity
  system-identity    the system-assigned managed identity of this Azure
                     resource
  user-identity      the user-assigned managed identity whose client ID is
                     --client-id (or $AZURE_CLIENT_ID)
The identity needs the "Key Vault Secrets User" role on the vault (Azure RBAC)
or the secret Get permission in its access policy (and List without --secret).
Client secrets and passwords are read up to 64 KiB, certificates up to 1 MiB.

Testing aid: when AKVCREDS_EMULATOR_CA (PEM file of a CA) and
AKVCREDS_EMULATOR_ADDR (host:port) are set, every Azure host on port 443
(*.vault.azure.net, login.microsoftonline.com, ...) is dialled at
AKVCREDS_EMULATOR_ADDR and trusted only through that CA, and the managed
identity endpoint 169.254.169.254:80 at AKVCREDS_EMULATOR_IMDS_ADDR. Use it
with "akvcreds emulator" or an akvcredstest server; never against Azure.
`

// newClient turns the flags and environment into an akvcreds Client, with
// extra options appended. It makes no request. principal is the client ID
// to name in fix commands ("" for the system-assigned identity); cleanup
// releases the HTTP client. On failure it has printed the error and code is
// the exit status.
func (f *commonFlags) newClient(cmd string, stdin io.Reader, stderr io.Writer, env func(string) string, extra ...akvcreds.Option) (c *akvcreds.Client, principal string, cleanup func(), code int) {
	opts, principal, cleanup, err := f.setup(stdin, stderr, env)
	if err == nil {
		c, err = akvcreds.New(append(opts, extra...)...)
	}
	if err != nil {
		cleanup()
		return nil, "", nil, reportSetup(stderr, cmd, err)
	}
	return c, principal, cleanup, exitOK
}

// setup turns the flags and environment into akvcreds options. It never
// makes a request. The returned cleanup releases the HTTP client.
func (f *commonFlags) setup(stdin io.Reader, stderr io.Writer, env func(string) string) (opts []akvcreds.Option, principal string, cleanup func(), err error) {
	cleanup = func() {}
	if len(f.vaults) == 0 {
		return nil, "", cleanup, usagef("at least one --vault is required")
	}
	if f.timeout <= 0 {
		return nil, "", cleanup, usagef("--timeout must be positive")
	}
	opts = append(opts, akvcreds.WithVaults(f.vaults...), akvcreds.WithConcurrency(f.concurrency))
	if f.cloud != "" {
		opts = append(opts, akvcreds.WithCloud(f.cloud)) // New reports an unknown name
	}
	if len(f.secrets) > 0 {
		opts = append(opts, akvcreds.WithSecrets(f.secrets...))
	}
	hc, err := emulatorClient(env)
	if err != nil {
		return nil, "", cleanup, err
	}
	if hc != nil {
		opts = append(opts, akvcreds.WithHTTPClient(hc))
		cleanup = hc.CloseIdleConnections
	}
	auth, principal, err := f.authOption(stdin, env, hc)
	if err != nil {
		return nil, "", cleanup, err
	}
	opts = append(opts, auth)
	if f.verbose {
		opts = append(opts, akvcreds.WithLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	return opts, principal, cleanup, nil
}

// cloudOf is the cloud the Client will use: --cloud, else the cloud of the
// first --vault URL, else public. An unknown --cloud gives public here; New
// reports it.
func (f *commonFlags) cloudOf() cloud.Cloud {
	if c, ok := cloud.ByName(f.cloud); ok {
		return c
	}
	for _, v := range f.vaults {
		if u, err := url.Parse(v); err == nil && u.Host != "" {
			if c, ok := cloud.ForVaultHost(u.Hostname()); ok {
				return c
			}
		}
	}
	return cloud.Public()
}

// Bounds on what is read from files and standard input: nothing the
// command reads is larger, and /dev/zero must not fill the memory.
const (
	maxSecretSize = 64 << 10 // client secrets and passwords
	maxFileSize   = 1 << 20  // certificates and CA files
)

// readFile reads the file at path, named in messages by what (a flag or a
// variable), up to limit bytes: a larger file is a usage error, and no more
// than limit+1 bytes are read.
func readFile(what, path string, limit int) ([]byte, error) {
	fh, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, usagef("%s: %s does not exist", what, path)
	case err != nil:
		return nil, usagef("reading %s: %v", what, err)
	}
	defer fh.Close()
	return readBounded(what+" "+path, fh, limit)
}

// readBounded reads r, named in messages by what, up to limit bytes: more
// is a usage error saying it is too large.
func readBounded(what string, r io.Reader, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, usagef("reading %s: %v", what, err)
	}
	if len(b) > limit {
		return nil, usagef("%s is too large: more than %d KiB", what, limit>>10)
	}
	return b, nil
}

// emulatorClient returns the HTTP client for the AKVCREDS_EMULATOR_*
// variables, or nil when they are not set.
func emulatorClient(env func(string) string) (*http.Client, error) {
	caFile, addr, imds := env(envEmulatorCA), env(envEmulatorAddr), env(envEmulatorIMDS)
	if caFile == "" && addr == "" && imds == "" {
		return nil, nil
	}
	if caFile == "" || addr == "" {
		return nil, usagef("%s and %s must be set together", envEmulatorCA, envEmulatorAddr)
	}
	pem, err := readFile(envEmulatorCA, caFile, maxFileSize)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usagef("%s: %s holds no PEM certificate", envEmulatorCA, caFile)
	}
	var d net.Dialer
	tr := &http.Transport{
		Proxy:               nil,
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			switch {
			case port == "443":
				return d.DialContext(ctx, network, addr)
			case host == "169.254.169.254" && port == "80" && imds != "":
				return d.DialContext(ctx, network, imds)
			}
			return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("akvcreds: %s is not routed to the emulator (%s)", address, envEmulatorAddr)}
		},
	}
	return &http.Client{Transport: tr}, nil
}
