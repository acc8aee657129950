package akvcredstest

import (
	"io"
	"log"
	"strings"
)

const imdsHost = "169.254.169.254"

// keyVaultAppID is the application ID of Azure Key Vault, which Key Vault
// also accepts as a token audience.
const keyVaultAppID = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"

// cloud describes one Azure cloud's Key Vault and Entra ID endpoints.
type cloud struct {
	name        string
	vaultSuffix string // ".vault.azure.net"
	resource    string // "https://vault.azure.net"
	loginHost   string // "login.microsoftonline.com"
	issuerFmt   string // fmt with the tenant ID
	aliases     []string
}

var clouds = []cloud{
	{
		name:        "AzurePublic",
		vaultSuffix: ".vault.azure.net",
		resource:    "https://vault.azure.net",
		loginHost:   "login.microsoftonline.com",
		issuerFmt:   "https://sts.windows.net/%s/",
		aliases:     []string{"login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"},
	},
	{
		name:        "AzureChina",
		vaultSuffix: ".vault.azure.cn",
		resource:    "https://vault.azure.cn",
		loginHost:   "login.chinacloudapi.cn",
		issuerFmt:   "https://sts.chinacloudapi.cn/%s/",
		aliases:     []string{"login.chinacloudapi.cn", "login.partner.microsoftonline.cn"},
	},
	{
		name:        "AzureUSGovernment",
		vaultSuffix: ".vault.usgovcloudapi.net",
		resource:    "https://vault.usgovcloudapi.net",
		loginHost:   "login.microsoftonline.us",
		issuerFmt:   "https://login.microsoftonline.us/%s/",
		aliases:     []string{"login.microsoftonline.us", "login.usgovcloudapi.net"},
	},
}

// loginHosts are the Entra ID host names the server plays.
var loginHosts = func() []string {
	var hs []string
	for _, c := range clouds {
		hs = append(hs, c.aliases...)
	}
	return hs
}()

func isLoginHost(host string) bool {
	_, ok := cloudForLoginHost(host)
	return ok
}

func cloudForLoginHost(host string) (*cloud, bool) {
	for i := range clouds {
		for _, a := range clouds[i].aliases {
			if host == a {
				return &clouds[i], true
			}
		}
	}
	return nil, false
}

// parseVaultHost splits "NAME.vault.azure.net" into the vault name (lower
// case) and its cloud.
func parseVaultHost(host string) (string, *cloud, bool) {
	host = strings.ToLower(host)
	for i := range clouds {
		if name, ok := strings.CutSuffix(host, clouds[i].vaultSuffix); ok && name != "" && !strings.Contains(name, ".") {
			return name, &clouds[i], true
		}
	}
	return "", nil, false
}

// cloudForResource finds the cloud whose Key Vault resource is res (with or
// without a trailing slash).
func cloudForResource(res string) (*cloud, bool) {
	res = strings.TrimSuffix(strings.ToLower(res), "/")
	for i := range clouds {
		if res == clouds[i].resource {
			return &clouds[i], true
		}
	}
	return nil, false
}

// hostOnly strips the port from a Host header value and lower-cases it.
func hostOnly(hostport string) string {
	h := hostport
	if strings.HasPrefix(h, "[") {
		if i := strings.Index(h, "]"); i > 0 {
			return strings.ToLower(h[1:i])
		}
	}
	if i := strings.LastIndex(h, ":"); i >= 0 && !strings.Contains(h[i+1:], "]") {
		h = h[:i]
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
