package akvcreds_test

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestMain clears every environment variable through which the Azure SDK
// could pick another identity endpoint, so nothing but the emulator is ever
// contacted, and checks that no goroutine outlives the tests.
func TestMain(m *testing.M) {
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
