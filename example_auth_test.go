package akvcreds_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
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

// printDBPassword fetches contoso-prod/db-password with c and prints it.
func printDBPassword(c *akvcreds.Client, err error) {
	if err != nil {
		log.Fatal(err)
	}
	cred, err := c.FetchCredential(context.Background(), "contoso-prod/db-password")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cred.Name, cred.Password.Reveal())
}

// Authenticate as an app registration with a certificate and its private
// key, PEM or PKCS#12, usually read from a file:
//
//	data, err := os.ReadFile("/etc/app/cert.pfx")
//
// New checks the certificate: an unreadable, mismatched or expired one, or
// a wrong password, is reported there.
func ExampleWithClientCertificate() {
	srv := authEmulator()
	defer srv.Close()
	// The certificate's public part is registered on the app registration
	// ("Certificates & secrets"); the program holds it with its key.
	srv.AddAppCertificate(akvcredstest.DefaultTenantID, exampleAppID, testutil.PFXCertificate())
	pfx := testutil.LegacyPFX() // a PKCS#12 file, password protected

	printDBPassword(akvcreds.New(
		akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, exampleAppID, pfx, testutil.PFXPassword),
		akvcreds.WithHTTPClient(srv.Client()),
	))

	_, err := akvcreds.New(akvcreds.WithClientCertificate(akvcredstest.DefaultTenantID, exampleAppID, pfx, "wrong"))
	fmt.Println(errors.Is(err, akvcreds.ErrInvalidArgument), err)
	// Output:
	// contoso-prod/db-password s3cr3t-prod
	// true akvcreds: WithClientCertificate: the PKCS#12 password is wrong
}

// Authenticate with Kubernetes workload identity. In a pod whose service
// account is set up for it, the workload identity webhook sets
// AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE, and the
// kubelet writes and rotates the token; WithEnvironmentCredential reads
// them. Here the example plays the webhook and the cluster.
func ExampleWithEnvironmentCredential() {
	srv := authEmulator()
	defer srv.Close()
	// The federated credential on the app registration (or user-assigned
	// managed identity) trusts the cluster's issuer for this service account.
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
	for k, v := range map[string]string{"AZURE_TENANT_ID": akvcredstest.DefaultTenantID, "AZURE_CLIENT_ID": exampleAppID, "AZURE_FEDERATED_TOKEN_FILE": tokenFile} {
		os.Setenv(k, v)
		defer os.Unsetenv(k)
	}

	printDBPassword(akvcreds.New(akvcreds.WithEnvironmentCredential(), akvcreds.WithHTTPClient(srv.Client())))

	// Without a complete set of variables New fails; it never falls back
	// to a managed identity.
	os.Unsetenv("AZURE_FEDERATED_TOKEN_FILE")
	_, err = akvcreds.New(akvcreds.WithEnvironmentCredential())
	fmt.Println(errors.Is(err, akvcreds.ErrInvalidArgument))
	fmt.Println(err)
	// Output:
	// contoso-prod/db-password s3cr3t-prod
	// true
	// akvcreds: WithEnvironmentCredential: no authentication mode fits the environment: it lacks one of AZURE_CLIENT_SECRET (client secret), AZURE_CLIENT_CERTIFICATE_PATH (certificate) or AZURE_FEDERATED_TOKEN_FILE (workload identity) (akvcreds never falls back to a managed identity)
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

	printDBPassword(akvcreds.New(akvcreds.WithTokenCredential(cred), akvcreds.WithHTTPClient(srv.Client())))
	// Output:
	// contoso-prod/db-password s3cr3t-prod
}
