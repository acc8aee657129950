package akvcredstest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	// deliveryTimeout is how long Event Grid waits for a webhook's answer.
	deliveryTimeout = 30 * time.Second
	// maxWebhookAnswer bounds how much of a webhook's answer is read.
	maxWebhookAnswer = 64 << 10
	// dispatchTick is how often the dispatcher looks for due retries and
	// expiring secrets by the server's clock (new events wake it at once).
	dispatchTick = time.Second
	// eventGridOrigin is the WebHook-Request-Origin of Event Grid's
	// CloudEvents abuse-protection handshake.
	eventGridOrigin = "eventgrid.azure.net"
	// eventTimeFormat is Event Grid's eventTime: UTC with 7 fractional digits.
	eventTimeFormat = "2006-01-02T15:04:05.0000000Z"
	ctEventGrid     = "application/json; charset=utf-8"
	ctCloudEvent    = "application/cloudevents+json; charset=utf-8"
	ctCloudBatch    = "application/cloudevents-batch+json; charset=utf-8"
)

// retrySchedule is Event Grid's retry schedule after the 1st, 2nd, ...
// failed attempt (delivery-and-retry.md); then every 12 hours.
var retrySchedule = []time.Duration{
	10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 10 * time.Minute,
	30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour,
}

// retryDelay is how long after failed attempt number n (1-based) with
// status the next one is made: the schedule, and at least the wait Event
// Grid documents for some statuses (401, 403, 404: 5 minutes; 408: 2
// minutes; 503: 30 seconds).
func retryDelay(n, status int) time.Duration {
	d := 12 * time.Hour
	if n-1 < len(retrySchedule) {
		d = retrySchedule[n-1]
	}
	floor := map[int]time.Duration{
		http.StatusUnauthorized: 5 * time.Minute, http.StatusForbidden: 5 * time.Minute,
		http.StatusNotFound: 5 * time.Minute, http.StatusRequestTimeout: 2 * time.Minute,
		http.StatusServiceUnavailable: 30 * time.Second,
	}[status]
	return max(d, floor)
}

// notRetried are the statuses after which Event Grid drops (or
// dead-letters) a webhook's events at once: 400, 401 and 413.
func notRetried(status int) bool {
	return status == http.StatusBadRequest || status == http.StatusUnauthorized || status == http.StatusRequestEntityTooLarge
}

// outcomeWord is Event Grid's lastDeliveryOutcome for a failed attempt.
func outcomeWord(status int, err error) string {
	switch {
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		return "TimedOut"
	case err != nil:
		return "SocketError"
	case status == http.StatusBadRequest:
		return "BadRequest"
	case status == http.StatusUnauthorized:
		return "Unauthorized"
	case status == http.StatusForbidden:
		return "Forbidden"
	case status == http.StatusNotFound:
		return "NotFound"
	case status == http.StatusRequestEntityTooLarge:
		return "PayloadTooLarge"
	case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
		return "Busy"
	}
	return "GenericError"
}

// delivered reports whether status acknowledges a delivery (200-204).
func delivered(status int) bool { return status >= 200 && status <= 204 }

// SubscribeEvents creates an event subscription on the system topic of a
// vault (which must exist), as Event Grid does: it first performs the
// endpoint's validation handshake (Event Grid schema: a POST of a
// SubscriptionValidationEvent answered 200 with {"validationResponse":
// CODE}; CloudEvents: an OPTIONS request with WebHook-Request-Origin:
// eventgrid.azure.net answered 200 with WebHook-Allowed-Origin
// eventgrid.azure.net or *), and fails if the handshake does. From then on
// the server delivers the vault's secret events to the endpoint on its own
// goroutines, at once, retrying failures on Event Grid's schedule by the
// server's clock; FlushEvents waits for what is due. It returns the
// subscription's ID. Deliveries stop at Close.
func (s *Server) SubscribeEvents(ctx context.Context, vault string, sub EventSubscription) (id string, err error) {
	vault = strings.ToLower(vault)
	s.mu.Lock()
	_, exists := s.vaults[vault]
	s.mu.Unlock()
	if !exists {
		return "", fmt.Errorf("%w: no vault %q", errEventSubscription, vault)
	}
	h := &s.events
	h.mu.Lock()
	h.init()
	h.n++
	n := h.n
	h.mu.Unlock()
	cfg, err := sub.withDefaults(n)
	if err != nil {
		return "", err
	}
	es := &eventSub{id: newGUID(), vault: vault, cfg: cfg, client: s.webhookClient(cfg)}
	h.mu.Lock()
	h.clients = append(h.clients, es.client)
	h.mu.Unlock()
	if err := s.handshake(ctx, es); err != nil {
		es.client.CloseIdleConnections()
		return "", err
	}
	s.trackExpiry(vault)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		es.client.CloseIdleConnections()
		return "", errors.New("akvcredstest: server closed")
	}
	h.subs = append(h.subs, es)
	if !h.started {
		h.started = true
		h.wg.Add(1)
		go s.dispatch()
	}
	h.changedLocked()
	return es.id, nil
}

// webhookClient is the HTTP client of one subscription: it dials loopback
// addresses only, follows no redirect and uses no proxy.
func (s *Server) webhookClient(cfg EventSubscription) *http.Client {
	tr := &http.Transport{
		DialContext:         dialLoopback,
		TLSClientConfig:     &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// dialLoopback dials addr only if its host is localhost or a loopback IP:
// the emulator's webhooks never reach beyond the machine.
func dialLoopback(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("akvcredstest: refusing to deliver events to %s: not a loopback address", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
}

// serverCtx is ctx, also cancelled when the server closes.
func (s *Server) serverCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.closing, cancel)
	return ctx, func() { stop(); cancel() }
}

// handshake validates the subscription's endpoint as Event Grid does for
// its schema.
func (s *Server) handshake(ctx context.Context, es *eventSub) error {
	ctx, cancel := s.serverCtx(ctx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, deliveryTimeout)
	defer cancelT()
	rec := EventDelivery{SubscriptionID: es.id, Subscription: es.cfg.Name, Vault: es.vault, Time: s.now(),
		EventType: "SubscriptionValidation", Outcome: DeliveryFailed}
	var err error
	if es.cfg.Schema == CloudEventSchemaV1_0 {
		rec.Status, err = s.cloudEventsHandshake(ctx, es)
	} else {
		rec.Status, err = s.eventGridHandshake(ctx, es, &rec)
	}
	if err == nil {
		rec.Outcome = DeliveryDelivered
	} else {
		rec.Error = err.Error()
	}
	h := &s.events
	h.mu.Lock()
	h.logLocked(rec)
	h.changedLocked()
	h.mu.Unlock()
	if err != nil {
		return fmt.Errorf("akvcredstest: event subscription %s: validation handshake with %s failed: %w", es.cfg.Name, es.cfg.Endpoint, err)
	}
	return nil
}

// validationData is the data of a SubscriptionValidationEvent.
type validationData struct {
	ValidationCode string `json:"validationCode"`
	ValidationURL  string `json:"validationUrl"`
}

// eventGridHandshake posts a SubscriptionValidationEvent and expects 200
// with the validation code echoed in validationResponse.
func (s *Server) eventGridHandshake(ctx context.Context, es *eventSub, rec *EventDelivery) (int, error) {
	now := s.now()
	code := newGUID()
	ev := eventGridEvent{
		ID:      newGUID(),
		Topic:   s.VaultTopic(es.vault),
		Subject: "",
		Data: validationData{ValidationCode: code, ValidationURL: fmt.Sprintf(
			"https://rp-eastus.eventgrid.azure.net:553/eventsubscriptions/%s/validate?id=%s&t=%s&apiVersion=2022-06-15&token=%s",
			strings.ToLower(es.cfg.Name), code, now.UTC().Format(eventTimeFormat), newID())},
		EventType:       EventSubscriptionValidation,
		EventTime:       now.UTC().Format(eventTimeFormat),
		MetadataVersion: "1",
		DataVersion:     "1",
	}
	rec.EventIDs, rec.EventTypes, rec.Subjects = []string{ev.ID}, []string{ev.EventType}, []string{""}
	body, _ := json.Marshal([]eventGridEvent{ev})
	hdr := s.deliveryHeaders(es, aegHeaders{typ: "SubscriptionValidation", eventID: ev.ID}, ctEventGrid)
	resp, err := s.send(ctx, es, http.MethodPost, body, hdr)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("the endpoint answered %d, not 200 OK", resp.StatusCode)
	}
	var answer struct {
		ValidationResponse string `json:"validationResponse"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxWebhookAnswer))
	if json.Unmarshal(b, &answer) != nil || answer.ValidationResponse != code {
		return resp.StatusCode, errors.New("the answer did not echo the validation code in validationResponse (manual validation through validationUrl is not emulated)")
	}
	return resp.StatusCode, nil
}

// cloudEventsHandshake sends the CloudEvents abuse-protection OPTIONS
// request and expects 200 allowing Event Grid's origin.
func (s *Server) cloudEventsHandshake(ctx context.Context, es *eventSub) (int, error) {
	hdr := s.deliveryHeaders(es, aegHeaders{}, "")
	hdr.Set("WebHook-Request-Origin", eventGridOrigin)
	resp, err := s.send(ctx, es, http.MethodOptions, nil, hdr)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxWebhookAnswer))
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("the endpoint answered %d to OPTIONS, not 200 OK", resp.StatusCode)
	}
	allowed := false
	for _, v := range resp.Header.Values("WebHook-Allowed-Origin") {
		for _, o := range strings.Split(v, ",") {
			o = strings.TrimSpace(o)
			allowed = allowed || o == "*" || strings.EqualFold(o, eventGridOrigin)
		}
	}
	if !allowed {
		return resp.StatusCode, errors.New("the answer to OPTIONS did not allow origin " + eventGridOrigin + " in WebHook-Allowed-Origin")
	}
	return resp.StatusCode, nil
}

// aegHeaders are the values of Event Grid's aeg-* headers of a request.
type aegHeaders struct {
	typ     string // aeg-event-type; "" for the OPTIONS handshake: no aeg-* header
	count   int    // aeg-delivery-count
	eventID string // aeg-output-event-id: the (first) event's ID
}

// deliveryHeaders are the headers of a request to the endpoint: Event
// Grid's aeg-* headers (message-headers.md: for CloudEvents,
// aeg-metadata-version is the spec version and aeg-data-version does not
// apply), the delivery properties and the Entra token.
func (s *Server) deliveryHeaders(es *eventSub, aeg aegHeaders, contentType string) http.Header {
	h := http.Header{}
	for k, v := range es.cfg.DeliveryHeaders {
		h.Set(k, v)
	}
	if aeg.typ != "" {
		h.Set("aeg-event-type", aeg.typ)
		h.Set("aeg-subscription-name", strings.ToUpper(es.cfg.Name))
		h.Set("aeg-delivery-count", strconv.Itoa(aeg.count))
		h.Set("aeg-output-event-id", aeg.eventID)
		if es.cfg.Schema == CloudEventSchemaV1_0 {
			h.Set("aeg-metadata-version", "1.0")
			// The CloudEvents webhook spec's Origin, which Event Grid sends
			// with its deliveries (as captured from Event Grid webhooks).
			h.Set("Origin", eventGridOrigin)
		} else {
			h.Set("aeg-data-version", "1")
			h.Set("aeg-metadata-version", "1")
		}
	}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	if es.cfg.EntraAudience != "" {
		h.Set("Authorization", "Bearer "+s.deliveryToken(es.cfg))
	}
	return h
}

// send makes one request to the subscription's endpoint.
func (s *Server) send(ctx context.Context, es *eventSub, method string, body []byte, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, es.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Header = hdr
	return es.client.Do(req)
}

// eventGridEvent is an event in the Event Grid schema, with the property
// order of Event Grid's samples.
type eventGridEvent struct {
	ID              string `json:"id"`
	Topic           string `json:"topic"`
	Subject         string `json:"subject"`
	EventType       string `json:"eventType"`
	EventTime       string `json:"eventTime"`
	Data            any    `json:"data"`
	DataVersion     string `json:"dataVersion"`
	MetadataVersion string `json:"metadataVersion"`
}

// cloudEvent is an event in the CloudEvents 1.0 JSON format, as Event Grid
// delivers a system event.
type cloudEvent struct {
	ID          string `json:"id"`
	Source      string `json:"source"`
	Subject     string `json:"subject"`
	Type        string `json:"type"`
	Time        string `json:"time"`
	Data        any    `json:"data"`
	SpecVersion string `json:"specversion"`
}

// notificationBody shapes events for the subscription's schema and returns
// the body and its content type.
func notificationBody(cfg EventSubscription, evs []kvEvent) ([]byte, string) {
	if cfg.Schema == CloudEventSchemaV1_0 {
		out := make([]cloudEvent, len(evs))
		for i, e := range evs {
			out[i] = cloudEvent{ID: e.id, Source: e.topic, Subject: e.subject, Type: e.eventType,
				Time: e.time.UTC().Format(eventTimeFormat), Data: e.data, SpecVersion: "1.0"}
		}
		if cfg.MaxEventsPerBatch == 1 {
			b, _ := json.Marshal(out[0])
			return b, ctCloudEvent
		}
		b, _ := json.Marshal(out)
		return b, ctCloudBatch
	}
	out := make([]eventGridEvent, len(evs))
	for i, e := range evs {
		out[i] = eventGridEvent{ID: e.id, Topic: e.topic, Subject: e.subject, EventType: e.eventType,
			EventTime: e.time.UTC().Format(eventTimeFormat), Data: e.data, DataVersion: "1", MetadataVersion: "1"}
	}
	b, _ := json.Marshal(out)
	return b, ctEventGrid
}

// batch is one delivery in flight: events of one subscription.
type batch struct {
	sub    *eventSub
	events []*queuedEvent
}

// dispatch runs until the server closes: it delivers what is due, when
// woken by a new event and every dispatchTick.
func (s *Server) dispatch() {
	h := &s.events
	defer h.wg.Done()
	t := time.NewTicker(dispatchTick)
	defer t.Stop()
	for {
		s.pump()
		select {
		case <-s.done:
			return
		case <-h.wake:
		case <-t.C:
		}
	}
}

// pump publishes expiry events that are due and starts every due delivery.
func (s *Server) pump() {
	s.scanExpiry()
	now := s.now()
	h := &s.events
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	for _, sub := range h.subs {
		for _, b := range h.dueLocked(sub, now) {
			h.inflight++
			h.wg.Add(1)
			go s.deliver(b)
		}
	}
}

// dueLocked takes the subscription's due events into batches, dropping
// those whose time to live has passed.
func (h *eventHub) dueLocked(sub *eventSub, now time.Time) []batch {
	var out []batch
	var cur []*queuedEvent
	kept := sub.queue[:0]
	for _, q := range sub.queue {
		switch {
		case q.inflight || q.due.After(now):
		case now.Sub(q.published) > sub.cfg.EventTimeToLive:
			h.logLocked(dropRecord(sub, q, now, "TimeToLiveExceeded"))
			h.changedLocked()
			continue
		default:
			q.inflight = true
			cur = append(cur, q)
			if len(cur) == sub.cfg.MaxEventsPerBatch {
				out, cur = append(out, batch{sub, cur}), nil
			}
		}
		kept = append(kept, q)
	}
	sub.queue = kept
	if len(cur) > 0 {
		out = append(out, batch{sub, cur})
	}
	return out
}

func dropRecord(sub *eventSub, q *queuedEvent, now time.Time, reason string) EventDelivery {
	return EventDelivery{SubscriptionID: sub.id, Subscription: sub.cfg.Name, Vault: sub.vault, Time: now,
		EventType: "Notification", DeliveryCount: q.attempts, EventIDs: []string{q.ev.id},
		EventTypes: []string{q.ev.eventType}, Subjects: []string{q.ev.subject},
		Outcome: DeliveryDropped, Reason: reason}
}

// deliver makes one delivery attempt of a batch and settles its events.
func (s *Server) deliver(b batch) {
	h := &s.events
	defer h.wg.Done()
	evs := make([]kvEvent, len(b.events))
	count := 0
	for i, q := range b.events {
		evs[i] = q.ev
		count = max(count, q.attempts)
	}
	body, ct := notificationBody(b.sub.cfg, evs)
	now := s.now()
	ctx, cancel := s.serverCtx(context.Background())
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, deliveryTimeout)
	defer cancelT()
	status, err := 0, error(nil)
	resp, err := s.send(ctx, b.sub, http.MethodPost, body, s.deliveryHeaders(b.sub, aegHeaders{typ: "Notification", count: count, eventID: evs[0].id}, ct))
	if err == nil {
		status = resp.StatusCode
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxWebhookAnswer))
		resp.Body.Close()
	}
	rec := EventDelivery{SubscriptionID: b.sub.id, Subscription: b.sub.cfg.Name, Vault: b.sub.vault, Time: now,
		EventType: "Notification", DeliveryCount: count, Status: status}
	for _, e := range evs {
		rec.EventIDs, rec.EventTypes, rec.Subjects = append(rec.EventIDs, e.id), append(rec.EventTypes, e.eventType), append(rec.Subjects, e.subject)
	}
	if err != nil {
		rec.Error = err.Error()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.settleLocked(b, &rec, err, now)
	h.logLocked(rec)
	h.inflight--
	h.changedLocked()
}

// settleLocked applies an attempt's result to its events: delivered ones
// leave the queue; failed ones are retried on the schedule or dropped.
func (h *eventHub) settleLocked(b batch, rec *EventDelivery, err error, now time.Time) {
	for _, q := range b.events {
		q.inflight = false
		q.attempts++
	}
	attempts := b.events[0].attempts
	switch {
	case err == nil && delivered(rec.Status):
		rec.Outcome = DeliveryDelivered
	case err == nil && notRetried(rec.Status):
		rec.Outcome, rec.Reason = DeliveryDropped, outcomeWord(rec.Status, nil)
	case attempts >= b.sub.cfg.MaxDeliveryAttempts:
		rec.Outcome, rec.Reason = DeliveryDropped, "MaxDeliveryAttemptsExceeded"
	default:
		rec.Outcome, rec.Reason = DeliveryRetrying, outcomeWord(rec.Status, err)
		rec.NextAttempt = now.Add(retryDelay(attempts, rec.Status))
		for _, q := range b.events {
			q.due = rec.NextAttempt
		}
		return
	}
	done := map[*queuedEvent]bool{}
	for _, q := range b.events {
		done[q] = true
	}
	kept := b.sub.queue[:0]
	for _, q := range b.sub.queue {
		if !done[q] {
			kept = append(kept, q)
		}
	}
	b.sub.queue = kept
}

// FlushEvents publishes the expiry events due by the server's clock,
// delivers every event due now (a retry is due once the clock reaches its
// time: advance a WithClock clock to reach it) and waits until no delivery
// is in flight and none is due. It returns ctx's error if ctx ends first.
func (s *Server) FlushEvents(ctx context.Context) error {
	h := &s.events
	for {
		select {
		case <-s.done:
			return errors.New("akvcredstest: server closed")
		default:
		}
		s.pump()
		h.mu.Lock()
		h.init()
		idle := h.inflight == 0 && !h.anyDueLocked(s.now())
		ch := h.changed
		h.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return errors.New("akvcredstest: server closed")
		case <-ch:
		}
	}
}

// anyDueLocked reports whether an event waits for an attempt due by now.
func (h *eventHub) anyDueLocked(now time.Time) bool {
	for _, sub := range h.subs {
		for _, q := range sub.queue {
			if !q.inflight && !q.due.After(now) {
				return true
			}
		}
	}
	return false
}

// stopEvents ends the dispatcher and waits for deliveries in flight (their
// requests are cancelled by the server's closing).
func (s *Server) stopEvents() {
	h := &s.events
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.wg.Wait()
	h.mu.Lock()
	clients := h.clients
	h.mu.Unlock()
	for _, c := range clients {
		c.CloseIdleConnections()
	}
}
