package akvcredstest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/akvcreds/akvcreds/akvcredstest"
)

// The real Azure SDK clients talk to the emulator through Client(), with
// production URLs.
func Example() {
	s, err := akvcredstest.NewServer()
	if err != nil {
		panic(err)
	}
	defer s.Close()
	s.SetSecret("myvault", "db-password", "s3cr3t")

	opts := azcore.ClientOptions{Transport: s.Client()}
	cred, err := azidentity.NewClientSecretCredential(
		akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	if err != nil {
		panic(err)
	}
	client, err := azsecrets.NewClient("https://myvault.vault.azure.net", cred, &azsecrets.ClientOptions{ClientOptions: opts})
	if err != nil {
		panic(err)
	}
	resp, err := client.GetSecret(context.Background(), "db-password", "", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(*resp.Value)
	fmt.Println("challenges:", s.Count(akvcredstest.KindChallenge), "tokens:", s.Count(akvcredstest.KindToken))
	// Output:
	// s3cr3t
	// challenges: 1 tokens: 1
}

// sdkEmulator starts an emulator and returns it with an azsecrets client for
// vault, wired as Example shows; maxRetries is the SDK's (0: its default,
// -1: none).
func sdkEmulator(vault string, maxRetries int32) (*akvcredstest.Server, *azsecrets.Client) {
	s, err := akvcredstest.NewServer()
	if err != nil {
		panic(err)
	}
	opts := azcore.ClientOptions{Transport: s.Client()}
	opts.Retry.MaxRetries = maxRetries
	cred, err := azidentity.NewClientSecretCredential(
		akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	if err != nil {
		panic(err)
	}
	client, err := azsecrets.NewClient("https://"+vault+".vault.azure.net", cred, &azsecrets.ClientOptions{ClientOptions: opts})
	if err != nil {
		panic(err)
	}
	return s, client
}

// Faults make the emulator answer as a throttled vault does.
func ExampleServer_SetRateLimit() {
	s, client := sdkEmulator("busy", -1) // no retries: show the raw 429
	defer s.Close()
	s.SetSecret("busy", "s", "v")
	s.SetRateLimit("busy", 1, 10*time.Second, true) // one request per 10 s

	ctx := context.Background()
	_, err := client.GetSecret(ctx, "s", "", nil)
	fmt.Println(err == nil)
	_, err = client.GetSecret(ctx, "s", "", nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		fmt.Println(re.StatusCode, re.ErrorCode)
	}
	// Output:
	// true
	// 429 Throttled
}

// A seed describes vaults, secrets and identities in JSON; errors name the
// faulty entry.
func ExampleServer_LoadSeed() {
	s, err := akvcredstest.NewServer()
	if err != nil {
		panic(err)
	}
	defer s.Close()
	err = s.LoadSeed(strings.NewReader(`{
	  "vaults": [{"name": "demo-vault", "secrets": [{"name": "db-password", "value": "s3cr3t"}]}]
	}`))
	fmt.Println(err)
	err = s.LoadSeed(strings.NewReader(`{"vaults": [{"name": "demo-vault", "secrets": [{"name": "db_password"}]}]}`))
	fmt.Println(err)
	// Output:
	// <nil>
	// akvcredstest: seed: vaults[0].secrets[0]: invalid secret name "db_password"
}

// Deleted secrets stay recoverable for the vault's retention, as in Azure.
func ExampleServer_DeleteSecret() {
	s, client := sdkEmulator("myvault", 0)
	defer s.Close()
	s.AddVault("myvault", akvcredstest.VaultRetentionDays(7))
	s.SetSecret("myvault", "api-key", "k-1")

	ctx := context.Background()
	s.DeleteSecret("myvault", "api-key") // as someone would in the portal
	_, err := client.GetSecret(ctx, "api-key", "", nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		fmt.Println("get:", re.StatusCode, re.ErrorCode)
	}
	deleted, err := client.GetDeletedSecret(ctx, "api-key", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("deleted:", *deleted.Attributes.RecoveryLevel, deleted.ScheduledPurgeDate.Sub(*deleted.DeletedDate))
	if _, err := client.RecoverDeletedSecret(ctx, "api-key", nil); err != nil {
		panic(err)
	}
	got, err := client.GetSecret(ctx, "api-key", "", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("recovered:", *got.Value)
	// Output:
	// get: 404 SecretNotFound
	// deleted: CustomizedRecoverable+Purgeable 168h0m0s
	// recovered: k-1
}

// A Key Vault certificate issued by the emulator's CA, read through its
// backing secret as Azure serves it: managed, with the kid of its key, and
// converted to PEM on request. Generating it again renews it.
func ExampleServer_SetCertificate() {
	s, client := sdkEmulator("certs", -1)
	defer s.Close()
	cert, err := s.SetCertificate("certs", "client-tls", akvcredstest.CertificateSpec{
		Key:        "ec-p256",
		Subject:    "CN=connector, O=Contoso",
		SignedByCA: true,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(cert.Leaf.Subject, "issued by", cert.Chain[1].Subject.CommonName)

	pem := azsecrets.ContentTypePEM
	resp, err := client.GetSecret(context.Background(), "client-tls", "", &azsecrets.GetSecretOptions{OutContentType: &pem})
	if err != nil {
		panic(err)
	}
	fmt.Println(*resp.ContentType, *resp.Managed, resp.KID.Version() == cert.Version)
	fmt.Println(strings.Count(*resp.Value, "-----BEGIN PRIVATE KEY-----"), "key,", strings.Count(*resp.Value, "-----BEGIN CERTIFICATE-----"), "certificates")

	renewed, err := s.SetCertificate("certs", "client-tls", akvcredstest.CertificateSpec{Key: "ec-p256", SignedByCA: true})
	if err != nil {
		panic(err)
	}
	resp, err = client.GetSecret(context.Background(), "client-tls", "", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.ID.Version() == renewed.Version, *resp.PreviousVersion == cert.Version)
	// Output:
	// CN=connector,O=Contoso issued by akvcredstest emulator CA
	// application/x-pem-file true true
	// 1 key, 2 certificates
	// true true
}
