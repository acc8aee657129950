package akvcredstest_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/akvcreds/akvcreds/akvcredstest"
)

func TestClientCertificateCredential(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)

	s := akvcredstest.NewTestServer(t)
	const appID = "00000000-0000-0000-0000-0000000ce271"
	s.AddAppCertificate(akvcredstest.DefaultTenantID, appID, cert)
	s.SetSecret("certvault", "s", "v")
	cred, err := azidentity.NewClientCertificateCredential(akvcredstest.DefaultTenantID, appID, []*x509.Certificate{cert}, key,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: clientOpts(s, -1), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	c := secretsClient(t, s, "https://certvault.vault.azure.net", cred, -1)
	if _, err := c.GetSecret(context.Background(), "s", "", nil); err != nil {
		t.Fatal(err)
	}

	// A certificate that is not registered is refused.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	der2, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &other.PublicKey, other)
	cert2, _ := x509.ParseCertificate(der2)
	bad, err := azidentity.NewClientCertificateCredential(akvcredstest.DefaultTenantID, appID, []*x509.Certificate{cert2}, other,
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
