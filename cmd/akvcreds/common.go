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
	envCertPath     = "AZURE_CLIENT_CERTIFICATE_PATH"
	envCertPassword = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
	envTokenFile    = "AZURE_FEDERATED_TOKEN_FILE"

	// Testing aid: route every Azure request to an emulator (akvcredstest or
	// "akvcreds emulator") instead of Azure.
	envEmulatorCA   = "AKVCREDS_EMULATOR_CA"        // PEM file of the emulator's CA
	envEmulatorAddr = "AKVCREDS_EMULATOR_ADDR"      // host:port of its TLS listener
	envEmulatorIMDS = "AKVCREDS_EMULATOR_IMDS_ADDR" // host:port of its IMDS listener
)

// Authentication modes of --auth.
const (
	authClientSecret = "client-secret"
	authCertificate  = "certificate"
	authWorkload     = "workload-identity"
	authEnvironment  = "environment"
	authSystem       = "system-identity"
	authUser         = "user-identity"
)

// authModes lists the --auth values, for messages.
const authModes = "client-secret, certificate, workload-identity, environment, system-identity or user-identity"

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
	sendCertChain   bool
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
	fs.BoolVar(&f.sendCertChain, "send-certificate-chain", false, "send the certificate chain with token requests, for subject name and issuer (SNI) authentication (--auth certificate)")
	fs.StringVar(&f.tokenFile, "federated-token-file", "", "service account token `file` for --auth workload-identity (default $AZURE_FEDERATED_TOKEN_FILE)")
	fs.StringVar(&f.cloud, "cloud", "public", "Azure `cloud`: public, china or usgovernment")
	fs.IntVar(&f.concurrency, "concurrency", akvcreds.DefaultConcurrency, "maximum `number` of Key Vault requests in flight")
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
                     --certificate-password-file, never a flag value);
                     --send-certificate-chain for subject name and issuer
                     authentication
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
// to name in fix commands ("" for the system-assigned identity). Every value
// comes from the flags or through env, never from os.Getenv: the options get
// explicit values, so the library does not read the tenant, client or token
// file from the process environment either.
func (f *commonFlags) authOption(stdin io.Reader, env func(string) string) (akvcreds.Option, string, error) {
	if f.secretFile != "" && f.secretStdin {
		return nil, "", usagef("--client-secret-file and --client-secret-stdin are exclusive: give the client secret one way")
	}
	explicitSecret := f.secretFile != "" || f.secretStdin
	mode := f.auth
	if mode == "" {
		switch {
		case explicitSecret || env(envClientSecret) != "":
			mode = authClientSecret
		case f.certFile != "" || f.certPassFile != "" || f.sendCertChain:
			return nil, "", usagef("the certificate flags need --auth certificate (without --auth, the mode is client-secret, and no client secret is given)")
		case f.tokenFile != "":
			return nil, "", usagef("--federated-token-file needs --auth workload-identity (without --auth, the mode is client-secret, and no client secret is given)")
		default:
			return nil, "", usagef("no authentication: set %s (or use --client-secret-file or --client-secret-stdin), or choose --auth certificate, workload-identity, environment, system-identity or user-identity", envClientSecret)
		}
	}
	switch mode {
	case authClientSecret, authCertificate, authWorkload, authEnvironment, authSystem, authUser:
	default:
		return nil, "", usagef("unknown --auth %q: use %s", mode, authModes)
	}
	if err := f.checkModeFlags(mode, explicitSecret, f.auth == ""); err != nil {
		return nil, "", err
	}
	tenantID := f.tenantID
	if tenantID == "" {
		tenantID = env(envTenantID)
	}
	clientID := f.clientID
	if clientID == "" {
		clientID = env(envClientID)
	}
	// needIDs reports a missing tenant or client ID for the app registration modes.
	needIDs := func() error {
		if tenantID == "" {
			return usagef("--auth %s needs a tenant ID: --tenant-id or %s", mode, envTenantID)
		}
		if clientID == "" {
			return usagef("--auth %s needs a client ID: --client-id or %s", mode, envClientID)
		}
		return nil
	}
	switch mode {
	case authClientSecret:
		secret, err := f.clientSecret(stdin, env)
		if err != nil {
			return nil, "", err
		}
		if err := needIDs(); err != nil {
			return nil, "", err
		}
		return akvcreds.WithClientSecret(tenantID, clientID, secret), clientID, nil
	case authCertificate:
		if err := needIDs(); err != nil {
			return nil, "", err
		}
		path := f.certFile
		if path == "" {
			path = env(envCertPath)
		}
		if path == "" {
			return nil, "", usagef("--auth certificate needs a certificate file: --certificate or %s", envCertPath)
		}
		var copts []akvcreds.CertOption
		password, err := f.certPassword(env)
		if err != nil {
			return nil, "", err
		}
		if password != "" {
			copts = append(copts, akvcreds.CertificatePassword(password))
		}
		if f.sendCertChain {
			copts = append(copts, akvcreds.SendCertificateChain())
		}
		return akvcreds.WithClientCertificate(tenantID, clientID, akvcreds.CertificateFile(path), copts...), clientID, nil
	case authWorkload:
		if err := needIDs(); err != nil {
			return nil, "", err
		}
		tokenFile := f.tokenFile
		if tokenFile == "" {
			tokenFile = env(envTokenFile)
		}
		if tokenFile == "" {
			return nil, "", usagef("--auth workload-identity needs the service account token file: --federated-token-file or %s", envTokenFile)
		}
		// All three values are given, so the library reads none of them
		// from the process environment.
		return akvcreds.WithWorkloadIdentity(tenantID, clientID, tokenFile), clientID, nil
	case authEnvironment:
		return akvcreds.WithEnvironmentCredentialFrom(env), env(envClientID), nil
	case authSystem:
		return akvcreds.WithSystemAssignedIdentity(), "", nil
	default: // authUser
		if clientID == "" {
			return nil, "", usagef("--auth user-identity needs the identity's client ID: --client-id or %s", envClientID)
		}
		return akvcreds.WithUserAssignedIdentity(clientID), clientID, nil
	}
}

// checkModeFlags rejects flags that belong to another authentication mode
// than mode, so that none is silently ignored. inferred reports that mode
// was chosen because a client secret is given, not with --auth.
func (f *commonFlags) checkModeFlags(mode string, explicitSecret, inferred bool) error {
	var why string
	if inferred {
		why = " (chosen because a client secret is given; add --auth to choose another)"
	}
	if explicitSecret && mode != authClientSecret {
		return usagef("two authentication modes: --auth %s does not use a client secret, drop --client-secret-file/--client-secret-stdin", mode)
	}
	var certFlags []string
	if f.certFile != "" {
		certFlags = append(certFlags, "--certificate")
	}
	if f.certPassFile != "" {
		certFlags = append(certFlags, "--certificate-password-file")
	}
	if f.sendCertChain {
		certFlags = append(certFlags, "--send-certificate-chain")
	}
	if len(certFlags) > 0 && mode != authCertificate {
		return usagef("two authentication modes: %s is for --auth certificate, not %s%s", strings.Join(certFlags, ", "), mode, why)
	}
	if f.tokenFile != "" && mode != authWorkload {
		return usagef("two authentication modes: --federated-token-file is for --auth workload-identity, not %s%s", mode, why)
	}
	switch mode {
	case authEnvironment:
		for _, fl := range []struct{ name, value, env string }{
			{"--tenant-id", f.tenantID, envTenantID},
			{"--client-id", f.clientID, envClientID},
		} {
			if fl.value != "" {
				return usagef("--auth environment reads everything from the AZURE_* variables: drop %s and set %s", fl.name, fl.env)
			}
		}
	case authSystem, authUser:
		if f.tenantID != "" {
			return usagef("--tenant-id is for --auth client-secret, certificate or workload-identity; a managed identity uses its own tenant")
		}
		if mode == authSystem && f.clientID != "" {
			return usagef("two authentication modes: --client-id with --auth system-identity; use --auth user-identity for a user-assigned identity")
		}
	}
	return nil
}

// certPassword reads the certificate's password from
// --certificate-password-file or the environment ("" when neither is set).
func (f *commonFlags) certPassword(env func(string) string) (string, error) {
	if f.certPassFile == "" {
		return env(envCertPassword), nil
	}
	b, err := os.ReadFile(f.certPassFile)
	if err != nil {
		return "", usagef("reading --certificate-password-file: %v", err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", usagef("the certificate password from --certificate-password-file %s is empty", f.certPassFile)
	}
	return p, nil
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
