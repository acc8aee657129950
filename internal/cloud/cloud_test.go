package cloud

import "testing"

func TestClouds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		got                                    Cloud
		name, suffix, authority, sts, resource string
	}{
		{Public(), "AzurePublic", ".vault.azure.net", "https://login.microsoftonline.com/", "https://sts.windows.net/", "https://vault.azure.net"},
		{China(), "AzureChina", ".vault.azure.cn", "https://login.chinacloudapi.cn/", "https://sts.chinacloudapi.cn/", "https://vault.azure.cn"},
		{USGovernment(), "AzureUSGovernment", ".vault.usgovcloudapi.net", "https://login.microsoftonline.us/", "https://login.microsoftonline.us/", "https://vault.usgovcloudapi.net"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := Cloud{Name: tt.name, VaultSuffix: tt.suffix, AuthorityHost: tt.authority, STSHost: tt.sts, VaultResource: tt.resource}
			if tt.got != want {
				t.Errorf("got %+v, want %+v", tt.got, want)
			}
			// The vault suffix is the resource host with a leading dot.
			if "https://"+tt.suffix[1:] != tt.resource {
				t.Errorf("suffix %q does not match resource %q", tt.suffix, tt.resource)
			}
		})
	}
}

func TestAllIsACopy(t *testing.T) {
	t.Parallel()
	a := All()
	if len(a) != 3 || a[0] != Public() || a[1] != China() || a[2] != USGovernment() {
		t.Fatalf("All() = %+v", a)
	}
	a[0].Name = "changed"
	if All()[0].Name != "AzurePublic" {
		t.Error("modifying the result of All changed a later result")
	}
}

// lookupTest is an input of a cloud lookup and the Name of the cloud it must
// find, "" for none.
type lookupTest struct {
	in   string
	want string
}

// checkLookup runs lookup (called name in messages) on each input, as
// parallel subtests: it must find the wanted cloud, or report false with the
// zero Cloud.
func checkLookup(t *testing.T, name string, lookup func(string) (Cloud, bool), tests []lookupTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			c, ok := lookup(tt.in)
			if ok != (tt.want != "") || c.Name != tt.want {
				t.Errorf("%s(%q) = %+v, %v; want name %q", name, tt.in, c, ok, tt.want)
			}
			if !ok && c != (Cloud{}) {
				t.Errorf("%s(%q) returned non-zero cloud %+v with false", name, tt.in, c)
			}
		})
	}
}

func TestByName(t *testing.T) {
	t.Parallel()
	checkLookup(t, "ByName", ByName, []lookupTest{
		{"public", "AzurePublic"},
		{"AzurePublic", "AzurePublic"},
		{"AZURECLOUD", "AzurePublic"},
		{"azurecloud", "AzurePublic"},
		{"china", "AzureChina"},
		{"AzureChina", "AzureChina"},
		{"AzureChinaCloud", "AzureChina"},
		{"usgovernment", "AzureUSGovernment"},
		{"USGov", "AzureUSGovernment"},
		{"AzureUSGovernment", "AzureUSGovernment"},
		{"AzureUSGovernmentCloud", "AzureUSGovernment"},
		{"", ""},
		{" public", ""},
		{"public ", ""},
		{"germany", ""},
		{"azure", ""},
		{"azure-public", ""},
		{"pub\u212Aic", ""}, // Kelvin sign: no Unicode folding
	})
}

func TestForVaultHost(t *testing.T) {
	t.Parallel()
	checkLookup(t, "ForVaultHost", ForVaultHost, []lookupTest{
		{"myvault.vault.azure.net", "AzurePublic"},
		{"MyVault.VAULT.Azure.NET", "AzurePublic"},
		{"myvault.vault.azure.net:443", "AzurePublic"},
		{"a.vault.azure.net", "AzurePublic"},
		{"myvault.vault.azure.cn", "AzureChina"},
		{"myvault.vault.usgovcloudapi.net", "AzureUSGovernment"},
		{"vault.azure.net", ""},
		{".vault.azure.net", ""},
		{"myvault.vault.azure.net.", ""},
		{"myvault.managedhsm.azure.net", ""},
		{"myvault.vault.azure.com", ""},
		{"myvaultvault.azure.net", ""},
		{"127.0.0.1", ""},
		{"[::1]:443", ""},
		{"", ""},
	})
}
