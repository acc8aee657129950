package akvcreds

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/akvcreds/akvcreds/internal/azure"
)

// kindOf maps a classified Azure failure to its kind.
var kindOf = map[azure.Kind]Kind{
	azure.KindInvalidArgument: kindInvalidArgument,
	azure.KindUnauthenticated: kindUnauthenticated,
	azure.KindForbidden:       kindForbidden,
	azure.KindNotFound:        kindNotFound,
	azure.KindDisabled:        kindDisabled,
	azure.KindThrottled:       kindThrottled,
	azure.KindUnavailable:     kindUnavailable,
	azure.KindMalformed:       kindMalformed,
	azure.KindCanceled:        kindCanceled,
}

// explain turns a failure of operation op ("get" or "list") into a failure
// that names the kind, what Azure said and what to do. A context error is a
// cancellation only when ctx, the caller's context, has ended; otherwise it
// was one of akvcreds' own time limits, and Azure did not answer in time.
func (c *Client) explain(ctx context.Context, err error, vault, secret, version, op string) *failure {
	var f *failure
	if errors.As(err, &f) {
		return f
	}
	ae := azure.Classify(err, op)
	if ae.Op == "" {
		ae.Op = op
	}
	if ae.Kind == azure.KindCanceled && ctx.Err() == nil {
		ae = &azure.Error{Kind: azure.KindUnavailable, Op: ae.Op, Auth: ae.Auth, Err: ae.Err,
			Detail: "Azure did not answer in time (" + strings.TrimPrefix(ae.Detail, "the operation was cancelled: ") + ")"}
	}
	kind, ok := kindOf[ae.Kind]
	if !ok {
		kind = kindUnavailable
	}
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(ae.Detail, "."))
	var meta []string
	if ae.Status != 0 {
		m := fmt.Sprintf("HTTP %d", ae.Status)
		if ae.Code != "" {
			m += " " + ae.Code
		}
		if ae.InnerCode != "" {
			m += "/" + ae.InnerCode
		}
		meta = append(meta, m)
	}
	if ae.AADSTS != "" && !strings.Contains(ae.Detail, ae.AADSTS) {
		meta = append(meta, ae.AADSTS)
	}
	if ae.RequestID != "" {
		meta = append(meta, "request ID "+ae.RequestID)
	}
	if len(meta) > 0 {
		b.WriteString(" (" + strings.Join(meta, ", ") + ")")
	}
	return fail(kind, b.String(), c.remedy(ae, vault, secret, version), ae)
}

// remedy says what an operator should do about a classified failure. The
// advice names Azure's settings and roles, never this package's options,
// so that programs and the command line can show it as it is.
func (c *Client) remedy(ae *azure.Error, vault, secret, version string) string {
	switch ae.Kind {
	case azure.KindForbidden:
		return forbiddenRemedy(ae, vault)
	case azure.KindDisabled:
		return fmt.Sprintf("the secret is disabled: enable it in vault %q or stop fetching it", vault)
	case azure.KindNotFound:
		return notFoundRemedy(vault, secret, version)
	case azure.KindUnauthenticated:
		return authRemedy(ae)
	case azure.KindThrottled:
		if ae.Op == "token" {
			return "the token endpoint is throttling: fetch less often (cache credentials) and share one client"
		}
		return "Key Vault kept throttling after backing off: fetch less often (cache credentials), lower the concurrency, or spread fetches over time; every client of this vault shares its limit of 4,000 requests per 10 seconds"
	case azure.KindMalformed:
		return fmt.Sprintf("check what answers for %s%s (a proxy, firewall appliance or captive portal may be answering in Key Vault's place) and retry; report it if it persists", vault, c.cloud.VaultSuffix)
	case azure.KindInvalidArgument:
		return "check the vault and secret names"
	case azure.KindCanceled:
		return ""
	}
	return c.unavailableRemedy(ae, vault)
}

func forbiddenRemedy(ae *azure.Error, vault string) string {
	action, perm := "read secrets", "Get"
	if ae.Op == "list" {
		action, perm = "list secrets", "List"
	}
	switch ae.InnerCode {
	case "ForbiddenByRbac":
		return fmt.Sprintf("the identity may not %s under Azure RBAC: assign it the \"Key Vault Secrets User\" role on vault %q (or on the secret)", action, vault)
	case "AccessDenied":
		if ae.Op == "list" {
			return fmt.Sprintf("the access policy of vault %q lacks the secret \"List\" permission for this identity, which listing a vault needs: add \"List\", or name the secrets to fetch", vault)
		}
		return fmt.Sprintf("the access policy of vault %q lacks the secret %q permission for this identity: add it to the identity's access policy", vault, perm)
	case "ForbiddenByFirewall":
		return fmt.Sprintf("the firewall of vault %q blocks this client's network: allow its IP address or virtual network under the vault's Networking settings, or use a private endpoint", vault)
	}
	return fmt.Sprintf("grant the identity the \"Key Vault Secrets User\" role on vault %q (Azure RBAC), or the secret %q permission in its access policy", vault, perm)
}

func notFoundRemedy(vault, secret, version string) string {
	switch {
	case version != "":
		return fmt.Sprintf("check the secret name and version: vault %q has no version %s of secret %q", vault, version, secret)
	case secret == "":
		return fmt.Sprintf("check the vault name %q", vault)
	}
	return fmt.Sprintf("check the secret name: vault %q has no secret %q; if it was deleted, recover it (az keyvault secret recover --vault-name %s --name %s) or stop fetching it", vault, secret, vault, secret)
}

func (c *Client) unavailableRemedy(ae *azure.Error, vault string) string {
	switch {
	case ae.Code == "NoSuchHost" && ae.Op != "token":
		return fmt.Sprintf("check the vault name %q and the cloud (%s): no vault %s%s exists, or, if the vault uses a private endpoint, this network's DNS lacks its private zone", vault, c.cloud.Name, vault, c.cloud.VaultSuffix)
	case ae.Code == "ForeignHost":
		return "report this: Key Vault's list response pointed outside the vault"
	case ae.Op == "token" && isManagedIdentity(ae.Auth):
		return "check that this program runs on an Azure resource with a managed identity and that the managed identity endpoint answers (it did not, after retries)"
	case ae.Op == "token":
		return "check the network path to the identity endpoint (Entra ID or the managed identity endpoint), proxies and DNS, then retry"
	}
	return fmt.Sprintf("check the network path to %s%s (DNS, proxy, firewall) and retry; transient failures were already retried", vault, c.cloud.VaultSuffix)
}

func isManagedIdentity(k azure.AuthKind) bool {
	return k == azure.AuthSystemIdentity || k == azure.AuthUserIdentity
}

// aadstsRemedies are the fixes for Entra ID's error codes, by code; the
// second text, when set, applies to workload identity.
var aadstsRemedies = map[string][2]string{
	"AADSTS7000215": {"the client secret is wrong: use the secret's Value (shown once when it is created), not its Secret ID, or create a new client secret under the app registration's \"Certificates & secrets\""},
	"AADSTS7000222": {"the client secret has expired: create a new client secret under the app registration's \"Certificates & secrets\" and use its Value"},
	"AADSTS700016": {"no application with this client ID exists in the tenant: check the client (application) ID and the tenant (directory) ID",
		"no application or user-assigned managed identity with this client ID exists in the tenant: check the client ID (AZURE_CLIENT_ID, the service account's azure.workload.identity/client-id annotation) and the tenant ID"},
	"AADSTS90002": {"the tenant does not exist: check the tenant (directory) ID"},
	"AADSTS700024": {"the client assertion is outside its validity period: check this machine's clock",
		"the federated token has expired: the token file is not being refreshed; check that it is the service account token the kubelet projects and rotates (AZURE_FEDERATED_TOKEN_FILE, set by the workload identity webhook), and the clocks"},
	"AADSTS700027": {"the certificate is not registered on the app registration: upload its public part under \"Certificates & secrets\" > Certificates and compare the thumbprints",
		"Entra ID could not verify the federated token's signature with the issuer's keys: check that the federated credential's issuer is the cluster's OIDC issuer URL and that the cluster's OIDC discovery document and keys are reachable"},
	"AADSTS50027": {"", "the federated token file does not hold a valid token: check AZURE_FEDERATED_TOKEN_FILE"},
}

// aadstsRemedy is the fix for an Entra ID error code ("" when none is known).
func aadstsRemedy(code string, workload bool) string {
	r := aadstsRemedies[code]
	if workload && r[1] != "" {
		return r[1]
	}
	return r[0]
}

const federatedRemedy = "no federated identity credential on the app registration or managed identity matches the token: add one (under \"Certificates & secrets\" > Federated credentials, or the identity's Federated credentials) with issuer = the cluster's OIDC issuer URL, subject = system:serviceaccount:NAMESPACE:SERVICE-ACCOUNT and audience api://AzureADTokenExchange"

func authRemedy(ae *azure.Error) string {
	workload := ae.Auth == azure.AuthWorkloadIdentity
	switch ae.AADSTS {
	case "AADSTS70021", "AADSTS700211", "AADSTS700212", "AADSTS700213":
		if ae.Auth == azure.AuthCertificate {
			return "Entra ID did not accept the certificate assertion for this token endpoint: check the tenant ID and the cloud"
		}
		return federatedRemedy
	}
	if r := aadstsRemedy(ae.AADSTS, workload); r != "" {
		return r
	}
	if r, ok := codeRemedies[ae.Code]; ok {
		return r
	}
	switch {
	case ae.Op == "token":
		return tokenRemedies[ae.Auth]
	case ae.Status == 401:
		return "Key Vault rejected the token: check that the identity belongs to the vault's tenant, and the clock"
	}
	return "check the tenant ID, the client ID and the client secret"
}

// codeRemedies are the fixes for akvcreds' own codes of authentication
// failures.
var codeRemedies = map[string]string{
	"WrongTenant":        "use the vault's tenant ID, or a vault in the configured tenant",
	"ExpiredToken":       "the token had already expired when it was issued: check this machine's clock (and the identity endpoint's)",
	"MalformedChallenge": "check what answers for the vault's address (a proxy or something else may be answering in Key Vault's place)",
}

// tokenRemedies are the fixes for a token that could not be had, by
// authentication mode.
var tokenRemedies = map[azure.AuthKind]string{
	azure.AuthClientSecret:     "check the tenant ID, the client ID, and whether the client secret has expired",
	azure.AuthEnvironment:      "check the tenant ID, the client ID, and whether the client secret has expired",
	azure.AuthWorkloadIdentity: "check the tenant ID, the client ID, the federated token file and the federated credential (issuer, subject, audience) on the app registration or managed identity",
	azure.AuthCustom:           "check the configuration of the credential akvcreds was given: its tenant, client ID and secret, certificate or identity",
	azure.AuthCertificate:      "check the tenant ID, the client ID, and that the certificate is registered on the app registration and has not expired",
	azure.AuthSystemIdentity:   "check that the managed identity is enabled on (or assigned to) this Azure resource",
	azure.AuthUserIdentity:     "check that the managed identity is enabled on (or assigned to) this Azure resource",
	0:                          "check the tenant ID, the client ID, and whether the client secret has expired",
}
