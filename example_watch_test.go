package akvcreds_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// Keep credentials current: one full fetch, then every interval a listing of
// the vault and a read of only what changed. The handler stores what
// changed; when it returns an error, the next batch brings the same changes
// again. Here the handler itself rotates one secret and deletes another in
// the emulator, and the store fails once, to show what the next cycles
// report.
func ExampleClient_Watch() {
	srv, err := akvcredstest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	srv.SetSecret("contoso-prod", "db-password", "s3cr3t-1")
	srv.SetSecret("contoso-prod", "api-key", "k3y")

	c, err := akvcreds.New(
		akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret),
		akvcreds.WithVaults("contoso-prod"),   // no WithSecrets: every enabled secret of the vault
		akvcreds.WithHTTPClient(srv.Client()), // the emulator; omit for Azure
	)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	storeFailed := false
	err = c.Watch(ctx, 100*time.Millisecond, func(b akvcreds.Batch) error {
		for _, cred := range b.Added {
			fmt.Println("added:", cred.Name, cred.Password) // prints [REDACTED]
		}
		for _, cred := range b.Changed {
			fmt.Println("changed:", cred.Name, cred.Password.Reveal())
		}
		for _, cred := range b.Removed {
			fmt.Println("removed:", cred.Name)
		}
		for _, fe := range b.Errors {
			log.Print(fe) // the last good credentials stay in b.Current
		}
		switch {
		case b.Cycle == 0:
			srv.SetSecret("contoso-prod", "db-password", "s3cr3t-2") // someone rotates it
		case len(b.Changed) > 0 && !storeFailed:
			storeFailed = true
			fmt.Println("store failed")
			return errors.New("store unavailable") // this batch's changes come again
		case len(b.Changed) > 0:
			srv.DeleteSecret("contoso-prod", "api-key") // someone deletes it
		case len(b.Removed) > 0:
			cancel() // done: Watch returns ctx.Err()
		}
		return nil
	})
	fmt.Println("watch ended:", err)
	// Output:
	// added: contoso-prod/api-key [REDACTED]
	// added: contoso-prod/db-password [REDACTED]
	// changed: contoso-prod/db-password s3cr3t-2
	// store failed
	// changed: contoso-prod/db-password s3cr3t-2
	// removed: contoso-prod/api-key
	// watch ended: context canceled
}
