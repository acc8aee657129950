package akvcredstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// updateRequest is the body of an update (PATCH) of a secret version's
// properties. Fields left out stay as they are; "tags" replaces every tag.
type updateRequest struct {
	ContentType *string           `json:"contentType"`
	Tags        map[string]string `json:"tags"`
	Attributes  *attrsRequest     `json:"attributes"`
}

// updateSecret answers PATCH /secrets/{name}/{version}: it changes the
// version's enabled, nbf, exp, contentType and tags (never its value) and
// answers 200 with the version's properties and no value, as recorded in
// TestCRUD. An empty version (PATCH /secrets/{name}/, what the SDKs send
// when no version is given) updates the latest: "If unspecified, the latest
// version is updated" (azure-keyvault-secrets for Python,
// update_secret_properties). A missing secret or version is 404
// SecretNotFound, as a get.
func (k *kvCall) updateSecret() {
	var req updateRequest
	if len(k.body) == 0 || json.Unmarshal(k.body, &req) != nil {
		k.fail(http.StatusBadRequest, "BadParameter", "The request body is not valid JSON.", "")
		return
	}
	k.s.mu.Lock()
	sec := k.v.secrets[strings.ToLower(k.route.secret)]
	sv := sec.find(k.route.version)
	var item secretItem
	if sv != nil {
		req.apply(sv)
		sv.updated = k.s.now()
		item = versionItem(k.v, k.base(), sec, sv)
	}
	k.s.mu.Unlock()
	if sv == nil {
		k.fail(http.StatusNotFound, "SecretNotFound", notFoundMessage(k.named()), "")
		return
	}
	k.reply(item)
}

// apply changes sv as the request says.
func (req *updateRequest) apply(sv *secretVersion) {
	if req.ContentType != nil {
		sv.contentType = *req.ContentType
	}
	if req.Tags != nil {
		sv.tags = copyTags(req.Tags)
	}
	req.Attributes.apply(sv)
}

// formatName is how Key Vault names a content type in its transformation
// message: "PFX", "PEM", or "Unsupported" for any other.
func formatName(contentType string) string {
	switch strings.ToLower(contentType) {
	case contentTypePFX:
		return "PFX"
	case contentTypePEM:
		return "PEM"
	}
	return "Unsupported"
}

// transform answers a get with ?outContentType=. Key Vault converts only a
// PFX secret (a certificate's) to PEM: the PKCS#8 key, then the chain, leaf
// first, as a PEM certificate's secret holds them, with the content type
// application/x-pem-file. Anything else is 400 BadParameter, e.g. for a
// text/plain secret asked as application/x-pem-file (recorded in
// TestGetSecretWithOutContentType, 2025-10): "The 'Unsupported' to 'PEM'
// transformation is not supported. Only PFX to PEM transformation is
// supported."; a PEM secret asked as PFX gets "The 'PEM' to 'PFX' ...".
// The emulator converts only a certificate's own secret (managed): a PFX
// a client stored with PUT could ask for unbounded key-derivation work, so
// it, like a managed value that does not decode (a PKCS#12 file with a
// password, or not PKCS#12 at all), is 400 BadParameter, without the value.
func (k *kvCall) transform(b secretBundle) {
	from, to := formatName(b.ContentType), formatName(k.query.Get("outContentType"))
	if from != "PFX" || to != "PEM" {
		k.fail(http.StatusBadRequest, "BadParameter", fmt.Sprintf(
			"The '%s' to '%s' transformation is not supported. Only PFX to PEM transformation is supported.", from, to), "")
		return
	}
	converted, err := "", errNotCertificate
	if b.Managed {
		converted, err = pfxToPEM(b.Value)
	}
	if err != nil {
		k.fail(http.StatusBadRequest, "BadParameter", "The secret's value is not a PFX without a password and cannot be transformed to PEM.", "")
		return
	}
	b.Value, b.ContentType = converted, contentTypePEM
	k.reply(b)
}
