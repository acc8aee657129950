package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/akvcreds/akvcreds"
)

// Environment variables read by fetch and check.
const (
	envTenantID     = "AZURE_TENANT_ID"
	envClientID     = "AZURE_CLIENT_ID"
	envClientSecret = "AZURE_CLIENT_SECRET"

	// Testing aid: route every Azure request to an emulator (akvcredstest or
	// "akvcreds emulator") instead of Azure.
	envEmulatorCA   = "AKVCREDS_EMULATOR_CA"        // PEM file of the emulator's CA
	envEmulatorAddr = "AKVCREDS_EMULATOR_ADDR"      // host:port of its TLS listener
	envEmulatorIMDS = "AKVCREDS_EMULATOR_IMDS_ADDR" // host:port of its IMDS listener
)

// Authentication modes of --auth.
const (
	authClientSecret = "client-secret"
	authSystem       = "system-identity"
	authUser         = "user-identity"
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
	cloud           string
	concurrency     int
	timeout         time.Duration
	verbose         bool
}

func (f *commonFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.vaults, "vault", "vault `name` or URL (repeatable or comma-separated; required)")
	fs.Var(&f.secrets, "secret", "secret `name`, or name/version (repeatable or comma-separated; none: every enabled secret, listed)")
	fs.StringVar(&f.auth, "auth", "", "authentication `mode`: client-secret (default when a client secret is given), system-identity or user-identity")
	fs.StringVar(&f.tenantID, "tenant-id", "", "Entra tenant (directory) `ID` for client-secret (default $AZURE_TENANT_ID)")
	fs.StringVar(&f.clientID, "client-id", "", "application (client) `ID` for client-secret, or the user-assigned identity's client ID (default $AZURE_CLIENT_ID)")
	fs.StringVar(&f.secretFile, "client-secret-file", "", "read the client secret from `file` (default: $AZURE_CLIENT_SECRET)")
	fs.BoolVar(&f.secretStdin, "client-secret-stdin", false, "read the client secret from standard input")
	fs.StringVar(&f.cloud, "cloud", "public", "Azure `cloud`: public, china or usgovernment")
	fs.IntVar(&f.concurrency, "concurrency", akvcreds.DefaultConcurrency, "maximum `number` of Key Vault requests in flight")
	fs.DurationVar(&f.timeout, "timeout", 2*time.Minute, "give up after this `duration`")
	fs.BoolVar(&f.verbose, "v", false, "write debug logs to standard error (never secret values)")
}

// authHelp documents authentication and the emulator variables in usage.
const authHelp = `
Authentication (exactly one mode):
  client-secret    an app registration: --tenant-id, --client-id and a client
                   secret from $AZURE_CLIENT_SECRET, --client-secret-file or
                   --client-secret-stdin (never a flag value, which would show
                   in the process list and shell history)
  system-identity  the system-assigned managed identity of this Azure resource
  user-identity    the user-assigned managed identity whose client ID is
                   --client-id (or $AZURE_CLIENT_ID)
The identity needs the "Key Vault Secrets User" role on the vault (Azure RBAC)
or the secret Get permission in its access policy (and List without --secret).

Testing aid: when AKVCREDS_EMULATOR_CA (PEM file of a CA) and
AKVCREDS_EMULATOR_ADDR (host:port) are set, every Azure host on port 443
(*.vault.azure.net, login.microsoftonline.com, ...) is dialled at
AKVCREDS_EMULATOR_ADDR and trusted only through that CA, and the managed
identity endpoint 169.254.169.254:80 at AKVCREDS_EMULATOR_IMDS_ADDR. Use it
with "akvcreds emulator" or an akvcredstest server; never against Azure.
`

// setup turns the flags and environment into akvcreds options. It never
// makes a request. The returned cleanup releases the HTTP client.
func (f *commonFlags) setup(stdin io.Reader, stderr io.Writer, env func(string) string) (opts []akvcreds.Option, principal string, cleanup func(), err error) {
	cleanup = func() {}
	if len(f.vaults) == 0 {
		return nil, "", cleanup, usagef("at least one --vault is required")
	}
	cl, err := akvcreds.ParseCloud(f.cloud)
	if err != nil {
		return nil, "", cleanup, err
	}
	opts = append(opts, akvcreds.WithCloud(cl), akvcreds.WithVaults(f.vaults...), akvcreds.WithConcurrency(f.concurrency))
	if len(f.secrets) > 0 {
		opts = append(opts, akvcreds.WithSecrets(f.secrets...))
	}
	if f.timeout <= 0 {
		return nil, "", cleanup, usagef("--timeout must be positive")
	}

	auth, principal, err := f.authOption(stdin, env)
	if err != nil {
		return nil, "", cleanup, err
	}
	opts = append(opts, auth)

	hc, err := emulatorClient(env)
	if err != nil {
		return nil, "", cleanup, err
	}
	if hc != nil {
		opts = append(opts, akvcreds.WithHTTPClient(hc))
		cleanup = hc.CloseIdleConnections
	}
	if f.verbose {
		opts = append(opts, akvcreds.WithLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	return opts, principal, cleanup, nil
}

// authOption picks the authentication option. principal is the client ID
// to name in fix commands ("" for the system-assigned identity).
func (f *commonFlags) authOption(stdin io.Reader, env func(string) string) (akvcreds.Option, string, error) {
	if f.secretFile != "" && f.secretStdin {
		return nil, "", usagef("--client-secret-file and --client-secret-stdin are exclusive: give the client secret one way")
	}
	explicitSecret := f.secretFile != "" || f.secretStdin
	mode := f.auth
	if mode == "" {
		if explicitSecret || env(envClientSecret) != "" {
			mode = authClientSecret
		} else {
			return nil, "", usagef("no authentication: set %s (or use --client-secret-file or --client-secret-stdin), or choose --auth system-identity or --auth user-identity", envClientSecret)
		}
	}
	clientID := f.clientID
	if clientID == "" {
		clientID = env(envClientID)
	}
	switch mode {
	case authClientSecret:
		tenantID := f.tenantID
		if tenantID == "" {
			tenantID = env(envTenantID)
		}
		secret, err := f.clientSecret(stdin, env)
		if err != nil {
			return nil, "", err
		}
		if tenantID == "" {
			return nil, "", usagef("--auth client-secret needs a tenant ID: --tenant-id or %s", envTenantID)
		}
		if clientID == "" {
			return nil, "", usagef("--auth client-secret needs a client ID: --client-id or %s", envClientID)
		}
		return akvcreds.WithClientSecret(tenantID, clientID, secret), clientID, nil
	case authSystem, authUser:
		if explicitSecret {
			return nil, "", usagef("two authentication modes: --auth %s does not use a client secret, drop --client-secret-file/--client-secret-stdin", mode)
		}
		if f.tenantID != "" {
			return nil, "", usagef("--tenant-id is for --auth client-secret; a managed identity uses its own tenant")
		}
		if mode == authSystem {
			if f.clientID != "" {
				return nil, "", usagef("two authentication modes: --client-id with --auth system-identity; use --auth user-identity for a user-assigned identity")
			}
			return akvcreds.WithSystemAssignedIdentity(), "", nil
		}
		if clientID == "" {
			return nil, "", usagef("--auth user-identity needs the identity's client ID: --client-id or %s", envClientID)
		}
		return akvcreds.WithUserAssignedIdentity(clientID), clientID, nil
	}
	return nil, "", usagef("unknown --auth %q: use client-secret, system-identity or user-identity", mode)
}

// clientSecret reads the client secret from --client-secret-file,
// --client-secret-stdin or the environment, in that order.
func (f *commonFlags) clientSecret(stdin io.Reader, env func(string) string) (string, error) {
	var (
		s    string
		from string
	)
	switch {
	case f.secretFile != "":
		b, err := os.ReadFile(f.secretFile)
		if err != nil {
			return "", usagef("reading --client-secret-file: %v", err)
		}
		s, from = string(b), "--client-secret-file "+f.secretFile
	case f.secretStdin:
		b, err := io.ReadAll(io.LimitReader(stdin, 64<<10))
		if err != nil {
			return "", usagef("reading the client secret from standard input: %v", err)
		}
		s, from = string(b), "standard input"
	default:
		s, from = env(envClientSecret), envClientSecret
	}
	s = strings.TrimRight(s, "\r\n")
	if s == "" {
		return "", usagef("the client secret from %s is empty", from)
	}
	return s, nil
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
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, usagef("reading %s: %v", envEmulatorCA, err)
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
