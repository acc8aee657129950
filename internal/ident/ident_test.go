package ident

import (
	"strings"
	"testing"

	"github.com/akvcreds/akvcreds/internal/cloud"
)

// inputTest is an input of a validator and a part of the error it must
// give, "" for none.
type inputTest struct {
	in, want string
}

// checkInputs runs check (called name in messages) on each input, as
// parallel subtests.
func checkInputs(t *testing.T, name string, check func(string) error, tests []inputTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			checkErr(t, name+"("+quote(tt.in)+")", check(tt.in), tt.want)
		})
	}
}

// checkErr asserts that err is nil when want is "", and otherwise that err is
// non-nil and its message contains want.
func checkErr(t *testing.T, call string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: unexpected error: %v", call, err)
	case want != "" && err == nil:
		t.Errorf("%s: no error, want one containing %q", call, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("%s: error %q does not contain %q", call, err, want)
	}
}

var vaultNameTests = []inputTest{
	{"abc", ""},
	{"ABC", ""},
	{"a1b", ""},
	{"a-b", ""},
	{"a-1-b-2", ""},
	{"ab1", ""},
	{"MyVault-01", ""},
	{strings.Repeat("a", 24), ""},
	{"a" + strings.Repeat("1", 23), ""},
	{"", "vault name is empty"},
	{"ab", `vault name "ab" is too short: it must be 3 to 24 characters`},
	{"a", "is too short"},
	{strings.Repeat("a", 25), "is too long (25 characters)"},
	{"my_vault", `contains "_" at position 3`},
	{"my.vault", `contains "." at position 3`},
	{"my vault", `contains " " at position 3`},
	{"myvaulté", `contains "é" at position 8`},
	{"my\u200bvault", `contains "\u200b" at position 3`},
	{"my\xffvault", `contains "\xff" at position 3`},
	{"my\x00vault", `contains "\x00" at position 3`},
	{" myvault", `has a leading space`},
	{"myvault ", `has a trailing space`},
	{"myvault\n", `has a trailing white space character ("\n")`},
	{"\tmyvault", `has a leading white space character ("\t")`},
	{"1abc", `starts with "1": it must start with a letter`},
	{"-abc", `starts with "-": it must start with a letter`},
	{"abc-", "ends with a hyphen: it must end with a letter or digit"},
	{"ab--c", `contains consecutive hyphens ("--") at position 3`},
	{"myvault.vault.azure.net", `contains "."`},
	{"https://myvault.vault.azure.net", `contains ":" at position 6`},
}

func TestVaultName(t *testing.T) {
	t.Parallel()
	checkInputs(t, "VaultName", VaultName, vaultNameTests)
}

var secretNameTests = []inputTest{
	{"a", ""},
	{"A", ""},
	{"1", ""},
	{"-", ""},
	{"db-password", ""},
	{"DB-Password-2", ""},
	{"-leading-and-trailing-", ""},
	{"123", ""},
	{strings.Repeat("s", 127), ""},
	{"", "secret name is empty"},
	{strings.Repeat("s", 128), "is too long (128 characters): it must be 1 to 127 characters"},
	{"db_password", `contains "_" at position 3`},
	{"db.password", `contains "." at position 3`},
	{"db password", `contains " " at position 3`},
	{"db/password", `contains "/" at position 3`},
	{"mot-de-passé", `contains "é" at position 12`},
	{" secret", "has a leading space"},
	{"secret ", "has a trailing space"},
	{"secret\r\n", `has a trailing white space character ("\n")`},
}

func TestSecretName(t *testing.T) {
	t.Parallel()
	checkInputs(t, "SecretName", SecretName, secretNameTests)
}

const (
	v32  = "0123456789abcdef0123456789abcdef"
	v32U = "0123456789ABCDEF0123456789ABCDEF"
)

var versionTests = []inputTest{
	{v32, ""},
	{v32U, ""},
	{"0123456789abcdefABCDEF0123456789", ""},
	{"", "version is empty"},
	{v32[:31], `is 31 characters long: it must be exactly 32`},
	{v32 + "0", `is 33 characters long`},
	{"latest", `contains "l" at position 1`},
	{"0123456789abcdef0123456789abcdeg", `contains "g" at position 32`},
	{"01234567-89ab-cdef-0123-456789abcdef", `contains "-" at position 9`},
	{" " + v32, "has a leading space"},
	{v32 + " ", "has a trailing space"},
}

func TestVersion(t *testing.T) {
	t.Parallel()
	checkInputs(t, "Version", Version, versionTests)
}

const guid = "72f988bf-86f1-41af-91ab-2d7cd011db47"

var clientIDTests = []inputTest{
	{guid, ""},
	{strings.ToUpper(guid), ""},
	{"00000000-0000-0000-0000-000000000000", ""},
	{"", "client ID is empty"},
	{guid[:35], `client ID "72f988bf-86f1-41af-91ab-2d7cd011db4" is not a GUID: it is 35 characters long`},
	{guid + "7", "is 37 characters long"},
	{"{" + guid + "}", `(38 characters, not shown as it may be a secret) is not a GUID: character 1 is not a hexadecimal digit`},
	{"72f988bf86f141af91ab2d7cd011db47", "is 32 characters long"},
	{"72f988bf8-6f1-41af-91ab-2d7cd011db47", "hyphens are misplaced"},
	{"72f988bf-86f1-41af-91ab-2d7cd011db4g", `contains "g" at position 36`},
	{"my-app", `client ID (6 characters, not shown as it may be a secret) is not a GUID: character 1 is not`},
	// A secret passed as the client ID is never shown.
	{"emulator-client-secret-value", "not shown as it may be a secret"},
	{" " + guid, "has a leading space"},
	{guid + " ", "has a trailing space"},
	{guid + "\n", "has a trailing white space"},
	// Values that look like client secrets are never shown.
	{"abc8Q~0123456789abcdefghijABCDEFGHIJ_-.x", "client ID (40 characters, not shown) looks like a client secret"},
	{"Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdo+/Q=", "not shown"},
}

func TestClientID(t *testing.T) {
	t.Parallel()
	for _, tt := range clientIDTests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			err := ClientID(tt.in)
			checkErr(t, "ClientID("+quote(tt.in)+")", err, tt.want)
			if err != nil && looksLikeClientSecret(tt.in) && strings.Contains(err.Error(), tt.in[:10]) {
				t.Errorf("ClientID error shows a secret-like value: %v", err)
			}
		})
	}
}

var tenantIDTests = []inputTest{
	{guid, ""},
	{strings.ToUpper(guid), ""},
	{"contoso.onmicrosoft.com", ""},
	{"Contoso.OnMicrosoft.com", ""},
	{"contoso.com", ""},
	{"my-company.co.uk", ""},
	{"a1.b2", ""},
	{strings.Repeat("a", 63) + ".com", ""},
	{strings.Repeat(strings.Repeat("a", 61)+".", 4) + "com", ""}, // 251 characters
	{"", "tenant ID is empty"},
	{"common", `tenant ID "common" is not a specific tenant: client credentials need`},
	{"Organizations", "is not a specific tenant"},
	{"consumers", "is not a specific tenant"},
	{"contoso", "needs at least one dot"},
	{"contoso.", "empty label"},
	{".contoso.com", "empty label"},
	{"contoso..com", "empty label"},
	{"-contoso.com", `label "-contoso" starts or ends with a hyphen`},
	{"contoso-.com", "starts or ends with a hyphen"},
	{strings.Repeat("a", 64) + ".com", "longer than 63 characters"},
	{strings.Repeat(strings.Repeat("a", 63)+".", 4) + "com", "is 259 characters long, a domain name is at most 253"},
	{"contoso_corp.com", `character 8 is not a letter, digit, hyphen or dot`},
	{"contoso.onmicrosoft.com/", `character 24 is not`},
	{"https://login.microsoftonline.com/contoso.com", `character 6 is not`},
	{"contöso.com", `character 5 is not`},
	{"my-client-secret", "(16 characters, not shown as it may be a secret)"},
	{"10.0.0.1", "numeric label, like an IP address"},
	{guid[:35], "is not a GUID: it is 35 characters long"},
	{"72f988bf8-6f1-41af-91ab-2d7cd011db47", "hyphens are misplaced"},
	{" contoso.com", "has a leading space"},
	{"contoso.com ", "has a trailing space"},
	{"abc8Q~0123456789abcdefghijABCDEFGHIJ_-.x", "tenant ID (40 characters, not shown) looks like a client secret"},
}

func TestTenantID(t *testing.T) {
	t.Parallel()
	checkInputs(t, "TenantID", TenantID, tenantIDTests)
}

var vaultTests = []struct {
	in        string
	cloud     cloud.Cloud
	name, url string // expected on success
	want      string // error substring; "" for success
}{
	{"myvault", cloud.Public(), "myvault", "https://myvault.vault.azure.net/", ""},
	{"MyVault", cloud.Public(), "myvault", "https://myvault.vault.azure.net/", ""},
	{"abc", cloud.Public(), "abc", "https://abc.vault.azure.net/", ""},
	{strings.Repeat("z", 24), cloud.Public(), strings.Repeat("z", 24), "https://" + strings.Repeat("z", 24) + ".vault.azure.net/", ""},
	{"my-vault-1", cloud.China(), "my-vault-1", "https://my-vault-1.vault.azure.cn/", ""},
	{"myvault", cloud.USGovernment(), "myvault", "https://myvault.vault.usgovcloudapi.net/", ""},
	{"https://myvault.vault.azure.net", cloud.Public(), "myvault", "https://myvault.vault.azure.net/", ""},
	{"https://myvault.vault.azure.net/", cloud.Public(), "myvault", "https://myvault.vault.azure.net/", ""},
	{"https://myvault.vault.azure.net:443", cloud.Public(), "myvault", "https://myvault.vault.azure.net/", ""},
	{"https://myvault.vault.azure.net:443/", cloud.Public(), "myvault", "https://myvault.vault.azure.net/", ""},
	{"https://MyVault.VAULT.Azure.Net/", cloud.Public(), "myvault", "https://myvault.vault.azure.net/", ""},
	{"HTTPS://myvault.vault.azure.net/", cloud.Public(), "myvault", "https://myvault.vault.azure.net/", ""},
	{"https://myvault.vault.azure.cn/", cloud.China(), "myvault", "https://myvault.vault.azure.cn/", ""},
	{"https://myvault.vault.usgovcloudapi.net", cloud.USGovernment(), "myvault", "https://myvault.vault.usgovcloudapi.net/", ""},

	{"", cloud.Public(), "", "", "vault is empty"},
	{"myvault", cloud.Cloud{}, "", "", "no Azure cloud configured"},
	{"ab", cloud.Public(), "", "", `vault name "ab" is too short`},
	{strings.Repeat("a", 25), cloud.Public(), "", "", "is too long"},
	{"1vault", cloud.Public(), "", "", "must start with a letter"},
	{"vault-", cloud.Public(), "", "", "ends with a hyphen"},
	{"my--vault", cloud.Public(), "", "", "consecutive hyphens"},
	{"my_vault", cloud.Public(), "", "", `contains "_"`},
	{"mývault", cloud.Public(), "", "", `contains "ý"`},
	{" myvault", cloud.Public(), "", "", "has a leading space"},
	{"myvault ", cloud.Public(), "", "", "has a trailing space"},
	{"https://myvault.vault.azure.net/ ", cloud.Public(), "", "", "has a trailing space"},
	{"myvault.vault.azure.net", cloud.Public(), "", "", `is neither a vault name nor a URL: give the name ("myvault") or the full URL with https://`},
	{"myvault:443", cloud.Public(), "", "", "is neither a vault name nor a URL"},
	{"myvault/", cloud.Public(), "", "", "is neither a vault name nor a URL"},
	{"http://myvault.vault.azure.net/", cloud.Public(), "", "", `vault URL "http://myvault.vault.azure.net/" uses http: Key Vault requires https`},
	{"ftp://myvault.vault.azure.net/", cloud.Public(), "", "", `has scheme "ftp": Key Vault requires https`},
	{"https://user@myvault.vault.azure.net/", cloud.Public(), "", "", "contains user info"},
	{"https://user:hunter2@myvault.vault.azure.net/", cloud.Public(), "", "", `"https://REDACTED@myvault.vault.azure.net/" contains user info`},
	{"https://myvault.vault.azure.net/?api-version=7.4", cloud.Public(), "", "", "has a query"},
	{"https://myvault.vault.azure.net/?", cloud.Public(), "", "", "has a query"},
	{"https://myvault.vault.azure.net/#frag", cloud.Public(), "", "", "has a fragment"},
	{"https://myvault.vault.azure.net/#", cloud.Public(), "", "", "has a fragment"},
	{"https://myvault.vault.azure.net/secrets", cloud.Public(), "", "", `has a path ("/secrets")`},
	{"https://myvault.vault.azure.net//", cloud.Public(), "", "", `has a path ("//")`},
	{"https://myvault.vault.azure.net:8443/", cloud.Public(), "", "", "has port 8443: Key Vault uses port 443 only"},
	{"https://myvault.vault.azure.net:0443/", cloud.Public(), "", "", "has port 0443"},
	{"https://myvault.vault.azure.net:/", cloud.Public(), "", "", "has an empty port"},
	{"https://myvault.vault.azure.net:https/", cloud.Public(), "", "", "is not a valid URL"},
	{"https://my%76ault.vault.azure.net/", cloud.Public(), "", "", "contains a percent-escape"},
	{"https://myvault.vault.azure.net/%2F", cloud.Public(), "", "", "contains a percent-escape"},
	{"https://myvault.vault.azure.cn", cloud.Public(), "", "", `vault URL "https://myvault.vault.azure.cn" belongs to AzureChina, but the client is configured for AzurePublic`},
	{"https://myvault.vault.azure.net", cloud.China(), "", "", "belongs to AzurePublic, but the client is configured for AzureChina"},
	{"https://myvault.vault.usgovcloudapi.net", cloud.Public(), "", "", "belongs to AzureUSGovernment, but the client is configured for AzurePublic"},
	{"https://myhsm.managedhsm.azure.net/", cloud.Public(), "", "", "is a Managed HSM, not a Key Vault vault"},
	{"https://myhsm.managedhsm.azure.cn/", cloud.China(), "", "", "is a Managed HSM"},
	{"https://127.0.0.1/", cloud.Public(), "", "", "has an IP address as host"},
	{"https://127.0.0.1:443/", cloud.Public(), "", "", "has an IP address as host"},
	{"https://[::1]/", cloud.Public(), "", "", "has an IP address as host"},
	{"https://example.com/", cloud.Public(), "", "", `host "example.com" is not a Key Vault host of AzurePublic: expected NAME.vault.azure.net`},
	{"https://myvault.vault.azure.net.evil.com/", cloud.Public(), "", "", "is not a Key Vault host of AzurePublic"},
	{"https://vault.azure.net/", cloud.Public(), "", "", "is not a Key Vault host"},
	{"https://myvault.vault.azure.net./", cloud.Public(), "", "", "ends with a dot"},
	{"https://.vault.azure.net/", cloud.Public(), "", "", "vault name is empty"},
	{"https://ab.vault.azure.net/", cloud.Public(), "", "", `vault URL "https://ab.vault.azure.net/": vault name "ab" is too short`},
	{"https://my_vault.vault.azure.net/", cloud.Public(), "", "", `contains "_"`},
	{"https://a.b.vault.azure.net/", cloud.Public(), "", "", `contains "."`},
	{"https://1vault.vault.azure.net/", cloud.Public(), "", "", "must start with a letter"},
	{"https:///", cloud.Public(), "", "", "has no host"},
	{"https://my vault.vault.azure.net/", cloud.Public(), "", "", "is not a valid URL"},
}

func TestVault(t *testing.T) {
	t.Parallel()
	for _, tt := range vaultTests {
		t.Run(tt.cloud.Name+"/"+tt.in, func(t *testing.T) {
			t.Parallel()
			name, url, err := Vault(tt.in, tt.cloud)
			checkErr(t, "Vault("+quote(tt.in)+")", err, tt.want)
			if err != nil {
				if name != "" || url != "" {
					t.Errorf("Vault(%q) returned %q, %q with an error", tt.in, name, url)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("Vault(%q) error shows the password: %v", tt.in, err)
				}
				return
			}
			if name != tt.name || url != tt.url {
				t.Errorf("Vault(%q) = %q, %q; want %q, %q", tt.in, name, url, tt.name, tt.url)
			}
		})
	}
}

var identifierTests = []struct {
	in    string
	cloud cloud.Cloud
	id    Identifier // expected on success
	want  string     // error substring; "" for success
}{
	{"myvault/db-password", cloud.Public(), Identifier{"myvault", "db-password", ""}, ""},
	{"MyVault/DB-Password", cloud.Public(), Identifier{"myvault", "DB-Password", ""}, ""},
	{"myvault/db-password/" + v32, cloud.Public(), Identifier{"myvault", "db-password", v32}, ""},
	{"myvault/db-password/" + v32U, cloud.Public(), Identifier{"myvault", "db-password", v32U}, ""},
	{"abc/" + strings.Repeat("s", 127), cloud.Public(), Identifier{"abc", strings.Repeat("s", 127), ""}, ""},
	{"https://myvault.vault.azure.net/secrets/db-password", cloud.Public(), Identifier{"myvault", "db-password", ""}, ""},
	{"https://myvault.vault.azure.net/secrets/db-password/", cloud.Public(), Identifier{"myvault", "db-password", ""}, ""},
	{"https://MyVault.vault.azure.net:443/secrets/db-password/" + v32, cloud.Public(), Identifier{"myvault", "db-password", v32}, ""},
	{"https://myvault.vault.azure.cn/secrets/s/" + v32 + "/", cloud.China(), Identifier{"myvault", "s", v32}, ""},

	{"", cloud.Public(), Identifier{}, "identifier is empty"},
	{"myvault", cloud.Public(), Identifier{}, `identifier "myvault" has no "/"`},
	{"a/b/c/d", cloud.Public(), Identifier{}, "has 4 parts"},
	{" myvault/s", cloud.Public(), Identifier{}, "has a leading space"},
	{"myvault/s ", cloud.Public(), Identifier{}, "has a trailing space"},
	{"ab/secret", cloud.Public(), Identifier{}, `identifier "ab/secret": vault name "ab" is too short`},
	{"my--vault/secret", cloud.Public(), Identifier{}, "vault name \"my--vault\" contains consecutive hyphens"},
	{"/secret", cloud.Public(), Identifier{}, "vault name is empty"},
	{"myvault/", cloud.Public(), Identifier{}, "secret name is empty"},
	{"myvault//" + v32, cloud.Public(), Identifier{}, "secret name is empty"},
	{"myvault/db_password", cloud.Public(), Identifier{}, `secret name "db_password" contains "_"`},
	{"myvault/db password", cloud.Public(), Identifier{}, `secret name "db password" contains " "`},
	{"myvault/" + strings.Repeat("s", 128), cloud.Public(), Identifier{}, "secret name" /* too long */},
	{"myvault/secret/", cloud.Public(), Identifier{}, "version is empty"},
	{"myvault/secret/latest", cloud.Public(), Identifier{}, `version "latest" contains "l"`},
	{"myvault/secret/" + v32[:31], cloud.Public(), Identifier{}, "is 31 characters long"},
	{"myvault.vault.azure.net/secret", cloud.Public(), Identifier{}, `vault name "myvault.vault.azure.net" contains "."`},
	{"http://myvault.vault.azure.net/secrets/s", cloud.Public(), Identifier{}, "uses http: Key Vault requires https"},
	{"https://u@myvault.vault.azure.net/secrets/s", cloud.Public(), Identifier{}, "contains user info"},
	{"https://myvault.vault.azure.net/secrets/s?api-version=7.4", cloud.Public(), Identifier{}, "has a query"},
	{"https://myvault.vault.azure.net/secrets/s#x", cloud.Public(), Identifier{}, "has a fragment"},
	{"https://myvault.vault.azure.net:444/secrets/s", cloud.Public(), Identifier{}, "has port 444"},
	{"https://myvault.vault.azure.cn/secrets/s", cloud.Public(), Identifier{}, "belongs to AzureChina, but the client is configured for AzurePublic"},
	{"https://h.managedhsm.azure.net/secrets/s", cloud.Public(), Identifier{}, "is a Managed HSM"},
	{"https://10.0.0.1/secrets/s", cloud.Public(), Identifier{}, "has an IP address as host"},
	{"https://myvault.vault.azure.net", cloud.Public(), Identifier{}, "names no secret"},
	{"https://myvault.vault.azure.net/", cloud.Public(), Identifier{}, "names no secret"},
	{"https://myvault.vault.azure.net/keys/k", cloud.Public(), Identifier{}, `has path "/keys/k": expected https://NAME.vault.azure.net/secrets/SECRET[/VERSION]`},
	{"https://myvault.vault.azure.net/Secrets/s", cloud.Public(), Identifier{}, `has path "/Secrets/s"`},
	{"https://myvault.vault.azure.net/secrets/", cloud.Public(), Identifier{}, "secret name is empty"},
	{"https://myvault.vault.azure.net/secrets/s/" + v32 + "/x", cloud.Public(), Identifier{}, "too many segments"},
	{"https://myvault.vault.azure.net/secrets/s//", cloud.Public(), Identifier{}, "version is empty"},
	{"https://myvault.vault.azure.net/secrets/s/latest", cloud.Public(), Identifier{}, `secret ID "https://myvault.vault.azure.net/secrets/s/latest": version "latest" contains "l"`},
	{"https://myvault.vault.azure.net/secrets/a_b", cloud.Public(), Identifier{}, `secret name "a_b" contains "_"`},
	{"https://myvault.vault.azure.net/secrets/a%2Fb", cloud.Public(), Identifier{}, "contains a percent-escape"},
	{"https://ab.vault.azure.net/secrets/s", cloud.Public(), Identifier{}, `vault name "ab" is too short`},
	{"https://myvault.vault.azure.net/secrets/s", cloud.Cloud{}, Identifier{}, "no Azure cloud configured"},
}

func TestParseIdentifier(t *testing.T) {
	t.Parallel()
	for _, tt := range identifierTests {
		t.Run(tt.cloud.Name+"/"+tt.in, func(t *testing.T) {
			t.Parallel()
			id, err := ParseIdentifier(tt.in, tt.cloud)
			checkErr(t, "ParseIdentifier("+quote(tt.in)+")", err, tt.want)
			if err != nil {
				if id != (Identifier{}) {
					t.Errorf("ParseIdentifier(%q) returned %+v with an error", tt.in, id)
				}
				return
			}
			if id != tt.id {
				t.Errorf("ParseIdentifier(%q) = %+v; want %+v", tt.in, id, tt.id)
			}
		})
	}
}

func TestIdentifierString(t *testing.T) {
	t.Parallel()
	for id, want := range map[Identifier]string{
		{"v", "s", ""}:                  "v/s",
		{"myvault", "db-password", v32}: "myvault/db-password/" + v32,
	} {
		if got := id.String(); got != want {
			t.Errorf("%+v.String() = %q; want %q", id, got, want)
		}
	}
}

func TestQuoteShortensLongValues(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"abc":                         `"abc"`,
		strings.Repeat("a", maxQuote): `"` + strings.Repeat("a", maxQuote) + `"`,
		strings.Repeat("a", 10000):    `"` + strings.Repeat("a", maxQuote/2) + `"... (10000 bytes)`,
		strings.Repeat("é", 200):      `"` + strings.Repeat("é", maxQuote/4) + `"... (400 bytes)`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%d bytes) = %s; want %s", len(in), got, want)
		}
	}
}
