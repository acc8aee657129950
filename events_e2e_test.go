package akvcreds_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// End to end: the emulator's Event Grid subscription on the vault performs
// its handshake against a loopback server mounting the Client, and then
// delivers the SecretNewVersionCreated of a rotation, which a Watch with an
// hour's interval turns into a cycle reading only that secret — in both
// schemas, with Entra-protected delivery (v1 and v2 tokens, checked against
// the emulator's published keys) and with a shared secret.
func TestEventGridEndToEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		schema akvcredstest.EventSchema
		entra  bool
		v2     bool
	}{
		{"event grid schema, entra v1", akvcredstest.EventGridSchema, true, false},
		{"cloudevents, entra v2", akvcredstest.CloudEventSchemaV1_0, true, true},
		{"cloudevents, shared secret", akvcredstest.CloudEventSchemaV1_0, false, false},
		{"event grid schema, shared secret", akvcredstest.EventGridSchema, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := testutil.NewClock(time.Now())
			s := newServer(t, akvcredstest.WithClock(clock.Now))
			s.SetSecret("watched", "db", "v1")
			s.SetSecret("watched", "api", "k1")
			cfg := akvcreds.EventGrid{SharedSecret: egSecret}
			sub := akvcredstest.EventSubscription{Schema: tt.schema, EntraAudience: egAudience, EntraTokenV2: tt.v2}
			if tt.entra {
				cfg = akvcreds.EventGrid{TenantID: akvcredstest.DefaultTenantID, Audience: egAudience}
			} else {
				sub.EntraAudience = ""
				sub.DeliveryHeaders = map[string]string{"Authorization": "Bearer " + egSecret}
			}
			c := newClient(t, s, secretAuth(), akvcreds.WithVaults("watched"), akvcreds.WithClock(clock.Now), akvcreds.WithEventGrid(cfg))
			hook := httptest.NewServer(c)
			t.Cleanup(hook.Close)
			sub.Endpoint = hook.URL + "/events"
			if _, err := s.SubscribeEvents(context.Background(), "watched", sub); err != nil {
				t.Fatalf("subscribing (the handshake): %v", err)
			}
			w := startWatch(t, s, c)
			if b := w.next(t); len(b.Current) != 2 {
				t.Fatalf("cycle 0: %q", names(b.Current))
			}
			for round := 2; round <= 3; round++ {
				clock.Advance(time.Minute)
				w.answer(t, nil)
				value := fmt.Sprintf("v%d", round)
				s.ResetRequests()
				s.SetSecret("watched", "db", value)
				b := w.next(t)
				if b.Trigger != "event" || b.Events != 1 {
					t.Errorf("round %d: trigger %q, events %d", round, b.Trigger, b.Events)
				}
				wantChanges(t, b, nil, []string{"watched/db"}, nil)
				if cr, _ := findCred(b.Current, "watched/db"); cr.Password.Reveal() != value {
					t.Errorf("round %d: the rotated value is not current", round)
				}
				if lists, gets := listsAndGets(s); lists != 0 || len(gets) != 1 {
					t.Errorf("round %d: %d list requests and reads %q, want only the read of db", round, lists, gets)
				}
			}
			for _, d := range s.EventDeliveries() {
				if d.Status != 200 {
					t.Errorf("a delivery was answered %d: %+v", d.Status, d)
				}
			}
		})
	}
}

// A lost event (here: the subscription is gone when the secret rotates) is
// caught by the next full cycle, the safety reconcile, which lists the
// vault and reads the rotated secret.
func TestEventGridLostEvent(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Now())
	s := newServer(t, akvcredstest.WithClock(clock.Now))
	s.SetSecret("watched", "db", "v1")
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("watched"), akvcreds.WithClock(clock.Now),
		akvcreds.WithEventGrid(akvcreds.EventGrid{SharedSecret: egSecret}))
	hook := httptest.NewServer(c)
	t.Cleanup(hook.Close)
	id, err := s.SubscribeEvents(context.Background(), "watched", akvcredstest.EventSubscription{
		Endpoint: hook.URL, DeliveryHeaders: map[string]string{"Authorization": "Bearer " + egSecret}})
	if err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, s, c)
	w.next(t)
	if !s.UnsubscribeEvents(id) {
		t.Fatal("unsubscribing failed")
	}
	clock.Advance(time.Minute)
	s.SetSecret("watched", "db", "v2") // its event is lost
	b := w.step(t, nil)                // the hourly reconcile, started early by the test's trigger
	if b.Trigger != "trigger" || b.Events != 0 || b.ListPages != 1 || b.Reads != 1 {
		t.Errorf("trigger %q, events %d, list pages %d, reads %d; want trigger, 0, 1, 1", b.Trigger, b.Events, b.ListPages, b.Reads)
	}
	wantChanges(t, b, nil, []string{"watched/db"}, nil)
	if cr, _ := findCred(b.Current, "watched/db"); cr.Password.Reveal() != "v2" {
		t.Error("the rotation was not caught")
	}
}
