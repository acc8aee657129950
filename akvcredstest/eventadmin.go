package akvcredstest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// seedEventSubscription is an event subscription in a seed's
// eventSubscriptions, or the body of POST /eventSubscriptions on
// EventsHandler. The names are those of Event Grid's event subscription
// resource (endpointUrl, eventDeliverySchema, includedEventTypes,
// maxEventsPerBatch, maxDeliveryAttempts, eventTimeToLiveInMinutes,
// azureActiveDirectoryTenantId, azureActiveDirectoryApplicationIdOrUri);
// deliveryHeaders maps header names to static values.
type seedEventSubscription struct {
	Vault                    string            `json:"vault"`
	Name                     string            `json:"name"`
	EndpointURL              string            `json:"endpointUrl"`
	EventDeliverySchema      EventSchema       `json:"eventDeliverySchema"`
	IncludedEventTypes       []string          `json:"includedEventTypes"`
	MaxEventsPerBatch        int               `json:"maxEventsPerBatch"`
	MaxDeliveryAttempts      int               `json:"maxDeliveryAttempts"`
	EventTimeToLiveInMinutes int               `json:"eventTimeToLiveInMinutes"`
	DeliveryHeaders          map[string]string `json:"deliveryHeaders"`
	TenantID                 string            `json:"azureActiveDirectoryTenantId"`
	ApplicationIDOrURI       string            `json:"azureActiveDirectoryApplicationIdOrUri"`
	// AccessTokenAcceptedVersion 2 makes v2 tokens (EntraTokenV2), as the
	// webhook app's manifest property of that name does.
	AccessTokenAcceptedVersion int `json:"accessTokenAcceptedVersion"`
}

// subscription converts the JSON form to an EventSubscription.
func (e seedEventSubscription) subscription() EventSubscription {
	return EventSubscription{
		Name: e.Name, Endpoint: e.EndpointURL, Schema: e.EventDeliverySchema,
		EventTypes: e.IncludedEventTypes, MaxEventsPerBatch: e.MaxEventsPerBatch,
		MaxDeliveryAttempts: e.MaxDeliveryAttempts,
		EventTimeToLive:     time.Duration(e.EventTimeToLiveInMinutes) * time.Minute,
		DeliveryHeaders:     e.DeliveryHeaders,
		EntraTenantID:       e.TenantID, EntraAudience: e.ApplicationIDOrURI,
		EntraTokenV2: e.AccessTokenAcceptedVersion == 2,
	}
}

// seedEvents creates the seed's event subscriptions, in order; each
// webhook must answer its handshake.
func (s *Server) seedEvents(f *seedFile) error {
	for i, e := range f.EventSubscriptions {
		if _, err := s.SubscribeEvents(context.Background(), e.Vault, e.subscription()); err != nil {
			return fmt.Errorf("eventSubscriptions[%d]: %w", i, err)
		}
	}
	return nil
}

// maxAdminBody bounds the body of POST /eventSubscriptions.
const maxAdminBody = 64 << 10

// EventsHandler returns an http.Handler that manages event subscriptions,
// for a separate admin listener (the akvcreds command's "emulator
// --admin-addr"), so that tests in any language can use them:
//
//   - POST /eventSubscriptions with a JSON subscription (the fields of a
//     seed's eventSubscriptions entries, see LoadSeed) performs the
//     handshake and answers 201 {"id": ID, "name": NAME}, or 400
//     {"error": MESSAGE};
//   - DELETE /eventSubscriptions/ID answers 204, or 404;
//   - GET /eventDeliveries answers EventDeliveries as a JSON array;
//   - POST /flushEvents answers 204 once FlushEvents returns.
//
// The webhooks must be on loopback addresses, as for SubscribeEvents.
func (s *Server) EventsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /eventSubscriptions", s.adminSubscribe)
	mux.HandleFunc("DELETE /eventSubscriptions/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !s.UnsubscribeEvents(r.PathValue("id")) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such event subscription"})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /eventDeliveries", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.EventDeliveries())
	})
	mux.HandleFunc("POST /flushEvents", func(w http.ResponseWriter, r *http.Request) {
		if err := s.FlushEvents(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// adminSubscribe answers POST /eventSubscriptions.
func (s *Server) adminSubscribe(w http.ResponseWriter, r *http.Request) {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	var e seedEventSubscription
	if err := dec.Decode(&e); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON: " + err.Error()})
		return
	}
	id, err := s.SubscribeEvents(r.Context(), e.Vault, e.subscription())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	name := e.Name
	for _, d := range s.EventDeliveries() {
		if d.SubscriptionID == id {
			name = d.Subscription
		}
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id, "name": name})
}
