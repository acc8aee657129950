package testutil

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// azureEnvPrefixes are the prefixes of the environment variables through
// which the Azure SDK (or this module) could pick credentials or another
// managed-identity endpoint.
var azureEnvPrefixes = []string{"AZURE_", "IDENTITY_", "MSI_", "IMDS_"}

// ClearAzureEnv unsets every environment variable whose name starts with
// AZURE_, IDENTITY_, MSI_ or IMDS_, so that nothing in the environment makes
// the Azure SDK use credentials or an identity endpoint other than the ones
// a test configures (for managed identity: IMDS, which the emulator plays).
// It changes the process environment: call it from TestMain, before any test
// runs, not from parallel tests.
func ClearAzureEnv() {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		for _, p := range azureEnvPrefixes {
			if strings.HasPrefix(k, p) {
				os.Unsetenv(k)
			}
		}
	}
}

// Main is a whole TestMain: it calls ClearAzureEnv, runs the tests and then
// fails the binary if any goroutine outlives them (goleak.VerifyTestMain).
// It does not return (it calls os.Exit). Use it as
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
func Main(m *testing.M) {
	ClearAzureEnv()
	goleak.VerifyTestMain(m)
}
