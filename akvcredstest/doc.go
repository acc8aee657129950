// Package akvcredstest is an in-process emulator of Azure Key Vault (secrets
// data plane), Microsoft Entra ID (client-credentials token endpoint) and the
// Azure managed-identity endpoint (IMDS), in the spirit of net/http/httptest.
package akvcredstest
