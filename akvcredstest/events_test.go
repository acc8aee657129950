package akvcredstest_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// hookReq is one request a test webhook received.
type hookReq struct {
	method string
	header http.Header
	body   []byte
}

// hook is a test webhook on loopback: it answers both handshakes properly
// (unless told otherwise) and answers notifications with the queued
// statuses, then 200.
type hook struct {
	srv  *httptest.Server
	reqs chan hookReq

	mu          sync.Mutex
	statuses    []int
	badCode     bool // echo a wrong validation code
	validStatus int  // status of the handshake answer (default 200)
	origin      string
}

func newHook(t *testing.T) *hook {
	t.Helper()
	h := &hook{reqs: make(chan hookReq, 200), origin: "eventgrid.azure.net"}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	h.reqs <- hookReq{r.Method, r.Header.Clone(), body}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case r.Method == http.MethodOptions:
		if h.origin != "" {
			w.Header().Set("WebHook-Allowed-Origin", h.origin)
		}
		w.WriteHeader(cmp(h.validStatus, http.StatusOK))
	case r.Header.Get("aeg-event-type") == "SubscriptionValidation":
		code := validationCode(body)
		if h.badCode {
			code = "wrong"
		}
		w.WriteHeader(cmp(h.validStatus, http.StatusOK))
		_ = json.NewEncoder(w).Encode(map[string]string{"validationResponse": code})
	default:
		status := http.StatusOK
		if len(h.statuses) > 0 {
			status, h.statuses = h.statuses[0], h.statuses[1:]
		}
		w.WriteHeader(status)
	}
}

// validationCode is the code of a SubscriptionValidationEvent body.
func validationCode(body []byte) string {
	var evs []struct {
		Data struct {
			ValidationCode string `json:"validationCode"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &evs) != nil || len(evs) != 1 {
		return ""
	}
	return evs[0].Data.ValidationCode
}

// answerValidation answers a validation handshake properly.
func answerValidation(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	_ = json.NewEncoder(w).Encode(map[string]string{"validationResponse": validationCode(body)})
}

func cmp(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// next returns the next request the webhook received, failing if there is
// none (deliveries are complete when FlushEvents returns).
func (h *hook) next(t *testing.T) hookReq {
	t.Helper()
	select {
	case r := <-h.reqs:
		return r
	default:
		t.Fatal("the webhook received no request")
		return hookReq{}
	}
}

// none fails if the webhook received a request.
func (h *hook) none(t *testing.T) {
	t.Helper()
	select {
	case r := <-h.reqs:
		t.Fatalf("unexpected request %s %s: %s", r.method, r.header.Get("aeg-event-type"), r.body)
	default:
	}
}

// eventServer is a server on a settable clock with vault "kv".
func eventServer(t *testing.T) (*akvcredstest.Server, *testutil.Clock) {
	t.Helper()
	clock := testutil.NewClock(s2000())
	s := akvcredstest.NewTestServer(t, akvcredstest.WithClock(clock.Now))
	s.AddVault("kv")
	return s, clock
}

func flush(t *testing.T, s *akvcredstest.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.FlushEvents(ctx); err != nil {
		t.Fatal(err)
	}
}

func subscribe(t *testing.T, s *akvcredstest.Server, sub akvcredstest.EventSubscription) string {
	t.Helper()
	id, err := s.SubscribeEvents(context.Background(), "kv", sub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSubscribeEventsHandshake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		schema  akvcredstest.EventSchema
		setup   func(*hook)
		wantErr string
		method  string
	}{
		{name: "event grid", schema: akvcredstest.EventGridSchema, method: http.MethodPost},
		{name: "event grid wrong code", schema: akvcredstest.EventGridSchema, method: http.MethodPost,
			setup: func(h *hook) { h.badCode = true }, wantErr: "did not echo the validation code"},
		{name: "event grid 202", schema: akvcredstest.EventGridSchema, method: http.MethodPost,
			setup: func(h *hook) { h.validStatus = http.StatusAccepted }, wantErr: "answered 202, not 200 OK"},
		{name: "cloudevents", schema: akvcredstest.CloudEventSchemaV1_0, method: http.MethodOptions},
		{name: "cloudevents any origin", schema: akvcredstest.CloudEventSchemaV1_0, method: http.MethodOptions,
			setup: func(h *hook) { h.origin = "*" }},
		{name: "cloudevents no allowed origin", schema: akvcredstest.CloudEventSchemaV1_0, method: http.MethodOptions,
			setup: func(h *hook) { h.origin = "" }, wantErr: "did not allow origin eventgrid.azure.net"},
		{name: "cloudevents other origin", schema: akvcredstest.CloudEventSchemaV1_0, method: http.MethodOptions,
			setup: func(h *hook) { h.origin = "example.com" }, wantErr: "did not allow origin"},
		{name: "cloudevents 404", schema: akvcredstest.CloudEventSchemaV1_0, method: http.MethodOptions,
			setup: func(h *hook) { h.validStatus = http.StatusNotFound }, wantErr: "answered 404 to OPTIONS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := eventServer(t)
			h := newHook(t)
			if tt.setup != nil {
				tt.setup(h)
			}
			id, err := s.SubscribeEvents(context.Background(), "kv", akvcredstest.EventSubscription{
				Name: "rotation", Endpoint: h.srv.URL + "/events", Schema: tt.schema,
			})
			if tt.wantErr != "" {
				assertMessageContains(t, err, tt.wantErr)
				if id != "" {
					t.Errorf("failed subscription has id %q", id)
				}
			} else if err != nil || id == "" {
				t.Fatalf("id %q, err %v", id, err)
			}
			r := h.next(t)
			if r.method != tt.method {
				t.Errorf("handshake method %s, want %s", r.method, tt.method)
			}
			checkHandshake(t, s, tt.schema, r)
			d := s.EventDeliveries()
			if len(d) != 1 || d[0].EventType != "SubscriptionValidation" || d[0].Subscription != "rotation" {
				t.Fatalf("deliveries %+v", d)
			}
			if want := map[bool]akvcredstest.DeliveryOutcome{true: akvcredstest.DeliveryFailed, false: akvcredstest.DeliveryDelivered}[tt.wantErr != ""]; d[0].Outcome != want {
				t.Errorf("outcome %s, want %s", d[0].Outcome, want)
			}
			// A failed subscription gets no events.
			s.SetSecret("kv", "s", "v")
			flush(t, s)
			if tt.wantErr != "" {
				h.none(t)
			}
		})
	}
}

// checkHandshake checks a handshake request's headers and body.
func checkHandshake(t *testing.T, s *akvcredstest.Server, schema akvcredstest.EventSchema, r hookReq) {
	t.Helper()
	if schema == akvcredstest.CloudEventSchemaV1_0 {
		if got := r.header.Get("WebHook-Request-Origin"); got != "eventgrid.azure.net" {
			t.Errorf("WebHook-Request-Origin %q", got)
		}
		return
	}
	wantHeaders := map[string]string{
		"aeg-event-type": "SubscriptionValidation", "aeg-subscription-name": "ROTATION",
		"aeg-delivery-count": "0", "aeg-metadata-version": "1", "aeg-data-version": "1",
		"Content-Type": "application/json; charset=utf-8",
	}
	for k, v := range wantHeaders {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	sample, err := os.ReadFile("testdata/events/subscription-validation.json")
	if err != nil {
		t.Fatal(err)
	}
	if g, w := shapeOf(t, r.body), shapeOf(t, sample); g != w {
		t.Errorf("validation event shape\n got: %s\nwant: %s", g, w)
	}
	var evs []map[string]any
	_ = json.Unmarshal(r.body, &evs)
	if evs[0]["eventType"] != akvcredstest.EventSubscriptionValidation || evs[0]["topic"] != s.VaultTopic("kv") {
		t.Errorf("validation event %s", r.body)
	}
}

func TestSubscribeEventsRefuses(t *testing.T) {
	t.Parallel()
	s, _ := eventServer(t)
	h := newHook(t)
	tests := []struct {
		name, vault string
		sub         akvcredstest.EventSubscription
		want        string
	}{
		{"no vault", "nope", akvcredstest.EventSubscription{Endpoint: h.srv.URL}, `no vault "nope"`},
		{"remote host", "kv", akvcredstest.EventSubscription{Endpoint: "https://example.com/hook"}, `"example.com" is not a loopback address`},
		{"private address", "kv", akvcredstest.EventSubscription{Endpoint: "http://10.0.0.1/hook"}, "not a loopback address"},
		{"imds", "kv", akvcredstest.EventSubscription{Endpoint: "http://169.254.169.254/"}, "not a loopback address"},
		{"scheme", "kv", akvcredstest.EventSubscription{Endpoint: "ftp://127.0.0.1/"}, "http or https URL"},
		{"name", "kv", akvcredstest.EventSubscription{Name: "a_b", Endpoint: h.srv.URL}, "Name must be"},
		{"schema", "kv", akvcredstest.EventSubscription{Schema: "CustomInputSchema", Endpoint: h.srv.URL}, "Schema must be"},
		{"batch", "kv", akvcredstest.EventSubscription{MaxEventsPerBatch: 5001, Endpoint: h.srv.URL}, "MaxEventsPerBatch"},
		{"attempts", "kv", akvcredstest.EventSubscription{MaxDeliveryAttempts: 31, Endpoint: h.srv.URL}, "MaxDeliveryAttempts"},
		{"ttl", "kv", akvcredstest.EventSubscription{EventTimeToLive: 90 * time.Second, Endpoint: h.srv.URL}, "EventTimeToLive"},
		{"aeg header", "kv", akvcredstest.EventSubscription{DeliveryHeaders: map[string]string{"aeg-event-type": "x"}, Endpoint: h.srv.URL}, "reserved"},
	}
	for _, tt := range tests {
		_, err := s.SubscribeEvents(context.Background(), tt.vault, tt.sub)
		assertMessageContains(t, err, tt.want)
	}
	h.none(t)
	if d := s.EventDeliveries(); len(d) != 0 {
		t.Errorf("deliveries %+v", d)
	}
}

// sampleShape is the shape of a documented sample in testdata/events.
func sampleShape(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return shapeOf(t, b)
}

func TestSecretNewVersionCreated(t *testing.T) {
	t.Parallel()
	for _, schema := range []akvcredstest.EventSchema{akvcredstest.EventGridSchema, akvcredstest.CloudEventSchemaV1_0} {
		t.Run(string(schema), func(t *testing.T) {
			t.Parallel()
			s, clock := eventServer(t)
			h := newHook(t)
			subscribe(t, s, akvcredstest.EventSubscription{Name: "rot", Endpoint: h.srv.URL, Schema: schema})
			h.next(t) // the handshake
			nbf, exp := clock.Now().Add(-time.Hour), clock.Now().Add(365*24*time.Hour)
			ver := s.SetSecret("kv", "DB-Password", "hunter2", akvcredstest.NotBefore(nbf), akvcredstest.Expires(exp))
			flush(t, s)
			r := h.next(t)
			h.none(t)
			wantCT := map[akvcredstest.EventSchema]string{
				akvcredstest.EventGridSchema:      "application/json; charset=utf-8",
				akvcredstest.CloudEventSchemaV1_0: "application/cloudevents+json; charset=utf-8",
			}[schema]
			wantHeaders := map[string]string{"Content-Type": wantCT, "aeg-event-type": "Notification",
				"aeg-subscription-name": "ROT", "aeg-delivery-count": "0", "aeg-data-version": "1", "aeg-metadata-version": "1"}
			if schema == akvcredstest.CloudEventSchemaV1_0 {
				wantHeaders["aeg-data-version"], wantHeaders["aeg-metadata-version"], wantHeaders["Origin"] = "", "1.0", "eventgrid.azure.net"
			}
			for k, v := range wantHeaders {
				if got := r.header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if strings.Contains(string(r.body), "hunter2") {
				t.Error("the event carries the secret's value")
			}
			sample := map[akvcredstest.EventSchema]string{
				akvcredstest.EventGridSchema:      "secret-new-version-eventgrid.json",
				akvcredstest.CloudEventSchemaV1_0: "secret-new-version-cloudevent.json",
			}[schema]
			if g, w := shapeOf(t, r.body), sampleShape(t, sample); g != w {
				t.Errorf("event shape\n got: %s\nwant: %s", g, w)
			}
			ev := firstEvent(t, r.body)
			if r.header.Get("aeg-output-event-id") != ev["id"] {
				t.Errorf("aeg-output-event-id %q, event id %v", r.header.Get("aeg-output-event-id"), ev["id"])
			}
			want := map[string]any{
				"Id":        "https://kv.vault.azure.net/secrets/DB-Password/" + ver,
				"VaultName": "kv", "ObjectType": "Secret", "ObjectName": "DB-Password", "Version": ver,
				"NBF": float64(nbf.Unix()), "EXP": float64(exp.Unix()),
			}
			data := ev["data"].(map[string]any)
			for k, v := range want {
				if data[k] != v {
					t.Errorf("data.%s = %v, want %v", k, data[k], v)
				}
			}
			typ, topic, tm := ev["eventType"], ev["topic"], ev["eventTime"]
			if schema == akvcredstest.CloudEventSchemaV1_0 {
				typ, topic, tm = ev["type"], ev["source"], ev["time"]
			}
			if typ != akvcredstest.EventSecretNewVersionCreated || topic != s.VaultTopic("kv") || ev["subject"] != "DB-Password" || tm != "2000-01-01T00:00:00.0000000Z" {
				t.Errorf("event %s", r.body)
			}
			d := s.EventDeliveries()
			if last := d[len(d)-1]; last.Outcome != akvcredstest.DeliveryDelivered || last.Status != 200 || last.Subjects[0] != "DB-Password" {
				t.Errorf("delivery %+v", last)
			}
		})
	}
}

// firstEvent decodes the first event of an Event Grid array or a single
// CloudEvent.
func firstEvent(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var arr []map[string]any
	if json.Unmarshal(body, &arr) == nil && len(arr) > 0 {
		return arr[0]
	}
	var one map[string]any
	if err := json.Unmarshal(body, &one); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return one
}

func TestEventsFromKeyVaultAPI(t *testing.T) {
	t.Parallel()
	s, _ := eventServer(t)
	h := newHook(t)
	subscribe(t, s, akvcredstest.EventSubscription{Endpoint: h.srv.URL, EventTypes: []string{akvcredstest.EventSecretNewVersionCreated}})
	h.next(t)
	tok := rawToken(t, s, "https://vault.azure.net/.default")
	base := "https://kv.vault.azure.net/secrets/"
	if resp, b := do(t, s, http.MethodPut, base+"api-secret?api-version=7.5", tok, strings.NewReader(`{"value":"v1"}`)); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, b)
	}
	flush(t, s)
	if ev := firstEvent(t, h.next(t).body); ev["subject"] != "api-secret" {
		t.Errorf("event %v", ev)
	}
	// Key Vault publishes nothing for a properties update or a delete.
	if resp, b := do(t, s, http.MethodPatch, base+"api-secret?api-version=7.5", tok, strings.NewReader(`{"attributes":{"enabled":false}}`)); resp.StatusCode != 200 {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, s, http.MethodDelete, base+"api-secret?api-version=7.5", tok, nil); resp.StatusCode != 200 {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, b)
	}
	flush(t, s)
	h.none(t)
}

func TestEventsExpiry(t *testing.T) {
	t.Parallel()
	s, clock := eventServer(t)
	h := newHook(t)
	now := clock.Now()
	s.SetSecret("kv", "old", "v", akvcredstest.Expires(now.Add(-time.Hour)))       // expired before the subscription: nothing
	s.SetSecret("kv", "soon", "v", akvcredstest.Expires(now.Add(40*24*time.Hour))) // near expiry in 10 days
	subscribe(t, s, akvcredstest.EventSubscription{Endpoint: h.srv.URL})
	h.next(t)
	flush(t, s)
	h.none(t)

	clock.Advance(10*24*time.Hour - time.Second)
	flush(t, s)
	h.none(t)
	clock.Advance(time.Second)
	flush(t, s)
	if ev := firstEvent(t, h.next(t).body); ev["eventType"] != akvcredstest.EventSecretNearExpiry || ev["subject"] != "soon" {
		t.Errorf("event %v", ev)
	}
	flush(t, s)
	h.none(t) // once only
	clock.Advance(30 * 24 * time.Hour)
	flush(t, s)
	if ev := firstEvent(t, h.next(t).body); ev["eventType"] != akvcredstest.EventSecretExpired || ev["subject"] != "soon" {
		t.Errorf("event %v", ev)
	}
	flush(t, s)
	h.none(t)
}

func TestEventsRetrySchedule(t *testing.T) {
	t.Parallel()
	s, clock := eventServer(t)
	h := newHook(t)
	h.statuses = []int{500, 500, 503, 500}
	subscribe(t, s, akvcredstest.EventSubscription{Endpoint: h.srv.URL, MaxDeliveryAttempts: 4})
	h.next(t)
	s.SetSecret("kv", "s", "v")
	flush(t, s)
	// Waits after the 1st, 2nd and 3rd failure: 10 s, 30 s, then 1 minute
	// (503: at least 30 s).
	for i, wait := range []time.Duration{10 * time.Second, 30 * time.Second, time.Minute} {
		if got := h.next(t).header.Get("aeg-delivery-count"); got != fmt.Sprint(i) {
			t.Errorf("attempt %d: aeg-delivery-count %s", i+1, got)
		}
		clock.Advance(wait - time.Second)
		flush(t, s)
		h.none(t) // not yet due
		clock.Advance(time.Second)
		flush(t, s)
	}
	h.next(t)
	d := s.EventDeliveries()[1:]
	want := []akvcredstest.DeliveryOutcome{akvcredstest.DeliveryRetrying, akvcredstest.DeliveryRetrying, akvcredstest.DeliveryRetrying, akvcredstest.DeliveryDropped}
	if len(d) != len(want) {
		t.Fatalf("deliveries %+v", d)
	}
	for i, w := range want {
		if d[i].Outcome != w {
			t.Errorf("attempt %d: %+v", i+1, d[i])
		}
	}
	if d[3].Reason != "MaxDeliveryAttemptsExceeded" || d[2].Reason != "Busy" || !d[0].NextAttempt.Equal(d[0].Time.Add(10*time.Second)) {
		t.Errorf("deliveries %+v", d)
	}
	clock.Advance(24 * time.Hour)
	flush(t, s)
	h.none(t)
}

func TestEventsFailureStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status  int
		outcome akvcredstest.DeliveryOutcome
		reason  string
		wait    time.Duration
	}{
		{400, akvcredstest.DeliveryDropped, "BadRequest", 0},
		{401, akvcredstest.DeliveryDropped, "Unauthorized", 0},
		{413, akvcredstest.DeliveryDropped, "PayloadTooLarge", 0},
		{403, akvcredstest.DeliveryRetrying, "Forbidden", 5 * time.Minute},
		{404, akvcredstest.DeliveryRetrying, "NotFound", 5 * time.Minute},
		{408, akvcredstest.DeliveryRetrying, "GenericError", 2 * time.Minute},
		{302, akvcredstest.DeliveryRetrying, "GenericError", 10 * time.Second},
		{429, akvcredstest.DeliveryRetrying, "Busy", 10 * time.Second},
		{204, akvcredstest.DeliveryDelivered, "", 0},
		{205, akvcredstest.DeliveryRetrying, "GenericError", 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			t.Parallel()
			s, _ := eventServer(t)
			h := newHook(t)
			h.statuses = []int{tt.status}
			subscribe(t, s, akvcredstest.EventSubscription{Endpoint: h.srv.URL})
			s.SetSecret("kv", "s", "v")
			flush(t, s)
			d := s.EventDeliveries()
			last := d[len(d)-1]
			if last.Status != tt.status || last.Outcome != tt.outcome || last.Reason != tt.reason {
				t.Errorf("delivery %+v", last)
			}
			if tt.wait > 0 && last.NextAttempt.Sub(last.Time) != tt.wait {
				t.Errorf("next attempt after %v, want %v", last.NextAttempt.Sub(last.Time), tt.wait)
			}
		})
	}
}

func TestEventsTimeToLive(t *testing.T) {
	t.Parallel()
	s, clock := eventServer(t)
	h := newHook(t)
	h.statuses = []int{500}
	subscribe(t, s, akvcredstest.EventSubscription{Endpoint: h.srv.URL, EventTimeToLive: time.Minute})
	h.next(t)
	s.SetSecret("kv", "s", "v")
	flush(t, s)
	h.next(t)
	// The retry is due after 10 s, but Event Grid checks the time to live
	// only then: an attempt at 61 s finds it passed and drops the event.
	clock.Advance(61 * time.Second)
	flush(t, s)
	h.none(t)
	d := s.EventDeliveries()
	if last := d[len(d)-1]; last.Outcome != akvcredstest.DeliveryDropped || last.Reason != "TimeToLiveExceeded" || last.Status != 0 {
		t.Errorf("delivery %+v", last)
	}
}

func TestEventsBatchesAndFilter(t *testing.T) {
	t.Parallel()
	s, _ := eventServer(t)
	h := newHook(t)
	h.statuses = []int{503}
	subscribe(t, s, akvcredstest.EventSubscription{Endpoint: h.srv.URL, Schema: akvcredstest.CloudEventSchemaV1_0, MaxEventsPerBatch: 2,
		EventTypes: []string{akvcredstest.EventSecretNewVersionCreated}})
	h.next(t)
	s.AddVault("other")
	id := subscribe(t, s, akvcredstest.EventSubscription{Endpoint: h.srv.URL, EventTypes: []string{akvcredstest.EventSecretExpired}})
	h.next(t)
	h.mu.Lock()
	h.statuses = nil
	h.mu.Unlock()
	s.SetSecret("other", "x", "v") // another vault
	flush(t, s)
	h.none(t)
	if !s.UnsubscribeEvents(id) || s.UnsubscribeEvents(id) {
		t.Error("UnsubscribeEvents")
	}
	// Three events while the dispatcher may already be delivering: at most
	// two in a batch, in application/cloudevents-batch+json arrays.
	for _, n := range []string{"a", "b", "c"} {
		s.SetSecret("kv", n, "v")
	}
	flush(t, s)
	seen := 0
	for len(h.reqs) > 0 {
		r := h.next(t)
		if ct := r.header.Get("Content-Type"); ct != "application/cloudevents-batch+json; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		var evs []map[string]any
		if err := json.Unmarshal(r.body, &evs); err != nil || len(evs) == 0 || len(evs) > 2 {
			t.Fatalf("batch %s", r.body)
		}
		seen += len(evs)
	}
	if seen != 3 {
		t.Errorf("%d events delivered, want 3", seen)
	}
}

func TestEntraProtectedDelivery(t *testing.T) {
	t.Parallel()
	const aud = "api://webhook-app"
	tests := []struct {
		name string
		v2   bool
		want map[string]any
	}{
		{"v1", false, map[string]any{"iss": "https://sts.windows.net/" + akvcredstest.DefaultTenantID + "/",
			"appid": akvcredstest.EventGridAppID, "ver": "1.0", "azp": nil}},
		{"v2", true, map[string]any{"iss": "https://login.microsoftonline.com/" + akvcredstest.DefaultTenantID + "/v2.0",
			"azp": akvcredstest.EventGridAppID, "ver": "2.0", "appid": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, clock := eventServer(t)
			h := newHook(t)
			subscribe(t, s, akvcredstest.EventSubscription{Endpoint: h.srv.URL, EntraAudience: aud, EntraTokenV2: tt.v2,
				DeliveryHeaders: map[string]string{"X-Shared-Secret": "s3cret-header-value"}})
			s.SetSecret("kv", "s", "v")
			flush(t, s)
			jwks := fetchJWKS(t, s)
			for _, r := range []hookReq{h.next(t), h.next(t)} { // handshake, then event
				if r.header.Get("X-Shared-Secret") != "s3cret-header-value" {
					t.Errorf("delivery header missing: %v", r.header)
				}
				claims := verifyRS256(t, jwks, strings.TrimPrefix(r.header.Get("Authorization"), "Bearer "))
				tt.want["aud"], tt.want["tid"] = aud, akvcredstest.DefaultTenantID
				tt.want["nbf"], tt.want["exp"] = float64(clock.Now().Unix()), float64(clock.Now().Add(3599*time.Second).Unix())
				for k, v := range tt.want {
					if claims[k] != v {
						t.Errorf("claim %s = %v, want %v", k, claims[k], v)
					}
				}
				if roles, _ := claims["roles"].([]any); len(roles) != 1 || roles[0] != akvcredstest.EventGridWebhookRole {
					t.Errorf("roles %v", claims["roles"])
				}
			}
			// Nothing secret in the delivery log.
			logged, _ := json.Marshal(s.EventDeliveries())
			if strings.Contains(string(logged), "s3cret-header-value") || strings.Contains(string(logged), "eyJ") {
				t.Errorf("the delivery log leaks: %s", logged)
			}
		})
	}
}

// TestSharedSecretAuthorization: without Entra, a delivery property may
// set Authorization (delivery-properties.md); with Entra it may not.
func TestSharedSecretAuthorization(t *testing.T) {
	t.Parallel()
	s, _ := eventServer(t)
	h := newHook(t)
	subscribe(t, s, akvcredstest.EventSubscription{Endpoint: h.srv.URL, DeliveryHeaders: map[string]string{"Authorization": "Bearer static-shared"}})
	if got := h.next(t).header.Get("Authorization"); got != "Bearer static-shared" {
		t.Errorf("Authorization %q", got)
	}
	for _, hdr := range []map[string]string{{"Authorization": "x"}, {"X-Long": strings.Repeat("a", 4097)}, {"X-Bad": "a\r\nb"}} {
		_, err := s.SubscribeEvents(context.Background(), "kv", akvcredstest.EventSubscription{Endpoint: h.srv.URL, EntraAudience: "api://x", DeliveryHeaders: hdr})
		assertMessageContains(t, err, "delivery header")
	}
	h.none(t)
}

// fetchJWKS reads the tenant's keys where the v2 OpenID configuration says.
func fetchJWKS(t *testing.T, s *akvcredstest.Server) map[string]*rsa.PublicKey {
	t.Helper()
	var conf struct {
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, s, "https://login.microsoftonline.com/"+akvcredstest.DefaultTenantID+"/v2.0/.well-known/openid-configuration", &conf)
	if want := "https://login.microsoftonline.com/" + akvcredstest.DefaultTenantID + "/discovery/v2.0/keys"; conf.JWKSURI != want {
		t.Fatalf("jwks_uri %q", conf.JWKSURI)
	}
	var doc struct {
		Keys []struct {
			Kty, Kid, N, E, Issuer string
			X5c                    []string
		} `json:"keys"`
	}
	getJSON(t, s, conf.JWKSURI, &doc)
	keys := map[string]*rsa.PublicKey{}
	for _, k := range doc.Keys {
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if k.Kty != "RSA" || err1 != nil || err2 != nil || len(k.X5c) != 1 || k.Issuer != "https://login.microsoftonline.com/"+akvcredstest.DefaultTenantID+"/v2.0" {
			t.Fatalf("key %+v", k)
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	// The v1 keys are the same.
	var v1 struct {
		Keys []struct{ Kid string } `json:"keys"`
	}
	getJSON(t, s, "https://login.microsoftonline.com/common/discovery/keys", &v1)
	if len(v1.Keys) != 1 || keys[v1.Keys[0].Kid] == nil {
		t.Errorf("v1 keys %+v", v1)
	}
	return keys
}

func getJSON(t *testing.T, s *akvcredstest.Server, u string, v any) {
	t.Helper()
	resp, err := s.Client().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || decodeBody(resp, v) != nil {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
}

// verifyRS256 checks a JWT's RS256 signature with the key its kid names
// and returns its claims.
func verifyRS256(t *testing.T, keys map[string]*rsa.PublicKey, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	var hdr struct{ Alg, Kid string }
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "RS256" || keys[hdr.Kid] == nil {
		t.Fatalf("header %s", hb)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(keys[hdr.Kid], crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("signature: %v", err)
	}
	// A tampered payload fails.
	if rsa.VerifyPKCS1v15(keys[hdr.Kid], crypto.SHA256, digest[1:], sig) == nil {
		t.Fatal("a wrong digest verified")
	}
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err := json.Unmarshal(pb, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestEventsCloseStopsDeliveries(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(s2000())
	s, err := akvcredstest.NewServer(akvcredstest.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	s.AddVault("kv")
	release := make(chan struct{})
	arrived := make(chan struct{}, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("WebHook-Allowed-Origin", "*")
			return
		}
		arrived <- struct{}{}
		select { // hold the delivery until the emulator gives up on it
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hook.Close()
	defer close(release)
	if _, err := s.SubscribeEvents(context.Background(), "kv", akvcredstest.EventSubscription{Endpoint: hook.URL, Schema: akvcredstest.CloudEventSchemaV1_0}); err != nil {
		t.Fatal(err)
	}
	s.SetSecret("kv", "s", "v")
	<-arrived
	s.Close() // cancels the delivery in flight and waits for it; goleak checks the rest
	if err := s.FlushEvents(context.Background()); err == nil {
		t.Error("FlushEvents after Close")
	}
}

func TestLoadSeedEventSubscriptions(t *testing.T) {
	t.Parallel()
	s, _ := eventServer(t)
	h := newHook(t)
	seed := `{"vaults":[{"name":"seeded"}],"eventSubscriptions":[{"vault":"seeded","name":"from-seed","endpointUrl":"` + h.srv.URL +
		`","eventDeliverySchema":"CloudEventSchemaV1_0","includedEventTypes":["Microsoft.KeyVault.SecretNewVersionCreated"],` +
		`"maxEventsPerBatch":1,"maxDeliveryAttempts":3,"eventTimeToLiveInMinutes":60,"deliveryHeaders":{"X-Key":"k"},` +
		`"azureActiveDirectoryTenantId":"` + akvcredstest.DefaultTenantID + `","azureActiveDirectoryApplicationIdOrUri":"api://hook"}]}`
	if err := s.LoadSeed(strings.NewReader(seed)); err != nil {
		t.Fatal(err)
	}
	if r := h.next(t); r.method != http.MethodOptions || r.header.Get("X-Key") != "k" || !strings.HasPrefix(r.header.Get("Authorization"), "Bearer ") {
		t.Errorf("handshake %s %v", r.method, r.header)
	}
	s.SetSecret("seeded", "s", "v")
	flush(t, s)
	if ev := firstEvent(t, h.next(t).body); ev["type"] != akvcredstest.EventSecretNewVersionCreated {
		t.Errorf("event %v", ev)
	}
	bad := `{"eventSubscriptions":[{"vault":"seeded","endpointUrl":"https://example.com/"}]}`
	err := s.LoadSeed(strings.NewReader(bad))
	assertMessageContains(t, err, "eventSubscriptions[0]")
	assertMessageContains(t, err, "not a loopback address")
}

func TestEventsHandler(t *testing.T) {
	t.Parallel()
	s, _ := eventServer(t)
	h := newHook(t)
	admin := httptest.NewServer(s.EventsHandler())
	defer admin.Close()
	post := func(path, body string) (int, map[string]string) {
		t.Helper()
		resp, err := http.Post(admin.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, out := post("/eventSubscriptions", `{"vault":"kv","endpointUrl":"`+h.srv.URL+`"}`)
	if code != http.StatusCreated || out["id"] == "" || out["name"] != "sub-1" {
		t.Fatalf("POST: %d %v", code, out)
	}
	h.next(t)
	if code, out := post("/eventSubscriptions", `{"vault":"kv","endpointUrl":"http://192.0.2.1/"}`); code != http.StatusBadRequest || !strings.Contains(out["error"], "loopback") {
		t.Errorf("POST remote: %d %v", code, out)
	}
	if code, _ := post("/eventSubscriptions", `{"vault":"kv","endpoint":"x"}`); code != http.StatusBadRequest {
		t.Errorf("POST unknown field: %d", code)
	}
	s.SetSecret("kv", "s", "v")
	if code, _ := post("/flushEvents", ""); code != http.StatusNoContent {
		t.Errorf("flush: %d", code)
	}
	h.next(t)
	resp, err := http.Get(admin.URL + "/eventDeliveries")
	if err != nil {
		t.Fatal(err)
	}
	var d []akvcredstest.EventDelivery
	err = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if err != nil || len(d) != 2 || d[1].Outcome != akvcredstest.DeliveryDelivered {
		t.Errorf("deliveries %v %+v", err, d)
	}
	for _, want := range []int{http.StatusNoContent, http.StatusNotFound} {
		req, _ := http.NewRequest(http.MethodDelete, admin.URL+"/eventSubscriptions/"+out["id"], nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("DELETE: %d, want %d", resp.StatusCode, want)
		}
	}
}

// TestEventsEndpointDown: a webhook that is gone is a SocketError, retried
// on the schedule, and the event arrives once it is back.
func TestEventsEndpointDown(t *testing.T) {
	t.Parallel()
	s, clock := eventServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hook{reqs: make(chan hookReq, 10), origin: "eventgrid.azure.net"}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(h.serve))
	h.srv.Listener.Close()
	h.srv.Listener = ln
	h.srv.Start()
	subscribe(t, s, akvcredstest.EventSubscription{Endpoint: h.srv.URL})
	h.next(t)
	addr := ln.Addr().String()
	h.srv.Close() // the webhook goes away
	s.SetSecret("kv", "s", "v")
	flush(t, s)
	d := s.EventDeliveries()
	if last := d[len(d)-1]; last.Outcome != akvcredstest.DeliveryRetrying || last.Reason != "SocketError" || last.Status != 0 || last.Error == "" {
		t.Fatalf("delivery %+v", last)
	}
	// Back on the same address: the retry after 10 s delivers.
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	back := httptest.NewUnstartedServer(http.HandlerFunc(h.serve))
	back.Listener.Close()
	back.Listener = ln
	back.Start()
	defer back.Close()
	clock.Advance(10 * time.Second)
	flush(t, s)
	if r := h.next(t); r.header.Get("aeg-delivery-count") != "1" {
		t.Errorf("retry %v", r.header)
	}
}
