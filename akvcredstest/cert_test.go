package akvcredstest_test

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

func TestClientCertificateCredential(t *testing.T) {
	registered := testutil.NewCert(testutil.CertSpec{CommonName: "app", Key: testutil.RSAKey(0)})

	s := akvcredstest.NewTestServer(t)
	const appID = "00000000-0000-0000-0000-0000000ce271"
	s.AddAppCertificate(akvcredstest.DefaultTenantID, appID, registered.X509)
	s.SetSecret("certvault", "s", "v")
	cred, err := azidentity.NewClientCertificateCredential(akvcredstest.DefaultTenantID, appID, []*x509.Certificate{registered.X509}, registered.Key,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: clientOpts(s, -1), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	c := secretsClient(t, s, "https://certvault.vault.azure.net", cred, -1)
	if _, err := c.GetSecret(context.Background(), "s", "", nil); err != nil {
		t.Fatal(err)
	}

	// A certificate that is not registered is refused.
	other := testutil.NewCert(testutil.CertSpec{CommonName: "app", Key: testutil.RSAKey(1)})
	bad, err := azidentity.NewClientCertificateCredential(akvcredstest.DefaultTenantID, appID, []*x509.Certificate{other.X509}, other.Key,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: clientOpts(s, -1), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	c = secretsClient(t, s, "https://certvault.vault.azure.net", bad, -1)
	_, err = c.GetSecret(context.Background(), "s", "", nil)
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) {
		t.Errorf("unregistered certificate: %v", err)
	}
	assertMessageContains(t, err, "AADSTS700027")
}
