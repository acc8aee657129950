package entra

import (
	"testing"

	"github.com/akvcreds/akvcreds/internal/testutil"
)

// TestMain clears the AZURE_*, IDENTITY_*, MSI_* and IMDS_* variables (so
// that no credential built here reaches a real identity endpoint) and fails
// the binary if a goroutine outlives the tests.
func TestMain(m *testing.M) { testutil.Main(m) }
