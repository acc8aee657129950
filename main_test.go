package akvcreds_test

import (
	"testing"

	"github.com/akvcreds/akvcreds/internal/testutil"
)

// TestMain clears every environment variable through which the Azure SDK
// could pick another identity endpoint, so nothing but the emulator is ever
// contacted, and checks that no goroutine outlives the tests.
func TestMain(m *testing.M) { testutil.Main(m) }
