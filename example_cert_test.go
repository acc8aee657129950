package akvcreds_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// A mutual-TLS client whose certificate, kept in Key Vault, rotates without
// a restart: a Watch handler turns each new version of the certificate's
// secret into a tls.Certificate and stores it, and the tls.Config's
// GetClientCertificate hands the latest to every new connection. Here the
// handler itself renews the certificate in the emulator after the first
// cycle.
func ExampleCredential_Certificate() {
	srv, err := akvcredstest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	spec := akvcredstest.CertificateSpec{Key: "ec-p256", Subject: "CN=connector v1", SignedByCA: true}
	if _, err := srv.SetCertificate("contoso-prod", "connector-cert", spec); err != nil {
		log.Fatal(err)
	}

	c, err := akvcreds.New(
		akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret),
		akvcreds.WithHTTPClient(srv.Client()), // the emulator; omit for Azure
	)
	if err != nil {
		log.Fatal(err)
	}

	var current atomic.Pointer[tls.Certificate]
	tlsConfig := &tls.Config{ // e.g. for &http.Transport{TLSClientConfig: tlsConfig}
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return current.Load(), nil },
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = c.Watch(ctx, 100*time.Millisecond, func(b akvcreds.Batch) error {
		for _, fe := range b.Errors {
			log.Print(fe) // an unusable or expired certificate: the last good one stays
		}
		for _, cred := range append(b.Added, b.Changed...) {
			cert, err := cred.Certificate()
			if err != nil {
				log.Print(err)
				continue
			}
			current.Store(cert)
		}
		if len(b.Added)+len(b.Changed) == 0 {
			return nil
		}
		cert, _ := tlsConfig.GetClientCertificate(&tls.CertificateRequestInfo{})
		fmt.Println("presenting:", cert.Leaf.Subject.CommonName, "chain of", len(cert.Certificate))
		if b.Cycle == 0 {
			spec.Subject = "CN=connector v2" // someone renews it: a new version
			if _, err := srv.SetCertificate("contoso-prod", "connector-cert", spec); err != nil {
				log.Fatal(err)
			}
			return nil
		}
		cancel()
		return nil
	}, akvcreds.FetchNames("contoso-prod/connector-cert"))
	fmt.Println("watch ended:", err)
	// Output:
	// presenting: connector v1 chain of 2
	// presenting: connector v2 chain of 2
	// watch ended: context canceled
}
