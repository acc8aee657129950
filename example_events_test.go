package akvcreds_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// Push rotation: the Client is the webhook of an Event Grid subscription on
// the vault (here the emulator's, delivering CloudEvents to a loopback
// server; in Azure, a system topic's event subscription to your HTTPS
// endpoint), so a Watch with an hour's interval sees a rotation at once, in
// a cycle that reads only the rotated secret.
func ExampleWithEventGrid() {
	srv, err := akvcredstest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	srv.SetSecret("contoso-prod", "db-password", "s3cr3t-1")

	const secret = "a-long-random-webhook-secret-0123" // in Azure: a secret delivery property
	c, err := akvcreds.New(
		akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret),
		akvcreds.WithVaults("contoso-prod"),
		akvcreds.WithHTTPClient(srv.Client()), // the emulator; omit for Azure
		akvcreds.WithEventGrid(akvcreds.EventGrid{SharedSecret: secret}),
	)
	if err != nil {
		log.Fatal(err)
	}
	hook := httptest.NewServer(c) // your server: http.Handle("/akvcreds/events", c)
	defer hook.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = srv.SubscribeEvents(ctx, "contoso-prod", akvcredstest.EventSubscription{
		Endpoint:        hook.URL + "/akvcreds/events",
		Schema:          akvcredstest.CloudEventSchemaV1_0,
		DeliveryHeaders: map[string]string{"Authorization": "Bearer " + secret},
	})
	if err != nil {
		log.Fatal(err) // the handshake failed
	}

	err = c.Watch(ctx, time.Hour, func(b akvcreds.Batch) error {
		fmt.Printf("%s: %d listed, %d read\n", b.Trigger, b.ListPages, b.Reads)
		for _, cred := range b.Changed {
			fmt.Println("changed:", cred.Name, cred.Password.Reveal())
		}
		if b.Cycle == 0 {
			srv.SetSecret("contoso-prod", "db-password", "s3cr3t-2") // someone rotates it
		} else {
			cancel()
		}
		return nil
	})
	fmt.Println("watch ended:", err)
	// Output:
	// start: 1 listed, 1 read
	// event: 0 listed, 1 read
	// changed: contoso-prod/db-password s3cr3t-2
	// watch ended: context canceled
}
