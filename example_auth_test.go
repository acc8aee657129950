package akvcreds_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// exampleAppID is an app registration of the examples.
const exampleAppID = "6f1d8e2a-0000-4000-8000-0000000000a2"

// authEmulator starts an in-process Key Vault and Entra ID with one secret.
// Real code leaves out WithHTTPClient(srv.Client()) and talks to Azure.
func authEmulator() *akvcredstest.Server {
	srv, err := akvcredstest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	srv.SetSecret("contoso-prod", "db-password", "s3cr3t-prod")
	return srv
}

// Authenticate as an app registration with a certificate: PEM or PKCS#12
// (CertificatePassword), from a file (CertificateFile) or from memory
// (CertificateData).
func ExampleWithClientCertificate() {
	srv := authEmulator()
	defer srv.Close()
	// The certificate's public part is registered on the app registration
	// ("Certificates & secrets"); the program holds it with its private key.
	cert, certAndKeyPEM := exampleCertificate()
	srv.AddAppCertificate(akvcredstest.DefaultTenantID, exampleAppID, cert)

	c, err := akvcreds.New(
		akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, exampleAppID,
			akvcreds.CertificateData(certAndKeyPEM)), // or CertificateFile("/etc/app/cert.pfx"), CertificatePassword(pw)
		akvcreds.WithHTTPClient(srv.Client()),
	)
	if err != nil {
		log.Fatal(err) // an unreadable, mismatched or expired certificate is reported here
	}
	defer c.Close()
	cred, err := c.FetchCredential(context.Background(), "contoso-prod/db-password")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cred.Name, cred.Password.Reveal())
	// Output:
	// contoso-prod/db-password s3cr3t-prod
}

// Authenticate with Kubernetes workload identity. In a pod whose service
// account is set up for it, the webhook sets AZURE_TENANT_ID, AZURE_CLIENT_ID
// and AZURE_FEDERATED_TOKEN_FILE, the kubelet writes and rotates the token,
// and the call is simply WithWorkloadIdentity("", "", "").
func ExampleWithWorkloadIdentity() {
	srv := authEmulator()
	defer srv.Close()
	// The federated credential on the app registration (or user-assigned
	// managed identity) trusts the cluster's issuer for this service account;
	// here the emulator plays the cluster and writes its token to a file.
	const (
		issuer  = "https://oidc.prod-aks.azure.com/00000000-0000-0000-0000-000000000000/"
		subject = "system:serviceaccount:payments:api"
	)
	srv.AddFederatedCredential(akvcredstest.DefaultTenantID, exampleAppID, issuer, subject)
	dir, err := os.MkdirTemp("", "akvcreds-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	tokenFile := filepath.Join(dir, "azure-identity-token")
	if err := os.WriteFile(tokenFile, []byte(srv.IssueFederatedToken(issuer, subject, time.Hour)), 0o600); err != nil {
		log.Fatal(err)
	}

	c, err := akvcreds.New(
		akvcreds.WithWorkloadIdentity(akvcredstest.DefaultTenantID, exampleAppID, tokenFile),
		akvcreds.WithHTTPClient(srv.Client()),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	cred, err := c.FetchCredential(context.Background(), "contoso-prod/db-password")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cred.Name, cred.Password.Reveal())
	// Output:
	// contoso-prod/db-password s3cr3t-prod
}

// Choose the authentication from the standard Azure environment variables.
// WithEnvironmentCredential reads the process environment;
// WithEnvironmentCredentialFrom reads them from a function, here a map.
func ExampleWithEnvironmentCredentialFrom() {
	srv := authEmulator()
	defer srv.Close()
	env := map[string]string{
		"AZURE_TENANT_ID":     akvcredstest.DefaultTenantID,
		"AZURE_CLIENT_ID":     akvcredstest.DefaultClientID,
		"AZURE_CLIENT_SECRET": akvcredstest.DefaultClientSecret,
	}
	getenv := func(k string) string { return env[k] }

	c, err := akvcreds.New(akvcreds.WithEnvironmentCredentialFrom(getenv), akvcreds.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	cred, err := c.FetchCredential(context.Background(), "contoso-prod/db-password")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cred.Name, cred.Password.Reveal())

	// Without a complete set of variables New fails; it never falls back
	// to a managed identity.
	delete(env, "AZURE_CLIENT_SECRET")
	_, err = akvcreds.New(akvcreds.WithEnvironmentCredentialFrom(getenv))
	fmt.Println(errors.Is(err, akvcreds.ErrInvalidArgument))
	fmt.Println(err)
	// Output:
	// contoso-prod/db-password s3cr3t-prod
	// true
	// akvcreds: WithEnvironmentCredentialFrom: no authentication mode fits the environment: it lacks one of AZURE_CLIENT_SECRET (client secret), AZURE_CLIENT_CERTIFICATE_PATH (certificate) or AZURE_FEDERATED_TOKEN_FILE (workload identity) (akvcreds never falls back to a managed identity)
}

// Authenticate with a credential the program already holds, such as any
// azidentity credential. Its token requests go through its own transport.
func ExampleWithTokenCredential() {
	srv := authEmulator()
	defer srv.Close()
	cred, err := azidentity.NewClientSecretCredential(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: srv.Client()}})
	if err != nil {
		log.Fatal(err)
	}

	c, err := akvcreds.New(akvcreds.WithTokenCredential(cred), akvcreds.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	got, err := c.FetchCredential(context.Background(), "contoso-prod/db-password")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Name, got.Password.Reveal())
	// Output:
	// contoso-prod/db-password s3cr3t-prod
}

// exampleCertificate makes a self-signed certificate and returns it with
// the PEM of the certificate and its private key, as a certificate file
// holds them.
func exampleCertificate() (*x509.Certificate, []byte) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "contoso-app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		log.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		log.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return cert, append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})...)
}
