package azure

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// tokenFileAssertion returns the client-assertion callback of workload
// identity: it reads the federated token file every time it is called.
// azidentity calls it only when it needs a new access token (its own cache
// serves the rest), so a token the kubelet rotated into the file is used by
// the next token request. (azidentity's WorkloadIdentityCredential instead
// keeps the file's content for 10 minutes.)
func tokenFileAssertion(path string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		return ReadTokenFile(path)
	}
}

// ReadTokenFile reads a federated token file and checks that it holds a
// JWT. Errors name the path and the problem, never the content.
func ReadTokenFile(path string) (string, error) {
	data, err := ReadCredentialFile("federated token file", path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("the federated token file %q is empty", path)
	}
	if parts := strings.Split(tok, "."); len(parts) != 3 || parts[0] == "" || parts[1] == "" || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("the federated token file %q does not hold a JWT (a Kubernetes service account token): check the path", path)
	}
	return tok, nil
}

// CheckWorkloadIdentity checks what New can check of a workload identity
// configuration: the token file is readable and holds a JWT.
func CheckWorkloadIdentity(tokenFile string) error {
	if tokenFile == "" {
		return errors.New("the federated token file path is empty")
	}
	_, err := ReadTokenFile(tokenFile)
	return err
}
