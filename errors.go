package akvcreds

import (
	"fmt"
	"strings"

	"github.com/akvcreds/akvcreds/internal/azure"
)

// problem is a classified failure with its remedy: it wraps the sentinel and
// the cause.
type problem struct {
	kind  error // sentinel; nil for a cancelled context
	msg   string
	cause error
}

func (p *problem) Error() string { return p.msg }

func (p *problem) Unwrap() []error {
	if p.kind == nil {
		return []error{p.cause}
	}
	return []error{p.kind, p.cause}
}

func sentinel(k azure.Kind) error {
	switch k {
	case azure.KindInvalidArgument:
		return ErrInvalidArgument
	case azure.KindUnauthenticated:
		return ErrUnauthenticated
	case azure.KindForbidden:
		return ErrForbidden
	case azure.KindNotFound:
		return ErrNotFound
	case azure.KindDisabled:
		return ErrDisabled
	case azure.KindThrottled:
		return ErrThrottled
	case azure.KindCanceled:
		return nil
	}
	return ErrUnavailable
}

// explain turns a failure of operation op ("get" or "list") into an error
// that names the kind, what Azure said and what to do.
func (c *Client) explain(err error, vault, secret, version, op string) error {
	ae := azure.Classify(err, op)
	if ae.Op == "" {
		ae.Op = op
	}
	kind := sentinel(ae.Kind)
	var b strings.Builder
	if kind != nil {
		b.WriteString(kind.Error())
		b.WriteString(": ")
	}
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
	if fix := c.remedy(ae, vault, secret, version); fix != "" {
		b.WriteString(". To fix: ")
		b.WriteString(fix)
	}
	return &problem{kind: kind, msg: b.String(), cause: ae}
}

// remedy says what an operator should do about a classified failure.
func (c *Client) remedy(ae *azure.Error, vault, secret, version string) string {
	switch ae.Kind {
	case azure.KindForbidden:
		action, perm := "read secrets", "Get"
		if ae.Op == "list" {
			action, perm = "list secrets", "List"
		}
		switch ae.InnerCode {
		case "ForbiddenByRbac":
			return fmt.Sprintf("the identity may not %s under Azure RBAC: assign it the \"Key Vault Secrets User\" role on vault %q (or on the secret)", action, vault)
		case "AccessDenied":
			if ae.Op == "list" {
				return fmt.Sprintf("the access policy of vault %q lacks the secret \"List\" permission for this identity, which listing a vault (no WithSecrets) needs: add \"List\", or name the secrets with WithSecrets", vault)
			}
			return fmt.Sprintf("the access policy of vault %q lacks the secret %q permission for this identity: add it to the identity's access policy", vault, perm)
		case "ForbiddenByFirewall":
			return fmt.Sprintf("the firewall of vault %q blocks this client's network: allow its IP address or virtual network under the vault's Networking settings, or use a private endpoint", vault)
		}
		return fmt.Sprintf("grant the identity the \"Key Vault Secrets User\" role on vault %q (Azure RBAC), or the secret %q permission in its access policy", vault, perm)
	case azure.KindDisabled:
		return fmt.Sprintf("the secret is disabled: enable it in vault %q or remove it from the secrets to fetch", vault)
	case azure.KindNotFound:
		if version != "" {
			return fmt.Sprintf("check the secret name and version: vault %q has no version %s of secret %q", vault, version, secret)
		}
		if secret == "" {
			return fmt.Sprintf("check the vault name %q", vault)
		}
		return fmt.Sprintf("check the secret name: vault %q has no secret %q (it may have been deleted)", vault, secret)
	case azure.KindUnauthenticated:
		return authRemedy(ae)
	case azure.KindThrottled:
		if ae.Op == "token" {
			return "the token endpoint is throttling: fetch less often (use WithCache) and share one Client"
		}
		return "Key Vault kept throttling after backing off: lower WithConcurrency, use WithCache, or spread fetches over time; other clients of this vault share its limit of 4,000 requests per 10 seconds"
	case azure.KindUnavailable, azure.KindUnknown:
		if ae.Code == "NoSuchHost" && ae.Op != "token" {
			return fmt.Sprintf("check the vault name %q and the cloud (%s): no vault %s%s exists, or, if the vault uses a private endpoint, this network's DNS lacks its private zone", vault, c.cloud.Name, vault, c.cloud.VaultSuffix)
		}
		if ae.Code == "ForeignHost" {
			return "report this: Key Vault's list response pointed outside the vault"
		}
		if ae.Op == "token" {
			return "check the network path to the identity endpoint (Entra ID or the managed identity endpoint), proxies and DNS, then retry"
		}
		return fmt.Sprintf("check the network path to %s%s (DNS, proxy, firewall) and retry; transient failures were already retried", vault, c.cloud.VaultSuffix)
	case azure.KindInvalidArgument:
		return "check the vault and secret names"
	}
	return ""
}

func authRemedy(ae *azure.Error) string {
	workload := strings.Contains(ae.Detail, azure.MarkWorkload)
	cert := strings.Contains(ae.Detail, azure.MarkCertificate)
	switch ae.AADSTS {
	case "AADSTS7000215":
		return "the client secret is wrong: use the secret's Value (shown once when it is created), not its Secret ID, or create a new client secret under the app registration's \"Certificates & secrets\""
	case "AADSTS7000222":
		return "the client secret has expired: create a new client secret under the app registration's \"Certificates & secrets\" and use its Value"
	case "AADSTS700016":
		if workload {
			return "no application or user-assigned managed identity with this client ID exists in the tenant: check the client ID (AZURE_CLIENT_ID, the service account's azure.workload.identity/client-id annotation) and the tenant ID"
		}
		return "no application with this client ID exists in the tenant: check the client (application) ID and the tenant (directory) ID"
	case "AADSTS90002":
		return "the tenant does not exist: check the tenant (directory) ID"
	case "AADSTS700024":
		if workload {
			return "the federated token has expired: the token file is not being refreshed; check that it is the service account token the kubelet projects and rotates (AZURE_FEDERATED_TOKEN_FILE, set by the workload identity webhook), and the clocks"
		}
		return "the client assertion is outside its validity period: check this machine's clock"
	case "AADSTS700027":
		if workload {
			return "Entra ID could not verify the federated token's signature with the issuer's keys: check that the federated credential's issuer is the cluster's OIDC issuer URL and that the cluster's OIDC discovery document and keys are reachable"
		}
		return "the certificate is not registered on the app registration: upload its public part under \"Certificates & secrets\" > Certificates and compare the thumbprints (or, for subject name and issuer authentication, use SendCertificateChain)"
	case "AADSTS70021", "AADSTS700211", "AADSTS700212", "AADSTS700213":
		if cert {
			return "Entra ID did not accept the certificate assertion for this token endpoint: check the tenant ID and the cloud (WithCloud)"
		}
		return "no federated identity credential on the app registration or managed identity matches the token: add one (under \"Certificates & secrets\" > Federated credentials, or the identity's Federated credentials) with issuer = the cluster's OIDC issuer URL, subject = system:serviceaccount:NAMESPACE:SERVICE-ACCOUNT and audience api://AzureADTokenExchange"
	case "AADSTS50027":
		if workload {
			return "the federated token file does not hold a valid token: check AZURE_FEDERATED_TOKEN_FILE"
		}
	}
	switch {
	case ae.Code == "WrongTenant":
		return "" // the detail says it all
	case ae.Op == "token" && workload:
		return "check the tenant ID, the client ID, the federated token file and the federated credential (issuer, subject, audience) on the app registration or managed identity"
	case ae.Op == "token" && cert:
		return "check the tenant ID, the client ID, and that the certificate is registered on the app registration and has not expired"
	case ae.Op == "token" && strings.Contains(ae.Detail, "managed identity"):
		return "check that the managed identity is enabled on (or assigned to) this Azure resource"
	case ae.Op == "token":
		return "check the tenant ID, the client ID, and whether the client secret has expired"
	case ae.Status == 401:
		return "Key Vault rejected the token: check that the identity belongs to the vault's tenant, and the clock"
	}
	return "check the tenant ID, the client ID and the client secret"
}
