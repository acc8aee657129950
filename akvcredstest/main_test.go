package akvcredstest_test

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Make the Azure SDK use IMDS for managed identity and nothing from the
	// environment.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		for _, p := range []string{"AZURE_", "IDENTITY_", "MSI_", "IMDS_"} {
			if strings.HasPrefix(k, p) {
				os.Unsetenv(k)
			}
		}
	}
	goleak.VerifyTestMain(m)
}
