package akvcredstest

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// EventSchema is the delivery schema of an event subscription, named as in
// Event Grid's eventDeliverySchema.
type EventSchema string

// Delivery schemas of an event subscription.
const (
	// EventGridSchema delivers a JSON array of Event Grid events
	// (Content-Type application/json) after the SubscriptionValidationEvent
	// handshake.
	EventGridSchema EventSchema = "EventGridSchema"
	// CloudEventSchemaV1_0 delivers CloudEvents 1.0 in structured mode
	// (application/cloudevents+json, one event per request; with
	// MaxEventsPerBatch above 1, application/cloudevents-batch+json arrays)
	// after the CloudEvents abuse-protection handshake (HTTP OPTIONS).
	CloudEventSchemaV1_0 EventSchema = "CloudEventSchemaV1_0"
)

// Event types Key Vault publishes for secrets (event-schema-key-vault.md),
// and Event Grid's validation event. Key Vault publishes no event when a
// secret's properties are updated or when it is deleted, recovered or
// restored, and neither does the server.
const (
	// EventSecretNewVersionCreated: a new secret or a new secret version
	// was created (Server.SetSecret and PUT .../secrets/NAME).
	EventSecretNewVersionCreated = "Microsoft.KeyVault.SecretNewVersionCreated"
	// EventSecretNearExpiry: the current version of a secret expires in
	// 30 days or less.
	EventSecretNearExpiry = "Microsoft.KeyVault.SecretNearExpiry"
	// EventSecretExpired: the current version of a secret has expired.
	EventSecretExpired = "Microsoft.KeyVault.SecretExpired"
	// EventSubscriptionValidation is the event of the Event Grid schema's
	// validation handshake.
	EventSubscriptionValidation = "Microsoft.EventGrid.SubscriptionValidationEvent"
)

// EventGridAppID is the application ID of Azure Event Grid's first-party
// app, the appid of the access tokens of Entra-protected deliveries.
const EventGridAppID = "4962773b-9cdb-44cf-a8bf-237846a00ab7"

// EventGridWebhookRole is the app role a webhook app grants Event Grid for
// Entra-protected delivery (secure-webhook-delivery.md); the server's
// delivery tokens carry it in their roles claim.
const EventGridWebhookRole = "AzureEventGridSecureWebhookSubscriber"

// nearExpiryWindow is how long before exp Key Vault publishes SecretNearExpiry.
const nearExpiryWindow = 30 * 24 * time.Hour

// emulatorSubscription and emulatorResourceGroup make the vaults' resource
// IDs, the system topics of their events.
const (
	emulatorSubscription  = "00000000-0000-0000-0000-000000000000"
	emulatorResourceGroup = "emulator"
)

// EventSubscription is an Event Grid event subscription on a vault's system
// topic, delivering to a webhook (see Server.SubscribeEvents). The limits
// are Event Grid's; a value outside them is an error, as Azure refuses it.
type EventSubscription struct {
	// Name is the event subscription's name, 3 to 64 letters, digits and
	// hyphens; Event Grid sends it upper-cased in aeg-subscription-name.
	// Default: "sub-" and a number.
	Name string
	// Endpoint is the webhook URL, http or https, on a loopback address
	// (127.0.0.0/8, ::1 or localhost): the server never dials anything
	// else. (Azure requires https; the emulator also takes http.)
	Endpoint string
	// Schema is the delivery schema. Default: EventGridSchema.
	Schema EventSchema
	// EventTypes filters the event types delivered (includedEventTypes).
	// Default: the three secret events (EventSecretNewVersionCreated,
	// EventSecretNearExpiry, EventSecretExpired).
	EventTypes []string
	// MaxEventsPerBatch is the most events one delivery carries, 1 to
	// 5000. Default: 1 (Event Grid does not batch unless asked).
	MaxEventsPerBatch int
	// MaxDeliveryAttempts is how many times an event is tried, 1 to 30.
	// Default: 30.
	MaxDeliveryAttempts int
	// EventTimeToLive drops an event not delivered in this time, checked
	// at its next scheduled attempt as Event Grid does; whole minutes, 1 to
	// 1440. Default: 1440 minutes (24 hours).
	EventTimeToLive time.Duration
	// DeliveryHeaders are static delivery properties: headers sent with
	// every request to the endpoint (handshakes included), for example a
	// shared secret. At most 10, values of at most 4096 bytes; names may
	// not start with "aeg-" nor be Content-Type, nor Authorization with
	// EntraAudience (delivery-properties.md).
	DeliveryHeaders map[string]string
	// EntraAudience turns on Microsoft Entra-protected delivery: every
	// request carries "Authorization: Bearer TOKEN", an RS256 access token
	// from the server's Entra ID (v1: iss https://sts.windows.net/TENANT/)
	// for this audience (the webhook app's application ID URI or app ID),
	// with appid EventGridAppID and roles [EventGridWebhookRole]. Its keys
	// are published at https://login.microsoftonline.com/TENANT/discovery/v2.0/keys
	// (and .../discovery/keys, /common/discovery/keys). Default: "" (none).
	EntraAudience string
	// EntraTenantID is the tenant of the webhook app, the token's tid and
	// issuer. Default: DefaultTenantID.
	EntraTenantID string
	// EntraTokenV2 makes the tokens v2 access tokens, as Entra ID issues
	// for a webhook app whose manifest sets accessTokenAcceptedVersion to 2:
	// iss https://login.microsoftonline.com/TENANT/v2.0, azp (not appid)
	// EventGridAppID, ver "2.0". Entra always puts the app's client ID in
	// a v2 token's aud: give EntraAudience as the client ID then (the
	// server does not map URIs to IDs). Default: false (v1 tokens, as for
	// the manifest's default null).
	EntraTokenV2 bool
	// RootCAs are the certificate authorities trusted for an https
	// Endpoint. Default: nil, the system's.
	RootCAs *x509.CertPool
}

// Event Grid's limits for an event subscription.
const (
	maxBatchEvents     = 5000
	maxAttemptsLimit   = 30
	maxTTL             = 1440 * time.Minute
	maxDeliveryHeaders = 10
	maxHeaderValue     = 4096
	maxQueuedEvents    = 10000 // per subscription; the emulator's bound
	maxDeliveryLog     = 10000 // EventDeliveries keeps the newest
)

var subNameRE = regexp.MustCompile(`^[A-Za-z0-9-]{3,64}$`)

// defaultEventTypes are the secret events a subscription gets by default.
var defaultEventTypes = []string{EventSecretNewVersionCreated, EventSecretNearExpiry, EventSecretExpired}

// errEventSubscription marks invalid subscriptions.
var errEventSubscription = errors.New("akvcredstest: invalid event subscription")

// withDefaults checks sub against Event Grid's limits and fills in defaults.
func (sub EventSubscription) withDefaults(n int) (EventSubscription, error) {
	if sub.Name == "" {
		sub.Name = fmt.Sprintf("sub-%d", n)
	}
	if sub.Schema == "" {
		sub.Schema = EventGridSchema
	}
	if len(sub.EventTypes) == 0 {
		sub.EventTypes = defaultEventTypes
	}
	sub.EventTypes = slices.Clone(sub.EventTypes)
	sub.MaxEventsPerBatch = orDefault(sub.MaxEventsPerBatch, 1)
	sub.MaxDeliveryAttempts = orDefault(sub.MaxDeliveryAttempts, maxAttemptsLimit)
	if sub.EventTimeToLive == 0 {
		sub.EventTimeToLive = maxTTL
	}
	if sub.EntraTenantID == "" {
		sub.EntraTenantID = DefaultTenantID
	}
	hdrs := make(map[string]string, len(sub.DeliveryHeaders))
	for k, v := range sub.DeliveryHeaders {
		hdrs[k] = v
	}
	sub.DeliveryHeaders = hdrs
	return sub, sub.check()
}

func orDefault(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// check reports the first of sub's settings outside Event Grid's limits.
func (sub EventSubscription) check() error {
	checks := []struct {
		bad  bool
		what string
	}{
		{!subNameRE.MatchString(sub.Name), "Name must be 3 to 64 letters, digits and hyphens"},
		{sub.Schema != EventGridSchema && sub.Schema != CloudEventSchemaV1_0, "Schema must be EventGridSchema or CloudEventSchemaV1_0"},
		{sub.MaxEventsPerBatch < 1 || sub.MaxEventsPerBatch > maxBatchEvents, "MaxEventsPerBatch must be 1 to 5000"},
		{sub.MaxDeliveryAttempts < 1 || sub.MaxDeliveryAttempts > maxAttemptsLimit, "MaxDeliveryAttempts must be 1 to 30"},
		{sub.EventTimeToLive < time.Minute || sub.EventTimeToLive > maxTTL || sub.EventTimeToLive%time.Minute != 0, "EventTimeToLive must be 1 to 1440 whole minutes"},
		{len(sub.DeliveryHeaders) > maxDeliveryHeaders, "at most 10 DeliveryHeaders"},
	}
	for _, c := range checks {
		if c.bad {
			return fmt.Errorf("%w: %s", errEventSubscription, c.what)
		}
	}
	if err := sub.checkDeliveryHeaders(); err != nil {
		return err
	}
	return checkEndpoint(sub.Endpoint)
}

// checkDeliveryHeaders refuses reserved header names and bad values.
func (sub EventSubscription) checkDeliveryHeaders() error {
	for k, v := range sub.DeliveryHeaders {
		lk := strings.ToLower(k)
		reserved := strings.HasPrefix(lk, "aeg-") || lk == "content-type" || (lk == "authorization" && sub.EntraAudience != "")
		if reserved || !validHeaderName(k) || len(v) > maxHeaderValue || strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("%w: delivery header %q is reserved, not a header name, or its value is invalid or over 4096 bytes", errEventSubscription, k)
		}
	}
	return nil
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if c > 0x7e || c <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return true
}

// checkEndpoint accepts http and https URLs on loopback hosts only.
func checkEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: Endpoint must be an http or https URL", errEventSubscription)
	}
	if !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("%w: Endpoint host %q is not a loopback address (the emulator dials nothing else)", errEventSubscription, u.Hostname())
	}
	return nil
}

// isLoopbackHost reports whether host is localhost or a loopback IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// VaultTopic returns the vault's resource ID, the topic (Event Grid schema)
// and source (CloudEvents) of its events:
// /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/emulator/providers/Microsoft.KeyVault/vaults/NAME.
func (s *Server) VaultTopic(vault string) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.KeyVault/vaults/%s",
		emulatorSubscription, emulatorResourceGroup, strings.ToLower(vault))
}

// DeliveryOutcome is what became of one delivery attempt.
type DeliveryOutcome string

// Delivery outcomes in EventDelivery.Outcome.
const (
	// DeliveryDelivered: the endpoint answered 200-204 (a handshake: as
	// required).
	DeliveryDelivered DeliveryOutcome = "Delivered"
	// DeliveryRetrying: the attempt failed and the events will be tried
	// again at NextAttempt.
	DeliveryRetrying DeliveryOutcome = "Retrying"
	// DeliveryDropped: the events are given up (no dead-letter location is
	// modelled): Reason says why.
	DeliveryDropped DeliveryOutcome = "Dropped"
	// DeliveryFailed: a validation handshake failed; the subscription was
	// not created.
	DeliveryFailed DeliveryOutcome = "Failed"
)

// EventDelivery is one request the server made to a webhook (or one drop
// of events without a request, when their time to live had passed). It
// holds no token, delivery header value or event body.
type EventDelivery struct {
	// SubscriptionID and Subscription identify the event subscription.
	SubscriptionID string `json:"subscriptionId"`
	Subscription   string `json:"subscription"`
	// Vault is the vault of the system topic.
	Vault string `json:"vault"`
	// Time is when the attempt was made, by the server's clock.
	Time time.Time `json:"time"`
	// EventType is the aeg-event-type header: "SubscriptionValidation" or
	// "Notification".
	EventType string `json:"aegEventType"`
	// DeliveryCount is the aeg-delivery-count header: 0 on the first try.
	DeliveryCount int `json:"deliveryCount"`
	// EventIDs, EventTypes and Subjects describe the events carried.
	EventIDs   []string `json:"eventIds"`
	EventTypes []string `json:"eventTypes"`
	Subjects   []string `json:"subjects"`
	// Status is the endpoint's HTTP status, 0 if there was none.
	Status int `json:"status"`
	// Error is the transport error, if any.
	Error string `json:"error,omitempty"`
	// Outcome and Reason (Event Grid's lastDeliveryOutcome or
	// deadLetterReason words: BadRequest, Unauthorized, TimedOut,
	// MaxDeliveryAttemptsExceeded, TimeToLiveExceeded, ...).
	Outcome DeliveryOutcome `json:"outcome"`
	Reason  string          `json:"reason,omitempty"`
	// NextAttempt is when a Retrying delivery is tried again.
	NextAttempt time.Time `json:"nextAttempt,omitzero"`
}

// eventHub holds the event subscriptions, their queues and the delivery log.
type eventHub struct {
	mu         sync.Mutex
	subs       []*eventSub
	n          int // subscriptions created, for default names
	deliveries []EventDelivery
	inflight   int
	changed    chan struct{} // closed and replaced on every change
	wake       chan struct{} // nudges the dispatcher
	started    bool
	closed     bool
	wg         sync.WaitGroup
	expiry     map[string]uint8 // vault/secret/version -> expiry flags sent
	clients    []*http.Client   // every webhook client, closed at Close
	tracked    map[string]bool  // vaults whose expiry is watched
}

// Expiry flags in eventHub.expiry.
const (
	sentNearExpiry uint8 = 1 << iota
	sentExpired
)

// eventSub is a created subscription and its queue.
type eventSub struct {
	id     string
	vault  string
	cfg    EventSubscription
	client *http.Client
	queue  []*queuedEvent
}

// queuedEvent is an event waiting for (or in) delivery to one subscription.
type queuedEvent struct {
	ev        kvEvent
	published time.Time
	due       time.Time
	attempts  int
	inflight  bool
}

// kvEvent is a Key Vault event, before it is shaped for a schema.
type kvEvent struct {
	id, eventType, subject, topic string
	time                          time.Time
	data                          keyVaultEventData
}

// keyVaultEventData is the data of a Key Vault secret event, with the
// property names of event-schema-key-vault.md (Id, VaultName, ... NBF,
// EXP: upper case, as Key Vault sends them).
type keyVaultEventData struct {
	ID         string `json:"Id"`
	VaultName  string `json:"VaultName"`
	ObjectType string `json:"ObjectType"`
	ObjectName string `json:"ObjectName"`
	Version    string `json:"Version"`
	NBF        *int64 `json:"NBF"`
	EXP        *int64 `json:"EXP"`
}

func (h *eventHub) init() {
	if h.changed == nil {
		h.changed = make(chan struct{})
		h.wake = make(chan struct{}, 1)
		h.expiry = map[string]uint8{}
		h.tracked = map[string]bool{}
	}
}

// changedLocked wakes FlushEvents waiters.
func (h *eventHub) changedLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// nudge wakes the dispatcher.
func (h *eventHub) nudge() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// logLocked appends a delivery record, keeping the newest maxDeliveryLog.
func (h *eventHub) logLocked(d EventDelivery) {
	if len(h.deliveries) >= maxDeliveryLog {
		h.deliveries = slices.Delete(h.deliveries, 0, len(h.deliveries)-maxDeliveryLog+1)
	}
	h.deliveries = append(h.deliveries, d)
}

// EventDeliveries returns a copy of the log of delivery attempts (handshakes
// included), oldest first; it keeps the newest 10,000.
func (s *Server) EventDeliveries() []EventDelivery {
	h := &s.events
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]EventDelivery, len(h.deliveries))
	for i, d := range h.deliveries {
		d.EventIDs, d.EventTypes, d.Subjects = slices.Clone(d.EventIDs), slices.Clone(d.EventTypes), slices.Clone(d.Subjects)
		out[i] = d
	}
	return out
}

// UnsubscribeEvents deletes an event subscription; its undelivered events
// are dropped (a delivery in flight completes). It reports whether the
// subscription existed.
func (s *Server) UnsubscribeEvents(id string) bool {
	h := &s.events
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	for i, sub := range h.subs {
		if sub.id == id {
			h.subs = slices.Delete(h.subs, i, i+1)
			sub.client.CloseIdleConnections()
			h.changedLocked()
			return true
		}
	}
	return false
}

// publish queues ev for every subscription of vault whose filter takes it.
func (s *Server) publish(vault string, ev kvEvent) {
	h := &s.events
	h.mu.Lock()
	defer h.mu.Unlock()
	queued := false
	for _, sub := range h.subs {
		if sub.vault != vault || !slices.Contains(sub.cfg.EventTypes, ev.eventType) {
			continue
		}
		if len(sub.queue) >= maxQueuedEvents {
			h.logLocked(EventDelivery{SubscriptionID: sub.id, Subscription: sub.cfg.Name, Vault: vault, Time: ev.time,
				EventType: "Notification", EventIDs: []string{ev.id}, EventTypes: []string{ev.eventType},
				Subjects: []string{ev.subject}, Outcome: DeliveryDropped, Reason: "QueueFull"})
			continue
		}
		sub.queue = append(sub.queue, &queuedEvent{ev: ev, published: ev.time, due: ev.time})
		queued = true
	}
	if queued {
		h.changedLocked()
		h.nudge()
	}
}

// hasSubscribers reports whether vault has an event subscription.
func (h *eventHub) hasSubscribers(vault string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, sub := range h.subs {
		if sub.vault == vault {
			return true
		}
	}
	return false
}

// secretEvent makes the event of eventType for a version of a secret.
func (s *Server) secretEvent(eventType, vault, name string, sv *secretVersion, now time.Time) kvEvent {
	vault = strings.ToLower(vault)
	return kvEvent{
		id:        newGUID(),
		eventType: eventType,
		subject:   name,
		topic:     s.VaultTopic(vault),
		time:      now,
		data: keyVaultEventData{
			ID:         "https://" + vault + clouds[0].vaultSuffix + "/secrets/" + name + "/" + sv.version,
			VaultName:  vault,
			ObjectType: "Secret",
			ObjectName: name,
			Version:    sv.version,
			NBF:        unixPtr(sv.nbf),
			EXP:        unixPtr(sv.exp),
		},
	}
}

// newVersionCreated publishes SecretNewVersionCreated for a new version.
func (s *Server) newVersionCreated(vault, name string, sv secretVersion) {
	vault = strings.ToLower(vault)
	if !s.events.hasSubscribers(vault) {
		return
	}
	s.publish(vault, s.secretEvent(EventSecretNewVersionCreated, vault, name, &sv, s.now()))
}
