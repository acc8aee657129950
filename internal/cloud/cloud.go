// Package cloud describes the Azure clouds akvcreds can talk to: the Key
// Vault host suffix, the Entra ID authority host and the Key Vault resource
// (token audience) of each.
package cloud

import "strings"

// Cloud describes one Azure cloud as akvcreds needs it. Values are plain
// strings and are never shared by reference, so a Cloud is immutable.
type Cloud struct {
	// Name is the cloud's canonical name: "AzurePublic", "AzureChina" or
	// "AzureUSGovernment".
	Name string
	// VaultSuffix is what follows the vault name in a vault host, with its
	// leading dot, in lower case, e.g. ".vault.azure.net".
	VaultSuffix string
	// AuthorityHost is the Entra ID authority host URL with its trailing
	// slash, e.g. "https://login.microsoftonline.com/".
	AuthorityHost string
	// STSHost is the host URL, with its trailing slash, of the issuer of
	// Entra ID's v1.0 access tokens ("https://sts.windows.net/"): their iss
	// is STSHost + tenant ID + "/".
	STSHost string
	// VaultResource is the Key Vault resource named by the authentication
	// challenge and used as the token audience, without trailing slash,
	// e.g. "https://vault.azure.net".
	VaultResource string
}

// Public returns the Azure public cloud.
func Public() Cloud {
	return Cloud{
		Name:          "AzurePublic",
		VaultSuffix:   ".vault.azure.net",
		AuthorityHost: "https://login.microsoftonline.com/",
		STSHost:       "https://sts.windows.net/",
		VaultResource: "https://vault.azure.net",
	}
}

// China returns Azure operated by 21Vianet (Azure China).
func China() Cloud {
	return Cloud{
		Name:          "AzureChina",
		VaultSuffix:   ".vault.azure.cn",
		AuthorityHost: "https://login.chinacloudapi.cn/",
		STSHost:       "https://sts.chinacloudapi.cn/",
		VaultResource: "https://vault.azure.cn",
	}
}

// USGovernment returns Azure US Government.
func USGovernment() Cloud {
	return Cloud{
		Name:          "AzureUSGovernment",
		VaultSuffix:   ".vault.usgovcloudapi.net",
		AuthorityHost: "https://login.microsoftonline.us/",
		STSHost:       "https://login.microsoftonline.us/",
		VaultResource: "https://vault.usgovcloudapi.net",
	}
}

// All returns every known cloud, public first. The slice is new on each
// call; callers may modify it.
func All() []Cloud {
	return []Cloud{Public(), China(), USGovernment()}
}

// ByName returns the cloud with the given name, compared without regard to
// ASCII case. Accepted names are "public", "azurepublic", "azurecloud";
// "china", "azurechina", "azurechinacloud"; "usgovernment", "usgov",
// "azureusgovernment", "azureusgovernmentcloud". Surrounding spaces are not
// trimmed: " public" is unknown.
func ByName(name string) (Cloud, bool) {
	switch asciiLower(name) {
	case "public", "azurepublic", "azurecloud":
		return Public(), true
	case "china", "azurechina", "azurechinacloud":
		return China(), true
	case "usgovernment", "usgov", "azureusgovernment", "azureusgovernmentcloud":
		return USGovernment(), true
	}
	return Cloud{}, false
}

// ForVaultHost reports which cloud a vault host belongs to: the cloud whose
// VaultSuffix ends host (compared without regard to ASCII case) after at
// least one character. host may carry a port ("myvault.vault.azure.net:443"),
// which is ignored. ForVaultHost does not validate the vault name; a host
// with a trailing dot, an IP address or any other host belongs to no cloud.
func ForVaultHost(host string) (Cloud, bool) {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	h := asciiLower(host)
	for _, c := range All() {
		if len(h) > len(c.VaultSuffix) && strings.HasSuffix(h, c.VaultSuffix) {
			return c, true
		}
	}
	return Cloud{}, false
}

// asciiLower lower-cases ASCII letters only, so that Unicode case folding
// (e.g. the Kelvin sign folding to "k") can never make a foreign string match.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
