package akvcreds

import (
	"strings"
	"testing"

	"github.com/akvcreds/akvcreds/internal/azure"
)

// Each AADSTS code of the certificate and workload identity modes has its
// remedy, told apart by the credential's description in the detail.
func TestAuthRemedyNewModes(t *testing.T) {
	t.Parallel()
	const (
		cert     = "getting a token for client ID x in tenant y " + azure.MarkCertificate + " ABCDEF: "
		workload = "getting a token for client ID x in tenant y with the federated token in /t " + azure.MarkWorkload + ": "
		secret   = "getting a token for client ID x in tenant y: "
	)
	tests := []struct {
		detail, aadsts, want string
	}{
		{cert, "AADSTS700027", "not registered on the app registration"},
		{workload, "AADSTS700027", "cluster's OIDC issuer URL"},
		{cert, "AADSTS700024", "clock"},
		{workload, "AADSTS700024", "federated token has expired"},
		{workload, "AADSTS700211", "subject = system:serviceaccount:NAMESPACE:SERVICE-ACCOUNT"},
		{workload, "AADSTS700212", "api://AzureADTokenExchange"},
		{workload, "AADSTS700213", "no federated identity credential"},
		{workload, "AADSTS70021", "no federated identity credential"},
		{cert, "AADSTS700212", "WithCloud"},
		{workload, "AADSTS700016", "user-assigned managed identity"},
		{secret, "AADSTS700016", "client (application) ID"},
		{workload, "AADSTS50027", "AZURE_FEDERATED_TOKEN_FILE"},
		{workload, "", "federated credential (issuer, subject, audience)"},
		{cert, "", "certificate is registered"},
		{secret, "", "client secret has expired"},
	}
	for _, tt := range tests {
		got := authRemedy(&azure.Error{Kind: azure.KindUnauthenticated, Op: "token", AADSTS: tt.aadsts, Detail: tt.detail + "failed"})
		if !strings.Contains(got, tt.want) {
			t.Errorf("%s %q: remedy %q lacks %q", tt.aadsts, tt.detail, got, tt.want)
		}
	}
}
