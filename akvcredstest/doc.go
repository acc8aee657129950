// Package akvcredstest is an in-process emulator of Azure Key Vault (secrets
// data plane), Microsoft Entra ID (client-credentials token endpoint) and the
// Azure managed-identity endpoint (IMDS), in the spirit of net/http/httptest.
//
// The emulator answers as Azure does, so that code tested against it behaves
// the same against Azure: the same URLs, status codes, headers, JSON shapes
// and error texts. Where convenience and Azure differ, it follows Azure.
//
// # Serving
//
// NewServer (or NewTestServer in tests) starts two listeners on 127.0.0.1:
//
//   - a TLS listener, with a certificate from a per-server in-memory CA, that
//     plays every vault (NAME.vault.azure.net, NAME.vault.azure.cn,
//     NAME.vault.usgovcloudapi.net) and the Entra ID login hosts
//     (login.microsoftonline.com, login.chinacloudapi.cn,
//     login.microsoftonline.us, login.windows.net, ...). Requests are routed by
//     their Host, so production URLs work unchanged, including the Azure SDK's
//     check that a vault's host ends with its challenge's resource host;
//   - a plain-HTTP listener that plays IMDS (169.254.169.254).
//
// Server.Client returns an *http.Client that trusts only the server's CA and
// dials those host names to the listeners. It refuses every other address
// with an error (listed by RefusedDials), so a test cannot reach the network.
// NewTestServer closes the server at the end of the test and then fails the
// test if any dial was refused, naming the addresses: code under test that
// reached for the network fails its test without any check of its own. It
// takes a TB, which *testing.T, *testing.B and *testing.F satisfy; the
// package does not import testing, so programs can embed the emulator.
// A vault host whose vault was never added fails to dial with a "no such
// host" DNS error, as an unknown vault does in Azure. Give the client to the
// Azure SDK as its transport:
//
//	opts := azcore.ClientOptions{Transport: s.Client()}
//	cred, _ := azidentity.NewClientSecretCredential(akvcredstest.DefaultTenantID,
//		akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret,
//		&azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
//	client, _ := azsecrets.NewClient("https://myvault.vault.azure.net", cred,
//		&azsecrets.ClientOptions{ClientOptions: opts})
//
// # Key Vault
//
// Supported, the whole secrets API: GET /secrets/{name}[/] (latest), GET
// /secrets/{name}/{version} (?outContentType=application/x-pem-file
// converts a certificate's PFX to PEM; anything else is Azure's 400), GET
// /secrets (list, WithPageSize items a page, nextLink
// "https://NAME.vault.azure.net:443/secrets?api-version=...&$skiptoken=..." and
// "nextLink":null on the last page), GET /secrets/{name}/versions (sorted by
// version id, as Azure lists them; an unknown secret has none), PUT
// /secrets/{name}, PATCH /secrets/{name}/{version} (update enabled, nbf, exp,
// contentType, tags; no version means the latest), DELETE /secrets/{name},
// POST /secrets/{name}/backup, POST /secrets/restore, GET /deletedsecrets,
// GET and DELETE (purge) /deletedsecrets/{name} and POST
// /deletedsecrets/{name}/recover. Any api-version is accepted and query keys
// may be percent-encoded. Answers, codes and messages follow Azure's
// recorded responses (testdata/recordings).
//
// # Certificates
//
// SetCertificate creates a Key Vault certificate, or a new version of it (a
// renewal), as its CertificateSpec says: an RSA (2048, 3072, 4096) or ECDSA
// (P-256, P-384, P-521) key, a subject and DNS names, a validity that may
// lie in the past, self-signed or issued by the server's CA
// (CertificateCA, the CA of CACertPEM). As in Key Vault, its private key
// and chain are read through its backing secret, /secrets/{name}, whose
// version is the certificate's: contentType application/x-pkcs12 (the
// base64 of a PKCS#12 file without a password) or application/x-pem-file
// (the PKCS#8 private key, then the certificates, leaf first), "managed":
// true, "kid": "https://NAME.vault.azure.net/keys/{name}/{version}", nbf
// and exp the certificate's validity and, on a renewal, "previousVersion".
// A get with ?outContentType=application/x-pem-file converts a
// certificate's PKCS#12 secret to PEM (a PFX a client stored itself is not
// converted: 400); every other transformation is 400 BadParameter ("The
// 'PEM' to 'PFX' transformation is not supported. Only PFX to PEM
// transformation is supported."). GET /certificates/{name}[/{version}]
// answers the certificate as Key Vault does (id, kid, sid, x5t, cer,
// attributes, and the policy it was made with: issuer "Self", or "Unknown"
// for the CA's) or 404 CertificateNotFound; it needs the Get permission
// (access policy "certificates get", RBAC certificates/read). The rest of
// the certificates API and the keys API are not emulated.
//
// Soft delete is always on, as in every vault today: a delete keeps the
// secret with all its versions among the vault's deleted secrets until its
// scheduledPurgeDate, the vault's retention (VaultRetentionDays, 7 to 90
// days, default 90) after the delete by the server's clock (WithClock); it
// is gone from gets and listings; PUT or restore of its name is 409 Conflict
// (ObjectIsDeletedButRecoverable) until it is recovered or purged; a purge
// is 403 under purge protection (VaultPurgeProtection). Every secret's
// recoveryLevel and recoverableDays follow the settings:
// "Recoverable+Purgeable" (90 days), "Recoverable" (90, purge protection),
// "CustomizedRecoverable+Purgeable" (7 to 89) or "CustomizedRecoverable".
// Deletes, recoveries and purges complete at once, so clients that poll for
// them (as the Azure SDKs' tests and long-running operations do) see the
// final state on their first poll. Server.DeleteSecret,
// RecoverDeletedSecret and PurgeDeletedSecret do the same from a test.
//
// A backup blob is opaque and bound to its server: it starts as Azure's
// does (the tag AzureKeyVaultSecretBackupV1.microsoft.com and a JWE), and
// its contents are encrypted and authenticated (A256CBC-HS512, HMAC-SHA-512)
// with a key of the server, so a changed blob, or one from another server,
// is refused with Azure's 400 "Malformed backup blob". Restore brings back
// every version with its identifier and times; onto a name in use it is 409
// Conflict, as in Azure.
//
// Checks run in Azure's order: a request without an Authorization header gets
// the 401 challenge (WWW-Authenticate: Bearer
// authorization="https://LOGIN-HOST/TENANT", resource="https://vault.azure.net"
// or its cloud's equivalent) before anything else; then the bearer token is
// checked (issued by this server, not expired by the server's clock, audience
// of the vault's cloud, issuer of the vault's tenant), each failure a 401 with
// Key Vault's message (AKV10046, [TokenExpired], AKV10022, AKV10032); then the
// firewall (403 ForbiddenByFirewall), the rate limit (429 Throttled), the
// request's names (400 BadParameter), permissions (403 ForbiddenByRbac or
// AccessDenied), and finally the secret (404 SecretNotFound, 403
// SecretDisabled). Expired secrets are returned, as in Azure.
//
// # Entra ID and IMDS
//
// Login hosts serve instance discovery (GET /common/discovery/instance), the
// OpenID configuration (v2.0 and v1 forms) and the token endpoint (POST
// /{tenant}/oauth2/v2.0/token, and v1 /{tenant}/oauth2/token) for the
// client-credentials grant with a client secret, a certificate assertion
// (AddAppCertificate) or a federated token (AddFederatedCredential;
// IssueFederatedToken plays the external issuer, e.g. a Kubernetes cluster).
// Unknown form fields are ignored. Errors carry Entra's AADSTS codes and
// texts (AADSTS7000215, AADSTS700016, AADSTS90002, AADSTS700027,
// AADSTS700211, AADSTS700212, AADSTS700213, AADSTS700024, ...).
//
// IMDS serves GET /metadata/identity/oauth2/token for the system-assigned
// identity and for user-assigned identities selected by client_id, object_id,
// msi_res_id or mi_res_id; it requires the "Metadata: true" header.
//
// The Azure SDK's managed-identity client caches tokens per identity in a
// package-global cache: in one test binary, use a distinct user-assigned
// identity per test (AddManagedIdentity) and the system-assigned identity at
// most once.
//
// # Faults and the request log
//
// WithLatency delays every request; Inject adds one-off or repeated faults
// (a status with Azure's error body, a dropped connection, a truncated
// response, extra delay); SetRateLimit throttles a vault. Requests, Count
// and ResetRequests expose what the server received, for assertions that
// count requests rather than time them; each Request has a RequestKind
// (KindChallenge, KindGetSecret, KindToken, KindIMDS, ...):
//
//	if n := s.Count(akvcredstest.KindToken); n != 1 {
//		t.Errorf("%d token requests, want 1", n)
//	}
//
// For a program outside the test (the akvcreds command's "emulator --log
// FILE" and "--admin-addr"), WithRequestLog writes each request as a line of
// JSON and RequestLogHandler serves the log read-only; neither ever holds a
// query, header, body, token or secret value.
//
// # Event Grid events
//
// Each vault is an Event Grid system topic. SubscribeEvents creates an
// event subscription delivering to a loopback webhook (the server dials no
// other address), after Event Grid's validation handshake for the schema
// (EventGridSchema: SubscriptionValidationEvent answered with
// validationResponse; CloudEventSchemaV1_0: OPTIONS with
// WebHook-Request-Origin answered with WebHook-Allowed-Origin). The server
// publishes what Key Vault publishes for secrets: SecretNewVersionCreated
// on every new version (SetSecret or PUT), SecretNearExpiry 30 days before
// the current version's exp and SecretExpired at exp, by the server's
// clock; nothing on update, delete, recover or restore. Deliveries carry
// Event Grid's headers (aeg-event-type, aeg-subscription-name,
// aeg-delivery-count, aeg-data-version, aeg-metadata-version), the
// subscription's delivery headers and, with EntraAudience, an RS256 bearer
// token verifiable with the tenant's published keys
// (https://login.microsoftonline.com/TENANT/discovery/v2.0/keys). Failures
// are retried on Event Grid's schedule (10 s, 30 s, 1 min, 5 min, 10 min,
// 30 min, 1 h, 3 h, 6 h, then every 12 h) up to MaxDeliveryAttempts and the
// time to live; 400, 401 and 413 drop the events at once. Deliveries run
// on the server's goroutines as soon as an event is published; a test
// waits for them, and for retries due after it advanced a WithClock clock,
// with FlushEvents, and checks them with EventDeliveries:
//
//	id, err := s.SubscribeEvents(ctx, "kv", akvcredstest.EventSubscription{Endpoint: hook.URL})
//	s.SetSecret("kv", "db-password", "new value")
//	err = s.FlushEvents(ctx) // the webhook has had the SecretNewVersionCreated event
//
// # Seed files
//
// Server.LoadSeed reads a JSON description of tenants, apps, managed
// identities, vaults, secrets, permissions and rate limits, for standalone
// use (the akvcreds command's "emulator --seed FILE"). Every field is
// optional; unknown fields are errors. Several entries with the same
// secret name add versions in order (the last is the latest). Times are
// RFC 3339. accessModel is "rbac" (default) or "accessPolicy"; a principal is
// a client ID or "system-assigned". A vault's softDeleteRetentionInDays (7
// to 90, default 90) and enablePurgeProtection (default false) are Azure's
// vault properties of those names. A vault's certificates are generated at
// load time, in order (a repeated name renews), as SetCertificate makes
// them: "key", "contentType", "subject" and "dnsNames" as in
// CertificateSpec, "issuer" "self" (default) or "ca" (CertificateCA, the
// standalone emulator's --ca-out file), "nbf" (default: the load time) and
// "exp" or "validDays" (default: 12 months). Example (also in
// testdata/seed.json):
//
//	{
//	  "tenants": ["72f988bf-86f1-41af-91ab-2d7cd011db47"],
//	  "apps": [
//	    {"tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
//	     "clientId": "6f1d8e2a-0000-4000-8000-0000000000a2", "clientSecret": "demo-app-secret"}
//	  ],
//	  "managedIdentities": [{"clientId": "6f1d8e2a-0000-4000-8000-0000000000b3"}],
//	  "systemAssignedIdentity": true,
//	  "vaults": [
//	    {
//	      "name": "demo-vault",
//	      "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
//	      "accessModel": "accessPolicy",
//	      "region": "westeurope",
//	      "firewall": false,
//	      "softDeleteRetentionInDays": 7,
//	      "enablePurgeProtection": true,
//	      "secrets": [
//	        {"name": "db-password", "value": "s3cr3t", "contentType": "text/plain",
//	         "tags": {"owner": "data-team"}, "enabled": true,
//	         "nbf": "2020-01-01T00:00:00Z", "exp": "2031-01-01T00:00:00Z"}
//	      ],
//	      "certificates": [
//	        {"name": "client-tls", "key": "ec-p256", "contentType": "application/x-pem-file",
//	         "issuer": "ca", "subject": "CN=connector, O=Contoso",
//	         "dnsNames": ["connector.contoso.com"], "validDays": 90},
//	        {"name": "old-tls", "key": "rsa-2048", "nbf": "2020-01-01T00:00:00Z", "exp": "2021-01-01T00:00:00Z"}
//	      ],
//	      "permissions": [{"principal": "system-assigned", "get": true, "list": false}]
//	    }
//	  ],
//	  "rateLimits": [{"vault": "demo-vault", "n": 4000, "windowSeconds": 10, "retryAfter": true,
//	                  "fixedWindow": false, "retryAfterSeconds": 0}]
//	}
//
// A rate limit's window slides unless "fixedWindow" is true; its Retry-After
// is the time until the window frees unless "retryAfterSeconds" sets a
// constant (see SetRateLimit, FixedWindow and ConstantRetryAfter).
//
// "eventSubscriptions" entries (created last, each after its webhook's
// handshake) take the names of Event Grid's event subscription resource:
//
//	"eventSubscriptions": [
//	  {"vault": "demo-vault", "name": "rotation", "endpointUrl": "http://127.0.0.1:9000/events",
//	   "eventDeliverySchema": "CloudEventSchemaV1_0",
//	   "includedEventTypes": ["Microsoft.KeyVault.SecretNewVersionCreated"],
//	   "maxEventsPerBatch": 1, "maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440,
//	   "deliveryHeaders": {"X-Webhook-Key": "shared-secret"},
//	   "azureActiveDirectoryTenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
//	   "azureActiveDirectoryApplicationIdOrUri": "api://my-webhook"}
//	]
//
// The defaults registered by NewServer (DefaultTenantID, DefaultClientID,
// DefaultUserAssignedClientID and the system-assigned identity) stay
// registered; "systemAssignedIdentity": false removes the latter.
//
// Everything is per Server: there is no package-level mutable state, and a
// Server is safe for concurrent use.
package akvcredstest
