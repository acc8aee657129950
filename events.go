package akvcreds

// The Event Grid receiver: the Client as an http.Handler that takes Key
// Vault's events from Azure Event Grid and turns each into a targeted,
// rate-bounded read through the engine (see queue.go for the pending set
// and the token bucket).

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/akvcreds/akvcreds/internal/entra"
	"github.com/akvcreds/akvcreds/internal/ident"
)

const (
	// maxEventBody is the largest delivery accepted: Event Grid's largest
	// batch (1 MB).
	maxEventBody = 1 << 20
	// defaultReadsPerSecond is EventGrid.MaxReadsPerSecond's default.
	defaultReadsPerSecond = 5
	// defaultMaxPending is EventGrid.MaxPending's default.
	defaultMaxPending = 1000
	// reconcileGap is how often, at most, events make a full reconcile.
	reconcileGap = time.Minute
	// maxValidationCode bounds the validation code echoed in a handshake.
	maxValidationCode = 512
)

// The Event Grid event types the receiver acts on.
const (
	eventValidation     = "Microsoft.EventGrid.SubscriptionValidationEvent"
	eventNewVersion     = "Microsoft.KeyVault.SecretNewVersionCreated"
	eventNearExpiry     = "Microsoft.KeyVault.SecretNearExpiry"
	eventExpired        = "Microsoft.KeyVault.SecretExpired"
	eventPolicyChanged  = "Microsoft.KeyVault.VaultAccessPolicyChanged"
	keyVaultTopicPrefix = "/providers/microsoft.keyvault/vaults/"
)

// EventGrid configures the Event Grid receiver of WithEventGrid: how
// deliveries are authenticated, and how many reads events may cause.
//
// Authentication is one of two modes, and every request — the validation
// handshakes included — must pass it, else it is answered 401 and changes
// nothing:
//
//   - Microsoft Entra-protected delivery (TenantID and Audience): the event
//     subscription is created with the webhook application's tenant and
//     application ID or ID URI ("az eventgrid system-topic
//     event-subscription create ... --azure-active-directory-tenant-id
//     TENANT --azure-active-directory-application-id-or-uri AUDIENCE"), and
//     Event Grid sends an Entra ID access token in the Authorization header
//     of every request. The token must be signed (RS256 only) by one of the
//     tenant's published keys — fetched through the Client's HTTP client
//     from the cloud's login host (its OpenID configuration, then
//     /{tenant}/discovery/v2.0/keys), cached a day and fetched again for an
//     unknown key ID at most every 5 minutes — be issued by the tenant
//     (https://sts.windows.net/{tenant}/ or
//     https://login.microsoftonline.com/{tenant}/v2.0, per cloud), carry
//     Audience in aud, be within exp and nbf (2 minutes' skew), carry the
//     app role AzureEventGridSecureWebhookSubscriber (which Microsoft's
//     setup script assigns to Event Grid's service principal) and be at
//     most 16 KiB.
//   - A shared secret (SharedSecret), for setups without Entra: set it as
//     the static, secret delivery property (custom header) Authorization
//     with the value "Bearer " + SharedSecret ("az eventgrid
//     system-topic event-subscription create ... --delivery-attribute-mapping
//     Authorization static 'Bearer SECRET' true"). It is compared in
//     constant time; a secret in the URL's query is not accepted.
type EventGrid struct {
	// TenantID is the webhook application's tenant, as a GUID: the issuer
	// of a token names it.
	TenantID string
	// Audience is the webhook application's application ID URI
	// ("api://akvcreds-webhook") or client ID: the value given to the event
	// subscription, which Entra puts in the token's aud (v2.0 tokens
	// always carry the client ID).
	Audience string
	// SharedSecret is the secret of the Authorization delivery property:
	// 16 to 4,000 visible ASCII characters.
	SharedSecret string

	// MaxReadsPerSecond bounds the Key Vault reads events cause, per
	// running Watch (and for WithCache's refreshes): a token bucket of
	// that rate holding at most that many reads (rounded up). Default: 5.
	MaxReadsPerSecond float64
	// MaxPending bounds the secrets waiting for their read; when more are
	// named, they are dropped for one full reconcile (a Watch cycle that
	// lists). Default: 1,000.
	MaxPending int
}

// WithEventGrid makes the Client an Event Grid webhook receiver (see
// Client.ServeHTTP) with the authentication and bounds of cfg. Exactly one
// authentication mode must be given: SharedSecret, or TenantID and
// Audience. Default: no receiver (ServeHTTP answers 404).
func WithEventGrid(cfg EventGrid) Option {
	return newOption("WithEventGrid", func(s *settings) error {
		if err := cfg.check(); err != nil {
			return err
		}
		c := cfg
		s.eventGrid = &c
		return nil
	})
}

// check reports every problem with cfg, naming the field, never showing
// the secret.
func (cfg *EventGrid) check() error {
	var errs []error
	entraMode := cfg.TenantID != "" || cfg.Audience != ""
	switch {
	case entraMode && cfg.SharedSecret != "":
		errs = append(errs, errors.New("give either SharedSecret or TenantID and Audience (Microsoft Entra-protected delivery), not both"))
	case !entraMode && cfg.SharedSecret == "":
		errs = append(errs, errors.New("no authentication: give SharedSecret, or TenantID and Audience (Microsoft Entra-protected delivery)"))
	case entraMode:
		errs = append(errs, checkEntra(cfg.TenantID, cfg.Audience)...)
	default:
		if err := checkSharedSecret(cfg.SharedSecret); err != nil {
			errs = append(errs, err)
		}
	}
	r := cfg.MaxReadsPerSecond
	if math.IsNaN(r) || r < 0 || r > 1000 {
		errs = append(errs, fmt.Errorf("MaxReadsPerSecond %v is out of range: use more than 0 and at most 1000 (0: the default, %d)", r, defaultReadsPerSecond))
	}
	if cfg.MaxPending < 0 || cfg.MaxPending > 100000 {
		errs = append(errs, fmt.Errorf("MaxPending %d is out of range: use 1 to 100000 (0: the default, %d)", cfg.MaxPending, defaultMaxPending))
	}
	return errors.Join(errs...)
}

func checkEntra(tenant, audience string) []error {
	var errs []error
	if tenant == "" {
		errs = append(errs, errors.New("the TenantID is empty: Microsoft Entra-protected delivery needs TenantID and Audience"))
	} else if err := entra.CheckTenantID(tenant); err != nil {
		errs = append(errs, fmt.Errorf("TenantID: %w", err))
	}
	switch {
	case audience == "":
		errs = append(errs, errors.New("the Audience is empty: give the webhook application's application ID URI or client ID"))
	case len(audience) > 256 || strings.ContainsFunc(audience, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
		errs = append(errs, errors.New("the Audience must be at most 256 visible ASCII characters (an application ID URI or client ID)"))
	}
	return errs
}

func checkSharedSecret(s string) error {
	if len(s) < 16 || len(s) > 4000 || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return fmt.Errorf("the SharedSecret must be 16 to 4000 visible ASCII characters, without spaces (it has %d bytes)", len(s))
	}
	return nil
}

// receiver is the Client's Event Grid receiver.
type receiver struct {
	c          *Client
	want       [sha256.Size]byte // SHA-256 of the expected Authorization value (shared secret)
	entra      *entra.Validator  // nil: shared secret
	rate       float64
	maxPending int

	mu       sync.Mutex
	watchers map[*eventQueue]scope // the running Watches
	cacheQ   *eventQueue           // nil without WithCache
	cache    scope

	accepted, ignored, rejected atomic.Int64
	lastWarn                    atomic.Int64 // when a rejection was last logged as a warning (Unix ns)
}

// newReceiver makes the receiver of cfg for c.
func newReceiver(c *Client, cfg EventGrid) *receiver {
	rc := &receiver{c: c, rate: cfg.MaxReadsPerSecond, maxPending: cfg.MaxPending, watchers: map[*eventQueue]scope{}}
	if rc.rate == 0 {
		rc.rate = defaultReadsPerSecond
	}
	if rc.maxPending == 0 {
		rc.maxPending = defaultMaxPending
	}
	if cfg.SharedSecret != "" {
		rc.want = sha256.Sum256([]byte("bearer " + cfg.SharedSecret))
	} else {
		rc.entra = entra.New(entra.Config{HTTPClient: c.hc, LoginHost: c.cloud.AuthorityHost, STSHost: c.cloud.STSHost,
			TenantID: cfg.TenantID, Audience: cfg.Audience, Now: c.now})
	}
	if c.cache != nil {
		rc.cacheQ = rc.newQueue()
		rc.cache = scopeOf(c.vaults, c.secrets)
	}
	return rc
}

func (rc *receiver) newQueue() *eventQueue {
	return newEventQueue(rc.rate, rc.maxPending, rc.c.now)
}

// ServeHTTP receives Azure Event Grid deliveries of Key Vault's events, when
// the Client was made with WithEventGrid (without it: 404). Mount the
// Client on the program's HTTPS server at the URL given to the event
// subscription.
//
// Every request is authenticated first (see EventGrid): a failure is 401
// (503 while the tenant's signing keys cannot be fetched, so Event Grid
// retries) and changes nothing. Then:
//
//   - POST of an Event Grid schema array (aeg-event-type: Notification or
//     SubscriptionValidation) or of CloudEvents 1.0 in structured JSON, one
//     event or a batch. The handshake Microsoft.EventGrid.SubscriptionValidationEvent
//     is answered 200 {"validationResponse": CODE}; other deliveries are
//     answered 200 at once, before any read. A body over 1 MiB is 413, a
//     malformed one 400 (Event Grid does not retry those).
//   - OPTIONS with WebHook-Request-Origin, the CloudEvents abuse-protection
//     handshake: 200 with WebHook-Allowed-Origin (the origin asked for),
//     WebHook-Allowed-Rate: * and Allow: POST, OPTIONS.
//   - Any other method: 405.
//
// Of the events, only Microsoft.KeyVault.SecretNewVersionCreated,
// SecretNearExpiry and SecretExpired, for a secret the Client watches,
// and VaultAccessPolicyChanged, for a vault it watches, have an effect;
// the others are ignored (and counted in the log). What a Client watches
// is what a running Watch reads (its FetchNames, else WithVaults and
// WithSecrets); without a Watch, with WithCache, the Client's vaults and
// secrets; without either, nothing: events are accepted and ignored. An
// event is accepted only when its topic (source) is the vault
// /subscriptions/.../providers/Microsoft.KeyVault/vaults/VAULT, its
// VaultName is that vault and its Id is a secret ID of that vault in the
// Client's cloud.
//
// An event never supplies a value, a version or a time: it only names a
// secret, which is then read through the engine (pacing, retries,
// redaction) — by the running Watch at once, in a cycle that reads only the
// named secrets (Batch.Trigger "event"), or, with WithCache and no Watch,
// into the cache in the background, so the next fetch gets the new version.
// VaultAccessPolicyChanged makes a full reconcile: a Watch cycle that lists
// (Trigger "reconcile"), or, for the cache, dropping the vault's entries.
//
// The bound on amplification: events for one secret that arrive before its
// read starts coalesce into that one read, and reads are taken from a token
// bucket of EventGrid.MaxReadsPerSecond per Watch. So a flood of N forged or
// replayed events costs at most MaxReadsPerSecond reads a second (after a
// first burst of as many), at most one read per secret per pending window,
// and at most one full reconcile a minute — whatever N is.
func (c *Client) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := c.events
	if rc == nil {
		http.NotFound(w, r)
		return
	}
	if why, status := rc.authenticate(r); why != "" {
		c.log.LogAttrs(r.Context(), rc.rejectLevel(), "akvcreds: event grid: delivery rejected",
			slog.String("method", r.Method), slog.String("why", why), slog.Int("status", status),
			slog.Int64("rejectedTotal", rc.rejected.Add(1)))
		if status == http.StatusUnauthorized && rc.entra != nil {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	switch r.Method {
	case http.MethodOptions:
		rc.options(w, r)
	case http.MethodPost:
		rc.post(w, r)
	default:
		w.Header().Set("Allow", "POST, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// rejectLevel is the level of a rejection's log record: a warning at most
// once a minute, so that a flood of unauthenticated requests cannot flood
// the log; the others are debug records.
func (rc *receiver) rejectLevel() slog.Level {
	now := rc.c.now().UnixNano()
	last := rc.lastWarn.Load()
	if (last == 0 || now-last >= int64(time.Minute) || now < last) && rc.lastWarn.CompareAndSwap(last, now) {
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

// authenticate checks a request's Authorization header; it returns why it
// is refused ("" when it is not), never quoting the header, and the status
// to answer: 401, or 503 when the tenant's keys cannot be fetched (Event
// Grid retries a 503, but drops an event answered 401).
func (rc *receiver) authenticate(r *http.Request) (string, int) {
	auths := r.Header.Values("Authorization")
	if len(auths) != 1 {
		return fmt.Sprintf("%d Authorization headers, want 1", len(auths)), http.StatusUnauthorized
	}
	if rc.entra == nil {
		got := sha256.Sum256([]byte(lowerScheme(auths[0])))
		if subtle.ConstantTimeCompare(got[:], rc.want[:]) != 1 {
			return "the Authorization header does not carry the shared secret", http.StatusUnauthorized
		}
		return "", 0
	}
	scheme, tok, ok := strings.Cut(auths[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "the Authorization header is not a bearer token", http.StatusUnauthorized
	}
	err := rc.entra.Validate(r.Context(), strings.TrimSpace(tok))
	switch {
	case err == nil:
		return "", 0
	case errors.Is(err, entra.ErrKeys):
		return err.Error(), http.StatusServiceUnavailable
	}
	return err.Error(), http.StatusUnauthorized
}

// lowerScheme lower-cases the scheme of an Authorization value.
func lowerScheme(v string) string {
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok {
		return v
	}
	return strings.ToLower(scheme) + " " + rest
}

// options answers the CloudEvents abuse-protection handshake.
func (rc *receiver) options(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("WebHook-Request-Origin")
	if !dnsName(origin) {
		http.Error(w, "an OPTIONS request must carry WebHook-Request-Origin with a DNS name", http.StatusBadRequest)
		return
	}
	w.Header().Set("Allow", "POST, OPTIONS")
	w.Header().Set("WebHook-Allowed-Origin", origin)
	w.Header().Set("WebHook-Allowed-Rate", "*")
	w.WriteHeader(http.StatusOK)
}

// dnsName reports whether s looks like a DNS name (letters, digits,
// hyphens and dots, at most 253 bytes).
func dnsName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isNameChar(c) && c != '.' {
			return false
		}
	}
	return true
}

func isNameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
}

// post answers a delivery.
func (rc *receiver) post(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, fmt.Sprintf("the body is larger than %d bytes", maxEventBody), http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, "reading the body failed", http.StatusBadRequest)
		return
	}
	events, err := parseEvents(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	aeg := r.Header.Get("aeg-event-type")
	if code, ok, err := validationCode(events, aeg); ok || err != nil {
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(map[string]string{"validationResponse": code})
		return
	}
	if aeg != "" && aeg != "Notification" {
		http.Error(w, "aeg-event-type "+fmt.Sprintf("%q", limit(aeg, 40))+" does not match the events delivered", http.StatusBadRequest)
		return
	}
	accepted, ignored := 0, 0
	for i := range events {
		if rc.handle(&events[i]) {
			accepted++
		} else {
			ignored++
		}
	}
	rc.accepted.Add(int64(accepted))
	rc.ignored.Add(int64(ignored))
	w.WriteHeader(http.StatusOK)
	if rc.c.log.Enabled(r.Context(), slog.LevelDebug) {
		rc.c.log.LogAttrs(r.Context(), slog.LevelDebug, "akvcreds: event grid: delivery",
			slog.Int("events", len(events)), slog.Int("accepted", accepted), slog.Int("ignored", ignored),
			slog.Int64("acceptedTotal", rc.accepted.Load()), slog.Int64("ignoredTotal", rc.ignored.Load()))
	}
}

// limit bounds s for a message.
func limit(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// wireEvent is one delivered event in either schema: the Event Grid schema
// (eventType, topic) or CloudEvents 1.0 (specversion, type, source).
type wireEvent struct {
	ID          string          `json:"id"`
	Subject     string          `json:"subject"`
	Data        json.RawMessage `json:"data"`
	EventType   string          `json:"eventType"`
	Topic       string          `json:"topic"`
	SpecVersion string          `json:"specversion"`
	Type        string          `json:"type"`
	Source      string          `json:"source"`
}

// kind returns the event's type and source in either schema.
func (e *wireEvent) kind() (typ, source string) {
	if e.SpecVersion != "" {
		return e.Type, e.Source
	}
	return e.EventType, e.Topic
}

// parseEvents parses a delivery: a JSON array of events (Event Grid schema,
// or a CloudEvents batch) or one CloudEvent.
func parseEvents(body []byte) ([]wireEvent, error) {
	body = bytes.TrimLeft(body, " \t\r\n")
	var events []wireEvent
	switch {
	case len(body) == 0:
		return nil, errors.New("the body is empty")
	case body[0] == '[':
		if err := json.Unmarshal(body, &events); err != nil {
			return nil, errors.New("the body is not a JSON array of events")
		}
	case body[0] == '{':
		var e wireEvent
		if err := json.Unmarshal(body, &e); err != nil {
			return nil, errors.New("the body is not a JSON event")
		}
		events = []wireEvent{e}
	default:
		return nil, errors.New("the body is neither a JSON array of events nor a JSON event")
	}
	if len(events) == 0 {
		return nil, errors.New("the delivery holds no event")
	}
	for i := range events {
		if err := events[i].check(); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
	}
	return events, nil
}

// check reports an event that fits neither schema.
func (e *wireEvent) check() error {
	switch {
	case e.SpecVersion != "" && e.SpecVersion != "1.0":
		return fmt.Errorf("specversion %q is not 1.0", limit(e.SpecVersion, 20))
	case e.SpecVersion != "" && (e.Type == "" || e.Source == "" || e.ID == ""):
		return errors.New("a CloudEvent needs id, source and type")
	case e.SpecVersion == "" && (e.EventType == "" || e.ID == ""):
		return errors.New("an Event Grid event needs id and eventType (or a CloudEvent specversion)")
	}
	return nil
}

// validationCode returns the code of a subscription validation delivery
// (ok); err for a delivery that mixes it with other events or contradicts
// its aeg-event-type header.
func validationCode(events []wireEvent, aeg string) (code string, ok bool, err error) {
	n := 0
	for i := range events {
		if typ, _ := events[i].kind(); typ == eventValidation {
			n++
		}
	}
	switch {
	case n == 0 && aeg == "SubscriptionValidation":
		return "", false, errors.New("aeg-event-type is SubscriptionValidation, but the delivery holds no validation event")
	case n == 0:
		return "", false, nil
	case n != len(events) || n > 1:
		return "", false, errors.New("a validation event must come alone")
	case aeg != "" && aeg != "SubscriptionValidation":
		return "", false, errors.New("a validation event must come with aeg-event-type SubscriptionValidation")
	}
	var d struct {
		ValidationCode string `json:"validationCode"`
	}
	if json.Unmarshal(events[0].Data, &d) != nil || d.ValidationCode == "" || len(d.ValidationCode) > maxValidationCode {
		return "", false, fmt.Errorf("the validation event needs data.validationCode (1 to %d characters)", maxValidationCode)
	}
	return d.ValidationCode, true, nil
}

// keyVaultData is the data of a Key Vault event. encoding/json matches
// names without regard to case, so Azure's "Id", "VaultName", ... match.
type keyVaultData struct {
	ID         string `json:"id"`
	VaultName  string `json:"vaultName"`
	ObjectType string `json:"objectType"`
	ObjectName string `json:"objectName"`
}

// handle routes one event; it reports whether it had an effect.
func (rc *receiver) handle(e *wireEvent) bool {
	typ, source := e.kind()
	switch typ {
	case eventNewVersion, eventNearExpiry, eventExpired:
		vault, secret, ok := rc.secretOf(e, source)
		return ok && rc.route(vault, secret)
	case eventPolicyChanged:
		vault, ok := rc.vaultOf(e, source)
		return ok && rc.route(vault, "")
	}
	return false
}

// topicVault returns the vault of a Key Vault topic (or CloudEvent source):
// /subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.KeyVault/vaults/{vault}.
func topicVault(topic string) (string, bool) {
	i := strings.LastIndex(strings.ToLower(topic), keyVaultTopicPrefix)
	if !strings.HasPrefix(topic, "/subscriptions/") || i < 0 {
		return "", false
	}
	name := topic[i+len(keyVaultTopicPrefix):]
	if ident.VaultName(name) != nil {
		return "", false
	}
	return strings.ToLower(name), true
}

// vaultOf returns the vault an event's topic, data.VaultName and (when
// present) data.Id agree on.
func (rc *receiver) vaultOf(e *wireEvent, source string) (string, bool) {
	vault, ok := topicVault(source)
	var d keyVaultData
	if !ok || json.Unmarshal(e.Data, &d) != nil || !strings.EqualFold(d.VaultName, vault) {
		return "", false
	}
	if d.ID != "" {
		if name, _, err := ident.Vault(d.ID, rc.c.cloud); err != nil || name != vault {
			return "", false
		}
	}
	return vault, true
}

// secretOf returns the vault and secret of a secret event whose topic,
// data.VaultName, data.ObjectName (or subject) and data.Id all agree, the
// Id being a secret ID of the vault in the Client's cloud.
func (rc *receiver) secretOf(e *wireEvent, source string) (vault, secret string, ok bool) {
	vault, ok = topicVault(source)
	var d keyVaultData
	if !ok || json.Unmarshal(e.Data, &d) != nil || !strings.EqualFold(d.VaultName, vault) ||
		(d.ObjectType != "" && !strings.EqualFold(d.ObjectType, "Secret")) {
		return "", "", false
	}
	id, err := ident.ParseIdentifier(d.ID, rc.c.cloud)
	if err != nil || !strings.Contains(d.ID, "://") || id.Vault != vault {
		return "", "", false
	}
	name := d.ObjectName
	if name == "" {
		name = e.Subject
	}
	if name != "" && !strings.EqualFold(name, id.Secret) {
		return "", "", false
	}
	return vault, id.Secret, true
}

// route hands a secret (or, with secret "", a vault's reconcile) to every
// running Watch that watches it, or, with none, to the cache's refresher.
// It reports whether anything watches it.
func (rc *receiver) route(vault, secret string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	routed := false
	for q, sc := range rc.watchers {
		if sc.has(vault, secret) {
			q.push(vault, secret)
			routed = true
		}
	}
	if len(rc.watchers) > 0 || rc.cacheQ == nil || !rc.cache.has(vault, secret) {
		return routed
	}
	if rc.cacheQ.push(vault, secret) {
		go rc.refreshCache(rc.cacheQ)
	}
	return true
}

// attach registers a running Watch of sc; detach ends it.
func (rc *receiver) attach(sc scope) (q *eventQueue, detach func()) {
	q = rc.newQueue()
	rc.mu.Lock()
	rc.watchers[q] = sc
	rc.mu.Unlock()
	return q, func() {
		rc.mu.Lock()
		delete(rc.watchers, q)
		rc.mu.Unlock()
	}
}

// scope is what a Watch (or the cache) watches: by vault, nil for every
// secret, else the lower-case names of the unpinned named secrets.
type scope map[string]map[string]bool

func scopeOf(vaults []vaultRef, secrets []secretRef) scope {
	sc := scope{}
	for _, v := range vaults {
		sc[v.name] = namedSet(secrets)
	}
	return sc
}

func namedSet(secrets []secretRef) map[string]bool {
	if secrets == nil {
		return nil
	}
	set := map[string]bool{}
	for _, s := range secrets {
		if s.version == "" { // a pinned version never changes
			set[strings.ToLower(s.name)] = true
		}
	}
	return set
}

// has reports whether the scope holds the secret (or, for "", the vault).
func (sc scope) has(vault, secret string) bool {
	named, ok := sc[vault]
	switch {
	case !ok:
		return false
	case secret == "" || named == nil:
		return true
	}
	return named[strings.ToLower(secret)]
}
