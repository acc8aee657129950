package akvcreds

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/akvcreds/akvcreds/internal/azure"
	"github.com/akvcreds/akvcreds/internal/cloud"
)

// tokenFailure is a failed token request of a credential of mode auth, as
// internal/azure classifies it.
func tokenFailure(auth azure.AuthKind, aadsts string) *azure.Error {
	return &azure.Error{Kind: azure.KindUnauthenticated, Op: "token", Auth: auth, AADSTS: aadsts, Status: 401, Code: "invalid_client", Detail: "getting a token: failed"}
}

// Each AADSTS code has its remedy, and the credential's mode (Error.Auth)
// tells apart the codes whose meaning depends on it.
func TestAuthRemedy(t *testing.T) {
	t.Parallel()
	const (
		secret   = azure.AuthClientSecret
		cert     = azure.AuthCertificate
		workload = azure.AuthWorkloadIdentity
	)
	tests := []struct {
		ae   *azure.Error
		want string
	}{
		{tokenFailure(secret, "AADSTS7000215"), "not its Secret ID"},
		{tokenFailure(secret, "AADSTS7000222"), "the client secret has expired: create a new client secret"},
		{tokenFailure(secret, "AADSTS90002"), "the tenant does not exist"},
		{tokenFailure(cert, "AADSTS90002"), "the tenant does not exist"},
		{tokenFailure(secret, "AADSTS700016"), "client (application) ID"},
		{tokenFailure(cert, "AADSTS700016"), "client (application) ID"},
		{tokenFailure(workload, "AADSTS700016"), "user-assigned managed identity"},
		{tokenFailure(cert, "AADSTS700027"), "not registered on the app registration"},
		{tokenFailure(workload, "AADSTS700027"), "cluster's OIDC issuer URL"},
		{tokenFailure(cert, "AADSTS700024"), "clock"},
		{tokenFailure(workload, "AADSTS700024"), "federated token has expired"},
		{tokenFailure(workload, "AADSTS700211"), "subject = system:serviceaccount:NAMESPACE:SERVICE-ACCOUNT"},
		{tokenFailure(workload, "AADSTS700212"), "api://AzureADTokenExchange"},
		{tokenFailure(workload, "AADSTS700213"), "no federated identity credential"},
		{tokenFailure(workload, "AADSTS70021"), "no federated identity credential"},
		{tokenFailure(cert, "AADSTS700212"), "check the tenant ID and the cloud"},
		{tokenFailure(cert, "AADSTS70021"), "did not accept the certificate assertion"},
		{tokenFailure(workload, "AADSTS50027"), "AZURE_FEDERATED_TOKEN_FILE"},
		{tokenFailure(secret, "AADSTS50027"), "whether the client secret has expired"}, // no remedy for the code outside workload identity
		{tokenFailure(workload, ""), "federated credential (issuer, subject, audience)"},
		{tokenFailure(cert, ""), "certificate is registered"},
		{tokenFailure(secret, ""), "whether the client secret has expired"},
		{tokenFailure(secret, "AADSTS9999999"), "whether the client secret has expired"},
		{tokenFailure(azure.AuthSystemIdentity, ""), "managed identity is enabled on (or assigned to) this Azure resource"},
		{tokenFailure(azure.AuthUserIdentity, ""), "managed identity is enabled on (or assigned to) this Azure resource"},
		{&azure.Error{Kind: azure.KindUnauthenticated, Op: "token", Auth: cert, Code: "WrongTenant"}, "use the vault's tenant ID"},
		{&azure.Error{Kind: azure.KindUnauthenticated, Op: "get", Code: "MalformedChallenge"}, "check what answers for the vault's address"},
		{&azure.Error{Kind: azure.KindUnauthenticated, Op: "get", Status: 401, Code: "Unauthorized"}, "Key Vault rejected the token"},
		{&azure.Error{Kind: azure.KindUnauthenticated, Op: "list"}, "check the tenant ID, the client ID and the client secret"},
	}
	for _, tt := range tests {
		if got := authRemedy(tt.ae); !strings.Contains(got, tt.want) {
			t.Errorf("%v %s %s: remedy %q lacks %q", tt.ae.Auth, tt.ae.AADSTS, tt.ae.Code, got, tt.want)
		}
	}
}

// Token requests that got no answer: a managed identity's remedy is about
// its endpoint, the others' about the path to Entra ID.
func TestTokenUnavailableRemedy(t *testing.T) {
	t.Parallel()
	c := &Client{cloud: cloud.Public()}
	tests := []struct {
		auth azure.AuthKind
		want string
	}{
		{azure.AuthSystemIdentity, "the managed identity endpoint answers"},
		{azure.AuthUserIdentity, "the managed identity endpoint answers"},
		{azure.AuthWorkloadIdentity, "the network path to the identity endpoint"},
		{azure.AuthClientSecret, "the network path to the identity endpoint"},
	}
	for _, tt := range tests {
		ae := &azure.Error{Kind: azure.KindUnavailable, Op: "token", Auth: tt.auth}
		if got := c.remedy(ae, "v", "s", ""); !strings.Contains(got, tt.want) {
			t.Errorf("%v: remedy %q lacks %q", tt.auth, got, tt.want)
		}
	}
}

// goOption matches a name of this package's API (WithClientSecret,
// FetchNames, ...): the command line shows remedies as they are, and its
// users have no such options.
var goOption = regexp.MustCompile(`\b(With|Fetch|Watch)[A-Z][A-Za-z]*`)

// No remedy names a Go option, whatever the failure: every kind, operation,
// authentication mode, Key Vault code and AADSTS code.
func TestRemediesNameNoGoOption(t *testing.T) {
	t.Parallel()
	codes := []string{"", "AADSTS70021", "AADSTS700211", "AADSTS700212", "AADSTS700213", "AADSTS9999999"}
	for code := range aadstsRemedies {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	auths := []azure.AuthKind{0, azure.AuthClientSecret, azure.AuthSystemIdentity, azure.AuthUserIdentity, azure.AuthCustom,
		azure.AuthCertificate, azure.AuthWorkloadIdentity, azure.AuthEnvironment}
	kinds := []azure.Kind{azure.KindUnknown, azure.KindInvalidArgument, azure.KindUnauthenticated, azure.KindForbidden, azure.KindNotFound,
		azure.KindDisabled, azure.KindThrottled, azure.KindUnavailable, azure.KindCanceled, azure.KindMalformed}
	// Each variant sets one of the codes a remedy depends on.
	var variants []azure.Error
	for _, code := range codes {
		variants = append(variants, azure.Error{AADSTS: code})
	}
	for _, code := range []string{"WrongTenant", "MalformedChallenge", "NoSuchHost", "ForeignHost", "Throttled"} {
		variants = append(variants, azure.Error{Code: code})
	}
	for _, inner := range []string{"ForbiddenByRbac", "AccessDenied", "ForbiddenByFirewall", "SecretDisabled"} {
		variants = append(variants, azure.Error{InnerCode: inner})
	}
	seen := map[string]bool{}
	for _, cc := range cloud.All() {
		c := &Client{cloud: cc}
		for _, kind := range kinds {
			for _, op := range []string{"get", "list", "token"} {
				for _, auth := range auths {
					for _, v := range variants {
						for _, at := range [][2]string{{"db-password", ""}, {"db-password", "0123456789abcdef0123456789abcdef"}, {"", ""}} {
							ae := &azure.Error{Kind: kind, Op: op, Auth: auth, AADSTS: v.AADSTS, Code: v.Code, InnerCode: v.InnerCode, Status: 401}
							r := c.remedy(ae, "myvault", at[0], at[1])
							if seen[r] {
								continue
							}
							seen[r] = true
							if m := goOption.FindString(r); m != "" {
								t.Errorf("%v %s %v %s%s%s: remedy names %s: %q", kind, op, auth, v.AADSTS, v.Code, v.InnerCode, m, r)
							}
						}
					}
				}
			}
		}
	}
	if len(seen) < 30 {
		t.Errorf("only %d distinct remedies checked", len(seen))
	}
	// The pattern does find an option in a remedy.
	if !goOption.MatchString(`give "List" or use FetchNames or WithSecrets`) {
		t.Fatal("goOption matches nothing")
	}
}
