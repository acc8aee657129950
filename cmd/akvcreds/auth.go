package main

import (
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/internal/azure"
	"github.com/akvcreds/akvcreds/internal/cloud"
	"github.com/akvcreds/akvcreds/internal/ident"
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

// authInput is what an authentication mode is made from. Every value comes
// from the flags or through env, never from os.Getenv: the options get
// explicit values (or a credential built here), so the library reads
// nothing from the process environment either.
type authInput struct {
	mode                 string
	tenantID, tenantFrom string // --tenant-id, else $AZURE_TENANT_ID; and which
	clientID, clientFrom string // --client-id, else $AZURE_CLIENT_ID; and which
	stdin                io.Reader
	env                  func(string) string
	hc                   *http.Client // the emulator's client, or nil for Azure
	cloud                cloud.Cloud
}

// authBuilders make each mode's option and name its principal: the client
// ID to put in fix commands ("" for the system-assigned identity).
var authBuilders = map[string]func(f *commonFlags, in authInput) (akvcreds.Option, string, error){
	authClientSecret: (*commonFlags).clientSecretAuth,
	authCertificate:  (*commonFlags).certificateAuth,
	authWorkload:     (*commonFlags).workloadAuth,
	authEnvironment:  func(_ *commonFlags, in authInput) (akvcreds.Option, string, error) { return environmentAuth(in) },
	authSystem: func(*commonFlags, authInput) (akvcreds.Option, string, error) {
		return akvcreds.WithSystemAssignedIdentity(), "", nil
	},
	authUser: func(_ *commonFlags, in authInput) (akvcreds.Option, string, error) {
		if in.clientID == "" {
			return nil, "", usagef("--auth user-identity needs the identity's client ID: --client-id or %s", envClientID)
		}
		return akvcreds.WithUserAssignedIdentity(in.clientID), in.clientID, nil
	},
}

// authOption picks the authentication option and its principal. hc is the
// emulator's HTTP client, or nil.
func (f *commonFlags) authOption(stdin io.Reader, env func(string) string, hc *http.Client) (akvcreds.Option, string, error) {
	mode, err := f.authMode(env)
	if err != nil {
		return nil, "", err
	}
	build, ok := authBuilders[mode]
	if !ok {
		return nil, "", usagef("unknown --auth %q: use %s", mode, authModes)
	}
	if err := f.checkModeFlags(mode); err != nil {
		return nil, "", err
	}
	in := authInput{mode: mode, stdin: stdin, env: env, hc: hc, cloud: f.cloudOf()}
	in.tenantID, in.tenantFrom = in.value("--tenant-id", f.tenantID, envTenantID)
	in.clientID, in.clientFrom = in.value("--client-id", f.clientID, envClientID)
	return build(f, in)
}

// value is the flag's value when it is given, else the variable's, and the
// name of the one it came from.
func (in authInput) value(flagName, flagValue, variable string) (value, from string) {
	if flagValue != "" {
		return flagValue, flagName
	}
	return in.env(variable), variable
}

// explicitSecret reports whether a client secret source is given by flag.
func (f *commonFlags) explicitSecret() bool { return f.secretFile != "" || f.secretStdin }

// authMode is --auth, or, without it, client-secret when a client secret
// is given.
func (f *commonFlags) authMode(env func(string) string) (string, error) {
	if f.secretFile != "" && f.secretStdin {
		return "", usagef("--client-secret-file and --client-secret-stdin are exclusive: give the client secret one way")
	}
	switch {
	case f.auth != "":
		return f.auth, nil
	case f.explicitSecret() || env(envClientSecret) != "":
		return authClientSecret, nil
	case f.certFile != "" || f.certPassFile != "":
		return "", usagef("the certificate flags need --auth certificate (without --auth, the mode is client-secret, and no client secret is given)")
	case f.tokenFile != "":
		return "", usagef("--federated-token-file needs --auth workload-identity (without --auth, the mode is client-secret, and no client secret is given)")
	}
	return "", usagef("no authentication: set %s (or use --client-secret-file or --client-secret-stdin), or choose --auth certificate, workload-identity, environment, system-identity or user-identity", envClientSecret)
}

// checkModeFlags rejects flags that belong to another authentication mode
// than mode, so that none is silently ignored.
func (f *commonFlags) checkModeFlags(mode string) error {
	var why string
	if f.auth == "" {
		why = " (chosen because a client secret is given; add --auth to choose another)"
	}
	if f.explicitSecret() && mode != authClientSecret {
		return usagef("two authentication modes: --auth %s does not use a client secret, drop --client-secret-file/--client-secret-stdin", mode)
	}
	var certFlags []string
	if f.certFile != "" {
		certFlags = append(certFlags, "--certificate")
	}
	if f.certPassFile != "" {
		certFlags = append(certFlags, "--certificate-password-file")
	}
	if len(certFlags) > 0 && mode != authCertificate {
		return usagef("two authentication modes: %s is for --auth certificate, not %s%s", strings.Join(certFlags, ", "), mode, why)
	}
	if f.tokenFile != "" && mode != authWorkload {
		return usagef("two authentication modes: --federated-token-file is for --auth workload-identity, not %s%s", mode, why)
	}
	return f.checkIDFlags(mode)
}

// checkIDFlags rejects --tenant-id and --client-id where mode has no use
// for them.
func (f *commonFlags) checkIDFlags(mode string) error {
	switch {
	case mode == authEnvironment && f.tenantID != "":
		return usagef("--auth environment reads everything from the AZURE_* variables: drop --tenant-id and set %s", envTenantID)
	case mode == authEnvironment && f.clientID != "":
		return usagef("--auth environment reads everything from the AZURE_* variables: drop --client-id and set %s", envClientID)
	case (mode == authSystem || mode == authUser) && f.tenantID != "":
		return usagef("--tenant-id is for --auth client-secret, certificate or workload-identity; a managed identity uses its own tenant")
	case mode == authSystem && f.clientID != "":
		return usagef("two authentication modes: --client-id with --auth system-identity; use --auth user-identity for a user-assigned identity")
	}
	return nil
}

// needIDs reports a missing tenant or client ID for the app registration
// modes.
func (in authInput) needIDs() error {
	if in.tenantID == "" {
		return usagef("--auth %s needs a tenant ID: --tenant-id or %s", in.mode, envTenantID)
	}
	if in.clientID == "" {
		return usagef("--auth %s needs a client ID: --client-id or %s", in.mode, envClientID)
	}
	return nil
}

func (f *commonFlags) clientSecretAuth(in authInput) (akvcreds.Option, string, error) {
	secret, err := f.clientSecret(in.stdin, in.env)
	if err != nil {
		return nil, "", err
	}
	if err := in.needIDs(); err != nil {
		return nil, "", err
	}
	return akvcreds.WithClientSecret(in.tenantID, in.clientID, secret), in.clientID, nil
}

func (f *commonFlags) certificateAuth(in authInput) (akvcreds.Option, string, error) {
	if err := in.needIDs(); err != nil {
		return nil, "", err
	}
	path, from := in.value("--certificate", f.certFile, envCertPath)
	if path == "" {
		return nil, "", usagef("--auth certificate needs a certificate file: --certificate or %s", envCertPath)
	}
	password, err := f.certPassword(in.env)
	if err != nil {
		return nil, "", err
	}
	data, err := readFile(from, path, maxFileSize)
	if err != nil {
		return nil, "", err
	}
	// New checks the certificate too, but cannot name the file.
	if _, err := azure.LoadCertificate(data, password, time.Now()); err != nil {
		return nil, "", usagef("%s %s: %v", from, path, err)
	}
	return akvcreds.WithClientCertificate(in.tenantID, in.clientID, data, password), in.clientID, nil
}

// workloadAuth builds the workload identity credential: akvcreds offers
// workload identity only through the environment (WithEnvironmentCredential),
// and the command takes its values from flags too.
func (f *commonFlags) workloadAuth(in authInput) (akvcreds.Option, string, error) {
	if err := in.needIDs(); err != nil {
		return nil, "", err
	}
	file, from := in.value("--federated-token-file", f.tokenFile, envTokenFile)
	if file == "" {
		return nil, "", usagef("--auth workload-identity needs the service account token file: --federated-token-file or %s", envTokenFile)
	}
	if err := checkIDs(in.tenantID, in.tenantFrom, in.clientID, in.clientFrom); err != nil {
		return nil, "", err
	}
	if err := azure.CheckWorkloadIdentity(file); err != nil {
		return nil, "", usagef("%s: %v", from, err)
	}
	return in.credential(azure.AuthConfig{Kind: azure.AuthWorkloadIdentity, TenantID: in.tenantID, ClientID: in.clientID, TokenFile: file})
}

// environmentAuth builds the credential the AZURE_* variables describe, as
// akvcreds.WithEnvironmentCredential would, but read through env.
func environmentAuth(in authInput) (akvcreds.Option, string, error) {
	cfg, err := azure.FromEnvironment(in.env, time.Now())
	if err != nil {
		return nil, "", usagef("--auth environment: %v", err)
	}
	if err := checkIDs(cfg.TenantID, envTenantID, cfg.ClientID, envClientID); err != nil {
		return nil, "", err
	}
	if cfg.Kind == azure.AuthClientSecret && strings.TrimSpace(cfg.ClientSecret) != cfg.ClientSecret {
		return nil, "", usagef("%s: the client secret has leading or trailing white space: remove it", envClientSecret)
	}
	if err := checkAuthorityHost(cfg.AuthorityHost, in.cloud); err != nil {
		return nil, "", err
	}
	return in.credential(cfg)
}

// checkAuthorityHost refuses an AZURE_AUTHORITY_HOST of another cloud than
// c, saying which --cloud it belongs to.
func checkAuthorityHost(host string, c cloud.Cloud) error {
	if azure.CheckAuthorityHost(host, c) == nil {
		return nil
	}
	for _, other := range cloud.All() {
		if azure.CheckAuthorityHost(host, other) == nil {
			return usagef("%s is %s, the Entra ID of the %s cloud, but the vaults are in the %s cloud: choose the cloud with --cloud %s, or unset %s",
				azure.EnvAuthorityHost, host, cloudFlag(other), cloudFlag(c), cloudFlag(other), azure.EnvAuthorityHost)
		}
	}
	return usagef("%s is %s, which is not the Entra ID of the %s cloud", azure.EnvAuthorityHost, host, cloudFlag(c))
}

// cloudFlag is the --cloud value of c: public, china or usgovernment.
func cloudFlag(c cloud.Cloud) string { return strings.ToLower(strings.TrimPrefix(c.Name, "Azure")) }

// credential turns cfg into a token credential for the Client's cloud,
// sending its requests through the emulator's client when there is one.
func (in authInput) credential(cfg azure.AuthConfig) (akvcreds.Option, string, error) {
	cred, err := azure.NewCredential(cfg, azure.CredentialOptions{Cloud: in.cloud, HTTPClient: noRedirects(in.hc), MaxRetries: 3})
	if err != nil {
		return nil, "", usagef("--auth %s: %v", in.mode, err)
	}
	return akvcreds.WithTokenCredential(cred), cfg.ClientID, nil
}

// noRedirects returns a copy of hc (or a client on the default transport)
// that never follows a redirect, so a token request's body (client secret,
// assertion) cannot travel to another host; akvcreds does the same for the
// credentials it builds.
func noRedirects(hc *http.Client) *http.Client {
	c := &http.Client{Transport: http.DefaultTransport}
	if hc != nil {
		cp := *hc
		c = &cp
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// checkIDs checks the form of a tenant and a client ID, naming their
// sources in errors.
func checkIDs(tenantID, tenantFrom, clientID, clientFrom string) error {
	if err := ident.TenantID(tenantID); err != nil {
		return usagef("%s: tenant ID: %v", tenantFrom, err)
	}
	if err := ident.ClientID(clientID); err != nil {
		return usagef("%s: client ID: %v", clientFrom, err)
	}
	return nil
}

// certPassword reads the certificate's password from
// --certificate-password-file or the environment ("" when neither is set).
func (f *commonFlags) certPassword(env func(string) string) (string, error) {
	if f.certPassFile == "" {
		return env(envCertPassword), nil
	}
	b, err := readFile("--certificate-password-file", f.certPassFile, maxSecretSize)
	if err != nil {
		return "", err
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
		b    []byte
		err  error
		from string
	)
	switch {
	case f.secretFile != "":
		from = "--client-secret-file " + f.secretFile
		b, err = readFile("--client-secret-file", f.secretFile, maxSecretSize)
	case f.secretStdin:
		from = "standard input"
		b, err = readBounded("the client secret on standard input (--client-secret-stdin)", stdin, maxSecretSize)
	default:
		from = envClientSecret
		b = []byte(env(envClientSecret))
	}
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", usagef("the client secret from %s is empty", from)
	}
	return s, nil
}
