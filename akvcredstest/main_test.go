package akvcredstest_test

import (
	"testing"

	"github.com/akvcreds/akvcreds/internal/testutil"
)

// TestMain makes the Azure SDK use IMDS for managed identity and nothing
// from the environment, and checks that no goroutine outlives the tests.
func TestMain(m *testing.M) { testutil.Main(m) }
