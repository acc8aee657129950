package akvcreds

import (
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/akvcreds/akvcreds/internal/azure"
	"github.com/akvcreds/akvcreds/internal/cloud"
)

// newCredential turns the validated authentication option into the token
// source every vault client of the Client shares.
//
//   - WithClientSecret: azidentity's client-secret credential against the
//     cloud's Entra ID authority, its token requests through hc. It keeps
//     its tokens in memory, per Client, and refreshes them before expiry.
//   - WithSystemAssignedIdentity / WithUserAssignedIdentity: on an Azure VM
//     (no IDENTITY_ENDPOINT, MSI_ENDPOINT or IMDS_ENDPOINT set), akvcreds'
//     own IMDS client through hc, whose token cache belongs to the Client
//     (azidentity's is shared by the whole process) and whose retries are
//     bounded; in App Service, Functions, Arc, Cloud Shell, Azure ML and
//     Service Fabric, azidentity's managed-identity credential.
//   - WithTokenCredential: the caller's credential as it is.
//
// Every credential reports failures as classified errors and refuses, with a
// message naming both tenants, a vault whose challenge names a tenant other
// than the configured one.
func newCredential(a azure.AuthConfig, cc cloud.Cloud, hc *http.Client) (azcore.TokenCredential, error) {
	return azure.NewCredential(a, azure.CredentialOptions{Cloud: cc, HTTPClient: hc})
}
